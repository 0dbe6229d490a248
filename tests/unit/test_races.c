/*
 * test_races.c: exact interleavings of requests that a review found to
 * break the cache (fourth adversarial review, 2026-12-03), each fixed:
 *  - a hit's "validated" record vouched for whatever entry the key held
 *    when it was read, so an entry stored under tags read before a purge
 *    was served after it (the record now names the entry's bytes);
 *  - two variants filled side by side (each under its own fill lock)
 *    wrote the vary index from what each had read at its lookup, so it
 *    could shrink (it is now written under a short lock of its own, from
 *    the index memcached holds then).
 * The store runs as a coroutine (ucontext) that the test suspends just
 * before one memcached write and resumes from inside another request's
 * write, over the same in-memory store the other cache tests use.
 */
#include <string.h>
#include <stdio.h>
#include <strings.h>
#include <ucontext.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "cache/rp_cache.h"
#include "fakes/rp_store_mem.h"
#include "fakes/rp_req.h"

#define T0_S 1700000000LL
#define S_US 1000000LL

/* ---- fixture ------------------------------------------------------------ */

typedef struct {
    apr_pool_t *p;
    rp_store_t *store;
    rp_cache_conf_t conf;
    rp_clock_t clock;
    int64_t now_us;
} fx_t;

static int64_t fake_now(void *baton)
{
    return ((fx_t *)baton)->now_us;
}

static void fake_sleep(void *baton, int64_t us)
{
    fx_t *fx = baton;

    fx->now_us += us;
    rp_store_mem_set_time(fx->store, fx->now_us / S_US);
}

static void fx_init(fx_t *fx, apr_pool_t *p)
{
    memset(fx, 0, sizeof(*fx));
    fx->p = p;
    fx->store = rp_store_mem_create(p);
    fx->conf.default_ttl_s = 100;
    fx->conf.grace_s = 60;
    fx->conf.lock = 1;
    fx->conf.lock_wait_us = 500000;
    fx->conf.lock_ttl_s = 10;
    fx->clock.now_us = fake_now;
    fx->clock.sleep_us = fake_sleep;
    fx->clock.baton = fx;
    fx->now_us = T0_S * S_US + 123456;
    rp_store_mem_set_time(fx->store, fx->now_us / S_US);
}

static void advance(fx_t *fx, int64_t s)
{
    fx->now_us += s * S_US;
    rp_store_mem_set_time(fx->store, fx->now_us / S_US);
}

static const char *no_header(void *baton, const char *name)
{
    (void)baton;
    (void)name;
    return NULL;
}

static const char *url_of(apr_pool_t *p, const char *path)
{
    rp_url_t u = { "http", "example.com", 80, path, NULL, NULL, 0, NULL };
    const char *url = rp_key_url(p, &u);

    assert_non_null(url);
    return url;
}

static void lk_init(fx_t *fx, rp_lookup_t *lk, rp_store_t *st, const char *url)
{
    rp_cache_lookup_init(lk, st, fx->p, &fx->conf, &fx->clock, url,
                         rp_key_full(fx->p, url, NULL, 0), no_header, NULL);
}

static const rp_header_t HDRS[] = { { "Content-Type", "text/html" } };

static rp_cache_response_t page(const char *body, const char *cc,
                                const char *tags)
{
    rp_cache_response_t r;

    memset(&r, 0, sizeof(r));
    r.status = 200;
    r.headers = HDRS;
    r.n_headers = 1;
    r.cache_control = cc;
    r.body = body;
    r.body_len = strlen(body);
    r.tags = tags;
    return r;
}

/* ---- a store that suspends before one set of one key --------------------- */

typedef struct pause_store pause_store_t;
struct pause_store {
    rp_store_t outer;
    rp_store_ops_t ops;
    rp_store_t *inner;
    const char *set_key;               /* before the first set of it ... */
    void (*before_set)(pause_store_t *ps);  /* ... this runs, once */
    unsigned fired;
};

static rp_st_rc_t ps_get(void *c, apr_pool_t *p, const char *k, size_t kl,
                         const char **v, size_t *vl)
{
    return rp_store_get(((pause_store_t *)c)->inner, p, k, kl, v, vl);
}

static rp_st_rc_t ps_mget(void *c, apr_pool_t *p, rp_store_item_t *it, size_t n)
{
    return rp_store_mget(((pause_store_t *)c)->inner, p, it, n);
}

