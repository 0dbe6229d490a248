/*
 * rp_hist.c: see rp_hist.h.
 */
#include <string.h>
#include "rp_hist.h"

const uint64_t rp_prom_bounds_us[RP_PROM_BUCKETS - 1] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000
};

const char *const rp_prom_bounds_le[RP_PROM_BUCKETS - 1] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10", "30", "60"
};

int rp_prom_bucket(uint64_t v)
{
    int i;

    for (i = 0; i < RP_PROM_BUCKETS - 1; i++) {
        if (v <= rp_prom_bounds_us[i]) {
            return i;
        }
    }
    return RP_PROM_BUCKETS - 1;
}

signed char rp_hist_prom[RP_HIST_BUCKETS];

/* filled when the library is loaded, before any writer or reader runs */
__attribute__((constructor)) static void hist_prom_init(void)
{
    int b;

    for (b = 0; b < RP_HIST_BUCKETS; b++) {
        int lo = rp_prom_bucket(rp_hist_bucket_low(b));
        int hi = b == RP_HIST_BUCKETS - 1
                 ? RP_PROM_BUCKETS - 1
                 : rp_prom_bucket(rp_hist_bucket_high(b) - 1);
        rp_hist_prom[b] = (signed char)(lo == hi ? lo : -1);
    }
}

void rp_prom_from_hist(const uint64_t *hist_b, uint64_t *prom)
{
    int b;

    for (b = 0; b < RP_HIST_BUCKETS; b++) {
        if (rp_hist_prom[b] >= 0) {
            prom[rp_hist_prom[b]] += hist_b[b];
        }
    }
}

int rp_hist_bucket(uint64_t v)
{
    int e, b;

    if (v < RP_HIST_SUB) {
        return (int)v;
    }
    e = 63 - __builtin_clzll(v);          /* floor(log2(v)) >= SUB_BITS */
    if (e > RP_HIST_MAX_EXP) {
        return RP_HIST_BUCKETS - 1;
    }
    b = RP_HIST_SUB + (e - RP_HIST_SUB_BITS) * RP_HIST_SUB
        + (int)((v >> (e - RP_HIST_SUB_BITS)) & (RP_HIST_SUB - 1));
    return b;
}

uint64_t rp_hist_bucket_low(int b)
{
    int e, sub;

    if (b < RP_HIST_SUB) {
        return (uint64_t)(b < 0 ? 0 : b);
    }
    e = (b - RP_HIST_SUB) / RP_HIST_SUB + RP_HIST_SUB_BITS;
    sub = (b - RP_HIST_SUB) % RP_HIST_SUB;
    return (uint64_t)(RP_HIST_SUB + sub) << (e - RP_HIST_SUB_BITS);
}

uint64_t rp_hist_bucket_high(int b)
{
    if (b >= RP_HIST_BUCKETS - 1) {
        return UINT64_MAX;
    }
    return rp_hist_bucket_low(b + 1);
}

void rp_atomic_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

    while (v > cur
           && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED)) {
        /* cur was reloaded by the failed exchange */
    }
}

void rp_hist_add(rp_hist_t *h, uint64_t v)
{
    __atomic_fetch_add(&h->b[rp_hist_bucket(v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    rp_atomic_max(&h->max, v);
}

void rp_hist32_add(rp_hist32_t *h, uint64_t v)
{
    __atomic_fetch_add(&h->b[rp_hist_bucket(v)], 1, __ATOMIC_RELAXED);
}

void rp_hist_snap_clear(rp_hist_snap_t *s)
{
    memset(s, 0, sizeof(*s));
}

void rp_hist_snapshot(const rp_hist_t *h, rp_hist_snap_t *s)
{
    int i;
    uint64_t n = 0;

    for (i = 0; i < RP_HIST_BUCKETS; i++) {
        s->b[i] = __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
        n += s->b[i];
    }
    /* count from the buckets copied, so percentiles are consistent */
    s->count = n;
    s->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
    s->max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
}

static uint64_t bucket_mid(int b)
{
    uint64_t lo = rp_hist_bucket_low(b), hi = rp_hist_bucket_high(b);

    if (hi == UINT64_MAX) {
        return lo;
    }
    return lo + (hi - lo - 1) / 2;
}

void rp_hist32_accumulate(const rp_hist32_t *h, rp_hist_snap_t *s)
{
    int i;

    for (i = 0; i < RP_HIST_BUCKETS; i++) {
        uint32_t c = __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
        if (c) {
            s->b[i] += c;
            s->count += c;
            s->sum += (uint64_t)c * bucket_mid(i);
            if (rp_hist_bucket_high(i) - 1 > s->max) {
                /* max known only to bucket precision here */
                s->max = rp_hist_bucket_high(i) == UINT64_MAX
                         ? rp_hist_bucket_low(i) : rp_hist_bucket_high(i) - 1;
            }
        }
    }
}

void rp_hist_snap_merge(rp_hist_snap_t *into, const rp_hist_snap_t *from)
{
    int i;

    for (i = 0; i < RP_HIST_BUCKETS; i++) {
        into->b[i] += from->b[i];
    }
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max) {
        into->max = from->max;
    }
}

uint64_t rp_hist_percentile(const rp_hist_snap_t *s, double p)
{
    uint64_t rank, cum = 0, v;
    int i;

    if (s->count == 0) {
        return 0;
    }
    if (p <= 0) {
        rank = 1;
    }
    else if (p >= 100) {
        rank = s->count;
    }
    else {
        double r = p / 100.0 * (double)s->count;
        rank = (uint64_t)r;
        if ((double)rank < r) {
            rank++;
        }
        if (rank == 0) {
            rank = 1;
        }
    }
    for (i = 0; i < RP_HIST_BUCKETS; i++) {
        cum += s->b[i];
        if (cum >= rank) {
            v = bucket_mid(i);
            if (s->max && v > s->max) {
                v = s->max;
            }
            return v;
        }
    }
    return s->max;
}
