/*
 * test_hist.c: log-linear histograms (stats/rp_hist.c): bucket geometry,
 * and percentiles within 10% of the exact nearest-rank value on random
 * data of several shapes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "stats/rp_hist.h"

static void test_buckets_cover_and_are_narrow(void **state)
{
    uint64_t v;
    int b, prev = -1;

    (void)state;
    for (v = 0; v < 200000; v++) {
        b = rp_hist_bucket(v);
        assert_true(b >= prev);
        assert_true(b < RP_HIST_BUCKETS);
        assert_true(rp_hist_bucket_low(b) <= v);
        assert_true(v < rp_hist_bucket_high(b));
        prev = b;
    }
    for (b = RP_HIST_SUB; b < RP_HIST_BUCKETS - 1; b++) {
        uint64_t lo = rp_hist_bucket_low(b), hi = rp_hist_bucket_high(b);
        assert_true(hi > lo);
        /* width at most 1/8 of the lower bound: midpoint error <= 6.25% */
        assert_true((hi - lo) * 8 <= lo);
        assert_int_equal(rp_hist_bucket(lo), b);
        assert_int_equal(rp_hist_bucket(hi - 1), b);
    }
    /* the range covers more than 100 s and clamps beyond */
    assert_true(rp_hist_bucket(100000000ULL) < RP_HIST_BUCKETS - 1);
    assert_int_equal(rp_hist_bucket(UINT64_MAX), RP_HIST_BUCKETS - 1);
    for (v = 0; v < 8; v++) {
        assert_int_equal(rp_hist_bucket(v), (int)v);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
    double r = p / 100.0 * (double)n;
    size_t rank = (size_t)r;

    if ((double)rank < r) {
        rank++;
    }
    if (rank == 0) {
        rank = 1;
    }
    return sorted[rank - 1];
}

static void check_shape(uint64_t (*gen)(void), size_t n)
{
    static rp_hist_t h;
    rp_hist_snap_t s;
    uint64_t *vals = malloc(n * sizeof(*vals));
    const double ps[] = { 1, 10, 50, 90, 95, 99, 99.9, 100 };
    size_t i, k;

    memset(&h, 0, sizeof(h));
    for (i = 0; i < n; i++) {
        vals[i] = gen();
        rp_hist_add(&h, vals[i]);
    }
    qsort(vals, n, sizeof(*vals), cmp_u64);
    rp_hist_snapshot(&h, &s);
    assert_int_equal(s.count, n);
    assert_int_equal(s.max, vals[n - 1]);
    for (k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        uint64_t want = exact(vals, n, ps[k]);
        uint64_t got = rp_hist_percentile(&s, ps[k]);
        double err = fabs((double)got - (double)want);
        if (err > 0.10 * (double)want) {
            fail_msg("p%.1f: got %llu want %llu", ps[k],
                     (unsigned long long)got, (unsigned long long)want);
        }
    }
    free(vals);
}

static uint64_t gen_uniform(void)
{
    return 1 + (uint64_t)(random() % 2000000);
}

static uint64_t gen_lognormal(void)
{
    double u1 = (random() + 1.0) / (RAND_MAX + 2.0);
    double u2 = (random() + 1.0) / (RAND_MAX + 2.0);
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    return (uint64_t)exp(9.0 + 1.5 * z);           /* median ~8 ms */
}

static uint64_t gen_bimodal(void)
{
    /* fast cache hits and a slow backend */
    return random() % 10 < 8 ? 200 + random() % 100
                             : 300000 + random() % 50000;
}

static uint64_t gen_small(void)
{
    return (uint64_t)(random() % 40);
}

static void test_percentiles_within_10_percent(void **state)
{
    int round;

    (void)state;
    for (round = 0; round < 5; round++) {
        srandom(1234 + round);
        check_shape(gen_uniform, 20000);
        check_shape(gen_lognormal, 20000);
        check_shape(gen_bimodal, 20000);
        check_shape(gen_small, 5000);
        check_shape(gen_lognormal, 7);
        check_shape(gen_uniform, 1);
    }
}

static void test_empty_and_merge(void **state)
{
    static rp_hist_t a, b;
    static rp_hist32_t r;
    rp_hist_snap_t sa, sb, sr;

    (void)state;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&r, 0, sizeof(r));
    rp_hist_snapshot(&a, &sa);
    assert_int_equal(rp_hist_percentile(&sa, 99), 0);
    rp_hist_add(&a, 100);
    rp_hist_add(&b, 1000000);
    rp_hist_snapshot(&a, &sa);
    rp_hist_snapshot(&b, &sb);
    rp_hist_snap_merge(&sa, &sb);
    assert_int_equal(sa.count, 2);
    assert_int_equal(sa.sum, 1000100);
    assert_int_equal(sa.max, 1000000);
    assert_true(llabs((long long)rp_hist_percentile(&sa, 50) - 100) <= 7);
    rp_hist32_add(&r, 5000);
    rp_hist32_add(&r, 5000);
    rp_hist_snap_clear(&sr);
    rp_hist32_accumulate(&r, &sr);
    assert_int_equal(sr.count, 2);
    assert_true(llabs((long long)rp_hist_percentile(&sr, 99) - 5000) < 500);
}

static void test_prom_buckets(void **state)
{
    (void)state;
    assert_int_equal(rp_prom_bucket(0), 0);
    assert_int_equal(rp_prom_bucket(1000), 0);            /* le is <= */
    assert_int_equal(rp_prom_bucket(1001), 1);
    assert_int_equal(rp_prom_bucket(60000000), RP_PROM_BUCKETS - 2);
    assert_int_equal(rp_prom_bucket(60000001), RP_PROM_BUCKETS - 1);
    assert_string_equal(rp_prom_bounds_le[8], "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_cover_and_are_narrow),
        cmocka_unit_test(test_percentiles_within_10_percent),
        cmocka_unit_test(test_empty_and_merge),
        cmocka_unit_test(test_prom_buckets),
    };
    return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
