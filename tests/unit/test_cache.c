/*
 * test_cache.c: the page cache's algorithm (rp_cache.c) end to end over the
 * in-memory store, with a fake clock whose sleep can run a callback (another
 * request filling the entry while a waiter sleeps). Covers MISS/store/HIT and
 * the round trips a hit costs, freshness and grace (none where the response
 * forbids serving stale; kept when the refresher gets a 5xx), what is never
 * stored, response Vary, URL and tag purges (also during a fetch, racing the
 * creation of a generation, and after the generation key is evicted), the
 * tag-epoch shortcut that spares tagged (also varied) hits a round trip,
 * damaged or foreign entries, the stampede lock and its
 * "pass" markers for uncacheable pages, client refresh, a store that is
 * down, and generation parsing.
 */
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "rp_test.h"
#include "cache/rp_cache.h"
#include "cache/rp_pending.h"
#include "fakes/rp_store_mem.h"
#include "fakes/rp_req.h"

#define T0_S 1700000000LL               /* the fake clock starts here */
#define S_US 1000000LL

/* ---- fixture: store, conf, fake clock ---------------------------------- */

typedef struct fx fx_t;
struct fx {
    apr_pool_t *p;
    rp_store_t *store;
    rp_cache_conf_t conf;
    rp_clock_t clock;
    int64_t now_us;
    unsigned sleeps;
    int64_t slept_us;
    void (*on_sleep)(fx_t *fx);         /* runs after each fake sleep */
    rp_lookup_t *other;                 /* for on_sleep: the first request */
    rp_cache_response_t other_resp;
    rp_store_outcome_t other_outcome;
    unsigned on_sleep_runs;
};

static int64_t fake_now(void *baton)
{
    return ((fx_t *)baton)->now_us;
}

static void fake_sleep(void *baton, int64_t us)
{
    fx_t *fx = baton;

    fx->now_us += us;
    rp_store_mem_set_time(fx->store, fx->now_us / S_US);
    fx->sleeps++;
    fx->slept_us += us;
    if (fx->on_sleep) {
        fx->on_sleep(fx);
    }
}

static void fx_init(fx_t *fx, apr_pool_t *p)
{
    memset(fx, 0, sizeof(*fx));
    fx->p = p;
    fx->store = rp_store_mem_create(p);
    fx->conf.default_ttl_s = 100;
    fx->conf.grace_s = 0;
    fx->conf.lock = 1;
    fx->conf.lock_wait_us = 500000;
    fx->conf.lock_ttl_s = 10;
    fx->clock.now_us = fake_now;
    fx->clock.sleep_us = fake_sleep;
    fx->clock.baton = fx;
    fx->now_us = T0_S * S_US + 123456;  /* not on a second boundary */
    rp_store_mem_set_time(fx->store, fx->now_us / S_US);
}

static void advance_us(fx_t *fx, int64_t us)
{
    fx->now_us += us;
    rp_store_mem_set_time(fx->store, fx->now_us / S_US);
}

static void advance(fx_t *fx, int64_t s)
{
    advance_us(fx, s * S_US);
}

/* ---- requests ---------------------------------------------------------- */

/* req_t and req_get: fakes/rp_req.h */

static req_t NOHDR = { { { NULL, NULL } }, 0 };
static req_t AE_GZIP = { { { "Accept-Encoding", "gzip" } }, 1 };
static req_t AE_BR = { { { "Accept-Encoding", "br" } }, 1 };
static req_t AE_DEFLATE = { { { "Accept-Encoding", "deflate" } }, 1 };

static const char *const IGNORE[] = { "utm_*" };

static const char *url_of(apr_pool_t *p, const char *path, const char *query)
{
    rp_url_t u = { "http", "example.com", 80, path, query, IGNORE, 1, NULL };
    const char *url = rp_key_url(p, &u);

    assert_non_null(url);
    return url;
}

static const char *base_of(apr_pool_t *p, const char *url)
{
    const char *full = rp_key_full(p, url, NULL, 0);

    assert_non_null(full);
    return full;
}

static void init(fx_t *fx, rp_lookup_t *lk, const char *url, req_t *rq)
{
    rp_cache_lookup_init(lk, fx->store, fx->p, &fx->conf, &fx->clock, url,
                         base_of(fx->p, url), req_get, rq);
}

static rp_lookup_result_t lookup(fx_t *fx, rp_lookup_t *lk, const char *url,
                                 req_t *rq)
{
    init(fx, lk, url, rq);
    return rp_cache_lookup(lk);
}

/* ---- responses --------------------------------------------------------- */

static const rp_header_t PAGE_HDRS[] = {
    { "Content-Type", "text/html; charset=utf-8" },
    { "X-Backend", "app1" },
};

static rp_cache_response_t page(const char *body, const char *cc)
{
    rp_cache_response_t r;

    memset(&r, 0, sizeof(r));
    r.status = 200;
    r.headers = PAGE_HDRS;
    r.n_headers = 2;
    r.cache_control = cc;
    r.body = body;
    r.body_len = strlen(body);
    return r;
}

static rp_store_outcome_t store(rp_lookup_t *lk, const rp_cache_response_t *r)
{
    const char *why = "unset";
    int dropped = -1;
    rp_store_outcome_t o = rp_cache_store(lk, r, &why, &dropped);

    if (o == RP_STORE_STORED) {
        assert_null(why);
    }
    else {
        assert_non_null(why);
    }
    assert_int_equal(lk->holds_lock, 0);   /* released whatever happened */
    return o;
}

static void assert_body(const rp_lookup_t *lk, const char *body)
{
    assert_int_equal(lk->entry.body_len, strlen(body));
    assert_memory_equal(lk->entry.body, body, strlen(body));
}

/* MISS, then store r: the page is in. */
static void fill(fx_t *fx, const char *url, req_t *rq,
                 const rp_cache_response_t *r)
{
    rp_lookup_t lk;

    assert_int_equal(lookup(fx, &lk, url, rq), RP_LOOKUP_MISS);
    assert_int_equal(store(&lk, r), RP_STORE_STORED);
}

static void expect_hit(fx_t *fx, const char *url, req_t *rq, const char *body)
{
    rp_lookup_t lk;

    assert_int_equal(lookup(fx, &lk, url, rq), RP_LOOKUP_HIT);
    assert_body(&lk, body);
    assert_int_equal(lk.holds_lock, 0);
}

/* A MISS for reason why; lets go of the lock it may have taken. */
static void expect_miss(fx_t *fx, const char *url, req_t *rq,
                        rp_miss_reason_t why)
{
    rp_lookup_t lk;

    assert_int_equal(lookup(fx, &lk, url, rq), RP_LOOKUP_MISS);
    assert_string_equal(rp_miss_reason_name(lk.miss_reason),
                        rp_miss_reason_name(why));
    assert_int_equal(lk.waited, 0);
    rp_cache_release(&lk);
}

/* The memcached key of an entry, from its full key. */
static void entry_key(const char *full, char out[RP_KEY_HASH_MAX])
{
    rp_key_hash("rp:e:", full, strlen(full), out);
}

static const char *variant_of(apr_pool_t *p, const char *url, const char *ae)
{
    rp_header_t h = { "accept-encoding", ae };
    const char *full = rp_key_variant(p, base_of(p, url), &h, 1);

    assert_non_null(full);
    return full;
}

#define K(s) (s), strlen(s)

/* ---- 1. MISS, store, HIT ------------------------------------------------ */

static void test_miss_store_hit(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    const char *url;
    rp_cache_response_t r;
    char lock_key[RP_KEY_HASH_MAX];
    const char *v;
    size_t vl;
    unsigned long mget0, get0, set0, add0, del0, incr0;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/hello", "b=2&a=1");
    r = page("<h1>hello</h1>", "max-age=60");

    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_ABSENT);
    assert_string_equal(rp_miss_reason_name(lk.miss_reason), "absent");
    assert_int_equal(lk.holds_lock, 1);
    assert_int_equal(lk.waited, 0);
    assert_int_equal(lk.invalid_entries, 0);
    rp_key_hash("rp:l:", url, strlen(url), lock_key);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(lock_key), &v, &vl), RP_ST_OK);

    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    /* the lock is gone with the store */
    assert_int_equal(rp_store_get(fx.store, fx.p, K(lock_key), &v, &vl),
                     RP_ST_NOTFOUND);

    advance(&fx, 5);
    mget0 = rp_store_mem_calls(fx.store, "mget");
    get0 = rp_store_mem_calls(fx.store, "get");
    set0 = rp_store_mem_calls(fx.store, "set");
    add0 = rp_store_mem_calls(fx.store, "add");
    del0 = rp_store_mem_calls(fx.store, "del");
    incr0 = rp_store_mem_calls(fx.store, "incr");
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_HIT);
    /* an untagged, unvaried hit: exactly one multi-get, nothing else */
    assert_int_equal(lk.round_trips, 1);
    assert_int_equal(rp_store_mem_calls(fx.store, "mget"), mget0 + 1);
    assert_int_equal(rp_store_mem_calls(fx.store, "get"), get0);
    assert_int_equal(rp_store_mem_calls(fx.store, "set"), set0);
    assert_int_equal(rp_store_mem_calls(fx.store, "add"), add0);
    assert_int_equal(rp_store_mem_calls(fx.store, "del"), del0);
    assert_int_equal(rp_store_mem_calls(fx.store, "incr"), incr0);

    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(lk.age_s, 5);
    assert_int_equal(lk.entry.kind, RP_ENTRY_PAGE);
    assert_int_equal(lk.entry.status, 200);
    assert_int_equal(lk.entry.key_len, strlen(url));
    assert_memory_equal(lk.entry.key, url, strlen(url));
    assert_int_equal(lk.entry.n_headers, 2);
    assert_string_equal(lk.entry.headers[0].name, "Content-Type");
    assert_string_equal(lk.entry.headers[0].value, "text/html; charset=utf-8");
    assert_string_equal(lk.entry.headers[1].name, "X-Backend");
    assert_string_equal(lk.entry.headers[1].value, "app1");
    assert_body(&lk, "<h1>hello</h1>");
    assert_int_equal(lk.entry.n_tags, 0);

    /* the same page through a differently ordered query */
    expect_hit(&fx, url_of(fx.p, "/hello", "a=1&b=2"), &NOHDR, "<h1>hello</h1>");
    /* another page is not it */
    expect_miss(&fx, url_of(fx.p, "/hello", "a=1"), &NOHDR, RP_MISS_ABSENT);
}

/* Other statuses the rules allow are stored and replayed as they came. */
static void test_store_other_status_and_binary_body(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    const char *url;
    rp_cache_response_t r;
    static const char bin[] = { 'a', '\0', 'b', '\n', '\r', (char)0xff };

    fx_init(&fx, *state);
    url = url_of(fx.p, "/gone", NULL);
    r = page("", "max-age=60");
    r.status = 404;
    r.body = bin;
    r.body_len = sizeof(bin);
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_HIT);
    assert_int_equal(lk.entry.status, 404);
    assert_int_equal(lk.entry.body_len, sizeof(bin));
    assert_memory_equal(lk.entry.body, bin, sizeof(bin));
}

/* ---- 2. freshness and grace --------------------------------------------- */

static void test_freshness_sources(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *u_def, *u_max, *u_s, *u_exp;
    char date[APR_RFC822_DATE_LEN], expires[APR_RFC822_DATE_LEN];

    fx_init(&fx, *state);
    u_def = url_of(fx.p, "/default", NULL);
    u_max = url_of(fx.p, "/max-age", NULL);
    u_s = url_of(fx.p, "/s-maxage", NULL);
    u_exp = url_of(fx.p, "/expires", NULL);

    r = page("default", NULL);                  /* default TTL: 100 s */
    fill(&fx, u_def, &NOHDR, &r);
    r = page("max-age", "public, max-age=50");
    fill(&fx, u_max, &NOHDR, &r);
    r = page("s-maxage", "max-age=300, s-maxage=30");   /* s-maxage wins */
    fill(&fx, u_s, &NOHDR, &r);
    r = page("expires", NULL);                  /* Expires - Date = 40 s */
    apr_rfc822_date(date, (apr_time_t)fx.now_us);
    apr_rfc822_date(expires, (apr_time_t)(fx.now_us + 40 * S_US));
    r.date = date;
    r.expires = expires;
    fill(&fx, u_exp, &NOHDR, &r);

    advance(&fx, 29);
    expect_hit(&fx, u_def, &NOHDR, "default");
    expect_hit(&fx, u_max, &NOHDR, "max-age");
    expect_hit(&fx, u_s, &NOHDR, "s-maxage");
    expect_hit(&fx, u_exp, &NOHDR, "expires");

    advance(&fx, 2);                            /* 31 s */
    expect_miss(&fx, u_s, &NOHDR, RP_MISS_EXPIRED);
    expect_hit(&fx, u_max, &NOHDR, "max-age");
    expect_hit(&fx, u_exp, &NOHDR, "expires");

    advance(&fx, 10);                           /* 41 s */
    expect_miss(&fx, u_exp, &NOHDR, RP_MISS_EXPIRED);
    expect_hit(&fx, u_max, &NOHDR, "max-age");

    advance(&fx, 9);                            /* 50 s: not fresh any more */
    expect_miss(&fx, u_max, &NOHDR, RP_MISS_EXPIRED);
    expect_hit(&fx, u_def, &NOHDR, "default");

    advance(&fx, 49);                           /* 99 s */
    expect_hit(&fx, u_def, &NOHDR, "default");
    advance(&fx, 1);                            /* 100 s */
    assert_int_equal(lookup(&fx, &lk, u_def, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk.holds_lock, 1);        /* a plain miss refreshes it */
    r = page("default v2", NULL);
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, u_def, &NOHDR, "default v2");

    /* memcached drops an entry some time after freshness + grace */
    advance(&fx, 100 + 60);
    expect_miss(&fx, u_def, &NOHDR, RP_MISS_ABSENT);
}

static void test_expired_response_not_stored_without_grace(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *why;
    char date[APR_RFC822_DATE_LEN], expires[APR_RFC822_DATE_LEN];

    fx_init(&fx, *state);
    url = url_of(fx.p, "/old", NULL);
    apr_rfc822_date(date, (apr_time_t)fx.now_us);
    apr_rfc822_date(expires, (apr_time_t)(fx.now_us - 3600 * S_US));
    r = page("old", NULL);
    r.date = date;
    r.expires = expires;
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    assert_string_equal(why, "expired");
    expect_miss(&fx, url, &NOHDR, RP_MISS_PASS);
}