static rp_st_rc_t ps_set(void *c, const char *k, size_t kl, const char *v,
                         size_t vl, uint32_t t)
{
    pause_store_t *ps = c;

    if (ps->before_set != NULL && !ps->fired && ps->set_key != NULL
        && kl == strlen(ps->set_key) && memcmp(k, ps->set_key, kl) == 0) {
        ps->fired = 1;
        ps->before_set(ps);
    }
    return rp_store_set(ps->inner, k, kl, v, vl, t);
}

static rp_st_rc_t ps_add(void *c, const char *k, size_t kl, const char *v,
                         size_t vl, uint32_t t)
{
    return rp_store_add(((pause_store_t *)c)->inner, k, kl, v, vl, t);
}

static rp_st_rc_t ps_del(void *c, const char *k, size_t kl)
{
    return rp_store_del(((pause_store_t *)c)->inner, k, kl);
}

static rp_st_rc_t ps_incr(void *c, const char *k, size_t kl, uint64_t d,
                          uint64_t *nv)
{
    return rp_store_incr(((pause_store_t *)c)->inner, k, kl, d, nv);
}

static void ps_init(pause_store_t *ps, rp_store_t *inner)
{
    static const rp_store_ops_t ops = {
        "pause", ps_get, ps_mget, ps_set, ps_add, ps_del, ps_incr, NULL
    };

    memset(ps, 0, sizeof(*ps));
    ps->ops = ops;
    ps->inner = inner;
    ps->outer.ops = &ps->ops;
    ps->outer.ctx = ps;
}

/* ---- the coroutine: one request's store --------------------------------- */

static ucontext_t main_ctx, store_ctx, hit_ctx;
static ucontext_t *store_return_to;
static char store_stack[256 * 1024];
static rp_lookup_t *co_lk;
static rp_cache_response_t co_resp;
static rp_store_outcome_t co_outcome;
static int co_done;

static void store_coroutine(void)
{
    const char *why;

    co_outcome = rp_cache_store(co_lk, &co_resp, &why, NULL);
    co_done = 1;
    swapcontext(&store_ctx, store_return_to);
}

/* the store, just before it writes its entry: back to the test */
static void store_pauses(pause_store_t *ps)
{
    (void)ps;
    swapcontext(&store_ctx, &main_ctx);
}

/* the hit, just before it records the validated epoch: the store goes on
 * (entry, validated epoch, lock) and finishes, then the hit's write */
static void hit_lets_store_finish(pause_store_t *ps)
{
    (void)ps;
    store_return_to = &hit_ctx;
    swapcontext(&hit_ctx, &store_ctx);
}

static uint64_t gen_of(fx_t *fx, const char *prefix, const char *name)
{
    char k[RP_KEY_HASH_MAX];
    const char *v;
    size_t vl;
    uint64_t g = 0;

    rp_key_hash(prefix, name, strlen(name), k);
    if (rp_store_get(fx->store, fx->p, k, strlen(k), &v, &vl) == RP_ST_OK) {
        assert_int_equal(rp_cache_parse_gen(v, vl, &g), 0);
    }
    return g;
}

/*
 * A hit's "validated" epoch (rp:v:<key>, written by check_tags in
 * cache/rp_cache.c after the tags of the entry IT read held) is written
 * under the page's key, not bound to the entry it validated.  When the
 * entry under that key is replaced between the hit's read and its write,
 * the epoch record vouches for an entry whose tags were never checked.
 *
 * The interleaving (each step a single memcached operation):
 *   1. X1 (tag "a") is stored; it goes stale within grace.
 *   2. Request S refreshes it (lookup at tag epoch E; holds the lock).  The
 *      backend renders X2, tagged "a t", with t's OLD content.  S reads the
 *      tag generations (t's old one) and the epoch, still E: no purge.
 *   3. Tag t is purged completely: epoch E+1, t's generation, epoch E+2.
 *   4. Hit H (served X1 stale within grace) reads X1, epoch E+2 and a
 *      validated epoch that differs, reads X1's tag ("a", not purged).
 *   5. S writes X2 and its validated epoch E, and lets go of the lock.
 *   6. H writes validated = E+2 under the page's key.
 * Now X2 -- carrying t's generation from before the purge -- sits under a
 * validated epoch equal to the current epoch: every hit serves it without
 * reading t's generation, until some other tag purge anywhere moves the
 * epoch (or X2 expires).  A purged page is served after its purge
 * returned.  (rp_cache_store's tags_unpurged cannot help: S's checks all
 * ran before the purge; only the entry write came after.)
 */
