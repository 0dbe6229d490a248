/*
 * test_advice.c: the cache advisor's core (stats/rp_advice.c) and what the
 * status page makes of it (stats/rp_advice_report.c): the record of
 * recently seen keys (freshness, eviction, its budget with 100,000 distinct
 * keys, would-be hits against an exact simulation), the per-route counts
 * and names (exact, bounded, under threads), the pool of key tables, the
 * directives suggested, and JSON (valid, checked with jansson), Prometheus
 * and HTML (escaped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>
#include <jansson.h>
#include <apr_general.h>
#include <apr_pools.h>

#include "rp_test.h"
#include "stats/rp_advice.h"
#include "stats/rp_advice_report.h"

/* A key in set `set` with fingerprint `fp` (the layout of rp_advice.c:
 * low bits pick the set, the high 31 the fingerprint). */
static uint64_t key_in(uint32_t set, uint32_t fp)
{
    return ((uint64_t)fp << 33) | set;
}

/* One route's record with a pool of n tables of its own. */
typedef struct {
    rp_advice_rec_t rec;
    rp_advice_keys_t *tables;
    uint32_t used;
    rp_advice_pool_t pool;
} route_t;

static route_t *route_new(uint32_t n_tables)
{
    route_t *r = calloc(1, sizeof(*r));

    r->tables = calloc(n_tables ? n_tables : 1, sizeof(rp_advice_keys_t));
    r->pool.tables = r->tables;
    r->pool.n_tables = n_tables;
    r->pool.used = &r->used;
    return r;
}

static void route_free(route_t *r)
{
    free(r->tables);
    free(r);
}

/* An Observe request for key k at time t whose response is storable for
 * ttl seconds (ttl 0: not storable, set-cookie) and took backend_us. */
static void observe(route_t *r, uint64_t k, int64_t t, int64_t ttl,
                    uint64_t backend_us)
{
    rp_advice_sample_t s;

    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    s.looked_up = 1;
    s.key = k;
    s.examined = 1;
    s.lookup_s = s.judged_s = t;
    s.backend_us = backend_us;
    if (ttl > 0) {
        s.fresh_s = ttl;
    }
    else {
        s.store_reason = RP_ADV_R_SET_COOKIE;
        rp_advice_sample_name(&s, RP_ADV_R_SET_COOKIE, "csrftoken", 9);
    }
    rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
}

static uint64_t n_of(const route_t *r, int counter)
{
    return r->rec.n[counter];
}

static uint64_t reason_of(const route_t *r, int reason)
{
    return r->rec.n[RP_ADV_REASON_IDX(reason)];
}

/* ---------------------------------------------------------------- */

static void test_tables(void **state)
{
    int i, j;

    (void)state;
    for (i = 0; i < RP_ADV_N_REASONS; i++) {
        const rp_advice_reason_info_t *a = &rp_advice_reason_info[i];
        assert_non_null(a->json_name);
        assert_non_null(a->phrase);
        if (a->with_name != NULL) {
            const char *at = strstr(a->with_name, "%s");
            assert_non_null(at);
            assert_null(strstr(at + 2, "%"));
        }
        for (j = 0; j < i; j++) {
            assert_string_not_equal(a->json_name,
                                    rp_advice_reason_info[j].json_name);
        }
        for (j = 0; j < RP_ADV_N_OUTCOMES; j++) {
            assert_string_not_equal(a->json_name, rp_advice_outcome_name[j]);
        }
    }
    /* the names the issue and SPEC use */
    assert_string_equal(rp_advice_reason_info[RP_ADV_R_SET_COOKIE].json_name,
                        "set-cookie");
    assert_string_equal(rp_advice_reason_info[RP_ADV_R_VARY_COOKIE].json_name,
                        "vary-cookie");
    assert_string_equal(rp_advice_reason_info[RP_ADV_R_QUERY_BUSTING].json_name,
                        "query-busting");
    assert_string_equal(rp_advice_reason_info[RP_ADV_R_TOO_LARGE].json_name,
                        "too-large");
    assert_string_equal(rp_advice_outcome_name[RP_ADV_OBSERVED], "observed");
    assert_string_equal(rp_advice_outcome_name[RP_ADV_WOULD_HIT], "would_hit");
    assert_int_equal(sizeof(rp_advice_keys_t), 16384);
    assert_int_equal(rp_advice_tables_for(10), 10);
    assert_int_equal(rp_advice_tables_for(524), RP_ADVICE_TABLES_MAX);
}

