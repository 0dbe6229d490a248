/*
 * test_rules.c: freshness, what may be stored, what bypasses the cache. Each
 * rule of SPEC.md's "Page cache" section has a case here that fails if the
 * rule is dropped; the grammars the rules read are tested in test_http.c.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "cache/rp_rules.h"

/* ---- freshness ---- */

static void test_freshness_precedence(void **state)
{
    const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";
    const char *exp_1h = "Sun, 06 Nov 1994 09:49:37 GMT";
    int64_t now = 784111777 + 600;
    rp_cc_t cc;

    (void)state;
    rp_cc_parse("max-age=60, s-maxage=120", &cc);
    assert_int_equal(rp_freshness_s(&cc, exp_1h, date, now, 5), 120);
    rp_cc_parse("max-age=60", &cc);
    assert_int_equal(rp_freshness_s(&cc, exp_1h, date, now, 5), 60);
    rp_cc_parse("s-maxage=0, max-age=60", &cc);
    assert_int_equal(rp_freshness_s(&cc, exp_1h, date, now, 5), 0);
    rp_cc_parse("public", &cc);
    /* Expires - Date, not Expires - now */
    assert_int_equal(rp_freshness_s(&cc, exp_1h, date, now, 5), 3600);
    /* without a valid Date: Expires - now */
    assert_int_equal(rp_freshness_s(&cc, exp_1h, NULL, now, 5), 3000);
    assert_int_equal(rp_freshness_s(&cc, exp_1h, "garbage", now, 5), 3000);
    /* invalid Expires means already expired, whatever the default */
    assert_int_equal(rp_freshness_s(&cc, "0", date, now, 5), 0);
    assert_int_equal(rp_freshness_s(&cc, "", date, now, 5), 0);
    /* Expires in the past */
    assert_int_equal(rp_freshness_s(&cc, date, exp_1h, now, 5), 0);
    /* nothing: the default */
    assert_int_equal(rp_freshness_s(&cc, NULL, date, now, 5), 5);
    assert_int_equal(rp_freshness_s(NULL, NULL, NULL, now, 77), 77);
    assert_int_equal(rp_freshness_s(NULL, NULL, NULL, now, -3), 0);
    assert_true(rp_freshness_s(NULL, NULL, NULL, now, INT64_MAX) == RP_MAX_FRESHNESS_S);
    assert_true(rp_freshness_s(NULL, "Fri, 31 Dec 9999 23:59:59 GMT", NULL, 0, 5)
                == RP_MAX_FRESHNESS_S);
}

/* ---- storable ---- */

static rp_response_info_t ok_response(void)
{
    rp_response_info_t ri;

    memset(&ri, 0, sizeof(ri));
    ri.status = 200;
    return ri;
}

static void test_storable_statuses(void **state)
{
    static const int yes[] = { 200, 203, 300, 301, 404, 410 };
    static const int no[] = { 100, 201, 204, 302, 303, 304, 307, 308, 400, 401, 403,
                              405, 500, 502, 503, 504, 0, -1, 999 };
    rp_response_info_t ri = ok_response();
    int64_t fresh = -1;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        ri.status = yes[i];
        assert_int_equal(rp_response_storable(&ri, 1000, 60, &fresh), RP_NOSTORE_NONE);
        assert_int_equal(fresh, 60);
    }
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        ri.status = no[i];
        assert_int_equal(rp_response_storable(&ri, 1000, 60, &fresh), RP_NOSTORE_STATUS);
    }
    ri.status = 206;
    assert_int_equal(rp_response_storable(&ri, 1000, 60, &fresh), RP_NOSTORE_PARTIAL);
    ri.status = 200;
    ri.has_content_range = 1;
    assert_int_equal(rp_response_storable(&ri, 1000, 60, &fresh), RP_NOSTORE_PARTIAL);
    assert_int_equal(rp_response_storable(NULL, 1000, 60, &fresh), RP_NOSTORE_STATUS);
    ri = ok_response();
    assert_int_equal(rp_response_storable(&ri, 1000, 60, NULL), RP_NOSTORE_NONE);
}