static void test_grace(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2, lk3;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    fx.conf.grace_s = 30;
    url = url_of(fx.p, "/news", NULL);
    r = page("old news", "max-age=10");
    fill(&fx, url, &NOHDR, &r);

    advance(&fx, 9);
    expect_hit(&fx, url, &NOHDR, "old news");

    advance(&fx, 6);                            /* 15 s: stale, within grace */
    /* the first request refreshes: MISS, holding the lock */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk1.holds_lock, 1);
    /* the others get the stale copy at once, without waiting */
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_int_equal(lk2.holds_lock, 0);
    assert_int_equal(lk2.waited, 0);
    assert_int_equal(fx.sleeps, 0);
    assert_int_equal(lk2.age_s, 15);
    assert_int_equal(lk2.entry.status, 200);
    assert_body(&lk2, "old news");
    /* a HEAD (no_lock) within grace: STALE too */
    init(&fx, &lk3, url, &NOHDR);
    lk3.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk3), RP_LOOKUP_STALE);
    assert_body(&lk3, "old news");

    /* the refresher stores the new page: everyone gets it */
    r = page("new news", "max-age=10");
    assert_int_equal(store(&lk1, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "new news");

    /* beyond grace: a MISS, never the stale copy */
    advance(&fx, 10 + 30);                      /* exactly fresh + grace */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk1.holds_lock, 1);
    rp_cache_release(&lk1);
    init(&fx, &lk3, url, &NOHDR);
    lk3.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk3), RP_LOOKUP_MISS);
    assert_int_equal(lk3.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk3.holds_lock, 0);
}

/* With grace, a response that is already stale is still worth keeping. */
static void test_grace_stores_max_age_zero(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    fx.conf.grace_s = 20;
    url = url_of(fx.p, "/zero", NULL);
    r = page("zero", "max-age=0");
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_body(&lk2, "zero");
    rp_cache_release(&lk1);
}

/* RFC 5861 stale-if-error: an expired copy comes back with the MISS as a
 * fallback for as long as its window (the response's stale-if-error, else
 * ReqPerfCacheStaleIfError) lasts; stale-while-revalidate acts as grace;
 * a purged copy never stands in; the copy stays in memcached that long. */
static void test_stale_if_error(void **state)
{
    fx_t fx;
    rp_lookup_t lk, lk2;
    rp_cache_response_t r;
    const char *url, *url2, *url3, *url4, *why;
    char ek[RP_KEY_HASH_MAX];

    fx_init(&fx, *state);
    fx.conf.stale_if_error_s = 60;
    url = url_of(fx.p, "/sie", NULL);
    r = page("v1", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    /* kept in memcached for freshness + stale-if-error (+ a minute) */
    rp_key_hash("rp:e:", base_of(fx.p, url), strlen(base_of(fx.p, url)), ek);
    assert_int_equal(rp_store_mem_ttl(fx.store, ek), 10 + 60 + 60);

    advance(&fx, 11);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk.holds_lock, 1);
    assert_int_equal(lk.has_fallback, 1);
    assert_int_equal(lk.fallback.body_len, 2);
    assert_memory_equal(lk.fallback.body, "v1", 2);
    assert_int_equal(lk.fallback_age_s, 11);
    /* it stands in for a 5xx only */
    assert_int_equal(rp_cache_fallback_applies(&lk, 500), 1);
    assert_int_equal(rp_cache_fallback_applies(&lk, 503), 1);
    assert_int_equal(rp_cache_fallback_applies(&lk, 404), 0);
    assert_int_equal(rp_cache_fallback_applies(&lk, 200), 0);
    /* the backend fails: the 5xx leaves no pass marker over the copy */
    r = page("oops", NULL);
    r.status = 503;
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk.has_fallback, 1);
    rp_cache_release(&lk);
    /* past the window: no fallback */
    advance(&fx, 60);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.has_fallback, 0);
    rp_cache_release(&lk);

    /* the response's own stale-if-error wins over the configuration */
    url2 = url_of(fx.p, "/sie2", NULL);
    r = page("v2", "max-age=10, stale-if-error=5");
    fill(&fx, url2, &NOHDR, &r);
    advance(&fx, 14);
    assert_int_equal(lookup(&fx, &lk, url2, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.has_fallback, 1);
    rp_cache_release(&lk);
    advance(&fx, 2);
    assert_int_equal(lookup(&fx, &lk, url2, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.has_fallback, 0);
    rp_cache_release(&lk);

    /* must-revalidate forbids a stand-in, unless stale-if-error says so */
    url3 = url_of(fx.p, "/sie3", NULL);
    r = page("v3", "max-age=10, must-revalidate");
    fill(&fx, url3, &NOHDR, &r);
    advance(&fx, 11);
    assert_int_equal(lookup(&fx, &lk, url3, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.has_fallback, 0);
    r = page("v3", "max-age=0, must-revalidate, stale-if-error=30");
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);     /* no freshness, still kept */
    advance(&fx, 1);
    assert_int_equal(lookup(&fx, &lk, url3, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.has_fallback, 1);
    /* ... and a purge ends it */
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url3, fx.now_us), RP_ST_OK);
    rp_cache_release(&lk);
    assert_int_equal(lookup(&fx, &lk, url3, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.has_fallback, 0);
    assert_int_equal(rp_cache_fallback_applies(&lk, 503), 0);
    rp_cache_release(&lk);

    /* stale-while-revalidate is grace for that entry */
    fx.conf.stale_if_error_s = 0;
    url4 = url_of(fx.p, "/swr", NULL);
    r = page("v4", "max-age=10, stale-while-revalidate=20");
    fill(&fx, url4, &NOHDR, &r);
    advance(&fx, 15);
    assert_int_equal(lookup(&fx, &lk, url4, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.holds_lock, 1);
    assert_int_equal(lk.has_fallback, 1);     /* the refresher's copy too */
    assert_int_equal(rp_cache_fallback_applies(&lk, 502), 1);
    assert_int_equal(lookup(&fx, &lk2, url4, &NOHDR), RP_LOOKUP_STALE);
    assert_int_equal(lk2.stale_reason, RP_STALE_GRACE);
    rp_cache_release(&lk);
}

/* A request waiting for another's fill takes the stand-in when the wait
 * runs out (the filler is slow or died), and goes to the backend only
 * when there is none. */
static void test_lock_timeout_serves_the_stand_in(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    fx.conf.stale_if_error_s = 300;
    url = url_of(fx.p, "/slowfill", NULL);
    r = page("old", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    advance(&fx, 20);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);        /* ... and never comes back */
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_int_equal(lk2.waited, 1);
    assert_int_equal(lk2.stale_reason, RP_STALE_TIMEOUT);
    assert_body(&lk2, "old");
    assert_true(fx.slept_us >= fx.conf.lock_wait_us);
    rp_cache_release(&lk1);
}

/* RFC 9111 4.2.4: a response with must-revalidate (proxy-revalidate means
 * the same to a shared cache; s-maxage implies it) must not be served stale,
 * so grace does not apply to it: once it expires, a request that finds
 * another refreshing it waits (or misses), it never gets the stale copy. */
static void test_grace_forbidden_by_response(void **state)
{
    static const struct {
        const char *cc;
        int stale_ok;
    } cases[] = {
        { "max-age=10, must-revalidate", 0 },
        { "s-maxage=10", 0 },
        { "max-age=10, proxy-revalidate", 0 },
        { "public, PROXY-REVALIDATE, max-age=10", 0 },
        { "max-age=10", 1 },                    /* control: grace applies */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_t fx;
        rp_lookup_t lk1, lk2, lk3;
        rp_cache_response_t r;
        const char *url, *v;
        size_t vl;
        char ek[RP_KEY_HASH_MAX];
        rp_entry_t e;

        fx_init(&fx, *state);
        fx.conf.grace_s = 30;
        url = url_of(fx.p, "/strict", NULL);
        r = page("old", cases[i].cc);
        fill(&fx, url, &NOHDR, &r);

        advance(&fx, 9);
        expect_hit(&fx, url, &NOHDR, "old");

        advance(&fx, 6);                        /* 15 s: expired */
        /* the first request refreshes it, holding the lock */
        assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
        assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
        assert_int_equal(lk1.holds_lock, 1);
        /* a second one meanwhile */
        if (cases[i].stale_ok) {
            assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
            assert_body(&lk2, "old");
            assert_int_equal(lk2.waited, 0);
        }
        else {
            /* waits for the refresher (who never stores here): lock-timeout */
            assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
            assert_int_equal(lk2.miss_reason, RP_MISS_LOCK_TIMEOUT);
            assert_int_equal(lk2.waited, 1);
            assert_int_equal(lk2.holds_lock, 0);
            assert_null(lk2.entry.body);
        }
        /* with ReqPerfCacheLock off: STALE only where grace applies, else
         * an immediate MISS */
        fx.conf.lock = 0;
        if (cases[i].stale_ok) {
            assert_int_equal(lookup(&fx, &lk3, url, &NOHDR), RP_LOOKUP_STALE);
        }
        else {
            fx.sleeps = 0;
            assert_int_equal(lookup(&fx, &lk3, url, &NOHDR), RP_LOOKUP_MISS);
            assert_int_equal(lk3.miss_reason, RP_MISS_EXPIRED);
            assert_int_equal(lk3.waited, 0);
            assert_int_equal(fx.sleeps, 0);
            assert_null(lk3.entry.body);
        }
        fx.conf.lock = 1;
        /* a HEAD, which takes no lock, likewise */
        init(&fx, &lk3, url, &NOHDR);
        lk3.no_lock = 1;
        assert_int_equal(rp_cache_lookup(&lk3), cases[i].stale_ok
                                                ? RP_LOOKUP_STALE
                                                : RP_LOOKUP_MISS);
        rp_cache_release(&lk1);
        /* what was stored: grace only where the response allows it */
        entry_key(url, ek);
        assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_OK);
        assert_int_equal(rp_entry_decode(v, vl, fx.p, &e), RP_ENTRY_OK);
        assert_true(e.grace_us == (cases[i].stale_ok ? 30 * S_US : 0));
    }
}

/* The refresher of a page in grace gets a 5xx from the backend: the stale
 * copy is what grace keeps for exactly this, so it stays (no pass marker
 * over it) and the others go on getting it until grace ends.  A non-5xx
 * answer that cannot be stored still replaces it with a pass. */
static void test_grace_survives_refresher_5xx(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r, err;
    const char *url, *url_sc, *why;

    fx_init(&fx, *state);
    fx.conf.grace_s = 300;
    url = url_of(fx.p, "/quote", NULL);
    url_sc = url_of(fx.p, "/quote-sc", NULL);
    r = page("old quote", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    fill(&fx, url_sc, &NOHDR, &r);
    err = page("backend error", NULL);
    err.status = 503;

    advance(&fx, 20);                           /* stale, 280 s of grace left */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk1.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_body(&lk2, "old quote");

    /* the backend answers 503: what the HTTP glue does then */
    rp_cache_mark_pass(&lk1, 503);
    assert_int_equal(lk1.holds_lock, 0);
    init(&fx, &lk2, url, &NOHDR);
    lk2.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk2), RP_LOOKUP_STALE);
    assert_body(&lk2, "old quote");
    /* the stale copy is still served: the next request refreshes (the lock
     * is free again), not a pass; the others get it stale */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk1.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_body(&lk2, "old quote");

    /* the same through rp_cache_store with the 503 */
    assert_int_equal(rp_cache_store(&lk1, &err, &why, NULL),
                     RP_STORE_NOT_CACHEABLE);
    assert_string_equal(why, "status");
    assert_int_equal(lk1.holds_lock, 0);
    init(&fx, &lk2, url, &NOHDR);
    lk2.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk2), RP_LOOKUP_STALE);
    assert_body(&lk2, "old quote");

    /* past the 5 s a 5xx pass would last, and still within grace */
    advance(&fx, 6);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk1.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_body(&lk2, "old quote");
    assert_int_equal(lk2.age_s, 26);
    err.status = 500;
    assert_int_equal(store(&lk1, &err), RP_STORE_NOT_CACHEABLE);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk2.holds_lock, 1);
    rp_cache_mark_pass(&lk2, 502);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_STALE);
    assert_body(&lk1, "old quote");
    rp_cache_release(&lk2);

    /* a 200 that cannot be stored (Set-Cookie) does replace the stale copy
     * with a pass: no STALE for that page any more */
    assert_int_equal(lookup(&fx, &lk1, url_sc, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk1.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url_sc, &NOHDR), RP_LOOKUP_STALE);
    r = page("for one user", "max-age=10");
    r.has_set_cookie = 1;
    assert_int_equal(rp_cache_store(&lk1, &r, &why, NULL),
                     RP_STORE_NOT_CACHEABLE);
    assert_string_equal(why, "set-cookie");
    assert_int_equal(lookup(&fx, &lk2, url_sc, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.miss_reason, RP_MISS_PASS);
    assert_null(lk2.entry.body);
    expect_miss(&fx, url_sc, &NOHDR, RP_MISS_PASS);

    /* the 5xx page: stale until grace ends, then a MISS */
    advance(&fx, 10 + 300 - 26 - 1);
    init(&fx, &lk2, url, &NOHDR);
    lk2.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk2), RP_LOOKUP_STALE);
    assert_body(&lk2, "old quote");
    advance(&fx, 1);
    expect_miss(&fx, url, &NOHDR, RP_MISS_EXPIRED);
}

/* ---- 3. never stored ---------------------------------------------------- */