static void test_probe_put_expiry(void **state)
{
    route_t *r = route_new(1);
    rp_advice_keys_t *t = r->tables;
    uint64_t a = key_in(3, 0xabc), b = key_in(3, 0xdef);

    (void)state;
    assert_false(rp_advice_probe(t, a, 100));
    assert_false(rp_advice_put(t, a, 110, 100));
    assert_true(rp_advice_probe(t, a, 100));
    assert_true(rp_advice_probe(t, a, 109));
    assert_false(rp_advice_probe(t, a, 110));      /* fresh until 110 */
    assert_false(rp_advice_probe(t, b, 100));      /* same set, other key */
    assert_false(rp_advice_put(t, b, 200, 100));
    assert_true(rp_advice_probe(t, a, 105) && rp_advice_probe(t, b, 105));
    /* a refresh replaces its own word */
    assert_false(rp_advice_put(t, a, 300, 150));
    assert_true(rp_advice_probe(t, a, 250));
    assert_int_equal(rp_advice_fresh_keys(t, 150), 2);
    assert_int_equal(rp_advice_fresh_keys(t, 250), 1);
    /* a fingerprint of 0 is the empty word: it becomes 1, still found */
    assert_false(rp_advice_put(t, key_in(9, 0), 500, 100));
    assert_true(rp_advice_probe(t, key_in(9, 0), 100));
    route_free(r);
}

static void test_eviction_is_counted(void **state)
{
    route_t *r = route_new(1);
    rp_advice_keys_t *t = r->tables;
    uint32_t i;

    (void)state;
    /* eight fresh keys fill set 7; one expires soon */
    for (i = 0; i < RP_ADVICE_WAYS; i++) {
        assert_false(rp_advice_put(t, key_in(7, 100 + i),
                                   i == 4 ? 150 : 1000 + i, 100));
    }
    /* a ninth: the one expiring soonest (150) makes room, counted */
    assert_true(rp_advice_put(t, key_in(7, 999), 2000, 120));
    assert_false(rp_advice_probe(t, key_in(7, 104), 120));
    for (i = 0; i < RP_ADVICE_WAYS; i++) {
        if (i != 4) {
            assert_true(rp_advice_probe(t, key_in(7, 100 + i), 120));
        }
    }
    /* those seven are now in use: the one nobody asked for goes, though
     * it expires last */
    assert_true(rp_advice_put(t, key_in(7, 5555), 3000, 120));
    assert_false(rp_advice_probe(t, key_in(7, 999), 120));
    assert_true(rp_advice_probe(t, key_in(7, 5555), 120));
    /* all eight in use: the soonest goes (100, until 1000) and the others
     * lose their mark */
    assert_true(rp_advice_put(t, key_in(7, 6666), 4000, 120));
    assert_false(rp_advice_probe(t, key_in(7, 100), 120));
    assert_true(rp_advice_put(t, key_in(7, 7777), 4000, 120));
    assert_false(rp_advice_probe(t, key_in(7, 101), 120));     /* 1001 */
    assert_true(rp_advice_probe(t, key_in(7, 102), 120));
    /* expired words are reused without a count */
    assert_false(rp_advice_put(t, key_in(7, 8888), 5000, 1500));
    assert_false(rp_advice_put(t, key_in(7, 8889), 5000, 1500));
    assert_true(rp_advice_probe(t, key_in(7, 8888), 1500));
    assert_true(rp_advice_probe(t, key_in(7, 5555), 1500));
    /* other sets were never touched */
    assert_int_equal(rp_advice_fresh_keys(t, 0), RP_ADVICE_WAYS);
    route_free(r);
}

/* An exact answer to "would a cache have answered this": the freshness
 * of every key, unbounded. */
typedef struct {
    int64_t *until;
    uint64_t hits;
} exact_t;

static int exact_lookup(exact_t *x, uint32_t id, int64_t t, int64_t ttl)
{
    if (x->until[id] > t) {
        x->hits++;
        return 1;
    }
    x->until[id] = t + ttl;
    return 0;
}

/* A deterministic workload over n_keys keys: a few hot, most cold. */
static uint32_t next_id(uint64_t *seed, uint32_t n_keys)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((*seed >> 60) < 6) {
        return (uint32_t)((*seed >> 20) % 50 % n_keys);   /* hot */
    }
    return (uint32_t)((*seed >> 20) % n_keys);
}