static void test_validated_epoch_vouches_for_a_replaced_entry(void **state)
{
    fx_t fx;
    rp_lookup_t lk_fill, lk_s, lk_h, lk_after;
    rp_cache_response_t r;
    pause_store_t ps_s, ps_h;
    const char *url, *full;
    char ekey[RP_KEY_HASH_MAX], vkey[RP_KEY_HASH_MAX];
    uint64_t t_gen_before, t_gen_after;
    const char *why;
    rp_lookup_result_t res;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/product");
    full = rp_key_full(fx.p, url, NULL, 0);
    rp_key_hash("rp:e:", full, strlen(full), ekey);
    rp_key_hash("rp:v:", full, strlen(full), vkey);

    /* t has a generation (some other page carried it once) */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "t", fx.now_us),
                     RP_ST_OK);
    t_gen_before = gen_of(&fx, "rp:t:", "t");

    /* 1. X1, tagged a, then stale within grace */
    lk_init(&fx, &lk_fill, fx.store, url);
    assert_int_equal(rp_cache_lookup(&lk_fill), RP_LOOKUP_MISS);
    r = page("X1", "max-age=10", "a");
    assert_int_equal(rp_cache_store(&lk_fill, &r, &why, NULL),
                     RP_STORE_STORED);
    advance(&fx, 11);

    /* 2. S refreshes: lookup, then its store runs up to the entry write */
    ps_init(&ps_s, fx.store);
    lk_init(&fx, &lk_s, &ps_s.outer, url);
    assert_int_equal(rp_cache_lookup(&lk_s), RP_LOOKUP_MISS);
    assert_int_equal(lk_s.holds_lock, 1);
    ps_s.set_key = ekey;
    ps_s.before_set = store_pauses;
    co_lk = &lk_s;
    co_resp = page("X2: t as it was BEFORE the purge", "max-age=300", "a t");
    co_done = 0;
    getcontext(&store_ctx);
    store_ctx.uc_stack.ss_sp = store_stack;
    store_ctx.uc_stack.ss_size = sizeof(store_stack);
    store_ctx.uc_link = NULL;
    makecontext(&store_ctx, store_coroutine, 0);
    swapcontext(&main_ctx, &store_ctx);
    assert_int_equal(ps_s.fired, 1);       /* S is before its entry write */
    assert_int_equal(co_done, 0);

    /* 3. the purge of t, whole */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "t", fx.now_us),
                     RP_ST_OK);
    t_gen_after = gen_of(&fx, "rp:t:", "t");
    assert_true(t_gen_after != t_gen_before);

    /* 4.-6. H: a stale hit on X1 (S holds the lock); S finishes inside
     * H's validated-epoch write */
    ps_init(&ps_h, fx.store);
    ps_h.set_key = vkey;
    ps_h.before_set = hit_lets_store_finish;
    lk_init(&fx, &lk_h, &ps_h.outer, url);
    /* a HEAD, or a GET with a ReqPerfCacheIgnoreQuery parameter
     * (?utm_source=...): mod_reqperf_cache.c cache_lookup sets no_lock,
     * so within grace it is served the stale copy whoever holds the lock */
    lk_h.no_lock = 1;
    res = rp_cache_lookup(&lk_h);
    assert_int_equal(ps_h.fired, 1);
    assert_int_equal(co_done, 1);
    assert_int_equal(res, RP_LOOKUP_STALE);
    assert_int_equal(lk_h.entry.body_len, 2);       /* it served X1 */
    /* S did store X2 (all its checks ran before the purge) */
    assert_int_equal(co_outcome, RP_STORE_STORED);

    /* after the purge of t returned: X2 must not be served */
    lk_init(&fx, &lk_after, fx.store, url);
    res = rp_cache_lookup(&lk_after);
    if (res == RP_LOOKUP_HIT || res == RP_LOOKUP_STALE) {
        print_message("served after the purge of t returned: \"%.*s\" "
                      "(its t generation %llu, t's now %llu)\n",
                      (int)lk_after.entry.body_len, lk_after.entry.body,
                      (unsigned long long)(lk_after.entry.n_tags > 1
                                           ? lk_after.entry.tag_gens[1] : 0),
                      (unsigned long long)t_gen_after);
        fail_msg("a page rendered before the purge of its tag is a HIT "
                 "after the purge");
    }
    rp_cache_release(&lk_after);
}


/* ---- requests with headers --------------------------------------------- */

/* req_t and req_get: fakes/rp_req.h */