static void test_not_storable(void **state)
{
    static const struct {
        int status;
        const char *cc;
        const char *vary;
        int set_cookie;
        int content_range;
        const char *why;
    } cases[] = {
        { 200, "max-age=60", NULL, 1, 0, "set-cookie" },
        { 200, "private, max-age=60", NULL, 0, 0, "private" },
        { 200, "max-age=60, no-store", NULL, 0, 0, "no-store" },
        { 200, "no-cache", NULL, 0, 0, "no-cache" },
        { 500, "max-age=60", NULL, 0, 0, "status" },
        { 302, "max-age=60", NULL, 0, 0, "status" },
        { 206, "max-age=60", NULL, 0, 0, "partial" },
        { 200, "max-age=60", NULL, 0, 1, "partial" },
        { 200, "max-age=60", "*", 0, 0, "vary-star" },
        { 200, "max-age=60", "Accept-Encoding, *", 0, 0, "vary-star" },
        { 200, "max-age=60", "Cookie", 0, 0, "vary-private" },
        { 200, "max-age=60", "accept-encoding, authorization", 0, 0, "vary-private" },
        { 200, "max-age=0", NULL, 0, 0, "expired" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_t fx;
        rp_lookup_t lk;
        rp_cache_response_t r;
        const char *url, *why = NULL;
        const char *v;
        size_t vl;
        char ek[RP_KEY_HASH_MAX], lock_key[RP_KEY_HASH_MAX];
        rp_entry_t e;

        fx_init(&fx, *state);
        url = url_of(fx.p, "/private", NULL);
        entry_key(url, ek);
        rp_key_hash("rp:l:", url, strlen(url), lock_key);
        r = page("for your eyes only", cases[i].cc);
        r.status = cases[i].status;
        r.vary = cases[i].vary;
        r.has_set_cookie = cases[i].set_cookie;
        r.has_content_range = cases[i].content_range;

        assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
        assert_int_equal(lk.holds_lock, 1);
        assert_int_equal(rp_store_get(fx.store, fx.p, K(lock_key), &v, &vl),
                         RP_ST_OK);
        assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                         RP_STORE_NOT_CACHEABLE);
        assert_non_null(why);
        assert_string_equal(why, cases[i].why);
        /* the lock is gone; no page was stored, only a pass marker */
        assert_int_equal(lk.holds_lock, 0);
        assert_int_equal(rp_store_get(fx.store, fx.p, K(lock_key), &v, &vl),
                         RP_ST_NOTFOUND);
        assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_OK);
        assert_int_equal(rp_entry_decode(v, vl, fx.p, &e), RP_ENTRY_OK);
        assert_int_equal(e.kind, RP_ENTRY_PASS);
        assert_int_equal(e.body_len, 0);
        /* the next requests go straight to the backend: no lock, no wait */
        assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
        assert_int_equal(lk.miss_reason, RP_MISS_PASS);
        assert_int_equal(lk.holds_lock, 0);
        assert_int_equal(lk.entry.body, NULL);
        assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
        assert_int_equal(lk.miss_reason, RP_MISS_PASS);
        assert_int_equal(lk.waited, 0);
        assert_int_equal(fx.sleeps, 0);
        /* once the pass is over, a request takes the lock again */
        advance(&fx, RP_CACHE_PASS_MAX_S);
        assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
        assert_int_equal(lk.miss_reason, RP_MISS_ABSENT);
        assert_int_equal(lk.holds_lock, 1);
        assert_int_equal(lk.waited, 0);
        rp_cache_release(&lk);
    }
}

/* ---- 4. response Vary --------------------------------------------------- */

static void test_vary(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *v;
    size_t vl;
    char ek[RP_KEY_HASH_MAX];
    rp_entry_t idx;
    unsigned long mget0, get0;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/styles.css", NULL);

    r = page("gzip body", "max-age=60");
    r.vary = "Accept-Encoding";
    fill(&fx, url, &AE_GZIP, &r);

    /* the base key now holds a vary index naming the header */
    entry_key(url, ek);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_entry_decode(v, vl, fx.p, &idx), RP_ENTRY_OK);
    assert_int_equal(idx.kind, RP_ENTRY_VARY_INDEX);
    assert_int_equal(idx.key_len, strlen(url));
    assert_memory_equal(idx.key, url, strlen(url));
    assert_int_equal(idx.n_headers, 1);
    assert_string_equal(idx.headers[0].name, "accept-encoding");
    assert_int_equal(idx.body_len, 0);
    /* and the page itself lives under the variant's key */
    entry_key(variant_of(fx.p, url, "gzip"), ek);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_OK);

    /* another Accept-Encoding is another variant: a MISS, stored apart */
    assert_int_equal(lookup(&fx, &lk, url, &AE_BR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_ABSENT);
    assert_int_equal(lk.invalid_entries, 0);
    r = page("brotli body", "max-age=60");
    r.vary = "accept-encoding";
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);

    /* each request gets its own variant's body; a hit via the index costs
     * one more round trip (a multi-get of the variant and its epoch) */
    mget0 = rp_store_mem_calls(fx.store, "mget");
    get0 = rp_store_mem_calls(fx.store, "get");
    assert_int_equal(lookup(&fx, &lk, url, &AE_GZIP), RP_LOOKUP_HIT);
    assert_body(&lk, "gzip body");
    assert_int_equal(lk.round_trips, 2);
    assert_int_equal(rp_store_mem_calls(fx.store, "mget"), mget0 + 2);
    assert_int_equal(rp_store_mem_calls(fx.store, "get"), get0);
    assert_int_equal(lk.entry.key_len, strlen(variant_of(fx.p, url, "gzip")));
    expect_hit(&fx, url, &AE_BR, "brotli body");
    expect_hit(&fx, url, &AE_GZIP, "gzip body");

    /* a third value, or none at all, is a variant nobody stored */
    expect_miss(&fx, url, &AE_DEFLATE, RP_MISS_ABSENT);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);
    {
        req_t empty = { { { "Accept-Encoding", "" } }, 1 };
        expect_miss(&fx, url, &empty, RP_MISS_ABSENT);
    }
}

/* Every call a store was asked to make. */
static unsigned long store_calls(rp_store_t *st)
{
    static const char *const ops[] = { "get", "mget", "set", "add", "del",
                                       "incr" };
    unsigned long n = 0;
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n += rp_store_mem_calls(st, ops[i]);
    }
    return n;
}

/* The judgement a store acts on, without a store: what Observe uses.  It
 * must agree with rp_cache_store() and touch nothing. */
static void test_judge(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    rp_judgement_t j;
    const char *url;
    unsigned long calls0;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/judge", NULL);
    init(&fx, &lk, url, &AE_GZIP);
    calls0 = store_calls(fx.store);

    r = page("x", "max-age=30");
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.why, RP_NOSTORE_NONE);
    assert_int_equal(j.fresh_s, 30);
    assert_string_equal(j.full, base_of(fx.p, url));
    assert_int_equal(j.n_vary, 0);

    /* a Vary names the variant, with this request's value */
    r.vary = "Accept-Encoding";
    r.age = "10";
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.why, RP_NOSTORE_NONE);
    assert_int_equal(j.fresh_s, 20);
    assert_int_equal(j.age_s, 10);
    assert_string_equal(j.full, variant_of(fx.p, url, "gzip"));
    assert_int_equal(j.n_vary, 1);

    /* not storable, and why; the key is still known */
    r = page("x", "private");
    r.vary = "Accept-Encoding";
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.why, RP_NOSTORE_PRIVATE);
    assert_string_equal(j.full, variant_of(fx.p, url, "gzip"));
    r = page("x", NULL);
    r.has_set_cookie = 1;
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.why, RP_NOSTORE_SET_COOKIE);
    r = page("x", NULL);
    r.vary = "Cookie";
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.why, RP_NOSTORE_VARY_PRIVATE);
    r = page("x", NULL);
    r.vary = "*";
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.why, RP_NOSTORE_VARY_STAR);
    assert_string_equal(j.full, base_of(fx.p, url));
    /* an included part's freshness limits the page's */
    r = page("x", "max-age=300");
    r.has_max_fresh = 1;
    r.max_fresh_s = 7;
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.fresh_s, 7);
    /* ReqPerfCacheTTL when the response says nothing */
    r = page("x", NULL);
    rp_cache_judge(&lk, &r, fx.now_us, &j);
    assert_int_equal(j.fresh_s, fx.conf.default_ttl_s);

    assert_int_equal(store_calls(fx.store), calls0);

    /* and the store says the same, with what it stored */
    assert_int_equal(lookup(&fx, &lk, url, &AE_GZIP), RP_LOOKUP_MISS);
    r = page("x", "max-age=30");
    r.vary = "Accept-Encoding";
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    assert_string_equal(lk.stored_full, variant_of(fx.p, url, "gzip"));
    assert_int_equal(lk.stored_fresh_s, 30);
    assert_int_equal(lk.refused, RP_NOSTORE_NONE);
    assert_int_equal(lookup(&fx, &lk, url, &AE_BR), RP_LOOKUP_MISS);
    r = page("x", "no-store");
    assert_int_equal(store(&lk, &r), RP_STORE_NOT_CACHEABLE);
    assert_int_equal(lk.refused, RP_NOSTORE_NO_STORE);
}

/* ---- 5. URL purge ------------------------------------------------------- */

static void test_purge_url(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *u_var, *u_q1, *u_q2, *u_other;

    fx_init(&fx, *state);
    u_var = url_of(fx.p, "/a", NULL);
    u_q1 = url_of(fx.p, "/q", "id=7&utm_source=mail");
    u_q2 = url_of(fx.p, "/q", "utm_campaign=x&id=7");
    u_other = url_of(fx.p, "/other", NULL);
    assert_string_equal(u_q1, u_q2);            /* one canonical URL */

    r = page("a gzip", "max-age=300");
    r.vary = "Accept-Encoding";
    fill(&fx, u_var, &AE_GZIP, &r);
    r = page("a br", "max-age=300");
    r.vary = "Accept-Encoding";
    fill(&fx, u_var, &AE_BR, &r);
    r = page("q", "max-age=300");
    fill(&fx, u_q1, &NOHDR, &r);
    r = page("other", "max-age=300");
    fill(&fx, u_other, &NOHDR, &r);
    expect_hit(&fx, u_var, &AE_GZIP, "a gzip");
    expect_hit(&fx, u_var, &AE_BR, "a br");
    expect_hit(&fx, u_q2, &NOHDR, "q");

    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, u_var, fx.now_us), RP_ST_OK);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, u_q2, fx.now_us), RP_ST_OK);

    assert_int_equal(lookup(&fx, &lk, u_var, &AE_GZIP), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_string_equal(rp_miss_reason_name(lk.miss_reason), "purged");
    assert_int_equal(lk.stale_by_generation, 1);
    rp_cache_release(&lk);
    assert_int_equal(lookup(&fx, &lk, u_var, &AE_BR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.stale_by_generation, 1);
    rp_cache_release(&lk);
    assert_int_equal(lookup(&fx, &lk, u_q1, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.stale_by_generation, 1);
    rp_cache_release(&lk);
    assert_int_equal(lookup(&fx, &lk, u_q2, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);
    /* a HEAD too, and with grace nothing purged is served stale */
    fx.conf.grace_s = 3600;
    init(&fx, &lk, u_q1, &NOHDR);
    lk.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    fx.conf.grace_s = 0;

    expect_hit(&fx, u_other, &NOHDR, "other");

    /* purging a URL that was never cached is fine; refilling works */
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url_of(fx.p, "/never", NULL),
                                        fx.now_us), RP_ST_OK);
    r = page("q2", "max-age=300");
    fill(&fx, u_q2, &NOHDR, &r);
    expect_hit(&fx, u_q1, &NOHDR, "q2");
}

/* A variant's miss takes its own fill lock and a variant's failure leaves
 * its own pass marker: a client making up variant after variant (a new
 * Accept-Encoding each time) neither queues the known variants' fills
 * behind its own nor turns the whole page into a pass by getting one of
 * them refused.  With no index yet, the page's lock and marker it is. */
static void test_variant_lock_and_pass(void **state)
{
    fx_t fx;
    rp_lookup_t lk, lk2;
    rp_cache_response_t r, fail;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/variants", NULL);
    r = page("gzip body", "max-age=60");
    r.vary = "Accept-Encoding";
    fill(&fx, url, &AE_GZIP, &r);

    /* a made-up variant fills (its lock held) while the known one
     * expires: the known one's refresh does not wait for it */
    advance(&fx, 61);
    assert_int_equal(lookup(&fx, &lk, url, &AE_DEFLATE), RP_LOOKUP_MISS);
    assert_int_equal(lk.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url, &AE_GZIP), RP_LOOKUP_MISS);
    assert_int_equal(lk2.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(lk2.waited, 0);
    assert_int_equal(lk2.holds_lock, 1);
    /* ... but a second request for the made-up one does wait on it */
    {
        rp_lookup_t lk3;

        assert_int_equal(lookup(&fx, &lk3, url, &AE_DEFLATE), RP_LOOKUP_MISS);
        assert_int_equal(lk3.waited, 1);
        rp_cache_release(&lk3);
    }
    r = page("gzip body 2", "max-age=60");
    r.vary = "Accept-Encoding";
    assert_int_equal(store(&lk2, &r), RP_STORE_STORED);

    /* the made-up variant fails (a 503): a pass marker for it alone */
    fail = page("unavailable", NULL);
    fail.status = 503;
    assert_int_equal(store(&lk, &fail), RP_STORE_NOT_CACHEABLE);
    expect_hit(&fx, url, &AE_GZIP, "gzip body 2");
    expect_miss(&fx, url, &AE_DEFLATE, RP_MISS_PASS);
    /* a pass of one variant neither locks it nor keeps a good answer out */
    assert_int_equal(lookup(&fx, &lk, url, &AE_DEFLATE), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PASS);
    assert_int_equal(lk.holds_lock, 0);
    r = page("deflate body", "max-age=60");
    r.vary = "Accept-Encoding";
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &AE_DEFLATE, "deflate body");
    expect_hit(&fx, url, &AE_GZIP, "gzip body 2");
    assert_int_equal(lk.invalid_entries, 0);

    /* a URL purge ends a variant's pass as it does the page's */
    assert_int_equal(lookup(&fx, &lk, url, &AE_BR), RP_LOOKUP_MISS);
    assert_int_equal(store(&lk, &fail), RP_STORE_NOT_CACHEABLE);
    expect_miss(&fx, url, &AE_BR, RP_MISS_PASS);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us),
                     RP_ST_OK);
    expect_miss(&fx, url, &AE_BR, RP_MISS_ABSENT);
    expect_miss(&fx, url, &AE_GZIP, RP_MISS_PURGED);

    /* no index yet: one lock and one marker for the page */
    url = url_of(fx.p, "/variants-new", NULL);
    assert_int_equal(lookup(&fx, &lk, url, &AE_GZIP), RP_LOOKUP_MISS);
    assert_int_equal(lk.holds_lock, 1);
    assert_int_equal(lookup(&fx, &lk2, url, &AE_BR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.waited, 1);
    rp_cache_release(&lk2);
    assert_int_equal(store(&lk, &fail), RP_STORE_NOT_CACHEABLE);
    expect_miss(&fx, url, &AE_BR, RP_MISS_PASS);
}