static void run_against_exact(uint32_t n_keys, uint32_t n_requests,
                              uint64_t *would_hit, uint64_t *exact_hits,
                              uint64_t *evicted)
{
    route_t *r = route_new(1);
    exact_t x;
    uint64_t seed = 42;
    uint32_t i;
    char name[32];

    x.until = calloc(n_keys, sizeof(int64_t));
    x.hits = 0;
    for (i = 0; i < n_requests; i++) {
        uint32_t id = next_id(&seed, n_keys);
        int64_t t = 1000 + i / 200;            /* 200 requests a second */
        int n = snprintf(name, sizeof(name), "/u/%u", id);
        exact_lookup(&x, id, t, 60);
        observe(r, rp_advice_key_hash(name, (size_t)n), t, 60, 1000);
    }
    *would_hit = n_of(r, RP_ADV_WOULD_HIT);
    *exact_hits = x.hits;
    *evicted = r->rec.evicted_fresh;
    assert_int_equal(n_of(r, RP_ADV_OBSERVED), n_requests);
    assert_int_equal(r->rec.saved_us, *would_hit * 1000);
    free(x.until);
    route_free(r);
}

static void test_would_hit_matches_exact_within_budget(void **state)
{
    uint64_t got, exact, evicted;

    (void)state;
    /* 300 keys: about one per set, far below the 2048 words */
    run_against_exact(300, 20000, &got, &exact, &evicted);
    assert_int_equal(evicted, 0);
    assert_int_equal(got, exact);
    assert_true(exact > 15000);
}

static void test_100k_distinct_keys_stay_in_budget(void **state)
{
    /* the table inside a larger block, with guard bytes around it */
    size_t guard = 4096;
    unsigned char *block = malloc(guard + sizeof(rp_advice_keys_t) + guard);
    rp_advice_keys_t *t = (rp_advice_keys_t *)(block + guard);
    rp_advice_rec_t rec;
    rp_advice_pool_t p;
    uint32_t used = 0, i;
    uint64_t got, exact, evicted;
    char name[32];

    (void)state;
    memset(block, 0xa5, guard);
    memset(block + guard + sizeof(*t), 0x5a, guard);
    memset(&rec, 0, sizeof(rec));
    p.tables = t;
    p.n_tables = 1;
    p.used = &used;
    for (i = 0; i < 100000; i++) {
        rp_advice_sample_t s;
        int n = snprintf(name, sizeof(name), "http://h/page/%u", i);
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        s.looked_up = s.examined = 1;
        s.key = rp_advice_key_hash(name, (size_t)n);
        s.lookup_s = s.judged_s = 1000;
        s.fresh_s = 600;                       /* all still fresh */
        rp_advice_record(&p, &rec, &rec, &s);
        if (i % 1000 == 0) {
            /* and one page in use all along: it outlives the flood */
            s.key = rp_advice_key_hash("http://h/", 9);
            rp_advice_record(&p, &rec, &rec, &s);
        }
    }
    for (i = 0; i < guard; i++) {
        assert_int_equal(block[i], 0xa5);
        assert_int_equal(block[guard + sizeof(*t) + i], 0x5a);
    }
    assert_int_equal(rec.n[RP_ADV_OBSERVED], 100100);
    assert_int_equal(rec.n[RP_ADV_STORABLE], 100100);
    /* every other key distinct: the page in use hits each time but its
     * first, however full the record */
    assert_int_equal(rec.n[RP_ADV_WOULD_HIT], 99);
    assert_true(rp_advice_fresh_keys(t, 1000) <= RP_ADVICE_KEYS);
    assert_true(rp_advice_fresh_keys(t, 1000) > RP_ADVICE_KEYS * 9 / 10);
    /* each key beyond what fits pushed a fresh one out */
    assert_true(rec.evicted_fresh >= 100000 - RP_ADVICE_KEYS);
    assert_int_equal(used, 1);
    free(block);

    /* 100,000 keys under a repeating load: off by at most one per
     * eviction of a fresh key (its next request misses, and writes it
     * again) */
    run_against_exact(100000, 300000, &got, &exact, &evicted);
    assert_true(evicted > 0);
    assert_true(got <= exact + evicted && exact <= got + evicted);
    /* the hot keys still hit */
    assert_true(got > 300000 / 4);
}