static void lk_init_req(fx_t *fx, rp_lookup_t *lk, const char *url, req_t *rq)
{
    rp_cache_lookup_init(lk, fx->store, fx->p, &fx->conf, &fx->clock, url,
                         rp_key_full(fx->p, url, NULL, 0), req_get, rq);
}

/*
 * "Vary only grows" (README, the key: a response that names fewer
 * headers than an earlier one of the same URL is stored as a variant of
 * all of them) no longer holds once two variants fill side by side, which
 * 5b4bbdd made the normal case: each variant's miss takes its own fill
 * lock (cache/rp_cache.c lock_key), so two fills of one URL run at once,
 * each judged against the index it read at its lookup (lk->index_vary),
 * and store_index (cache/rp_cache_store.c) overwrites the base key with a
 * plain set.
 *
 *   - the index names Accept-Encoding (a deflate variant is stored);
 *   - F (gzip, Accept-Language: en) and G (br, Accept-Language: de) miss
 *     their variants, each takes its own lock, both go to the backend;
 *   - G's answer says Vary: Accept-Encoding, Accept-Language: G stores the
 *     index {AE, AL} and its variant;
 *   - F's answer says Vary: Accept-Encoding: F, judged against the index
 *     it read ({AE}), writes the index {AE} over G's.
 * The URL is now keyed without Accept-Language although a response of it
 * said it varies on it: a request for (gzip, de) is served F's page,
 * rendered for (gzip, en).  Before 5b4bbdd the second fill waited on the
 * page's lock and read the first one's index, so the names only grew.
 */
static void test_concurrent_variant_fills_shrink_the_index(void **state)
{
    fx_t fx;
    rp_lookup_t lk0, lk_f, lk_g, lk_q;
    rp_cache_response_t r;
    const char *url, *why;
    req_t deflate = { { { "Accept-Encoding", "deflate" } }, 1 };
    req_t f_req = { { { "Accept-Encoding", "gzip" },
                      { "Accept-Language", "en" } }, 2 };
    req_t g_req = { { { "Accept-Encoding", "br" },
                      { "Accept-Language", "de" } }, 2 };
    req_t q_req = { { { "Accept-Encoding", "gzip" },
                      { "Accept-Language", "de" } }, 2 };
    rp_lookup_result_t res;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/welcome");

    lk_init_req(&fx, &lk0, url, &deflate);
    assert_int_equal(rp_cache_lookup(&lk0), RP_LOOKUP_MISS);
    r = page("deflate page", "max-age=300", NULL);
    r.vary = "Accept-Encoding";
    assert_int_equal(rp_cache_store(&lk0, &r, &why, NULL), RP_STORE_STORED);

    /* F and G: both miss, neither waits for the other */
    lk_init_req(&fx, &lk_f, url, &f_req);
    assert_int_equal(rp_cache_lookup(&lk_f), RP_LOOKUP_MISS);
    assert_int_equal(lk_f.holds_lock, 1);
    lk_init_req(&fx, &lk_g, url, &g_req);
    assert_int_equal(rp_cache_lookup(&lk_g), RP_LOOKUP_MISS);
    assert_int_equal(lk_g.holds_lock, 1);
    assert_int_equal(lk_g.waited, 0);

    /* G first: its response varies on Accept-Language too */
    r = page("G: br, Deutsch", "max-age=300", NULL);
    r.vary = "Accept-Encoding, Accept-Language";
    assert_int_equal(rp_cache_store(&lk_g, &r, &why, NULL), RP_STORE_STORED);

    /* then F */
    r = page("F: gzip, English", "max-age=300", NULL);
    r.vary = "Accept-Encoding";
    assert_int_equal(rp_cache_store(&lk_f, &r, &why, NULL), RP_STORE_STORED);

    /* a German reader with gzip: must not get the page made for English */
    lk_init_req(&fx, &lk_q, url, &q_req);
    res = rp_cache_lookup(&lk_q);
    if (res == RP_LOOKUP_HIT) {
        print_message("(gzip, de) served \"%.*s\"; index now names: %s\n",
                      (int)lk_q.entry.body_len, lk_q.entry.body,
                      lk_q.index_vary ? lk_q.index_vary : "?");
        fail_msg("the vary index shrank: Accept-Language, named by an "
                 "earlier response of the URL, is no longer keyed");
    }
    rp_cache_release(&lk_q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_validated_epoch_vouches_for_a_replaced_entry),
        RP_TEST(test_concurrent_variant_fills_shrink_the_index),
    };

    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