/* A page filled without Vary while another fill (its lock had run out)
 * stored a variant and the index: it becomes a variant too, instead of
 * writing a plain page over the index that every variant would then get. */
static void test_unvaried_store_meets_an_index(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/late-plain", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &AE_GZIP), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    advance(&fx, 11);                           /* its lock runs out */
    assert_int_equal(lookup(&fx, &lk2, url, &AE_BR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    r = page("brotli body", "max-age=60");
    r.vary = "Accept-Encoding";
    assert_int_equal(store(&lk2, &r), RP_STORE_STORED);
    r = page("plain body", "max-age=60");
    assert_int_equal(store(&lk1, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &AE_BR, "brotli body");
    expect_hit(&fx, url, &AE_GZIP, "plain body");
    expect_miss(&fx, url, &AE_DEFLATE, RP_MISS_ABSENT);
}

/* ---- 6. tag purge ------------------------------------------------------- */

static void test_purge_tag(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *u_inv, *u_cust, *u_c7, *u_plain, *why;
    unsigned long mget0;
    int dropped = -1;

    fx_init(&fx, *state);
    u_inv = url_of(fx.p, "/invoice/123", NULL);
    u_cust = url_of(fx.p, "/customer/7", NULL);
    u_c7 = url_of(fx.p, "/customer/7/profile", NULL);
    u_plain = url_of(fx.p, "/plain", NULL);

    r = page("invoice", "max-age=300");
    r.tags = "invoice-123";
    fill(&fx, u_inv, &NOHDR, &r);
    r = page("customer", "max-age=300");
    r.tags = "customer-7 invoice-123";
    fill(&fx, u_cust, &NOHDR, &r);
    r = page("profile", "max-age=300");
    /* a tag that cannot be kept: stored without it, a purge of that tag
     * would miss the page, so it is not stored at all */
    r.tags = "customer-7,,bad\x7ftag";
    assert_int_equal(lookup(&fx, &lk, u_c7, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, &dropped), RP_STORE_NOT_CACHEABLE);
    assert_string_equal(why, "tags");
    assert_int_equal(dropped, 1);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, u_c7, fx.now_us), RP_ST_OK);
    r.tags = "customer-7";
    assert_int_equal(lookup(&fx, &lk, u_c7, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, &dropped), RP_STORE_STORED);
    assert_int_equal(dropped, 0);
    r = page("plain", "max-age=300");
    fill(&fx, u_plain, &NOHDR, &r);

    /* a tagged hit while no tag was purged anywhere since it was stored:
     * one round trip, like an untagged one */
    mget0 = rp_store_mem_calls(fx.store, "mget");
    assert_int_equal(lookup(&fx, &lk, u_cust, &NOHDR), RP_LOOKUP_HIT);
    assert_body(&lk, "customer");
    assert_int_equal(lk.round_trips, 1);
    assert_int_equal(rp_store_mem_calls(fx.store, "mget"), mget0 + 1);
    assert_int_equal(lk.entry.n_tags, 2);
    assert_string_equal(lk.entry.tags[0], "customer-7");
    assert_string_equal(lk.entry.tags[1], "invoice-123");
    assert_int_equal(lookup(&fx, &lk, u_plain, &NOHDR), RP_LOOKUP_HIT);
    assert_int_equal(lk.round_trips, 1);
    expect_hit(&fx, u_inv, &NOHDR, "invoice");
    expect_hit(&fx, u_c7, &NOHDR, "profile");

    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "invoice-123", fx.now_us),
                     RP_ST_OK);
    assert_int_equal(lookup(&fx, &lk, u_inv, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.stale_by_generation, 1);
    rp_cache_release(&lk);
    assert_int_equal(lookup(&fx, &lk, u_cust, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.stale_by_generation, 1);
    rp_cache_release(&lk);
    /* untagged and otherwise-tagged pages stay; after a tag purge, the
     * first hit of a tagged page checks its tags and records the epoch
     * (two more round trips) ... */
    expect_hit(&fx, u_plain, &NOHDR, "plain");
    mget0 = rp_store_mem_calls(fx.store, "mget");
    assert_int_equal(lookup(&fx, &lk, u_c7, &NOHDR), RP_LOOKUP_HIT);
    assert_body(&lk, "profile");
    assert_int_equal(lk.round_trips, 3);
    assert_int_equal(rp_store_mem_calls(fx.store, "mget"), mget0 + 2);
    /* ... and the next ones need not */
    assert_int_equal(lookup(&fx, &lk, u_c7, &NOHDR), RP_LOOKUP_HIT);
    assert_int_equal(lk.round_trips, 1);
    assert_int_equal(rp_store_mem_calls(fx.store, "mget"), mget0 + 3);
    /* the purged ones stay purged however often they are asked for */
    expect_miss(&fx, u_inv, &NOHDR, RP_MISS_PURGED);
    expect_miss(&fx, u_cust, &NOHDR, RP_MISS_PURGED);

    /* a tag nobody used yet: fine, and it touches nothing */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "never-used", fx.now_us),
                     RP_ST_OK);
    expect_hit(&fx, u_c7, &NOHDR, "profile");

    /* the second tag of a page purges it too */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "customer-7", fx.now_us),
                     RP_ST_OK);
    expect_miss(&fx, u_c7, &NOHDR, RP_MISS_PURGED);
    expect_hit(&fx, u_plain, &NOHDR, "plain");

    /* after the purge, a new store lives again */
    r = page("invoice v2", "max-age=300");
    r.tags = "invoice-123";
    fill(&fx, u_inv, &NOHDR, &r);
    expect_hit(&fx, u_inv, &NOHDR, "invoice v2");
}

/* Tags on a response that varies: every variant carries them. */
static void test_purge_tag_varied(void **state)
{
    fx_t fx;
    rp_cache_response_t r;
    const char *url, *other;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/catalog", NULL);
    other = url_of(fx.p, "/catalog/other", NULL);
    r = page("gz catalog", "max-age=300");
    r.vary = "Accept-Encoding";
    r.tags = "catalog";
    fill(&fx, url, &AE_GZIP, &r);
    r.body = "br catalog";
    fill(&fx, url, &AE_BR, &r);
    r = page("other", "max-age=300");
    r.tags = "other-tag";
    fill(&fx, other, &NOHDR, &r);
    expect_hit(&fx, url, &AE_GZIP, "gz catalog");
    expect_hit(&fx, url, &AE_BR, "br catalog");

    /* another tag's purge leaves them */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "other-tag", fx.now_us), RP_ST_OK);
    expect_hit(&fx, url, &AE_GZIP, "gz catalog");
    expect_hit(&fx, url, &AE_BR, "br catalog");
    expect_miss(&fx, other, &NOHDR, RP_MISS_PURGED);
    /* theirs takes both variants */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "catalog", fx.now_us), RP_ST_OK);
    expect_miss(&fx, url, &AE_GZIP, RP_MISS_PURGED);
    expect_miss(&fx, url, &AE_BR, RP_MISS_PURGED);
}

/* What a hit of a varied, tagged page costs: the variant and its own
 * "validated" epoch come in one multi-get with the variant, and the epoch
 * recorded after a tag check is that variant's, so only the first hit after
 * a tag purge reads the tags again. */
typedef struct {
    unsigned long mget, get, set, add, del, incr;
} calls_t;

static calls_t calls_now(rp_store_t *s)
{
    calls_t c;

    c.mget = rp_store_mem_calls(s, "mget");
    c.get = rp_store_mem_calls(s, "get");
    c.set = rp_store_mem_calls(s, "set");
    c.add = rp_store_mem_calls(s, "add");
    c.del = rp_store_mem_calls(s, "del");
    c.incr = rp_store_mem_calls(s, "incr");
    return c;
}

/* a HIT of body that cost round_trips, mgets multi-gets and sets sets (and
 * nothing else) */
static void expect_hit_costing(fx_t *fx, const char *url, req_t *rq,
                               const char *body, unsigned round_trips,
                               unsigned long mgets, unsigned long sets)
{
    rp_lookup_t lk;
    calls_t c0 = calls_now(fx->store), c1;

    assert_int_equal(lookup(fx, &lk, url, rq), RP_LOOKUP_HIT);
    assert_body(&lk, body);
    c1 = calls_now(fx->store);
    assert_int_equal(lk.round_trips, round_trips);
    assert_int_equal(c1.mget - c0.mget, mgets);
    assert_int_equal(c1.set - c0.set, sets);
    assert_int_equal(c1.get, c0.get);
    assert_int_equal(c1.add, c0.add);
    assert_int_equal(c1.del, c0.del);
    assert_int_equal(c1.incr, c0.incr);
}

static void test_purge_tag_varied_round_trips(void **state)
{
    fx_t fx;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/shop", NULL);
    r = page("gz shop", "max-age=300");
    r.vary = "Accept-Encoding";
    r.tags = "shop";
    fill(&fx, url, &AE_GZIP, &r);
    r = page("br shop", "max-age=300");
    r.vary = "Accept-Encoding";
    r.tags = "shop br-only";
    fill(&fx, url, &AE_BR, &r);

    /* right after the store: the base key, then variant + epoch */
    expect_hit_costing(&fx, url, &AE_GZIP, "gz shop", 2, 2, 0);
    expect_hit_costing(&fx, url, &AE_BR, "br shop", 2, 2, 0);

    /* another tag's purge moves the epoch: the first hit checks the tags
     * and records the epoch (mget, mget, mget of the tags, set) ... */
    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "elsewhere", fx.now_us),
                     RP_ST_OK);
    expect_hit_costing(&fx, url, &AE_GZIP, "gz shop", 4, 3, 1);
    /* ... the next ones are back to two round trips, no set */
    expect_hit_costing(&fx, url, &AE_GZIP, "gz shop", 2, 2, 0);
    expect_hit_costing(&fx, url, &AE_GZIP, "gz shop", 2, 2, 0);
    /* the other variant was not checked by that: it checks its own */
    expect_hit_costing(&fx, url, &AE_BR, "br shop", 4, 3, 1);
    expect_hit_costing(&fx, url, &AE_BR, "br shop", 2, 2, 0);

    /* one variant's tag purged: checking the other does not vouch for it */
    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "br-only", fx.now_us),
                     RP_ST_OK);
    expect_hit_costing(&fx, url, &AE_GZIP, "gz shop", 4, 3, 1);
    expect_hit_costing(&fx, url, &AE_GZIP, "gz shop", 2, 2, 0);
    expect_miss(&fx, url, &AE_BR, RP_MISS_PURGED);
    expect_miss(&fx, url, &AE_BR, RP_MISS_PURGED);

    /* and the tag they share takes the one that was down to 2 round trips */
    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "shop", fx.now_us),
                     RP_ST_OK);
    expect_miss(&fx, url, &AE_GZIP, RP_MISS_PURGED);
    expect_miss(&fx, url, &AE_GZIP, RP_MISS_PURGED);
}

/* A hit whose tag generations cannot be read is not served blind. */

/* A store in front of the in-memory one that can fail an mget, or run a
 * callback (another request) once, just before the first add of a key. */
typedef struct hook_store hook_store_t;
struct hook_store {
    rp_store_t outer;
    rp_store_ops_t ops;
    rp_store_t *inner;
    unsigned mgets;
    unsigned long keys;                 /* keys asked by get and mget */
    unsigned fail_mget;                 /* this mget (1-based) fails; 0 = none */
    const char *down_key;               /* this key's server is down */
    const char *add_key;                /* before the first add of it ... */
    void (*before_add)(hook_store_t *h);    /* ... this runs, once */
    unsigned add_hooks;
    const char *incr_key;               /* before the incr_nth (1-based) */
    unsigned incr_nth, incrs;           /* incr of it ... */
    void (*before_incr)(hook_store_t *h);   /* ... this runs */
    /* for before_add and before_incr */
    fx_t *fx;
    const char *url;
    const char *tag;
    rp_lookup_t *lk;
    rp_cache_response_t resp;
    rp_store_outcome_t outcome;
    rp_st_rc_t rc;
};

static rp_st_rc_t hk_get(void *c, apr_pool_t *p, const char *k, size_t kl,
                         const char **v, size_t *vl)
{
    ((hook_store_t *)c)->keys++;
    return rp_store_get(((hook_store_t *)c)->inner, p, k, kl, v, vl);
}

static int on_down_server(const hook_store_t *h, const char *k, size_t kl)
{
    return h->down_key != NULL && kl == strlen(h->down_key)
           && memcmp(k, h->down_key, kl) == 0;
}

static rp_st_rc_t hk_mget(void *c, apr_pool_t *p, rp_store_item_t *it, size_t n)
{
    hook_store_t *h = c;
    size_t i;
    rp_st_rc_t rc;

    h->keys += n;
    if (++h->mgets == h->fail_mget) {
        for (i = 0; i < n; i++) {
            it[i].value = NULL;
            it[i].value_len = 0;
            it[i].rc = RP_ST_DOWN;
        }
        return RP_ST_DOWN;
    }
    rc = rp_store_mget(h->inner, p, it, n);
    for (i = 0; i < n; i++) {
        if (on_down_server(h, it[i].key, it[i].key_len)) {
            it[i].value = NULL;
            it[i].value_len = 0;
            it[i].rc = RP_ST_DOWN;
            rc = RP_ST_DOWN;
        }
    }
    return rc;
}

static rp_st_rc_t hk_set(void *c, const char *k, size_t kl, const char *v,
                         size_t vl, uint32_t t)
{
    if (on_down_server(c, k, kl)) {
        return RP_ST_DOWN;
    }
    return rp_store_set(((hook_store_t *)c)->inner, k, kl, v, vl, t);
}

static rp_st_rc_t hk_add(void *c, const char *k, size_t kl, const char *v,
                         size_t vl, uint32_t t)
{
    hook_store_t *h = c;

    if (on_down_server(h, k, kl)) {
        return RP_ST_DOWN;
    }
    if (h->before_add != NULL && h->add_hooks == 0 && h->add_key != NULL
        && kl == strlen(h->add_key) && memcmp(k, h->add_key, kl) == 0) {
        h->add_hooks++;
        h->before_add(h);
    }
    return rp_store_add(h->inner, k, kl, v, vl, t);
}

static rp_st_rc_t hk_del(void *c, const char *k, size_t kl)
{
    return rp_store_del(((hook_store_t *)c)->inner, k, kl);
}