static void test_counts_and_names_observe(void **state)
{
    route_t *r = route_new(1);
    rp_advice_view_t v;
    rp_advice_sample_t s;
    uint64_t page = rp_advice_key_hash("/p", 2);
    uint64_t page_utm = rp_advice_key_hash("/p?utm_source=a", 15);

    (void)state;
    observe(r, page, 100, 60, 500);            /* miss, stored */
    observe(r, page, 101, 60, 700);            /* would hit: 700 saved */
    observe(r, page, 200, 60, 900);            /* expired: miss again */
    observe(r, rp_advice_key_hash("/form", 5), 100, 0, 300);
    observe(r, rp_advice_key_hash("/form", 5), 101, 0, 300);
    /* a cookie kept it from the lookup: names kept, nothing looked up */
    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    s.lookup_reason = RP_ADV_R_COOKIE;
    rp_advice_sample_name(&s, RP_ADV_R_COOKIE, "_ga", 3);
    rp_advice_sample_name(&s, RP_ADV_R_COOKIE, "sessionid", 9);
    rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    /* a campaign parameter: its key misses, the reduced key (/p) hits */
    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    s.looked_up = s.examined = 1;
    s.key = page_utm;
    s.reduced_key = page;
    s.lookup_s = s.judged_s = 201;
    s.fresh_s = 60;
    rp_advice_sample_name(&s, RP_ADV_R_QUERY_BUSTING, "utm_source", 10);
    rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    /* the same with a reduced key nobody stored: no query-busting, and
     * both keys are written */
    s.key = rp_advice_key_hash("/q?utm_source=a", 15);
    s.reduced_key = rp_advice_key_hash("/q", 2);
    rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    assert_true(rp_advice_probe(r->tables, s.reduced_key, 202));
    /* a client reload: not looked up, its answer stored */
    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    s.lookup_reason = RP_ADV_R_CLIENT_NO_CACHE;
    s.examined = 1;
    s.key = rp_advice_key_hash("/r", 2);
    s.lookup_s = s.judged_s = 300;
    s.fresh_s = 60;
    rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    assert_true(rp_advice_probe(r->tables, s.key, 301));

    assert_int_equal(n_of(r, RP_ADV_REQUESTS), 9);
    assert_int_equal(n_of(r, RP_ADV_OBSERVED), 7);
    assert_int_equal(n_of(r, RP_ADV_EXAMINED), 8);
    assert_int_equal(n_of(r, RP_ADV_STORABLE), 6);
    assert_int_equal(n_of(r, RP_ADV_WOULD_HIT), 1);
    assert_int_equal(r->rec.saved_us, 700);
    assert_int_equal(reason_of(r, RP_ADV_R_SET_COOKIE), 2);
    assert_int_equal(reason_of(r, RP_ADV_R_COOKIE), 1);
    assert_int_equal(reason_of(r, RP_ADV_R_QUERY_BUSTING), 1);
    assert_int_equal(reason_of(r, RP_ADV_R_CLIENT_NO_CACHE), 1);
    assert_int_equal(r->rec.modes, RP_ADVICE_MODE_OBSERVE);

    rp_advice_snapshot(&r->pool, &r->rec, 300, &v);
    assert_int_equal(v.n[RP_ADV_WOULD_HIT], 1);
    assert_int_equal(v.table_state, RP_ADV_READY);
    assert_int_equal(v.n_names, 4);
    assert_string_equal(v.names[0].name, "csrftoken");  /* by count */
    assert_int_equal(v.names[0].count, 2);
    assert_int_equal(v.names[0].reason, RP_ADV_R_SET_COOKIE);
    route_free(r);
}

static void test_on_mode(void **state)
{
    route_t *r = route_new(1);
    rp_advice_sample_t s;
    int i;

    (void)state;
    /* two misses of 1000 and 3000 us, then three hits: each saves the
     * average miss so far */
    for (i = 0; i < 5; i++) {
        rp_advice_sample_init(&s, RP_ADVICE_MODE_ON);
        s.looked_up = 1;
        s.served = i >= 2;
        s.backend_us = i == 0 ? 1000 : i == 1 ? 3000 : 50;
        s.examined = !s.served;
        s.key = rp_advice_key_hash("/p", 2);
        s.lookup_s = s.judged_s = 100;
        s.fresh_s = 60;
        rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    }
    assert_int_equal(n_of(r, RP_ADV_OBSERVED), 5);
    assert_int_equal(n_of(r, RP_ADV_WOULD_HIT), 3);
    assert_int_equal(n_of(r, RP_ADV_EXAMINED), 2);
    assert_int_equal(r->rec.saved_us, 3 * 2000);
    assert_int_equal(r->rec.modes, RP_ADVICE_MODE_ON);
    route_free(r);
}