static void test_storable_reasons(void **state)
{
    rp_response_info_t ri;
    int64_t fresh;

    (void)state;
    ri = ok_response();
    ri.has_set_cookie = 1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_SET_COOKIE);
    /* Set-Cookie wins even with public caching asked for */
    ri.cache_control = "public, s-maxage=600";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_SET_COOKIE);

    ri = ok_response();
    ri.cache_control = "public, private";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_PRIVATE);
    ri.cache_control = "max-age=60, private=\"X-User\"";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_PRIVATE);
    ri.cache_control = "no-store";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_NO_STORE);
    ri.cache_control = "no-cache";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_NO_CACHE);
    ri.cache_control = "max-age=60, no-cache=\"Set-Cookie\"";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_NO_CACHE);
    ri.cache_control = "no-store, private";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_PRIVATE);
    ri.cache_control = "max-age=60";
    assert_int_equal(rp_response_storable(&ri, 0, 5, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, 60);

    /* 404s and redirects follow the same Cache-Control rules */
    ri.status = 301;
    ri.cache_control = "private";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_PRIVATE);
    /* fail closed: a Cache-Control we cannot read whole is not stored */
    ri = ok_response();
    ri.cache_control = "public max-age=600";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_CC_INVALID);
    /* Pragma: no-cache in a response counts too */
    ri = ok_response();
    ri.pragma = "no-cache";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_NO_CACHE);
    /* facts about the request come first */
    ri = ok_response();
    ri.cache_control = "public, max-age=60";
    ri.request_authenticated = 1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_AUTH);
    ri.request_authenticated = 0;
    ri.input_changed = 1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_INPUT_CHANGED);
    ri.input_changed = 0;
    ri.incomplete = 1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_INCOMPLETE);
    /* partial before status, status before Set-Cookie */
    ri = ok_response();
    ri.status = 500;
    ri.has_set_cookie = 1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_STATUS);
    ri.has_content_range = 1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_PARTIAL);
}

static void test_storable_vary(void **state)
{
    static const char *star[] = { "*", " * ", "Accept-Encoding, *", "*, Cookie",
                                  "accept,,*", "bad name", "a;b", "x\x01",
                                  ("a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, "
                                   "a14, a15, a16, a17") };
    static const char *priv[] = { "Cookie", "cookie", "COOKIE", "Accept-Encoding, Cookie",
                                  "Accept-Encoding,cookie", "Authorization",
                                  "accept, AUTHORIZATION, x", "Accept-Encoding, Accept, cookie" };
    static const char *fine[] = { "", " , ", "Accept-Encoding", "accept-encoding, Accept-Language",
                                  "Cookies", "X-Cookie", "Authorization-X",
                                  ("a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, "
                                   "a14, a15, a16, A16, a1") };
    rp_response_info_t ri = ok_response();
    int64_t fresh;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(star) / sizeof(star[0]); i++) {
        ri.vary = star[i];
        if (rp_response_storable(&ri, 0, 60, &fresh) != RP_NOSTORE_VARY_STAR) {
            fail_msg("Vary '%s' not refused as vary-star", star[i]);
        }
    }
    for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
        ri.vary = priv[i];
        if (rp_response_storable(&ri, 0, 60, &fresh) != RP_NOSTORE_VARY_PRIVATE) {
            fail_msg("Vary '%s' not refused as vary-private", priv[i]);
        }
    }
    for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        ri.vary = fine[i];
        if (rp_response_storable(&ri, 0, 60, &fresh) != RP_NOSTORE_NONE) {
            fail_msg("Vary '%s' refused", fine[i]);
        }
    }
}