static rp_st_rc_t hk_incr(void *c, const char *k, size_t kl, uint64_t d,
                          uint64_t *nv)
{
    hook_store_t *h = c;

    if (on_down_server(h, k, kl)) {
        return RP_ST_DOWN;
    }
    if (h->before_incr != NULL && h->incr_key != NULL
        && kl == strlen(h->incr_key) && memcmp(k, h->incr_key, kl) == 0
        && ++h->incrs == h->incr_nth) {
        h->before_incr(h);
    }
    return rp_store_incr(h->inner, k, kl, d, nv);
}

static void hook_init(hook_store_t *h, rp_store_t *inner)
{
    static const rp_store_ops_t ops = {
        "hook", hk_get, hk_mget, hk_set, hk_add, hk_del, hk_incr, NULL
    };

    memset(h, 0, sizeof(*h));
    h->ops = ops;
    h->inner = inner;
    h->outer.ops = &h->ops;
    h->outer.ctx = h;
}

static void test_tag_generations_unreadable_is_down(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    hook_store_t h;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/tagged", NULL);
    r = page("tagged", "max-age=300");
    r.tags = "t1";
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "tagged");

    /* another tag's purge moves the epoch: the next hit reads the tags */
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "t2", fx.now_us), RP_ST_OK);
    hook_init(&h, fx.store);
    h.fail_mget = 2;                            /* the tag generations' mget */
    rp_cache_lookup_init(&lk, &h.outer, fx.p, &fx.conf, &fx.clock, url,
                         base_of(fx.p, url), req_get, &NOHDR);
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_DOWN);
    assert_int_equal(h.mgets, 2);
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(lk.entry.body, NULL);
    /* readable again: still a hit (t1 was not purged) */
    expect_hit(&fx, url, &NOHDR, "tagged");
}


/* The server holding the tag epoch is down (one of several): a tag purge
 * then stops at its first step, so a tagged page is not served on the
 * strength of its tag generations alone (sixth review).  Untagged pages
 * are served as ever. */
static void test_tag_epoch_unreadable_is_down(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    hook_store_t h;
    const char *url, *plain;
    int round;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/tagged-e", NULL);
    plain = url_of(fx.p, "/plain-e", NULL);
    r = page("tagged", "max-age=300");
    r.tags = "t1";
    fill(&fx, url, &NOHDR, &r);
    r = page("plain", "max-age=300");
    fill(&fx, plain, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "tagged");
    hook_init(&h, fx.store);
    h.down_key = RP_CACHE_TAG_EPOCH_KEY;
    /* the purge fails at the epoch: t1's generation does not move */
    assert_int_equal(rp_cache_purge_tag(&h.outer, fx.p, NULL, "t1", fx.now_us),
                     RP_ST_DOWN);
    for (round = 0; round < 2; round++) {
        /* the first lookup asks the epoch with the entry; the second, once
         * the page is known tagged or not, too */
        rp_cache_lookup_init(&lk, &h.outer, fx.p, &fx.conf, &fx.clock, url,
                             base_of(fx.p, url), req_get, &NOHDR);
        assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_DOWN);
        assert_null(lk.entry.body);
        assert_int_equal(lk.holds_lock, 0);
    }
    /* known untagged, so the epoch is not asked: a hit */
    rp_cache_lookup_init(&lk, &h.outer, fx.p, &fx.conf, &fx.clock, plain,
                         base_of(fx.p, plain), req_get, &NOHDR);
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_HIT);
    assert_body(&lk, "plain");
}

/* Purges memcached did not take wait in the queue; a lookup made while
 * some still wait (more than one request makes) does not serve a copy
 * whose URL or one of whose tags they name (sixth review). */
static void test_waiting_purge_is_not_served(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *purged, *tagged, *other;
    void *mem = apr_palloc((apr_pool_t *)*state, rp_pending_size());
    rp_pending_t *q = rp_pending_init(mem);

    fx_init(&fx, *state);
    purged = url_of(fx.p, "/w/purged", NULL);
    tagged = url_of(fx.p, "/w/tagged", NULL);
    other = url_of(fx.p, "/w/other", NULL);
    r = page("purged", "max-age=300");
    fill(&fx, purged, &NOHDR, &r);
    r = page("tagged", "max-age=300");
    r.tags = "t9 t10";
    fill(&fx, tagged, &NOHDR, &r);
    r = page("other", "max-age=300");
    r.tags = "t1";
    fill(&fx, other, &NOHDR, &r);
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, purged), 0);
    assert_int_equal(rp_pending_add(q, RP_PENDING_TAG, "t10"), 0);

    init(&fx, &lk, purged, &NOHDR);
    lk.pending = q;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);
    init(&fx, &lk, tagged, &NOHDR);
    lk.pending = q;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);
    init(&fx, &lk, other, &NOHDR);
    lk.pending = q;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_HIT);
    assert_body(&lk, "other");
    /* without the queue (or once it is made), they are served */
    expect_hit(&fx, purged, &NOHDR, "purged");
    expect_hit(&fx, tagged, &NOHDR, "tagged");
}

/* What a hit asks memcached for: an untagged page two keys (entry, URL
 * generation), a page that may be tagged four (and the tag epoch and its
 * "validated" epoch).  Each process remembers which pages it found
 * untagged; when that is wrong the tags are still checked, one round trip
 * later, and a purge of the tag is still seen. */
static rp_lookup_result_t hook_lookup(fx_t *fx, hook_store_t *h,
                                      rp_lookup_t *lk, const char *url)
{
    h->keys = 0;
    h->mgets = 0;
    rp_cache_lookup_init(lk, &h->outer, fx->p, &fx->conf, &fx->clock, url,
                         base_of(fx->p, url), req_get, &NOHDR);
    return rp_cache_lookup(lk);
}

/* Rewrite the stored entry of url as carrying tag at generation gen (what
 * another server storing a tagged answer would leave). */
static void tag_by_hand(fx_t *fx, const char *url, const char *tag,
                        uint64_t gen)
{
    char ek[RP_KEY_HASH_MAX];
    const char *v;
    size_t vl, len;
    rp_entry_t e;
    rp_entry_status_t est;
    const char **tags = apr_palloc(fx->p, sizeof(*tags));
    uint64_t *gens = apr_palloc(fx->p, sizeof(*gens));
    char *bytes;

    entry_key(url, ek);
    assert_int_equal(rp_store_get(fx->store, fx->p, K(ek), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_entry_decode(v, vl, fx->p, &e), RP_ENTRY_OK);
    tags[0] = tag;
    gens[0] = gen;
    e.n_tags = 1;
    e.tags = tags;
    e.tag_gens = gens;
    bytes = rp_entry_encode_pool(&e, fx->p, &len, &est);
    assert_non_null(bytes);
    assert_int_equal(rp_store_set(fx->store, K(ek), bytes, len, 300), RP_ST_OK);
}

static void test_keys_asked_per_hit(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    hook_store_t h;
    const char *plain, *tagged, *why;
    char tk[RP_KEY_HASH_MAX];

    fx_init(&fx, *state);
    rp_cache_hints_reset();
    hook_init(&h, fx.store);
    plain = url_of(fx.p, "/keys/plain", NULL);
    tagged = url_of(fx.p, "/keys/tagged", NULL);

    /* a process that never saw the page asks four keys, and learns */
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_MISS);
    assert_int_equal(h.keys, 4);
    r = page("plain", "max-age=300");
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 2);
    assert_int_equal(lk.round_trips, 1);
    /* a fresh process (no hints): four, then two */
    rp_cache_hints_reset();
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 4);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 2);
    assert_int_equal(lk.round_trips, 1);

    /* a tagged page: four keys in one round trip, hit after hit */
    r = page("tagged", "max-age=300");
    r.tags = "t-keys";
    fill(&fx, tagged, &NOHDR, &r);
    assert_int_equal(hook_lookup(&fx, &h, &lk, tagged), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 4);
    assert_int_equal(lk.round_trips, 1);
    assert_int_equal(lk.entry.n_tags, 1);

    /* a miss on a page known untagged reads the tag epoch before the
     * backend is asked, so a tagged answer can be stored */
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, plain, fx.now_us),
                     RP_ST_OK);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.tag_epoch_read, 1);
    r = page("plain, tagged now", "max-age=300");
    r.tags = "t-keys";
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 4);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "t-keys", fx.now_us),
                     RP_ST_OK);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);
    assert_int_equal(hook_lookup(&fx, &h, &lk, tagged), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);

    /* the hint is wrong: another server replaced an untagged page with a
     * tagged one (written here by hand, as that server would) */
    r = page("plain again", "max-age=300");
    fill(&fx, plain, &NOHDR, &r);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 2);
    rp_key_hash("rp:t:", "late-tag", strlen("late-tag"), tk);
    assert_int_equal(rp_store_add(fx.store, K(tk), "777", 3, 0), RP_ST_OK);
    tag_by_hand(&fx, plain, "late-tag", 777);
    /* served, after its tags were checked (the epochs, then the tag) */
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(lk.entry.n_tags, 1);
    assert_int_equal(h.mgets, 3);
    /* and from now on asked for with the epochs, in one round trip */
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 4);
    assert_int_equal(lk.round_trips, 1);

    /* wrong again, and the tag was purged: the purge is seen */
    r = page("plain once more", "max-age=300");
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, plain, fx.now_us),
                     RP_ST_OK);
    fill(&fx, plain, &NOHDR, &r);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_HIT);
    assert_int_equal(h.keys, 2);
    tag_by_hand(&fx, plain, "late-tag", 777);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "late-tag", fx.now_us),
                     RP_ST_OK);
    assert_int_equal(hook_lookup(&fx, &h, &lk, plain), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);
}

/* ---- 7. purge during the fetch ------------------------------------------ */

static void test_purge_during_fetch(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *why;
    char ek[RP_KEY_HASH_MAX];
    const char *v;
    size_t vl;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/report", NULL);
    entry_key(url, ek);
    r = page("rendered before the purge", "max-age=300");

    /* URL purged while the backend renders: the store is refused */
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    advance_us(&fx, 20000);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    advance_us(&fx, 20000);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    assert_string_equal(why, "url purged during fetch");
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_NOTFOUND);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);

    /* the same with a response Vary: neither index nor variant is left */
    r.vary = "Accept-Encoding";
    assert_int_equal(lookup(&fx, &lk, url, &AE_GZIP), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_equal(store(&lk, &r), RP_STORE_PURGED_DURING_FETCH);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_NOTFOUND);
    expect_miss(&fx, url, &AE_GZIP, RP_MISS_ABSENT);
    r.vary = NULL;

    /* a tag purge between lookup and the store of a tagged response */
    r.tags = "report-9";
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "report-9", fx.now_us),
                     RP_ST_OK);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    assert_string_equal(why, "tag purged during fetch");
    assert_int_equal(lk.holds_lock, 0);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);
    /* ... also when the tag had a generation already */
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "report-9", fx.now_us),
                     RP_ST_OK);
    assert_int_equal(store(&lk, &r), RP_STORE_PURGED_DURING_FETCH);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);

    /* an untagged response does not care about tag purges */
    r.tags = NULL;
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "report-9", fx.now_us),
                     RP_ST_OK);
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "rendered before the purge");

    /* purging another URL during the fetch changes nothing */
    advance(&fx, 300);                          /* expired */
    r = page("v2", "max-age=300");
    r.tags = "report-9";
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_EXPIRED);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url_of(fx.p, "/elsewhere", NULL),
                                        fx.now_us), RP_ST_OK);
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "v2");
}

/* Generations that do not exist yet are created with add, so a purge and a
 * store (or a lookup) can race to create the same one.  Whoever loses must
 * not take the winner's value for its own: the page rendered before the
 * purge is never a HIT afterwards. */

/* the store's tag generation is missing; a purge of the tag runs between
 * the store's read of it and the store's add */
static void purge_tag_now(hook_store_t *h)
{
    h->rc = rp_cache_purge_tag(h->inner, h->fx->p, NULL, h->tag, h->fx->now_us);
}

/* the purge's incr found no generation; a store (or a lookup) creates it
 * before the purge's add */
static void store_now(hook_store_t *h)
{
    const char *why;

    h->outcome = rp_cache_store(h->lk, &h->resp, &why, NULL);
}

static void lookup_now(hook_store_t *h)
{
    h->rc = (rp_st_rc_t)lookup(h->fx, h->lk, h->url, &NOHDR);
}