static void test_names_are_bounded(void **state)
{
    route_t *r = route_new(0);                  /* no key table at all */
    rp_advice_sample_t s;
    rp_advice_view_t v;
    char name[64];
    int i;

    (void)state;
    for (i = 0; i < 12; i++) {
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        s.lookup_reason = RP_ADV_R_COOKIE;
        snprintf(name, sizeof(name), "c%d", i);
        rp_advice_sample_name(&s, RP_ADV_R_COOKIE, name, strlen(name));
        rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    }
    /* a long name with bytes a page must not show raw */
    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    s.lookup_reason = RP_ADV_R_COOKIE;
    rp_advice_sample_name(&s, RP_ADV_R_COOKIE,
                          "c0\x01<x>-0123456789012345678901234567890123", 42);
    rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    assert_int_equal(reason_of(r, RP_ADV_R_COOKIE), 13);
    rp_advice_snapshot(&r->pool, &r->rec, 0, &v);
    assert_int_equal(v.n_names, RP_ADVICE_NAMES);
    for (i = 0; i < v.n_names; i++) {
        assert_true(strlen(v.names[i].name) <= RP_ADVICE_NAME_MAX);
        assert_null(strchr(v.names[i].name, '\x01'));
    }
    /* only so many names per request */
    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    for (i = 0; i < 10; i++) {
        rp_advice_sample_name(&s, RP_ADV_R_COOKIE, "x", 1);
    }
    assert_int_equal(s.n_found, RP_ADVICE_SAMPLE_NAMES);
    route_free(r);
}

static void test_pool_runs_out(void **state)
{
    route_t *r = route_new(2);
    rp_advice_rec_t others[2];

    (void)state;
    memset(others, 0, sizeof(others));
    observe(r, 77, 100, 60, 1);
    assert_int_equal(r->rec.table_state, RP_ADV_READY);
    assert_non_null(rp_advice_table(&r->pool, &others[0]));
    assert_null(rp_advice_table(&r->pool, &others[1]));
    assert_int_equal(others[1].table_state, RP_ADV_NO_TABLE);
    assert_null(rp_advice_table(&r->pool, &others[1]));   /* stays so */
    /* a route without a table still counts, without would-be hits */
    {
        rp_advice_sample_t s;
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        s.looked_up = s.examined = 1;
        s.key = 77;
        s.fresh_s = 60;
        rp_advice_record(&r->pool, &others[1], &others[1], &s);
        rp_advice_record(&r->pool, &others[1], &others[1], &s);
        assert_int_equal(others[1].n[RP_ADV_OBSERVED], 2);
        assert_int_equal(others[1].n[RP_ADV_WOULD_HIT], 0);
    }
    route_free(r);
}

#define THREADS 4
#define PER_THREAD 20000

static void *writer(void *arg)
{
    route_t *r = arg;
    int i;

    for (i = 0; i < PER_THREAD; i++) {
        rp_advice_sample_t s;
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        if (i % 4 == 0) {
            s.lookup_reason = RP_ADV_R_COOKIE;
            rp_advice_sample_name(&s, RP_ADV_R_COOKIE, i % 8 ? "_ga" : "sid",
                                  3);
        }
        else {
            s.looked_up = s.examined = 1;
            s.key = rp_advice_key_hash((const char *)&i, sizeof(i));
            s.lookup_s = s.judged_s = 100;
            s.fresh_s = 60;
        }
        rp_advice_record(&r->pool, &r->rec, &r->rec, &s);
    }
    return NULL;
}

static void test_threads_count_exactly(void **state)
{
    route_t *r = route_new(1);
    pthread_t th[THREADS];
    rp_advice_view_t v;
    uint64_t ga = 0, sid = 0;
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++) {
        pthread_create(&th[i], NULL, writer, r);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(n_of(r, RP_ADV_REQUESTS), THREADS * PER_THREAD);
    assert_int_equal(n_of(r, RP_ADV_OBSERVED), THREADS * PER_THREAD * 3 / 4);
    assert_int_equal(reason_of(r, RP_ADV_R_COOKIE), THREADS * PER_THREAD / 4);
    assert_int_equal(n_of(r, RP_ADV_STORABLE), THREADS * PER_THREAD * 3 / 4);
    rp_advice_snapshot(&r->pool, &r->rec, 100, &v);
    for (i = 0; i < v.n_names; i++) {
        if (strcmp(v.names[i].name, "_ga") == 0) {
            ga += v.names[i].count;
        }
        else if (strcmp(v.names[i].name, "sid") == 0) {
            sid += v.names[i].count;
        }
    }
    assert_int_equal(ga, THREADS * PER_THREAD / 8);
    assert_int_equal(sid, THREADS * PER_THREAD / 8);
    route_free(r);
}