static void test_storable_expired(void **state)
{
    rp_response_info_t ri = ok_response();
    int64_t fresh = -1;

    (void)state;
    ri.cache_control = "max-age=0";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_EXPIRED);
    assert_int_equal(fresh, 0);
    /* with grace, a stale copy is still worth keeping */
    ri.grace_s = 30;
    fresh = -1;
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, 0);
    /* ... unless the response forbids serving it stale */
    ri.cache_control = "max-age=0, must-revalidate";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_EXPIRED);
    ri.cache_control = "s-maxage=0";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_EXPIRED);
    ri.cache_control = NULL;
    ri.grace_s = 0;
    ri.expires = "0";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_EXPIRED);
    ri.expires = NULL;
    assert_int_equal(rp_response_storable(&ri, 0, 0, &fresh), RP_NOSTORE_EXPIRED);
    assert_int_equal(rp_response_storable(&ri, 0, 1, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, 1);
    /* must-revalidate alone does not stop a fresh response */
    ri.cache_control = "max-age=10, must-revalidate";
    assert_int_equal(rp_response_storable(&ri, 0, 60, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, 10);
}

/* The verdict hands over what it read, whatever it decides, so the store
 * filter never reads Cache-Control or Vary again. */
static void test_verdict_facts(void **state)
{
    rp_response_info_t ri = ok_response();
    rp_response_facts_t f;
    int64_t fresh = -1;

    (void)state;
    ri.cache_control = "max-age=100, stale-while-revalidate=7";
    ri.vary = "Accept-Encoding, accept-language";
    ri.age_s = 40;
    ri.grace_s = 30;
    ri.stale_if_error_s = 90;
    assert_int_equal(rp_response_verdict(&ri, 0, 5, &f), RP_NOSTORE_NONE);
    assert_int_equal(f.fresh_s, 60);
    assert_int_equal(f.cc.max_age, 100);
    assert_int_equal(f.grace_s, 7);             /* the response's own window */
    assert_int_equal(f.stale_if_error_s, 90);   /* the configured one */
    assert_int_equal(f.vary.rc, RP_VARY_OK);
    assert_int_equal(f.vary.n, 2);
    assert_int_equal(rp_response_storable(&ri, 0, 5, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, f.fresh_s);
    /* must-revalidate closes both windows */
    ri.cache_control = "max-age=100, must-revalidate";
    assert_int_equal(rp_response_verdict(&ri, 0, 5, &f), RP_NOSTORE_NONE);
    assert_int_equal(f.grace_s, 0);
    assert_int_equal(f.stale_if_error_s, 0);
    /* refused before freshness: no freshness, but the rest was read */
    ri.cache_control = "private, max-age=9";
    ri.vary = "Cookie";
    assert_int_equal(rp_response_verdict(&ri, 0, 5, &f), RP_NOSTORE_PRIVATE);
    assert_int_equal(f.fresh_s, 0);
    assert_true(f.cc.private_);
    assert_int_equal(f.cc.max_age, 9);
    assert_true(f.vary.has_private);
    ri.status = 302;
    assert_int_equal(rp_response_verdict(&ri, 0, 5, &f), RP_NOSTORE_STATUS);
    assert_int_equal(f.vary.n, 1);
    assert_int_equal(rp_response_verdict(NULL, 0, 5, &f), RP_NOSTORE_STATUS);
    assert_int_equal(f.fresh_s, 0);
    assert_int_equal(f.vary.n, 0);
}

static void test_nostore_names(void **state)
{
    (void)state;
    assert_string_equal(rp_nostore_name(RP_NOSTORE_STATUS), "status");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_SET_COOKIE), "set-cookie");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_PRIVATE), "private");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_NO_STORE), "no-store");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_NO_CACHE), "no-cache");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_VARY_STAR), "vary-star");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_VARY_PRIVATE), "vary-private");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_PARTIAL), "partial");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_EXPIRED), "expired");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_CC_INVALID), "cache-control");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_AUTH), "auth");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_INPUT_CHANGED), "input-changed");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_INCOMPLETE), "incomplete");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_TOO_LARGE), "too-large");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_TAGS), "tags");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_STREAM), "stream");
    assert_string_equal(rp_nostore_name(RP_NOSTORE_NONE), "none");
    assert_non_null(rp_nostore_name((rp_nostore_t)99));
}