static void test_generation_created_during_purge(void **state)
{
    fx_t fx;
    rp_lookup_t lk, lk2;
    rp_cache_response_t r;
    hook_store_t h;
    rp_store_outcome_t outcome;
    const char *url, *why;
    char tk[RP_KEY_HASH_MAX], uk[RP_KEY_HASH_MAX];

    fx_init(&fx, *state);
    url = url_of(fx.p, "/race", NULL);
    rp_key_hash("rp:u:", url, strlen(url), uk);
    r = page("rendered before the purge", "max-age=300");

    /* (A) store of a page tagged t1, a tag no page had yet: the purge of
     * t1 lands between the store's multi-get and its add */
    r.tags = "t1";
    rp_key_hash("rp:t:", "t1", 2, tk);
    hook_init(&h, fx.store);
    h.fx = &fx;
    h.tag = "t1";
    h.add_key = tk;
    h.before_add = purge_tag_now;
    h.rc = RP_ST_ERROR;
    rp_cache_lookup_init(&lk, &h.outer, fx.p, &fx.conf, &fx.clock, url,
                         base_of(fx.p, url), req_get, &NOHDR);
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    advance(&fx, 1);                            /* the backend renders */
    assert_int_equal(h.add_hooks, 0);
    outcome = rp_cache_store(&lk, &r, &why, NULL);
    assert_int_equal(h.add_hooks, 1);           /* the purge did run there */
    assert_int_equal(h.rc, RP_ST_OK);
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_null(lk2.entry.body);
    rp_cache_release(&lk2);
    /* refused, as a purge during the fetch */
    assert_int_equal(outcome, RP_STORE_PURGED_DURING_FETCH);
    assert_string_equal(why, "tag purged during fetch");
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);
    /* a page rendered after the purge is stored and served */
    r.body = "after the purge";
    r.body_len = strlen(r.body);
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "after the purge");
    r.body = "rendered before the purge";
    r.body_len = strlen(r.body);

    /* (B) the purge of t2 (no generation yet) finds nothing to increment;
     * the store of a page tagged t2 creates the generation before the
     * purge's add: the purge must still move it on */
    advance(&fx, 300);                          /* expired */
    r.tags = "t2";
    rp_key_hash("rp:t:", "t2", 2, tk);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    advance(&fx, 1);
    hook_init(&h, fx.store);
    h.fx = &fx;
    h.add_key = tk;
    h.before_add = store_now;
    h.lk = &lk2;
    h.resp = r;
    h.outcome = RP_STORE_FAILED;
    assert_int_equal(rp_cache_purge_tag(&h.outer, fx.p, NULL, "t2", fx.now_us), RP_ST_OK);
    assert_int_equal(h.add_hooks, 1);
    /* the purge had moved the tag epoch on first and named t2 there: the
     * store, which made the generation itself, still sees the purge */
    assert_int_equal(h.outcome, RP_STORE_PURGED_DURING_FETCH);
    expect_miss(&fx, url, &NOHDR, RP_MISS_EXPIRED);
    /* and the purge moved the generation the store made on */
    {
        const char *v;
        size_t vl;
        uint64_t g;

        assert_int_equal(rp_store_get(fx.store, fx.p, K(tk), &v, &vl), RP_ST_OK);
        assert_int_equal(rp_cache_parse_gen(v, vl, &g), 0);
        assert_int_equal(g, (uint64_t)fx.now_us + 1);
    }

    /* (B) for a URL generation: evicted, so the purge finds nothing; a
     * lookup re-creates it before the purge's add, and its fetch must not
     * be stored over the purge */
    r.tags = NULL;
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(rp_store_del(fx.store, K(uk)), RP_ST_OK);
    advance(&fx, 1);
    hook_init(&h, fx.store);
    h.fx = &fx;
    h.url = url;
    h.add_key = uk;
    h.before_add = lookup_now;
    h.lk = &lk2;
    h.rc = RP_ST_ERROR;
    assert_int_equal(rp_cache_purge_url(&h.outer, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_equal(h.add_hooks, 1);
    assert_int_equal((int)h.rc, RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    outcome = rp_cache_store(&lk2, &r, &why, NULL);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);
    assert_int_equal(outcome, RP_STORE_PURGED_DURING_FETCH);
    assert_string_equal(why, "url purged during fetch");
}

/* A tag purge names its tag in a ring under each epoch it moves the tag
 * epoch to, so a store in flight is refused only for a purge of one of
 * its own tags (or when the ring cannot tell), not for the purges of
 * other tags a busy site makes all the time; and the purge moves the
 * epoch before and after the tag's generation, so no order of a store or
 * a hit against its steps keeps the page it purged. */
static void purge_other_tags(fx_t *fx, int n, const char *mine_at)
{
    char name[32];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "other-%d", i);
        assert_int_equal(rp_cache_purge_tag(fx->store, fx->p, NULL,
                                            mine_at != NULL && i == n / 2
                                            ? mine_at : name, fx->now_us),
                         RP_ST_OK);
    }
}

static void test_tag_purge_ring(void **state)
{
    fx_t fx;
    rp_lookup_t lk, lk2;
    rp_cache_response_t r;
    hook_store_t h;
    const char *url, *why, *v;
    size_t vl;
    uint64_t epoch;
    char rkey[40], tk[RP_KEY_HASH_MAX];

    fx_init(&fx, *state);
    url = url_of(fx.p, "/ring", NULL);
    rp_key_hash("rp:t:", "mine", 4, tk);
    r = page("v1", "max-age=300");
    r.tags = "mine also-mine";
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "v1");

    /* purges of other tags while the backend renders: stored all the same */
    advance(&fx, 301);
    r = page("v2", "max-age=300");
    r.tags = "mine also-mine";
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    purge_other_tags(&fx, 10, NULL);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "v2");

    /* ... but not when one of them was the page's own (its second tag) */
    advance(&fx, 301);
    r = page("v3", "max-age=300");
    r.tags = "mine also-mine";
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    purge_other_tags(&fx, 11, "also-mine");
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    assert_string_equal(why, "tag purged during fetch");
    assert_int_equal(lk.holds_lock, 0);

    /* more purges than the ring spans (each moves the epoch twice): it
     * cannot tell, so it refuses */
    r = page("v4", "max-age=300");
    r.tags = "mine";
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    purge_other_tags(&fx, RP_TAG_RING_SPAN / 2 + 1, NULL);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    /* exactly as many as it spans: read, and stored */
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    purge_other_tags(&fx, RP_TAG_RING_SPAN / 2, NULL);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "v4");

    /* a record gone (evicted) or overwritten: it cannot tell, refused */
    advance(&fx, 301);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    purge_other_tags(&fx, 1, NULL);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(RP_CACHE_TAG_EPOCH_KEY),
                                  &v, &vl), RP_ST_OK);
    assert_int_equal(rp_cache_parse_gen(v, vl, &epoch), 0);
    snprintf(rkey, sizeof(rkey), "rp:g:tp:%u", (unsigned)((epoch - 1) % 1024));
    assert_int_equal(rp_store_del(fx.store, K(rkey)), RP_ST_OK);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    purge_other_tags(&fx, 1, NULL);
    snprintf(rkey, sizeof(rkey), "rp:g:tp:%u", (unsigned)((epoch + 1) % 1024));
    assert_int_equal(rp_store_set(fx.store, K(rkey), "7 rp:t:00", 10, 0), RP_ST_OK);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    /* the epoch gone: cannot tell either */
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_store_del(fx.store, K(RP_CACHE_TAG_EPOCH_KEY)), RP_ST_OK);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_PURGED_DURING_FETCH);
    expect_miss(&fx, url, &NOHDR, RP_MISS_EXPIRED);

    /* the store runs inside the purge of its tag: after the epoch moved
     * and before the generation did (it reads the old generation, which
     * the purge then kills), and after the generation moved but before
     * the epoch moved again (it reads the new one: the ring names it).
     * Either way the page rendered before the purge is no HIT after it. */
    r = page("rendered before the purge", "max-age=300");
    r.tags = "mine";
    for (unsigned step = 0; step < 2; step++) {
        assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
        hook_init(&h, fx.store);
        h.fx = &fx;
        h.lk = &lk2;
        h.resp = r;
        h.outcome = RP_STORE_FAILED;
        h.before_incr = store_now;
        if (step == 0) {
            h.incr_key = tk;                        /* the generation's */
            h.incr_nth = 1;
        }
        else {
            h.incr_key = RP_CACHE_TAG_EPOCH_KEY;    /* the second move */
            h.incr_nth = 2;
        }
        assert_int_equal(rp_cache_purge_tag(&h.outer, fx.p, NULL, "mine",
                                            fx.now_us), RP_ST_OK);
        assert_int_equal(h.incrs, h.incr_nth);      /* the store did run */
        if (step == 1) {
            assert_int_equal(h.outcome, RP_STORE_PURGED_DURING_FETCH);
        }
        else {
            assert_int_not_equal(h.outcome, RP_STORE_FAILED);
        }
        assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
        assert_null(lk.entry.body);
        rp_cache_release(&lk);
    }
    /* and one rendered after it is stored and served */
    r.body = "after";
    r.body_len = strlen(r.body);
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "after");
}

/* ---- 8. evicted generations --------------------------------------------- */

static void test_generation_eviction(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *v;
    size_t vl;
    char gk[RP_KEY_HASH_MAX];
    uint64_t g;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/evict", NULL);
    rp_key_hash("rp:u:", url, strlen(url), gk);
    r = page("purged content", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "purged content");

    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);
    /* memcached evicts the generation: the page must not come back */
    assert_int_equal(rp_store_del(fx.store, K(gk)), RP_ST_OK);
    advance(&fx, 1);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.stale_by_generation, 1);
    rp_cache_release(&lk);
    /* the lookup re-created it, at the time, which the page does not hold */
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_cache_parse_gen(v, vl, &g), 0);
    assert_true(g == (uint64_t)fx.now_us);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);

    /* eviction without a purge: a miss too (missing matches nothing) */
    r = page("fresh", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "fresh");
    assert_int_equal(rp_store_del(fx.store, K(gk)), RP_ST_OK);
    advance(&fx, 1);                            /* a new generation is new */
    init(&fx, &lk, url, &NOHDR);
    lk.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    advance(&fx, 1);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);

    /* a purge while the generation is missing still works */
    r = page("again", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(rp_store_del(fx.store, K(gk)), RP_ST_OK);
    advance(&fx, 1);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_OK);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);
}

static void test_new_url_gets_generation_before_fetch(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *v;
    size_t vl;
    char gk[RP_KEY_HASH_MAX];
    uint64_t g;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/brand-new", NULL);
    rp_key_hash("rp:u:", url, strlen(url), gk);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_NOTFOUND);

    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_cache_parse_gen(v, vl, &g), 0);
    assert_true(g == (uint64_t)fx.now_us);     /* starts at the time in µs */
    assert_true(lk.url_gen == g);
    /* the tag epoch is created on the first miss too */
    assert_int_equal(rp_store_get(fx.store, fx.p, K(RP_CACHE_TAG_EPOCH_KEY), &v, &vl),
                     RP_ST_OK);
    assert_int_equal(rp_cache_parse_gen(v, vl, &g), 0);
    assert_true(g == (uint64_t)fx.now_us);
    /* so a purge during this first fetch is seen */
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    r = page("first", "max-age=60");
    assert_int_equal(store(&lk, &r), RP_STORE_PURGED_DURING_FETCH);

    /* the same for a HEAD, which takes no lock, and a refresh */
    url = url_of(fx.p, "/brand-new-2", NULL);
    rp_key_hash("rp:u:", url, strlen(url), gk);
    init(&fx, &lk, url, &NOHDR);
    lk.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_OK);
    url = url_of(fx.p, "/brand-new-3", NULL);
    rp_key_hash("rp:u:", url, strlen(url), gk);
    init(&fx, &lk, url, &NOHDR);
    lk.refresh = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_equal(store(&lk, &r), RP_STORE_PURGED_DURING_FETCH);
}

/* ---- 9. damaged and foreign entries ------------------------------------- */

static void expect_invalid(fx_t *fx, const char *url, req_t *rq)
{
    rp_lookup_t lk;

    assert_int_equal(lookup(fx, &lk, url, rq), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_INVALID);
    assert_string_equal(rp_miss_reason_name(lk.miss_reason), "invalid");
    assert_true(lk.invalid_entries > 0);
    assert_int_equal(lk.entry.body, NULL);
    rp_cache_release(&lk);
}

static void test_damaged_entries(void **state)
{
    fx_t fx;
    rp_cache_response_t r;
    const char *url, *v;
    char ek[RP_KEY_HASH_MAX];
    char *raw;
    size_t len, offs[12], i, n = 0;
    static const unsigned char masks[] = { 0x01, 0x80, 0xff };
    size_t m;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/fragile", NULL);
    entry_key(url, ek);
    r = page("the real page", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &len), RP_ST_OK);
    raw = apr_pmemdup(fx.p, v, len);
    assert_true(len > 60);

    offs[n++] = 0;                              /* magic */
    offs[n++] = 4;                              /* version */
    offs[n++] = 6;                              /* kind */
    offs[n++] = 8;                              /* total length */
    offs[n++] = 12;                             /* key length */
    offs[n++] = 16;                             /* key */
    offs[n++] = 16 + strlen(url) + 1;           /* status */
    offs[n++] = len / 2;
    offs[n++] = len - 8 - 3;                    /* body */
    offs[n++] = len - 8;                        /* checksum */
    offs[n++] = len - 1;
    for (i = 0; i < n; i++) {
        for (m = 0; m < sizeof(masks); m++) {
            assert_int_equal(rp_store_set(fx.store, K(ek), raw, len, 0), RP_ST_OK);
            assert_int_equal(rp_store_mem_corrupt(fx.store, K(ek), offs[i], masks[m]), 0);
            expect_invalid(&fx, url, &NOHDR);
        }
    }
    /* truncated, extended, garbage, empty */
    assert_int_equal(rp_store_set(fx.store, K(ek), raw, len - 1, 0), RP_ST_OK);
    expect_invalid(&fx, url, &NOHDR);
    {
        char *longer = apr_palloc(fx.p, len + 1);
        memcpy(longer, raw, len);
        longer[len] = 'x';
        assert_int_equal(rp_store_set(fx.store, K(ek), longer, len + 1, 0), RP_ST_OK);
        expect_invalid(&fx, url, &NOHDR);
    }
    assert_int_equal(rp_store_set(fx.store, K(ek), K("HTTP/1.1 200 OK\r\n\r\nevil"), 0),
                     RP_ST_OK);
    expect_invalid(&fx, url, &NOHDR);
    assert_int_equal(rp_store_set(fx.store, K(ek), "", 0, 0), RP_ST_OK);
    expect_invalid(&fx, url, &NOHDR);

    /* the untouched bytes are still a hit: the damage was the only cause */
    assert_int_equal(rp_store_set(fx.store, K(ek), raw, len, 0), RP_ST_OK);
    expect_hit(&fx, url, &NOHDR, "the real page");
}