static void test_helpers(void **state)
{
    const char *n;
    size_t len;
    char buf[128];

    (void)state;
    rp_advice_busting_param("page=2&utm_source=mail&utm_medium=x", &n, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(n, "utm_source", 10);
    rp_advice_busting_param("_=1700000000000", &n, &len);
    assert_int_equal(len, 1);
    rp_advice_busting_param("a=utm_source&fbclid", &n, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(n, "fbclid", 6);
    rp_advice_busting_param("page=2&q=utm", &n, &len);
    assert_int_equal(len, 0);
    rp_advice_busting_param("", &n, &len);
    assert_int_equal(len, 0);
    rp_advice_busting_param(NULL, &n, &len);
    assert_int_equal(len, 0);
    rp_advice_busting_param("&&=x&utm_=1", &n, &len);
    assert_int_equal(len, 4);

    rp_advice_set_cookie_name(" csrftoken=abc; Path=/", &n, &len);
    assert_int_equal(len, 9);
    assert_memory_equal(n, "csrftoken", 9);
    rp_advice_set_cookie_name("sessionid =x", &n, &len);
    assert_int_equal(len, 9);
    rp_advice_set_cookie_name("novalue; Path=/", &n, &len);
    assert_int_equal(len, 0);
    rp_advice_set_cookie_name(NULL, &n, &len);
    assert_int_equal(len, 0);

    assert_string_equal(rp_advice_directive(RP_ADV_R_COOKIE, "_ga", buf,
                                            sizeof(buf)),
                        "ReqPerfCacheIgnoreCookie _ga*");
    assert_string_equal(rp_advice_directive(RP_ADV_R_COOKIE, "_ga_Q1W2E3",
                                            buf, sizeof(buf)),
                        "ReqPerfCacheIgnoreCookie _ga*");
    assert_null(rp_advice_directive(RP_ADV_R_COOKIE, "sessionid", buf,
                                    sizeof(buf)));
    assert_null(rp_advice_directive(RP_ADV_R_COOKIE, "csrftoken", buf,
                                    sizeof(buf)));
    assert_string_equal(rp_advice_directive(RP_ADV_R_QUERY_BUSTING,
                                            "utm_campaign", buf, sizeof(buf)),
                        "ReqPerfCacheIgnoreQuery utm_*");
    assert_string_equal(rp_advice_directive(RP_ADV_R_QUERY_BUSTING, "gclid",
                                            buf, sizeof(buf)),
                        "ReqPerfCacheIgnoreQuery gclid");
    assert_null(rp_advice_directive(RP_ADV_R_SET_COOKIE, "_ga", buf,
                                    sizeof(buf)));
    assert_null(rp_advice_directive(RP_ADV_R_COOKIE, NULL, buf, sizeof(buf)));
    /* a session next to analytics cookies: only the session is kept (no
     * directive makes that request public); analytics alone: kept */
    {
        const char *names[3] = { "_ga", "sessionid", "_gid" };
        const size_t lens[3] = { 3, 9, 4 };
        rp_advice_sample_t s;
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        rp_advice_sample_cookies(&s, names, lens, 3);
        assert_int_equal(s.n_found, 1);
        assert_memory_equal(s.found[0].s, "sessionid", 9);
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        rp_advice_sample_cookies(&s, names, lens, 1);
        rp_advice_sample_cookies(&s, names + 2, lens + 2, 1);
        assert_int_equal(s.n_found, 2);
        assert_int_equal(s.found[1].reason, RP_ADV_R_COOKIE);
    }
    assert_non_null(rp_advice_name_hint(RP_ADV_R_SET_COOKIE, "csrftoken"));
    assert_non_null(rp_advice_name_hint(RP_ADV_R_COOKIE, "_gid"));
    assert_null(rp_advice_name_hint(RP_ADV_R_COOKIE, "theme"));
}

/* ---------------------------------------------------------------- */
/* in the statistics segment, and on the page                        */

static rp_stats_t *make_stats(void **mem, size_t *size)
{
    rp_stats_params_t p = { 20, 5, 2, 2 };

    *size = rp_stats_size(&p);
    *mem = calloc(1, *size);
    return rp_stats_init(*mem, *size, &p, 1700000000000000LL, 1000);
}

static void test_segment(void **state)
{
    void *mem;
    size_t size;
    rp_stats_t *st = make_stats(&mem, &size);
    int32_t a = rp_stats_route(st, "/a", "GET");
    int32_t b = rp_stats_route(st, "/b", "GET");
    rp_advice_rec_t *aa = rp_stats_advice(st, a), *ab = rp_stats_advice(st, b);
    rp_advice_pool_t p;
    char *lo = mem, *hi = lo + size;

    (void)state;
    assert_non_null(aa);
    assert_true(aa != ab);
    rp_stats_advice_pool(st, &p);
    assert_int_equal(p.n_tables, 20 + RP_OTHER_RESERVE);
    assert_true((char *)aa >= lo && (char *)(aa + 1) <= hi);
    assert_true((char *)p.tables >= (char *)(ab + 1)
                || (char *)(p.tables + p.n_tables) <= (char *)aa);
    assert_true((char *)(p.tables + p.n_tables) <= hi);
    /* claimed, used, then reset by a full restart */
    aa->n[RP_ADV_REQUESTS] = 5;
    assert_non_null(rp_advice_table(&p, aa));
    rp_stats_reset(st, 1700000000000000LL, 2000);
    assert_int_equal(rp_stats_advice(st, a)->n[RP_ADV_REQUESTS], 0);
    assert_int_equal(rp_stats_advice(st, a)->table_state, RP_ADV_FREE);
    assert_int_equal(*p.used, 0);
    free(mem);
}

static void test_render(void **state)
{
    apr_pool_t *pool = *state;
    void *mem;
    size_t size;
    rp_stats_t *st = make_stats(&mem, &size);
    int32_t form = rp_stats_route(st, "/form/{id}", "GET");
    int32_t page = rp_stats_route(st, "/p/<b>", "GET");
    int32_t head = rp_stats_route(st, "/p/<b>", "HEAD");
    rp_advice_pool_t p;
    rp_advice_sample_t s;
    rp_report_t *rep;
    rp_report_opts_t o;
    rp_buf_t b;
    json_t *root, *adv;
    json_error_t err;
    size_t i;
    int k;

    rp_stats_advice_pool(st, &p);
    for (k = 0; k < 4; k++) {
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        s.looked_up = s.examined = 1;
        s.key = 1234;
        s.store_reason = RP_ADV_R_SET_COOKIE;
        rp_advice_sample_name(&s, RP_ADV_R_SET_COOKIE, "csrf\"<tok>", 10);
        rp_advice_record(&p, rp_stats_advice(st, form),
                         rp_stats_advice(st, form), &s);
        rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
        s.looked_up = s.examined = 1;
        s.key = 99;
        s.lookup_s = s.judged_s = 1700000000;
        s.fresh_s = 600;
        s.backend_us = 250000;
        rp_advice_record(&p, rp_stats_advice(st, page),
                         rp_stats_advice(st, page), &s);
    }
    rp_advice_sample_init(&s, RP_ADVICE_MODE_OBSERVE);
    s.lookup_reason = RP_ADV_R_COOKIE;
    rp_advice_sample_name(&s, RP_ADV_R_COOKIE, "_ga", 3);
    rp_advice_sample_name(&s, RP_ADV_R_COOKIE, "_ga_XYZ", 7);
    rp_advice_record(&p, rp_stats_advice(st, head), rp_stats_advice(st, page),
                     &s);

    rep = rp_report_build(pool, st, RP_SORT_TIME, 1700000001000000LL, 5000);
    memset(&o, 0, sizeof(o));
    o.self_path = "/reqperf-status";

    rp_buf_init(&b, pool, 4096);
    rp_render_json(&b, rep, &o);
    root = json_loadb(b.data, b.len, 0, &err);
    assert_non_null(root);
    for (i = 0; i < json_array_size(json_object_get(root, "routes")); i++) {
        json_t *rt = json_array_get(json_object_get(root, "routes"), i);
        const char *name = json_string_value(json_object_get(rt, "route"));
        const char *method = json_string_value(json_object_get(rt, "method"));
        adv = json_object_get(rt, "advice");
        assert_non_null(adv);
        if (strcmp(name, "/form/{id}") == 0) {
            json_t *n0 = json_array_get(json_object_get(adv, "names"), 0);
            assert_int_equal(json_integer_value(json_object_get(adv,
                                                                "observed")), 4);
            assert_int_equal(json_integer_value(json_object_get(adv,
                                                                "storable")), 0);
            assert_int_equal(json_integer_value(json_object_get(
                json_object_get(adv, "reasons"), "set-cookie")), 4);
            assert_string_equal(json_string_value(json_object_get(n0, "name")),
                                "csrf\"<tok>");
            assert_true(json_is_null(json_object_get(n0, "directive")));
        }
        else if (strcmp(method, "GET") == 0) {
            assert_int_equal(json_integer_value(json_object_get(adv,
                                                                "would_hit")), 3);
            assert_int_equal(json_integer_value(json_object_get(adv,
                                                                "saved_us")),
                             750000);
            assert_string_equal(json_string_value(json_object_get(adv, "mode")),
                                "observe");
            assert_true(json_is_true(json_object_get(json_object_get(adv,
                                                                     "keys"),
                                                     "tracked")));
        }
        else {
            json_t *n0 = json_array_get(json_object_get(adv, "names"), 0);
            assert_int_equal(json_integer_value(json_object_get(adv,
                                                                "requests")), 1);
            assert_string_equal(json_string_value(json_object_get(n0,
                                                                  "directive")),
                                "ReqPerfCacheIgnoreCookie _ga*");
        }
    }
    json_decref(root);

    rp_buf_init(&b, pool, 4096);
    rp_render_prometheus(&b, rep, &o);
    rp_buf_cstr(&b);
    /* GET and HEAD of one route: one series, summed */
    assert_non_null(strstr(b.data, "reqperf_cache_advice_total{route=\"/p/<b>\","
                                   "outcome=\"requests\"} 5\n"));
    assert_non_null(strstr(b.data, "reqperf_cache_advice_total{route=\"/p/<b>\","
                                   "outcome=\"cookie\"} 1\n"));
    assert_non_null(strstr(b.data, "reqperf_cache_advice_total{route="
                                   "\"/form/{id}\",outcome=\"set-cookie\"} 4\n"));
    assert_non_null(strstr(b.data, "reqperf_cache_saved_seconds_total{route="
                                   "\"/p/<b>\"} 0.750000\n"));
    assert_null(strstr(b.data, "outcome=\"vary-cookie\""));

    rp_buf_init(&b, pool, 4096);
    rp_render_auto(&b, rep, &o);
    rp_buf_cstr(&b);
    assert_non_null(strstr(b.data, "cache_advice_would_hit: 3\n"));
    assert_non_null(strstr(b.data, "cache_advice_saved_us: 750000\n"));

    rp_buf_init(&b, pool, 4096);
    rp_render_html(&b, rep, &o);
    rp_buf_cstr(&b);
    assert_non_null(strstr(b.data, "What caching would save"));
    assert_non_null(strstr(b.data, "Set-Cookie: <code>csrf&quot;&lt;tok&gt;"
                                   "</code> on 100% of responses"));
    assert_null(strstr(b.data, "<tok>"));
    assert_non_null(strstr(b.data, "<code>/p/<wbr>&lt;b&gt;</code>"));
    assert_non_null(strstr(b.data, "<code>ReqPerfCacheIgnoreCookie _ga*"
                                   "</code>"));
    assert_non_null(strstr(b.data, "<code>ReqPerfCache On</code>"));
    /* two names one directive covers: one line */
    assert_non_null(strstr(b.data, "Cookie: <code>_ga</code>, <code>_ga_XYZ"
                                   "</code> on 100% of requests"));
    /* never storable: no directive, the application must change */
    {
        const char *row = strstr(strstr(b.data, "What caching would save"),
                                 "<code>/form/<wbr>{id}</code>");
        const char *end = strstr(row, "</tr>");
        const char *warn = strstr(row, "the application must change");
        assert_non_null(warn);
        assert_true(warn < end);
    }
    /* the route's own page: its row, its counts marked for the JSON, and
     * its JSON has the advice */
    {
        rp_route_view_t *v = rp_report_route_find(rep, "/p/<b>", "GET");
        rp_buf_t rb;
        assert_non_null(v);
        rp_buf_init(&rb, pool, 4096);
        rp_render_route_html(&rb, rep, st, v, &o);
        rp_buf_cstr(&rb);
        assert_non_null(strstr(rb.data, "What caching would save"));
        assert_non_null(strstr(rb.data, "data-k=\"/advice/requests\" "
                                        "data-v=\"4\">4</td>"));
        rp_buf_init(&rb, pool, 4096);
        rp_render_route_json(&rb, rep, st, v, &o);
        root = json_loadb(rb.data, rb.len, 0, &err);
        assert_non_null(root);
        assert_int_equal(json_integer_value(json_object_get(
            json_object_get(root, "advice"), "requests")), 4);
        json_decref(root);
    }
    /* sorted by time saved: the page that would save 750 ms first */
    {
        const char *sec = strstr(b.data, "What caching would save");
        const char *first = strstr(sec, "<code>/p/<wbr>&lt;b&gt;</code></td>"
                                        "<td>GET");
        const char *second = strstr(sec, "<code>/form/<wbr>{id}</code>");
        assert_non_null(first);
        assert_non_null(second);
        assert_true(first < second);
    }
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_tables),
        RP_TEST(test_probe_put_expiry),
        RP_TEST(test_eviction_is_counted),
        RP_TEST(test_would_hit_matches_exact_within_budget),
        RP_TEST(test_100k_distinct_keys_stay_in_budget),
        RP_TEST(test_counts_and_names_observe),
        RP_TEST(test_on_mode),
        RP_TEST(test_names_are_bounded),
        RP_TEST(test_pool_runs_out),
        RP_TEST(test_threads_count_exactly),
        RP_TEST(test_helpers),
        RP_TEST(test_segment),
        RP_TEST(test_render),
    };

    apr_initialize();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