static void test_age(void **state)
{
    rp_response_info_t ri = ok_response();
    int64_t fresh = -1;

    (void)state;
    /* an upstream cache's Age uses up freshness (RFC 9111 4.2.3) */
    ri.cache_control = "max-age=60";
    ri.age_s = rp_age_parse("59");
    assert_int_equal(rp_response_storable(&ri, 0, 100, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, 1);
    ri.age_s = 60;
    assert_int_equal(rp_response_storable(&ri, 0, 100, &fresh), RP_NOSTORE_EXPIRED);
    ri.grace_s = 10;
    assert_int_equal(rp_response_storable(&ri, 0, 100, &fresh), RP_NOSTORE_NONE);
    assert_int_equal(fresh, 0);
}

static void test_pass_only_for_the_page(void **state)
{
    static const int client_own[] = { 304, 400, 401, 403, 405, 406, 412, 413, 416, 429, 431 };
    size_t i;

    (void)state;
    /* a property of the page: the next visitors may skip the lock */
    assert_true(rp_nostore_is_about_the_page(RP_NOSTORE_SET_COOKIE, 200));
    assert_true(rp_nostore_is_about_the_page(RP_NOSTORE_PRIVATE, 404));
    assert_true(rp_nostore_is_about_the_page(RP_NOSTORE_STATUS, 302));
    assert_true(rp_nostore_is_about_the_page(RP_NOSTORE_STATUS, 500));
    assert_true(rp_nostore_is_about_the_page(RP_NOSTORE_TOO_LARGE, 200));
    /* an answer to this client alone: never */
    for (i = 0; i < sizeof(client_own) / sizeof(client_own[0]); i++) {
        if (rp_nostore_is_about_the_page(RP_NOSTORE_STATUS, client_own[i])) {
            fail_msg("status %d would make the page uncacheable for all", client_own[i]);
        }
    }
    assert_false(rp_nostore_is_about_the_page(RP_NOSTORE_AUTH, 200));
    assert_false(rp_nostore_is_about_the_page(RP_NOSTORE_INPUT_CHANGED, 200));
    assert_false(rp_nostore_is_about_the_page(RP_NOSTORE_INCOMPLETE, 200));
}

/* ---- request bypass ---- */

typedef struct {
    const char *names[12];
    const char *values[12];
} hdrs_t;

static const char *hdr_get(void *baton, const char *name)
{
    hdrs_t *h = baton;
    int i;

    for (i = 0; i < 12 && h->names[i] != NULL; i++) {
        if (strcasecmp(h->names[i], name) == 0) {
            return h->values[i];
        }
    }
    return NULL;
}

/* A request to http://example.test/ with these headers (and a Host that
 * Apache's own normalisation left as it was, unless h names another). */
static rp_bypass_t verdict(const char *method, hdrs_t *h, const rp_request_rules_t *rules,
                           int *refresh)
{
    rp_request_t rq;
    int i;

    for (i = 0; i < 12 && h->names[i] != NULL; i++) {
        if (strcasecmp(h->names[i], "Host") == 0) {
            break;
        }
    }
    if (i < 12 && h->names[i] == NULL) {
        h->names[i] = "Host";
        h->values[i] = "example.test";
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.get = hdr_get;
    rq.baton = h;
    rq.names = h->names;
    for (rq.n_names = 0; rq.n_names < 12 && h->names[rq.n_names]; rq.n_names++) {
    }
    rq.hostname = "example.test";
    rq.default_port = 80;
    return rp_request_verdict(&rq, rules, refresh);
}

/* A GET to http://example.test/ with exactly these headers (no Host
 * added), told by get() alone: no list of the names it carried. */
static rp_bypass_t verdict_by_get(hdrs_t *h, const rp_request_rules_t *rules)
{
    rp_request_t rq;

    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    rq.get = hdr_get;
    rq.baton = h;
    rq.hostname = "example.test";
    rq.default_port = 80;
    return rp_request_verdict(&rq, rules, NULL);
}

static rp_bypass_t check1(const char *method, const char *name, const char *value,
       const rp_request_rules_t *rules, int *refresh)
{
    hdrs_t h;

    memset(&h, 0, sizeof(h));
    h.names[0] = name;
    h.values[0] = value;
    return verdict(method, &h, rules, refresh);
}

static void test_bypass_each_reason(void **state)
{
    static const char *ignore[] = { "_ga*", "consent" };
    static const char *vary[] = { "x-forwarded-proto" };
    rp_request_rules_t rules = { ignore, 2, vary, 1 };
    rp_request_t rq;
    hdrs_t h;
    int refresh = -1;

    (void)state;
    assert_int_equal(check1("GET", NULL, NULL, &rules, &refresh), RP_BYPASS_NONE);
    assert_int_equal(refresh, 0);
    assert_int_equal(check1("HEAD", NULL, NULL, NULL, &refresh), RP_BYPASS_NONE);
    assert_int_equal(check1("POST", NULL, NULL, &rules, &refresh), RP_BYPASS_METHOD);
    assert_int_equal(check1("get", NULL, NULL, &rules, &refresh), RP_BYPASS_METHOD);
    assert_int_equal(check1("OPTIONS", NULL, NULL, &rules, &refresh), RP_BYPASS_METHOD);
    assert_int_equal(check1(NULL, NULL, NULL, &rules, &refresh), RP_BYPASS_METHOD);
    assert_int_equal(check1("GET", "Authorization", "Basic x", &rules, &refresh),
                     RP_BYPASS_AUTHORIZATION);
    assert_int_equal(check1("GET", "authorization", "", &rules, &refresh),
                     RP_BYPASS_AUTHORIZATION);
    assert_int_equal(check1("GET", "Proxy-Authorization", "Basic x", &rules, &refresh),
                     RP_BYPASS_AUTHORIZATION);
    assert_int_equal(check1("GET", "Cookie", "sid=1", &rules, &refresh), RP_BYPASS_COOKIE);
    assert_int_equal(check1("GET", "Cookie", "_ga=1; consent=yes", &rules, &refresh),
                     RP_BYPASS_NONE);
    assert_int_equal(check1("GET", "Cache-Control", "no-cache", &rules, &refresh),
                     RP_BYPASS_NO_CACHE);
    assert_int_equal(refresh, 1);
    assert_int_equal(check1("GET", "Cache-Control", "max-age=0", &rules, &refresh),
                     RP_BYPASS_NONE);
    assert_int_equal(refresh, 0);
    assert_int_equal(check1("GET", "Pragma", "no-cache", &rules, &refresh), RP_BYPASS_NO_CACHE);
    assert_int_equal(refresh, 1);
    /* an unreadable Cache-Control is not served, nor a refresh */
    assert_int_equal(check1("GET", "Cache-Control", "max-age=0 no-cache", &rules, &refresh),
                     RP_BYPASS_NO_CACHE);
    assert_int_equal(refresh, 1);
    assert_int_equal(check1("GET", "Cache-Control", "\"x", &rules, &refresh),
                     RP_BYPASS_NO_CACHE);
    assert_int_equal(refresh, 0);
    assert_int_equal(check1("GET", "Range", "bytes=0-10", &rules, &refresh), RP_BYPASS_RANGE);
    assert_int_equal(refresh, 0);
    assert_int_equal(check1("GET", "If-Range", "\"e\"", &rules, &refresh), RP_BYPASS_RANGE);
    /* a body the backend reads and the key cannot */
    assert_int_equal(check1("GET", "Content-Length", "5", &rules, &refresh), RP_BYPASS_BODY);
    assert_int_equal(check1("HEAD", "Transfer-Encoding", "chunked", &rules, &refresh),
                     RP_BYPASS_BODY);
    assert_int_equal(check1("GET", "Content-Length", "0", &rules, &refresh), RP_BYPASS_NONE);
    assert_int_equal(check1("GET", "Content-Length", " 000 ", &rules, &refresh), RP_BYPASS_NONE);
    /* a tunnel is not a page (WebSocket, h2c) */
    assert_int_equal(check1("GET", "Upgrade", "websocket", &rules, &refresh), RP_BYPASS_METHOD);
    /* refresh may be NULL */
    assert_int_equal(check1("GET", "Pragma", "no-cache", &rules, NULL), RP_BYPASS_NO_CACHE);
    /* no headers at all: no Host */
    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    assert_int_equal(rp_request_verdict(&rq, NULL, NULL), RP_BYPASS_HOST);
    assert_int_equal(rp_request_verdict(NULL, NULL, NULL), RP_BYPASS_METHOD);
    /* Apache authenticated the user (r->user, a client certificate):
     * personal, whatever headers a later module removed */
    memset(&h, 0, sizeof(h));
    h.names[0] = "Host";
    h.values[0] = "example.test";
    rq.get = hdr_get;
    rq.baton = &h;
    rq.hostname = "example.test";
    rq.default_port = 80;
    assert_int_equal(rp_request_verdict(&rq, NULL, NULL), RP_BYPASS_NONE);
    rq.authenticated = 1;
    assert_int_equal(rp_request_verdict(&rq, NULL, NULL), RP_BYPASS_AUTHORIZATION);
}

static void test_bypass_host(void **state)
{
    static const struct {
        const char *raw, *hostname;
        unsigned port, default_port;
        rp_bypass_t want;
    } cases[] = {
        { "www.example.test", "www.example.test", 0, 80, RP_BYPASS_NONE },
        { "www.example.test:8080", "www.example.test", 8080, 80, RP_BYPASS_NONE },
        { "[::1]:8443", "::1", 8443, 443, RP_BYPASS_NONE },
        { "[::1]", "::1", 0, 80, RP_BYPASS_NONE },
        /* every width of a port */
        { "h.test:1", "h.test", 1, 80, RP_BYPASS_NONE },
        { "h.test:9", "h.test", 9, 80, RP_BYPASS_NONE },
        { "h.test:10", "h.test", 10, 80, RP_BYPASS_NONE },
        { "h.test:100", "h.test", 100, 80, RP_BYPASS_NONE },
        { "h.test:1000", "h.test", 1000, 80, RP_BYPASS_NONE },
        { "h.test:65535", "h.test", 65535, 80, RP_BYPASS_NONE },
        { "h.test:6553", "h.test", 65535, 80, RP_BYPASS_HOST },
        { "h.test:655350", "h.test", 65535, 80, RP_BYPASS_HOST },
        { "h.test:65536", "h.test", 65536, 80, RP_BYPASS_HOST },
        { "h.test:10", "h.test", 1, 80, RP_BYPASS_HOST },
        /* spellings Apache normalised: the backend sees the raw one */
        { "WWW.Example.TEST", "www.example.test", 0, 80, RP_BYPASS_HOST },
        { "www.example.test.", "www.example.test", 0, 80, RP_BYPASS_HOST },
        { "www.example.test:080", "www.example.test", 80, 80, RP_BYPASS_HOST },
        { "www.example.test:08080", "www.example.test", 8080, 80, RP_BYPASS_HOST },
        /* the default port named: "h" and "h:80" would share one key */
        { "www.example.test:80", "www.example.test", 80, 80, RP_BYPASS_HOST },
        { "www.example.test:443", "www.example.test", 443, 443, RP_BYPASS_HOST },
        { "::1", "::1", 0, 80, RP_BYPASS_HOST },
        { "[::1]x", "::1", 0, 80, RP_BYPASS_HOST },
        { "www.example.test:8080x", "www.example.test", 8080, 80, RP_BYPASS_HOST },
        { "a.test, b.test", "a.test", 0, 80, RP_BYPASS_HOST },
        { "www.example.test", NULL, 0, 80, RP_BYPASS_HOST },
        { "", "", 0, 80, RP_BYPASS_HOST },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hdrs_t h;
        rp_request_t rq;

        memset(&h, 0, sizeof(h));
        h.names[0] = "Host";
        h.values[0] = cases[i].raw;
        memset(&rq, 0, sizeof(rq));
        rq.method = "GET";
        rq.get = hdr_get;
        rq.baton = &h;
        rq.hostname = cases[i].hostname;
        rq.host_port = cases[i].port;
        rq.default_port = cases[i].default_port;
        if (rp_request_verdict(&rq, NULL, NULL) != cases[i].want) {
            fail_msg("Host '%s' (%s:%u): want %s", cases[i].raw,
                     cases[i].hostname ? cases[i].hostname : "NULL", cases[i].port,
                     rp_bypass_name(cases[i].want));
        }
    }
    /* no Host header at all */
    {
        hdrs_t h;

        memset(&h, 0, sizeof(h));
        assert_int_equal(verdict_by_get(&h, NULL), RP_BYPASS_HOST);
    }
}

static void test_unkeyed_spelling(void **state)
{
    (void)state;
    assert_true(rp_unkeyed_spelling("X_Forwarded_Host"));
    assert_true(rp_unkeyed_spelling("x_forwarded-proto"));
    assert_true(rp_unkeyed_spelling("X_Original_URL"));
    assert_true(rp_unkeyed_spelling("X_HTTP_Method_Override"));
    /* the real names are checked by rp_request_verdict itself */
    assert_false(rp_unkeyed_spelling("X-Forwarded-Host"));
    assert_false(rp_unkeyed_spelling("Forwarded"));
    assert_false(rp_unkeyed_spelling("X_Forwarded_Hosts"));
    assert_false(rp_unkeyed_spelling("X_Forwarded"));
    assert_false(rp_unkeyed_spelling("My_Header"));
    assert_false(rp_unkeyed_spelling(NULL));
    assert_true(rp_override_header("x-http-method-override"));
    assert_true(rp_override_header("X-Forwarded-Prefix"));
    assert_false(rp_override_header("X-Forwarded-For"));
    assert_false(rp_override_header(NULL));
}

static void test_bypass_unkeyed(void **state)
{
    static const char *unkeyed[] = { "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded",
                                     "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Scheme",
                                     "X-Forwarded-Ssl", "X-Forwarded-Port", "X-Forwarded-Prefix",
                                     "X-Host", "X-HTTP-Method-Override", "X-Method-Override",
                                     "X-HTTP-Method", "x-original-host", "Front-End-Https" };
    static const char *vary_all[] = { "x-forwarded-host", "X-FORWARDED-PROTO", "forwarded",
                                      "X-Original-Url", "x-rewrite-url", "X-Forwarded-Scheme",
                                      "X-Forwarded-Ssl", "X-Forwarded-Port", "X-Forwarded-Prefix",
                                      "X-Host", "X-HTTP-Method-Override", "X-Method-Override",
                                      "X-HTTP-Method", "x-original-host", "Front-End-Https" };
    rp_request_rules_t none = { NULL, 0, NULL, 0 };
    rp_request_rules_t all = { NULL, 0, vary_all, 15 };
    rp_request_rules_t other = { NULL, 0, vary_all + 1, 1 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(unkeyed) / sizeof(unkeyed[0]); i++) {
        assert_int_equal(check1("GET", unkeyed[i], "evil", &none, NULL),
                         RP_BYPASS_UNKEYED_HEADER);
        assert_int_equal(check1("GET", unkeyed[i], "evil", NULL, NULL),
                         RP_BYPASS_UNKEYED_HEADER);
        /* listed in ReqPerfCacheVary (any case): keyed, so fine */
        assert_int_equal(check1("GET", unkeyed[i], "evil", &all, NULL), RP_BYPASS_NONE);
    }
    /* listing one does not allow another */
    assert_int_equal(check1("GET", "X-Forwarded-Host", "evil", &other, NULL),
                     RP_BYPASS_UNKEYED_HEADER);
    assert_int_equal(check1("GET", "X-Forwarded-Proto", "https", &other, NULL), RP_BYPASS_NONE);
    /* the client's address is not an override */
    assert_int_equal(check1("GET", "X-Forwarded-For", "1.2.3.4", &none, NULL), RP_BYPASS_NONE);
    /* any name with '_': backends fold X_Lang into X-Lang (and CGI, WSGI
     * into HTTP_X_LANG), so the key could not hold what they read */
    assert_int_equal(check1("GET", "X_Lang", "fr", &none, NULL), RP_BYPASS_UNKEYED_HEADER);
    assert_int_equal(check1("GET", "X_Forwarded_Host", "e", &all, NULL),
                     RP_BYPASS_UNKEYED_HEADER);
    /* Connection naming a header: a proxy drops it, the key would not */
    assert_int_equal(check1("GET", "Connection", "X-Lang", &none, NULL),
                     RP_BYPASS_UNKEYED_HEADER);
    assert_int_equal(check1("GET", "Connection", "keep-alive, x-lang", &none, NULL),
                     RP_BYPASS_UNKEYED_HEADER);
    assert_int_equal(check1("GET", "Connection", "keep-alive", &none, NULL), RP_BYPASS_NONE);
    assert_int_equal(check1("GET", "Connection", "Close", &none, NULL), RP_BYPASS_NONE);
    assert_int_equal(check1("GET", "Connection", "Upgrade, HTTP2-Settings", &none, NULL),
                     RP_BYPASS_NONE);
    assert_int_equal(check1("GET", "Connection", " , ", &none, NULL), RP_BYPASS_NONE);
}

/* The override check reads the names a request carried when it has them,
 * else asks get() for each override header: both give the same verdict
 * for every override header in any case, listed in ReqPerfCacheVary or
 * not, among other headers. */
static void test_override_by_names_or_get_agree(void **state)
{
    static const char *spellings[] = { "X-Forwarded-Host", "x-forwarded-host",
                                       "X-FORWARDED-PROTO", "forwarded", "X-ProxyUser-Ip",
                                       "x-envoy-original-path", "X-Url-Scheme", "front-end-https",
                                       "X-Forwarded-For", "X-Lang", "Accept" };
    static const char *vary[] = { "X-Forwarded-Proto", "x-url-scheme" };
    rp_request_rules_t none = { NULL, 0, NULL, 0 };
    rp_request_rules_t some = { NULL, 0, vary, 2 };
    const rp_request_rules_t *rules[] = { &none, &some, NULL };
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        for (j = 0; j < 3; j++) {
            hdrs_t h;
            rp_bypass_t by_names, by_get;

            memset(&h, 0, sizeof(h));
            h.names[0] = "Accept-Encoding";
            h.values[0] = "gzip";
            h.names[1] = spellings[i];
            h.values[1] = "v";
            h.names[2] = "Host";        /* both verdicts see the same Host */
            h.values[2] = "example.test";
            by_names = verdict("GET", &h, rules[j], NULL);
            by_get = verdict_by_get(&h, rules[j]);
            assert_int_equal(by_names, by_get);
            assert_int_equal(by_names,
                             rp_override_header(spellings[i])
                             && !(j == 1 && (strcasecmp(spellings[i], "X-Forwarded-Proto") == 0
                                             || strcasecmp(spellings[i], "x-url-scheme") == 0))
                             ? RP_BYPASS_UNKEYED_HEADER : RP_BYPASS_NONE);
        }
    }
}

static void test_bypass_order(void **state)
{
    hdrs_t h;
    int refresh = -1;

    (void)state;
    memset(&h, 0, sizeof(h));
    h.names[0] = "Range";           h.values[0] = "bytes=0-1";
    h.names[1] = "Pragma";          h.values[1] = "no-cache";
    h.names[2] = "Forwarded";       h.values[2] = "host=evil";
    h.names[3] = "Host";            h.values[3] = "EXAMPLE.test";
    h.names[4] = "Content-Length";  h.values[4] = "3";
    h.names[5] = "Cookie";          h.values[5] = "sid=1";
    h.names[6] = "Authorization";   h.values[6] = "Bearer x";
    assert_int_equal(verdict("POST", &h, NULL, &refresh), RP_BYPASS_METHOD);
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_AUTHORIZATION);
    h.names[6] = "X-None";
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_COOKIE);
    h.names[5] = "X-None";
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_BODY);
    h.names[4] = "X-None";
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_HOST);
    h.values[3] = "example.test";
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_UNKEYED_HEADER);
    assert_int_equal(refresh, 0);
    h.names[2] = "X-None";
    /* Range before no-cache: a ranged refresh would replace a good entry
     * with an answer that cannot be stored */
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_RANGE);
    assert_int_equal(refresh, 0);
    h.names[0] = "X-None";
    assert_int_equal(verdict("GET", &h, NULL, &refresh), RP_BYPASS_NO_CACHE);
    assert_int_equal(refresh, 1);
}