static void test_foreign_entries(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *other, *v, *vf_gz, *vf_br;
    char ek[RP_KEY_HASH_MAX], gk[RP_KEY_HASH_MAX];
    char ek_gz[RP_KEY_HASH_MAX], ek_br[RP_KEY_HASH_MAX];
    size_t vl, len;
    rp_entry_t e;
    rp_entry_status_t est;
    char *bytes;
    uint64_t g;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/mine", NULL);
    other = url_of(fx.p, "/theirs", NULL);
    entry_key(url, ek);
    rp_key_hash("rp:u:", url, strlen(url), gk);
    r = page("mine", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(gk), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_cache_parse_gen(v, vl, &g), 0);

    /* a well-formed, fresh entry with the right generation, but the full key
     * of another URL (a hash collision, or planted): never served */
    memset(&e, 0, sizeof(e));
    e.kind = RP_ENTRY_PAGE;
    e.key = other;
    e.key_len = strlen(other);
    e.status = 200;
    e.stored_us = fx.now_us;
    e.fresh_until_us = fx.now_us + 3600 * S_US;
    e.url_gen = g;
    e.body = "theirs";
    e.body_len = 6;
    bytes = rp_entry_encode_pool(&e, fx.p, &len, &est);
    assert_non_null(bytes);
    assert_int_equal(rp_store_set(fx.store, K(ek), bytes, len, 0), RP_ST_OK);
    expect_invalid(&fx, url, &NOHDR);
    /* the same bytes with this URL's key would be served: only the key
     * check stopped it */
    e.key = url;
    e.key_len = strlen(url);
    bytes = rp_entry_encode_pool(&e, fx.p, &len, &est);
    assert_int_equal(rp_store_set(fx.store, K(ek), bytes, len, 0), RP_ST_OK);
    expect_hit(&fx, url, &NOHDR, "theirs");
    /* a key that merely starts like ours */
    e.key = apr_pstrcat(fx.p, url, "x", NULL);
    e.key_len = strlen(e.key);
    bytes = rp_entry_encode_pool(&e, fx.p, &len, &est);
    assert_int_equal(rp_store_set(fx.store, K(ek), bytes, len, 0), RP_ST_OK);
    expect_invalid(&fx, url, &NOHDR);

    /* another URL's real entry copied under our key */
    r = page("their real page", "max-age=3600");
    fill(&fx, other, &NOHDR, &r);
    {
        char ok[RP_KEY_HASH_MAX];
        entry_key(other, ok);
        assert_int_equal(rp_store_get(fx.store, fx.p, K(ok), &v, &vl), RP_ST_OK);
        assert_int_equal(rp_store_set(fx.store, K(ek), v, vl, 0), RP_ST_OK);
    }
    expect_invalid(&fx, url, &NOHDR);

    /* variants: the br page copied over the gzip variant's key */
    r = page("gz", "max-age=3600");
    r.vary = "Accept-Encoding";
    assert_int_equal(lookup(&fx, &lk, url, &AE_GZIP), RP_LOOKUP_MISS);
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    r = page("br", "max-age=3600");
    r.vary = "Accept-Encoding";
    fill(&fx, url, &AE_BR, &r);
    vf_gz = variant_of(fx.p, url, "gzip");
    vf_br = variant_of(fx.p, url, "br");
    entry_key(vf_gz, ek_gz);
    entry_key(vf_br, ek_br);
    expect_hit(&fx, url, &AE_GZIP, "gz");
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek_br), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_store_set(fx.store, K(ek_gz), v, vl, 0), RP_ST_OK);
    expect_invalid(&fx, url, &AE_GZIP);
    expect_hit(&fx, url, &AE_BR, "br");
    /* a vary index where a variant's page should be */
    assert_int_equal(rp_store_get(fx.store, fx.p, K(ek), &v, &vl), RP_ST_OK);
    assert_int_equal(rp_store_set(fx.store, K(ek_br), v, vl, 0), RP_ST_OK);
    expect_invalid(&fx, url, &AE_BR);
    /* a damaged vary index */
    assert_int_equal(rp_store_mem_corrupt(fx.store, K(ek), 20, 0x04), 0);
    expect_invalid(&fx, url, &AE_BR);
}

/* ---- 10. stampede lock --------------------------------------------------- */

/* on the first sleep, the first request stores its response (or tries) */
static void store_other_once(fx_t *fx)
{
    const char *why;

    if (fx->on_sleep_runs++ == 0) {
        fx->other_outcome = rp_cache_store(fx->other, &fx->other_resp, &why, NULL);
    }
}

static void test_lock_waiter_gets_fill(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/hot", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);

    fx.other = &lk1;
    fx.other_resp = page("filled by the first", "max-age=60");
    fx.other_outcome = RP_STORE_FAILED;
    fx.on_sleep = store_other_once;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_HIT);
    assert_int_equal(fx.other_outcome, RP_STORE_STORED);
    assert_int_equal(lk2.waited, 1);
    assert_int_equal(lk2.holds_lock, 0);
    assert_int_equal(fx.sleeps, 1);
    assert_true(fx.slept_us < fx.conf.lock_wait_us);
    assert_body(&lk2, "filled by the first");
    assert_int_equal(lk1.holds_lock, 0);
}

/* the same for a brand-new URL and a varied response */
static void test_lock_waiter_gets_varied_fill(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/hot-vary", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &AE_GZIP), RP_LOOKUP_MISS);
    fx.other = &lk1;
    fx.other_resp = page("gz", "max-age=60");
    fx.other_resp.vary = "Accept-Encoding";
    fx.on_sleep = store_other_once;
    assert_int_equal(lookup(&fx, &lk2, url, &AE_GZIP), RP_LOOKUP_HIT);
    assert_int_equal(fx.other_outcome, RP_STORE_STORED);
    assert_int_equal(lk2.waited, 1);
    assert_body(&lk2, "gz");
}

static void test_lock_timeout(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;
    int64_t t0;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/slow", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);

    t0 = fx.now_us;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.miss_reason, RP_MISS_LOCK_TIMEOUT);
    assert_string_equal(rp_miss_reason_name(lk2.miss_reason), "lock-timeout");
    assert_int_equal(lk2.waited, 1);
    assert_int_equal(lk2.holds_lock, 0);
    assert_true(fx.sleeps > 1);
    assert_true(fx.now_us - t0 >= fx.conf.lock_wait_us);
    assert_true(fx.now_us - t0 <= fx.conf.lock_wait_us + 100000);

    /* the first one still holds the lock and stores normally */
    assert_int_equal(lk1.holds_lock, 1);
    r = page("slow page", "max-age=60");
    assert_int_equal(store(&lk1, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "slow page");
}

/* on the first sleep, the wall clock is set back an hour */
static void clock_back_once(fx_t *fx)
{
    if (fx->on_sleep_runs++ == 0) {
        fx->now_us -= 3600 * S_US;
    }
}

/* A wall clock set back while a request waits for another's fill does
 * not keep it waiting until the clock catches up: the pauses bound the
 * wait too. */
static void test_lock_wait_with_the_clock_set_back(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/slow-clock", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    fx.on_sleep = clock_back_once;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.miss_reason, RP_MISS_LOCK_TIMEOUT);
    assert_true(fx.slept_us >= fx.conf.lock_wait_us);
    assert_true(fx.slept_us <= fx.conf.lock_wait_us + 100000);
    fx.on_sleep = NULL;
    rp_cache_release(&lk1);
}

/* on the first sleep, the first request's backend fails: it lets go */
static void release_other_once(fx_t *fx)
{
    if (fx->on_sleep_runs++ == 0) {
        rp_cache_release(fx->other);
    }
}

static void test_lock_released_without_store(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/flaky", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    fx.other = &lk1;
    fx.on_sleep = release_other_once;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 0);
    /* the waiter takes the lock itself and goes to the backend */
    assert_int_equal(lk2.holds_lock, 1);
    assert_int_equal(lk2.waited, 1);
    assert_int_equal(lk2.miss_reason, RP_MISS_ABSENT);
    assert_int_equal(fx.sleeps, 1);
    fx.on_sleep = NULL;
    r = page("second try", "max-age=60");
    assert_int_equal(store(&lk2, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "second try");
}

static const char *purge_url_on_sleep;

/* on the first sleep, the page is purged, then the filler's backend
 * fails */
static void purge_then_fail_once(fx_t *fx)
{
    if (fx->on_sleep_runs++ == 0) {
        assert_int_equal(rp_cache_purge_url(fx->store, fx->p, NULL,
                                            purge_url_on_sleep, fx->now_us),
                         RP_ST_OK);
        rp_cache_release_failed(fx->other);
    }
}

/* on the first sleep, the filler's backend fails and its copy stands in */
static void fail_other_once(fx_t *fx)
{
    if (fx->on_sleep_runs++ == 0) {
        rp_cache_release_failed(fx->other);
    }
}

/* A waiter holding a copy that may stand in for a failed backend: when
 * the filler's backend failed (it says so as it lets go), the copy
 * stands in at once, and the failing backend is not asked again; when
 * the filler's lock ran out while its backend hangs, it stands in too,
 * never joining that fill; when the filler let go of its lock with an
 * answer that was just not stored, the waiter fetches (nothing failed:
 * a stale copy is no answer then); and a copy purged meanwhile stands
 * in for nothing (sixth and seventh reviews). */
static void test_lock_gone_serves_the_stand_in(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;
    int64_t slept;

    fx_init(&fx, *state);
    fx.conf.stale_if_error_s = 300;
    url = url_of(fx.p, "/hangs", NULL);
    r = page("old", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    advance(&fx, 20);

    /* the filler's backend fails */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    fx.other = &lk1;
    fx.on_sleep = fail_other_once;
    fx.on_sleep_runs = 0;
    fx.sleeps = 0;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_int_equal(lk2.holds_lock, 0);
    assert_int_equal(lk2.stale_reason, RP_STALE_ERROR);
    assert_body(&lk2, "old");
    assert_int_equal(fx.sleeps, 1);             /* at once, not at the end */
    advance(&fx, 3);                            /* the mark is gone */

    /* the filler lets go without a page, nothing failed: the waiter's
     * turn */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    fx.on_sleep = release_other_once;
    fx.on_sleep_runs = 0;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    rp_cache_release(&lk2);

    /* the filler's backend hangs past its lock's life (10 s here): the
     * waiter comes late in it, and leaves when the lock runs out, before
     * its own wait (0.5 s) is over */
    fx.on_sleep = NULL;
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    advance_us(&fx, 9800000);
    slept = fx.slept_us;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_STALE);
    assert_int_equal(lk2.holds_lock, 0);
    assert_int_equal(lk2.stale_reason, RP_STALE_TIMEOUT);
    assert_body(&lk2, "old");
    assert_true(fx.slept_us - slept < fx.conf.lock_wait_us);
    lk1.holds_lock = 0;                         /* (it ran out) */

    /* the filler's backend fails, but the page is purged while the
     * waiter waits: its copy stands in for nothing, it fetches */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    purge_url_on_sleep = url;
    fx.on_sleep = purge_then_fail_once;
    fx.on_sleep_runs = 0;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.has_fallback, 0);
    assert_int_equal(lk2.holds_lock, 1);
    fx.on_sleep = NULL;
    rp_cache_release(&lk2);
}


/* ---- eighth review: the index a refill skips, fail marks, lock ages -- */

/* A varied page's index is written by its first fill only: a refill that
 * finds the index naming the same headers writes nothing (the new
 * index-skip in vary_as_stored).  memcached still drops the index when the
 * first fill's TTL runs out (its freshness + 60 s), though the variant a
 * refill stored is fresh well beyond that: from then on the lookup finds
 * no index, misses, and no variant can stand in for a failed backend. */
static void test_index_outlives_its_refilled_variant(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/adv8-index", NULL);
    r = page("gzip 1", "max-age=10");
    r.vary = "Accept-Encoding";
    fill(&fx, url, &AE_GZIP, &r);
    advance(&fx, 65);                   /* expired; index lives 70 s */
    assert_int_equal(lookup(&fx, &lk, url, &AE_GZIP), RP_LOOKUP_MISS);
    r = page("gzip 2", "max-age=100");
    r.vary = "Accept-Encoding";
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    advance(&fx, 10);                   /* the refill is fresh to 165 s */
    expect_hit(&fx, url, &AE_GZIP, "gzip 2");
}


/* on the second sleep, the (healthy) filler stores its new page */
static void store_other_second(fx_t *fx)
{
    if (fx->on_sleep_runs++ == 1) {
        fx->other_outcome = store(fx->other, &fx->other_resp);
    }
}

/* A fill failed and its copy stood in (the 2 s mark).  The backend is
 * well again: the next request takes the lock and fetches.  A waiter on
 * that healthy fill sees the mark the earlier, finished fill left and
 * serves its stale copy as "STALE error", though the fill it waits on
 * has not failed (and stores a fresh page a moment later). */
static void test_an_earlier_fail_mark_is_not_this_fills(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2, lk3;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    fx.conf.stale_if_error_s = 300;
    url = url_of(fx.p, "/adv8-mark", NULL);
    r = page("old", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    advance(&fx, 20);

    /* a fill fails: its copy stands in, the mark is left */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    rp_cache_release_failed(&lk1);
    advance_us(&fx, 100000);

    /* the next fill is healthy */
    assert_int_equal(lookup(&fx, &lk3, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk3.holds_lock, 1);
    fx.other = &lk3;
    fx.other_resp = page("new", "max-age=60");
    fx.on_sleep = store_other_second;
    fx.on_sleep_runs = 0;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_HIT);
    assert_body(&lk2, "new");
    fx.on_sleep = NULL;
}

/* on the second sleep, the filler lets go without a page (nothing failed) */
static void release_other_second(fx_t *fx)
{
    if (fx->on_sleep_runs++ == 1) {
        rp_cache_release(fx->other);
    }
}

/* The lock's value is a wall time of the server that took it.  Another
 * Apache server whose clock is 60 s behind takes the lock (or any foreign
 * value that parses as a time after 2001): a waiter here reads the lock as
 * a minute old, and when it is given back without a page (nothing
 * failed: the answer was just not stored) serves its stale copy as
 * "STALE timeout" instead of taking its turn. */
static void test_lock_born_of_a_skewed_clock(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    rp_cache_response_t r;
    const char *url;
    char born[24];
    int n;

    fx_init(&fx, *state);
    fx.conf.stale_if_error_s = 300;
    url = url_of(fx.p, "/adv8-skew", NULL);
    r = page("old", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    advance(&fx, 20);

    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    /* as the other server wrote it: its clock 60 s behind ours */
    n = snprintf(born, sizeof(born), "%lld",
                 (long long)(fx.now_us - 60 * S_US));
    assert_int_equal(rp_store_set(fx.store, lk1.lock_key,
                                  strlen(lk1.lock_key), born, (size_t)n,
                                  fx.conf.lock_ttl_s), RP_ST_OK);
    fx.other = &lk1;
    fx.on_sleep = release_other_second;
    fx.on_sleep_runs = 0;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);       /* its turn */
    fx.on_sleep = NULL;
    rp_cache_release(&lk2);
}

/* The same earlier mark, and the healthy fill gives its lock back
 * without a page (its answer was only not stored): the mark is not the
 * lock's the waiter saw, so the waiter takes its turn. */
static void test_an_earlier_fail_mark_when_the_lock_is_given_back(
    void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2, lk3;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    fx.conf.stale_if_error_s = 300;
    url = url_of(fx.p, "/mark-given-back", NULL);
    r = page("old", "max-age=10");
    fill(&fx, url, &NOHDR, &r);
    advance(&fx, 20);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    rp_cache_release_failed(&lk1);
    advance_us(&fx, 100000);
    assert_int_equal(lookup(&fx, &lk3, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk3.holds_lock, 1);
    fx.other = &lk3;
    fx.on_sleep = release_other_second;
    fx.on_sleep_runs = 0;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);        /* its turn */
    fx.on_sleep = NULL;
    rp_cache_release(&lk2);
}

/* The filler finds the response uncacheable: the waiter stops waiting and
 * goes to the backend without the lock (the pass marker says why). */
static void test_lock_waiter_sees_pass(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/personal", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    fx.other = &lk1;
    fx.other_resp = page("not for everyone", "private");
    fx.on_sleep = store_other_once;
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(fx.other_outcome, RP_STORE_NOT_CACHEABLE);
    assert_int_equal(lk1.holds_lock, 0);
    assert_int_equal(lk2.miss_reason, RP_MISS_PASS);
    assert_int_equal(lk2.holds_lock, 0);
    assert_int_equal(lk2.waited, 1);
    assert_int_equal(fx.sleeps, 1);
}

/* Pass markers: how long they last, and what ends them. */
static void test_pass_marker(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url, *why;
    unsigned long sets;
    int k;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/pass", NULL);

    /* after a 5xx, for 5 s */
    r = page("oops", "max-age=60");
    r.status = 503;
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    assert_string_equal(why, "status");
    advance(&fx, 4);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PASS);
    advance(&fx, 1);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);

    /* otherwise for ReqPerfCacheTTL, at most RP_CACHE_PASS_MAX_S */
    fx.conf.default_ttl_s = 20;
    r = page("mine", "private");
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    /* the requests it passes write nothing: the marker lives out its
     * time, one memcached write per marker, not per request */
    sets = rp_store_mem_calls(fx.store, "set");
    for (k = 0; k < 3; k++) {
        advance(&fx, 5);
        assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
        assert_int_equal(lk.miss_reason, RP_MISS_PASS);
        assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                         RP_STORE_NOT_CACHEABLE);
    }
    assert_int_equal(rp_store_mem_calls(fx.store, "set"), sets);
    advance(&fx, 4);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PASS);
    advance(&fx, 1);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);
    fx.conf.default_ttl_s = 100000;
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    advance(&fx, RP_CACHE_PASS_MAX_S - 1);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PASS);
    advance(&fx, 1);
    expect_miss(&fx, url, &NOHDR, RP_MISS_ABSENT);

    /* a purge of the URL ends it at once */
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PASS);
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_ABSENT);
    assert_int_equal(lk.holds_lock, 1);
    /* ... and a cacheable answer then replaces it */
    r = page("cacheable again", "max-age=60");
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "cacheable again");

    /* a client refresh whose answer cannot be stored leaves neither a
     * pass nor a hole: one client cannot make the page uncacheable for
     * everyone (no-cache + Range, + a cookie the backend answers, ...) */
    r = page("mine", "private");
    init(&fx, &lk, url, &NOHDR);
    lk.refresh = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_REFRESH);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    assert_int_equal(lk.holds_lock, 0);
    expect_hit(&fx, url, &NOHDR, "cacheable again");
    /* nor does an answer to the client's own request (416, 412, 429) */
    r = page("no", "max-age=60");
    r.status = 429;
    init(&fx, &lk, url, &NOHDR);
    lk.refresh = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    expect_hit(&fx, url, &NOHDR, "cacheable again");
    assert_int_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);     /* not a pass */
    /* ... and no_pass (an error document) leaves none either */
    r = page("mine", "private");
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_MISS);
    lk.no_pass = 1;
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_NOT_CACHEABLE);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);
    /* ... and a refresh during the pass still stores a cacheable answer */
    init(&fx, &lk, url, &NOHDR);
    lk.refresh = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_REFRESH);
    r = page("public again", "max-age=60");
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "public again");
}

static void test_lock_release_is_idempotent_and_expires(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2;
    const char *url;
    unsigned long del0;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/crashy", NULL);
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    del0 = rp_store_mem_calls(fx.store, "del");
    rp_cache_release(&lk1);
    rp_cache_release(&lk1);
    assert_int_equal(rp_store_mem_calls(fx.store, "del"), del0 + 1);
    assert_int_equal(lk1.holds_lock, 0);

    /* a lock whose holder died expires by itself */
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 1);
    advance(&fx, fx.conf.lock_ttl_s);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    assert_int_equal(lk2.waited, 0);
    assert_int_equal(fx.sleeps, 0);
    rp_cache_release(&lk2);
}

static void test_lock_off_and_no_lock(void **state)
{
    fx_t fx;
    rp_lookup_t lk1, lk2, lk3;
    const char *url;
    char lock_key[RP_KEY_HASH_MAX];
    const char *v;
    size_t vl;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/unlocked", NULL);
    rp_key_hash("rp:l:", url, strlen(url), lock_key);

    /* ReqPerfCacheLock Off: nobody takes or waits for the lock */
    fx.conf.lock = 0;
    assert_int_equal(lookup(&fx, &lk1, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 0);
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.miss_reason, RP_MISS_ABSENT);
    assert_int_equal(lk2.holds_lock, 0);
    assert_int_equal(lk2.waited, 0);
    assert_int_equal(fx.sleeps, 0);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(lock_key), &v, &vl),
                     RP_ST_NOTFOUND);

    /* with the lock on, a HEAD never takes it ... */
    fx.conf.lock = 1;
    init(&fx, &lk1, url, &NOHDR);
    lk1.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk1), RP_LOOKUP_MISS);
    assert_int_equal(lk1.holds_lock, 0);
    assert_int_equal(rp_store_get(fx.store, fx.p, K(lock_key), &v, &vl),
                     RP_ST_NOTFOUND);
    /* ... so a GET after it gets it without waiting */
    assert_int_equal(lookup(&fx, &lk2, url, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk2.holds_lock, 1);
    assert_int_equal(lk2.waited, 0);
    /* ... and a HEAD while someone holds it does not wait either */
    init(&fx, &lk3, url, &NOHDR);
    lk3.no_lock = 1;
    assert_int_equal(rp_cache_lookup(&lk3), RP_LOOKUP_MISS);
    assert_int_equal(lk3.waited, 0);
    assert_int_equal(lk3.holds_lock, 0);
    assert_int_equal(fx.sleeps, 0);
    rp_cache_release(&lk2);
}

/* ---- 11. client refresh -------------------------------------------------- */

static void test_refresh(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *url;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/refreshable", NULL);
    r = page("version 1", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "version 1");

    init(&fx, &lk, url, &NOHDR);
    lk.refresh = 1;
    assert_int_equal(rp_cache_lookup(&lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_REFRESH);
    assert_string_equal(rp_miss_reason_name(lk.miss_reason), "refresh");
    assert_int_equal(lk.entry.body, NULL);
    advance(&fx, 1);
    r = page("version 2", "max-age=3600");
    assert_int_equal(store(&lk, &r), RP_STORE_STORED);
    expect_hit(&fx, url, &NOHDR, "version 2");
}

/* ---- 12. store down ------------------------------------------------------ */

static void test_store_down(void **state)
{
    fx_t fx;
    rp_lookup_t lk, lk_miss;
    rp_cache_response_t r;
    const char *url, *url2, *why;

    fx_init(&fx, *state);
    url = url_of(fx.p, "/cached", NULL);
    url2 = url_of(fx.p, "/uncached", NULL);
    r = page("cached", "max-age=3600");
    r.tags = "t";
    fill(&fx, url, &NOHDR, &r);
    assert_int_equal(lookup(&fx, &lk_miss, url2, &NOHDR), RP_LOOKUP_MISS);

    rp_store_mem_fail(fx.store, 1);
    assert_int_equal(lookup(&fx, &lk, url, &NOHDR), RP_LOOKUP_DOWN);
    assert_int_equal(lk.entry.body, NULL);
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(lookup(&fx, &lk, url2, &NOHDR), RP_LOOKUP_DOWN);
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(fx.sleeps, 0);
    assert_int_equal(rp_cache_store(&lk_miss, &r, &why, NULL), RP_STORE_DOWN);
    assert_non_null(why);
    assert_int_not_equal(rp_cache_purge_url(fx.store, fx.p, NULL, url, fx.now_us), RP_ST_OK);
    assert_int_not_equal(rp_cache_purge_tag(fx.store, fx.p, NULL, "t", fx.now_us), RP_ST_OK);

    /* back up: what was cached is still there; nothing got stored */
    rp_store_mem_fail(fx.store, 0);
    expect_hit(&fx, url, &NOHDR, "cached");
    /* the lock of the interrupted fill could not be deleted while down
     * (holds_lock was cleared all the same): it expires by itself */
    assert_int_equal(lk_miss.holds_lock, 0);
    assert_int_equal(lookup(&fx, &lk, url2, &NOHDR), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_LOCK_TIMEOUT);
    advance(&fx, fx.conf.lock_ttl_s);
    expect_miss(&fx, url2, &NOHDR, RP_MISS_ABSENT);
}

/* ---- 13. generation values ----------------------------------------------- */

static void test_parse_gen(void **state)
{
    uint64_t g = 42;

    (void)state;
    assert_int_equal(rp_cache_parse_gen(K("0"), &g), 0);
    assert_true(g == 0);
    assert_int_equal(rp_cache_parse_gen(K("1700000000123456"), &g), 0);
    assert_true(g == 1700000000123456ULL);
    /* memcached pads a value that got shorter with spaces */
    assert_int_equal(rp_cache_parse_gen(K("99  "), &g), 0);
    assert_true(g == 99);
    assert_int_equal(rp_cache_parse_gen(K("7\r\n"), &g), 0);
    assert_true(g == 7);
    /* the length counts, not a NUL */
    assert_int_equal(rp_cache_parse_gen("123456", 3, &g), 0);
    assert_true(g == 123);
    assert_int_equal(rp_cache_parse_gen(K("18446744073709551609"), &g), 0);
    assert_true(g == 18446744073709551609ULL);

    g = 42;
    assert_int_equal(rp_cache_parse_gen(K(""), &g), -1);
    assert_int_equal(rp_cache_parse_gen(NULL, 0, &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("   "), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K(" 12"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("abc"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("12a"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("12 3"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("-1"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("+1"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("0x10"), &g), -1);
    assert_int_equal(rp_cache_parse_gen("1\0", 2, &g), -1);
    /* overflow */
    assert_int_equal(rp_cache_parse_gen(K("18446744073709551616"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("99999999999999999999"), &g), -1);
    assert_int_equal(rp_cache_parse_gen(K("123456789012345678901234567890"), &g), -1);
    assert_true(g == 42);                       /* untouched on failure */
}

/* A generation key holding something that is not a number matches nothing. */
static void test_garbage_generation(void **state)
{
    fx_t fx;
    rp_cache_response_t r;
    const char *url;
    char gk[RP_KEY_HASH_MAX];

    fx_init(&fx, *state);
    url = url_of(fx.p, "/gen-garbage", NULL);
    rp_key_hash("rp:u:", url, strlen(url), gk);
    r = page("x", "max-age=3600");
    fill(&fx, url, &NOHDR, &r);
    expect_hit(&fx, url, &NOHDR, "x");
    assert_int_equal(rp_store_set(fx.store, K(gk), K("not a number"), 0), RP_ST_OK);
    expect_miss(&fx, url, &NOHDR, RP_MISS_PURGED);
}

static void test_miss_reason_names(void **state)
{
    (void)state;
    assert_string_equal(rp_miss_reason_name(RP_MISS_ABSENT), "absent");
    assert_string_equal(rp_miss_reason_name(RP_MISS_EXPIRED), "expired");
    assert_string_equal(rp_miss_reason_name(RP_MISS_PURGED), "purged");
    assert_string_equal(rp_miss_reason_name(RP_MISS_INVALID), "invalid");
    assert_string_equal(rp_miss_reason_name(RP_MISS_REFRESH), "refresh");
    assert_string_equal(rp_miss_reason_name(RP_MISS_LOCK_TIMEOUT), "lock-timeout");
    assert_string_equal(rp_miss_reason_name(RP_MISS_PASS), "pass");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_miss_store_hit),
        RP_TEST(test_keys_asked_per_hit),
        RP_TEST(test_store_other_status_and_binary_body),
        RP_TEST(test_freshness_sources),
        RP_TEST(test_expired_response_not_stored_without_grace),
        RP_TEST(test_grace),
        RP_TEST(test_grace_stores_max_age_zero),
        RP_TEST(test_grace_forbidden_by_response),
        RP_TEST(test_stale_if_error),
        RP_TEST(test_lock_gone_serves_the_stand_in),
        RP_TEST(test_an_earlier_fail_mark_is_not_this_fills),
        RP_TEST(test_lock_born_of_a_skewed_clock),
        RP_TEST(test_index_outlives_its_refilled_variant),
        RP_TEST(test_tag_epoch_unreadable_is_down),
        RP_TEST(test_waiting_purge_is_not_served),
        RP_TEST(test_lock_wait_with_the_clock_set_back),
        RP_TEST(test_an_earlier_fail_mark_when_the_lock_is_given_back),
        RP_TEST(test_lock_timeout_serves_the_stand_in),
        RP_TEST(test_grace_survives_refresher_5xx),
        RP_TEST(test_not_storable),
        RP_TEST(test_vary),
        RP_TEST(test_variant_lock_and_pass),
        RP_TEST(test_unvaried_store_meets_an_index),
        RP_TEST(test_judge),
        RP_TEST(test_purge_url),
        RP_TEST(test_purge_tag),
        RP_TEST(test_purge_tag_varied),
        RP_TEST(test_purge_tag_varied_round_trips),
        RP_TEST(test_tag_generations_unreadable_is_down),
        RP_TEST(test_purge_during_fetch),
        RP_TEST(test_tag_purge_ring),
        RP_TEST(test_generation_created_during_purge),
        RP_TEST(test_generation_eviction),
        RP_TEST(test_new_url_gets_generation_before_fetch),
        RP_TEST(test_damaged_entries),
        RP_TEST(test_foreign_entries),
        RP_TEST(test_lock_waiter_gets_fill),
        RP_TEST(test_lock_waiter_gets_varied_fill),
        RP_TEST(test_lock_timeout),
        RP_TEST(test_lock_released_without_store),
        RP_TEST(test_lock_waiter_sees_pass),
        RP_TEST(test_pass_marker),
        RP_TEST(test_lock_release_is_idempotent_and_expires),
        RP_TEST(test_lock_off_and_no_lock),
        RP_TEST(test_refresh),
        RP_TEST(test_store_down),
        RP_TEST(test_parse_gen),
        RP_TEST(test_garbage_generation),
        RP_TEST(test_miss_reason_names),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