static void test_bypass_names(void **state)
{
    (void)state;
    assert_string_equal(rp_bypass_name(RP_BYPASS_METHOD), "method");
    assert_string_equal(rp_bypass_name(RP_BYPASS_AUTHORIZATION), "auth");
    assert_string_equal(rp_bypass_name(RP_BYPASS_COOKIE), "cookie");
    assert_string_equal(rp_bypass_name(RP_BYPASS_NO_CACHE), "no-cache");
    assert_string_equal(rp_bypass_name(RP_BYPASS_UNKEYED_HEADER), "unkeyed-header");
    assert_string_equal(rp_bypass_name(RP_BYPASS_RANGE), "range");
    assert_string_equal(rp_bypass_name(RP_BYPASS_BODY), "body");
    assert_string_equal(rp_bypass_name(RP_BYPASS_HOST), "host");
    assert_string_equal(rp_bypass_name(RP_BYPASS_NONE), "none");
    assert_non_null(rp_bypass_name((rp_bypass_t)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_freshness_precedence),
        RP_TEST(test_storable_statuses),
        RP_TEST(test_storable_reasons),
        RP_TEST(test_storable_vary),
        RP_TEST(test_storable_expired),
        RP_TEST(test_verdict_facts),
        RP_TEST(test_nostore_names),
        RP_TEST(test_pass_only_for_the_page),
        RP_TEST(test_age),
        RP_TEST(test_bypass_each_reason),
        RP_TEST(test_unkeyed_spelling),
        RP_TEST(test_bypass_unkeyed),
        RP_TEST(test_override_by_names_or_get_agree),
        RP_TEST(test_bypass_host),
        RP_TEST(test_bypass_order),
        RP_TEST(test_bypass_names),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}

