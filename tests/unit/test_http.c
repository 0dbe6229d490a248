/*
 * test_http.c: the header grammars of cache/rp_http.c: Cache-Control, HTTP
 * dates, Age, Vary, Connection, cookies and tags. What the rules make of
 * them is tested in test_rules.c.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "cache/rp_http.h"

/* ---- Cache-Control ---- */

static void test_cc_basic(void **state)
{
    rp_cc_t cc;

    (void)state;
    rp_cc_parse(NULL, &cc);
    assert_false(cc.no_store || cc.no_cache || cc.private_ || cc.public_ || cc.must_revalidate);
    assert_true(cc.max_age == -1 && cc.s_maxage == -1);
    rp_cc_parse("", &cc);
    assert_true(cc.max_age == -1 && cc.s_maxage == -1);

    rp_cc_parse("public, max-age=60, s-maxage=120, must-revalidate", &cc);
    assert_true(cc.public_ && cc.must_revalidate);
    assert_false(cc.no_store || cc.no_cache || cc.private_);
    assert_int_equal(cc.max_age, 60);
    assert_int_equal(cc.s_maxage, 120);

    rp_cc_parse("NO-STORE", &cc);
    assert_true(cc.no_store);
    rp_cc_parse("No-Cache", &cc);
    assert_true(cc.no_cache);
    rp_cc_parse("PRIVATE", &cc);
    assert_true(cc.private_);
    rp_cc_parse("Max-Age=5", &cc);
    assert_int_equal(cc.max_age, 5);
    rp_cc_parse("  ,, max-age = 7 ,,  ", &cc);
    assert_int_equal(cc.max_age, 7);
    rp_cc_parse("max-age=\"30\"", &cc);
    assert_int_equal(cc.max_age, 30);
    /* near misses are other directives */
    rp_cc_parse("no-stored, xprivate, no-cachex, max-ages=3", &cc);
    assert_false(cc.no_store || cc.private_ || cc.no_cache);
    assert_int_equal(cc.max_age, -1);
}

static void test_cc_quoted(void **state)
{
    rp_cc_t cc;

    (void)state;
    /* field-qualified forms count as the plain directive (conservative) */
    rp_cc_parse("no-cache=\"Set-Cookie\"", &cc);
    assert_true(cc.no_cache);
    rp_cc_parse("private=\"X-A, X-B\", max-age=10", &cc);
    assert_true(cc.private_);
    assert_int_equal(cc.max_age, 10);
    /* commas inside quotes do not split */
    rp_cc_parse("ext=\"a, no-store, b\", max-age=10", &cc);
    assert_false(cc.no_store);
    assert_int_equal(cc.max_age, 10);
    rp_cc_parse("ext=\"a \\\" , no-store\", public", &cc);
    assert_false(cc.no_store);
    assert_true(cc.public_);
    /* unterminated quote: the rest is its content */
    rp_cc_parse("ext=\"a, no-store", &cc);
    assert_false(cc.no_store);
    /* garbage after a value up to the next comma is ignored */
    rp_cc_parse("max-age=10 junk \"x,y\", no-store", &cc);
    assert_int_equal(cc.max_age, 10);
    assert_true(cc.no_store);
}

static void test_cc_bad_values(void **state)
{
    /* a value we cannot read is 0 (never fresh longer than meant), a huge
     * one the longest we believe, a repeated one the smallest */
    static const struct {
        const char *value;
        int64_t max_age, s_maxage;      /* -1: absent */
    } cases[] = {
        { "max-age=-5", 0, -1 },
        { "max-age=abc", 0, -1 },
        { "max-age=", 0, -1 },
        { "max-age", 0, -1 },
        { "max-age=1.5", 0, -1 },
        { "max-age=+5", 0, -1 },
        { "s-maxage=x", -1, 0 },
        { "max-age=99999999999999999999999999999", RP_MAX_FRESHNESS_S, -1 },
        { "max-age=315360001", RP_MAX_FRESHNESS_S, -1 },
        { "max-age=315360000", 315360000, -1 },
        { "max-age=60, max-age=10, max-age=30", 10, -1 },
        { "max-age=60, max-age=oops", 0, -1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rp_cc_t cc;

        rp_cc_parse(cases[i].value, &cc);
        if (cc.max_age != cases[i].max_age || cc.s_maxage != cases[i].s_maxage) {
            fail_msg("\"%s\": max-age %lld s-maxage %lld", cases[i].value,
                     (long long)cc.max_age, (long long)cc.s_maxage);
        }
    }
}

static void test_cc_directive_limit(void **state)
{
    apr_pool_t *p = *state;
    char *v = apr_pstrdup(p, "");
    rp_cc_t cc;
    int i;

    for (i = 0; i < RP_CC_MAX_DIRECTIVES - 1; i++) {
        v = apr_pstrcat(p, v, "x, ", NULL);
    }
    rp_cc_parse(apr_pstrcat(p, v, "no-store", NULL), &cc);
    assert_true(cc.no_store);       /* 64 directives: fine */
    assert_false(cc.invalid);
    /* more: invalid (not storable), and what follows is still read, so
     * "private" after 64 directives is never lost */
    rp_cc_parse(apr_pstrcat(p, v, "x, private", NULL), &cc);
    assert_true(cc.invalid);
    assert_true(cc.private_);
}

static void test_cc_fails_closed(void **state)
{
    static const char *bad[] = {
        "public private", "max-age=60 no-store", "max-age=", "private=\"x",
        "max-age=\"60", "pub(lic)", "=60", "max-age=6\"0\"", "public; max-age=60",
        "no-cache\"", "max-age=60,,\"", "x=\"a\" b",
    };
    static const char *good[] = {
        "public, max-age=60", " no-cache ", "private=\"a, b\"", "max-age = 60",
        "x=\"a\\\"b\", public", "", ",,", "stale-if-error=5, stale-while-revalidate=10",
    };
    rp_cc_t cc;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_cc_parse(bad[i], &cc);
        if (!cc.invalid) {
            fail_msg("Cache-Control '%s' read as valid", bad[i]);
        }
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        rp_cc_parse(good[i], &cc);
        if (cc.invalid) {
            fail_msg("Cache-Control '%s' read as invalid", good[i]);
        }
    }
    /* junk around a directive never hides it: both words are read */
    rp_cc_parse("public private", &cc);
    assert_true(cc.public_ && cc.private_ && cc.invalid);
    rp_cc_parse("max-age=60 no-store", &cc);
    assert_true(cc.max_age == 60 && cc.no_store && cc.invalid);
    rp_cc_parse("stale-if-error=5, stale-while-revalidate=10", &cc);
    assert_true(cc.stale_if_error == 5 && cc.stale_while_revalidate == 10 && !cc.invalid);
}

/* ---- dates ---- */

static void test_dates(void **state)
{
    (void)state;
    assert_true(rp_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
    assert_true(rp_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);
    assert_true(rp_http_date_parse("Sun Nov  6 08:49:37 1994") == 784111777);
    assert_true(rp_http_date_parse("Sun Nov 06 08:49:37 1994") == 784111777);
    assert_true(rp_http_date_parse("  Sun, 06 Nov 1994 08:49:37 GMT\t") == 784111777);
    assert_true(rp_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    assert_true(rp_http_date_parse("Thu, 01 Jan 1970 00:00:01 GMT") == 1);
    assert_true(rp_http_date_parse("Tue, 29 Feb 2000 12:00:00 GMT") == 951825600);
    assert_true(rp_http_date_parse("Fri, 31 Dec 9999 23:59:59 GMT") == 253402300799LL);
    assert_true(rp_http_date_parse("Thursday, 01-Jan-70 00:00:00 GMT") == 0);
    assert_true(rp_http_date_parse("Monday, 01-Jan-01 00:00:00 GMT") == 978307200);
    /* before the epoch: valid, in the past */
    assert_true(rp_http_date_parse("Mon, 01 Jan 1900 00:00:00 GMT") == 0);
}

static void test_dates_invalid(void **state)
{
    static const char *bad[] = {
        NULL, "", "0", "-1", "tomorrow",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Sun, 00 Jan 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 31 Apr 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06 Nov 19a4 08:49:37 GMT",
        "Sun, 06 Xxx 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 06 Nov 1994 08:49:37 GMT                                   x",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  x 08:49:37 1994",
        "Sun Xov  6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 ",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = rp_http_date_parse(bad[i]);

        /* the last one has a trailing space, which is trimmed: valid */
        if (i == sizeof(bad) / sizeof(bad[0]) - 1) {
            assert_true(t == 784111777);
            continue;
        }
        if (t != -1) {
            fail_msg("accepted bad date %zu '%s'", i, bad[i] ? bad[i] : "(null)");
        }
    }
}

/* ---- Age ---- */

static void test_age_parse(void **state)
{
    (void)state;
    assert_int_equal(rp_age_parse(NULL), 0);
    assert_int_equal(rp_age_parse("59"), 59);
    assert_int_equal(rp_age_parse(" 7 "), 7);
    assert_int_equal(rp_age_parse("-3"), 0);
    assert_int_equal(rp_age_parse("1e3"), 0);
    assert_int_equal(rp_age_parse("99999999999999999999"), RP_MAX_FRESHNESS_S);
}

/* ---- Vary parsing ---- */

static void test_vary_parse(void **state)
{
    apr_pool_t *p = *state;
    const char **names = (const char **)1;

    assert_int_equal(rp_vary_parse(p, NULL, &names), 0);
    assert_null(names);
    assert_int_equal(rp_vary_parse(p, " , ", &names), 0);
    assert_int_equal(rp_vary_parse(p, "Accept-Language, accept-encoding,ACCEPT-language", &names), 2);
    assert_string_equal(names[0], "accept-encoding");
    assert_string_equal(names[1], "accept-language");
    assert_null(names[2]);
    assert_int_equal(rp_vary_parse(p, "b, a, c, Cookie", &names), 4);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[3], "cookie");
    assert_int_equal(rp_vary_parse(p, "*", &names), -1);
    assert_null(names);
    assert_int_equal(rp_vary_parse(p, "a, *", &names), -1);
    assert_int_equal(rp_vary_parse(p, "a b", &names), -1);
    assert_int_equal(rp_vary_parse(p, "a, (b)", &names), -1);
    assert_int_equal(rp_vary_parse(p, "a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,a16",
                                   &names), 16);
    assert_int_equal(rp_vary_parse(p, "a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15,a16,a17",
                                   &names), -1);
}

/* Read in steps, a Vary list is the same list read whole: the store
 * filter adds the server's and the index's names to the response's. */
static void test_vary_steps(void **state)
{
    static const char *const lists[][3] = {
        { "Accept-Language", "accept-encoding, X-A", "x-a" },
        { NULL, "b, a", NULL },
        { "a", "*", "b" },
        { "Cookie", "a b", NULL },
        { "a1,a2,a3,a4,a5,a6,a7,a8", "a9,a10,a11,a12,a13,a14,a15,a16", "A1" },
        { "a1,a2,a3,a4,a5,a6,a7,a8", "a9,a10,a11,a12,a13,a14,a15,a16", "a17" },
    };
    apr_pool_t *p = *state;
    size_t i;
    int k;

    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const char *whole = NULL, **a, **b;
        rp_vary_t v;
        int na, nb;

        rp_vary_init(&v);
        for (k = 0; k < 3; k++) {
            rp_vary_read(&v, lists[i][k]);
            if (lists[i][k] != NULL) {
                whole = whole ? apr_pstrcat(p, whole, ", ", lists[i][k], NULL) : lists[i][k];
            }
        }
        na = rp_vary_names(p, &v, &a);
        nb = rp_vary_parse(p, whole, &b);
        assert_int_equal(na, nb);
        for (k = 0; k < na; k++) {
            assert_string_equal(a[k], b[k]);
        }
    }
    {
        rp_vary_t v;

        rp_vary_init(&v);
        rp_vary_read(&v, "Accept, Cookie");
        rp_vary_read(&v, "x y");
        rp_vary_read(&v, "b");                  /* ignored after a stop */
        assert_int_equal(v.rc, RP_VARY_INVALID);
        assert_true(v.has_private);
        assert_int_equal(v.n, 2);
        rp_vary_init(&v);
        rp_vary_read(&v, "*, Authorization");
        assert_int_equal(v.rc, RP_VARY_STAR);
        assert_false(v.has_private);            /* "*" came first */
    }
}

/* ---- Connection ---- */

static void test_connection(void **state)
{
    /* options a proxy consumes itself name no header; any other token does */
    static const struct {
        const char *value;
        int names_a_header;
    } cases[] = {
        { NULL, 0 }, { "", 0 }, { "close", 0 },
        { " Keep-Alive , upgrade,TE, HTTP2-Settings", 0 },
        { "keep-alive, X-Lang", 1 }, { "cookie", 1 }, { "closed", 1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (rp_connection_names_a_header(cases[i].value) != cases[i].names_a_header) {
            fail_msg("Connection: %s", cases[i].value ? cases[i].value : "(none)");
        }
    }
}

/* ---- cookies ---- */

/* Which cookies make a request personal: the advisor's "Cookie: _ga". */
static void test_cookie_names(void **state)
{
    static const char *ign[] = { "consent" };
    rp_substr_t n[3];

    (void)state;
    assert_int_equal(rp_cookie_personal_names(NULL, ign, 1, n, 3), 0);
    assert_int_equal(rp_cookie_personal_names("consent=1", ign, 1, n, 3), 0);
    assert_int_equal(rp_cookie_personal_names("_ga=1; consent=2; sid=x", ign,
                                              1, n, 3), 2);
    assert_int_equal(n[0].len, 3);
    assert_memory_equal(n[0].s, "_ga", 3);
    assert_int_equal(n[1].len, 3);
    assert_memory_equal(n[1].s, "sid", 3);
    /* more than max: counted, max kept */
    assert_int_equal(rp_cookie_personal_names("a=1; b=2; c=3; d=4", NULL, 0, n,
                                              3), 4);
    assert_memory_equal(n[2].s, "c", 1);
    /* not the grammar: personal as a whole, no name */
    assert_int_equal(rp_cookie_personal_names("_ga=1; garbage", ign, 1, n, 3),
                     -1);
    assert_int_equal(rp_cookie_personal_names("sid=1, x=2", ign, 1, n, 3), -1);
    /* the same verdict as rp_cookie_is_personal, names asked or not */
    assert_int_equal(rp_cookie_personal_names("sid=1", NULL, 0, NULL, 0), 1);
    assert_int_equal(rp_cookie_personal_names("consent=1", ign, 1, NULL, 0), 0);
}


/* The values an answer must not hold (rp_cookie_values). */
static void test_cookie_values(void **state)
{
    rp_substr_t v[4];
    int n;

    (void)state;
    n = rp_cookie_values(" _ga=GA1.2.3 ; _gid=\"q v\";flag; x=", v, 4);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].len, 7);
    assert_memory_equal(v[0].s, "GA1.2.3", 7);
    assert_int_equal(v[1].len, 3);             /* quotes taken off */
    assert_memory_equal(v[1].s, "q v", 3);
    assert_int_equal(v[2].len, 0);
    assert_int_equal(rp_cookie_values("a=1;b=2;c=3", v, 2), 2);
    assert_int_equal(rp_cookie_values(NULL, v, 4), 0);
    assert_int_equal(rp_cookie_values("a=1", NULL, 4), 0);
    assert_int_equal(rp_cookie_values(";;", v, 4), 0);
}

static void test_cookies(void **state)
{
    apr_pool_t *p = *state;
    static const char *ign[] = { "_ga*", "consent", "*_pref" };
    char *many;
    int i;

    (void)p;
    assert_false(rp_cookie_is_personal(NULL, ign, 3));
    assert_false(rp_cookie_is_personal("", ign, 3));
    assert_false(rp_cookie_is_personal(" ; ; ", ign, 3));
    assert_false(rp_cookie_is_personal("_ga=GA1.2.3", ign, 3));
    assert_false(rp_cookie_is_personal("_ga=1; _gat=2;consent=yes ; theme_pref=dark", ign, 3));
    assert_false(rp_cookie_is_personal("_ga=1;consent=", ign, 3));
    assert_false(rp_cookie_is_personal("consent=\"yes\"", ign, 3));
    assert_false(rp_cookie_is_personal("_ga=a|b(c)d:e/f=g", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=1; sid=abc", ign, 3));
    assert_true(rp_cookie_is_personal("sid=abc", ign, 3));
    assert_true(rp_cookie_is_personal("sid=abc", NULL, 0));
    assert_true(rp_cookie_is_personal("_ga=1", NULL, 3));
    assert_true(rp_cookie_is_personal("Consent=yes", ign, 3));     /* names are case-sensitive */
    assert_true(rp_cookie_is_personal("consentx=yes", ign, 3));
    /* malformed pieces count as personal */
    assert_true(rp_cookie_is_personal("_ga=1; garbage", ign, 3));
    assert_true(rp_cookie_is_personal("=value", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=1;  =x", ign, 3));
    assert_true(rp_cookie_is_personal("consent", ign, 3));
    /* what other parsers read another way is personal: Python's
     * SimpleCookie finds "session" in the first, others split on ',' */
    assert_true(rp_cookie_is_personal("_ga=1 session=mallory", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=1\tsession=mallory", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=1,session=mallory", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=1, consent=yes", ign, 3));
    assert_true(rp_cookie_is_personal("_ga = 1", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=\"1", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=1\"", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=a\\b", ign, 3));
    assert_true(rp_cookie_is_personal("_ga=caf\xc3\xa9", ign, 3));
    assert_true(rp_cookie_is_personal("_g a=1", ign, 3));
    assert_true(rp_cookie_is_personal("_ga(x)=1", ign, 3));
    /* an ignore-everything pattern still sees malformed pieces */
    {
        static const char *all[] = { "*" };

        assert_false(rp_cookie_is_personal("a=1; b=2", all, 1));
        assert_true(rp_cookie_is_personal("a=1; b", all, 1));
        assert_true(rp_cookie_is_personal("a=1; =x", all, 1));     /* "*" matches "", still malformed */
        assert_true(rp_cookie_is_personal(" = x", all, 1));
        assert_true(rp_cookie_is_personal("a=1 b=2", all, 1));
    }
    /* piece limit */
    many = apr_pstrdup(p, "");
    for (i = 0; i < RP_COOKIE_MAX_PIECES; i++) {
        many = apr_pstrcat(p, many, "_ga=1; ", NULL);
    }
    assert_false(rp_cookie_is_personal(many, ign, 3));
    assert_true(rp_cookie_is_personal(apr_pstrcat(p, many, "_ga=1", NULL), ign, 3));
}

/* ---- tags ---- */

static void test_tags(void **state)
{
    apr_pool_t *p = *state;
    const char **tags = (const char **)1;
    int dropped = -1;
    char *big, *long_tag;
    int i;

    assert_int_equal(rp_tags_parse(p, NULL, &tags, &dropped), 0);
    assert_null(tags);
    assert_int_equal(dropped, 0);
    assert_int_equal(rp_tags_parse(p, "  , ,", &tags, &dropped), 0);
    assert_null(tags);
    assert_int_equal(rp_tags_parse(p, "invoice-123 customer-7", &tags, &dropped), 2);
    assert_string_equal(tags[0], "invoice-123");
    assert_string_equal(tags[1], "customer-7");
    assert_null(tags[2]);
    assert_int_equal(dropped, 0);
    assert_int_equal(rp_tags_parse(p, "a,b, c ,\td", &tags, &dropped), 4);
    assert_string_equal(tags[3], "d");
    /* duplicates kept once, not counted as dropped; case matters */
    assert_int_equal(rp_tags_parse(p, "a b a A a", &tags, &dropped), 3);
    assert_string_equal(tags[2], "A");
    assert_int_equal(dropped, 0);
    /* bad bytes and long tags dropped and counted */
    assert_int_equal(rp_tags_parse(p, "ok \x01x caf\xc3\xa9 x\x7f ok2", &tags, &dropped), 2);
    assert_string_equal(tags[1], "ok2");
    assert_int_equal(dropped, 3);
    long_tag = apr_palloc(p, RP_ENTRY_MAX_TAG_LEN + 2);
    memset(long_tag, 't', RP_ENTRY_MAX_TAG_LEN + 1);
    long_tag[RP_ENTRY_MAX_TAG_LEN + 1] = '\0';
    assert_int_equal(rp_tags_parse(p, long_tag, &tags, &dropped), 0);
    assert_int_equal(dropped, 1);
    long_tag[RP_ENTRY_MAX_TAG_LEN] = '\0';
    assert_int_equal(rp_tags_parse(p, long_tag, &tags, &dropped), 1);
    assert_int_equal(strlen(tags[0]), RP_ENTRY_MAX_TAG_LEN);
    /* at most RP_ENTRY_MAX_TAGS kept, the rest counted; repeats after the limit are not "dropped" */
    big = apr_pstrdup(p, "");
    for (i = 0; i < RP_ENTRY_MAX_TAGS + 4; i++) {
        big = apr_psprintf(p, "%s t%d", big, i);
    }
    big = apr_pstrcat(p, big, " t0", NULL);
    assert_int_equal(rp_tags_parse(p, big, &tags, &dropped), RP_ENTRY_MAX_TAGS);
    assert_int_equal(dropped, 4);
    assert_string_equal(tags[0], "t0");
    assert_string_equal(tags[RP_ENTRY_MAX_TAGS - 1],
                        apr_psprintf(p, "t%d", RP_ENTRY_MAX_TAGS - 1));
    assert_null(tags[RP_ENTRY_MAX_TAGS]);
    /* dropped may be NULL */
    assert_int_equal(rp_tags_parse(p, "a \x01", &tags, NULL), 1);
    /* one definition of a tag, for the store and for a purge */
    assert_true(rp_tag_ok("invoice-123", 11));
    assert_false(rp_tag_ok("", 0));
    assert_false(rp_tag_ok("a,b", 3));
    assert_false(rp_tag_ok("a b", 3));
    assert_false(rp_tag_ok("caf\xc3\xa9", 5));
    memset(long_tag, 't', RP_ENTRY_MAX_TAG_LEN + 1);
    assert_true(rp_tag_ok(long_tag, RP_ENTRY_MAX_TAG_LEN));
    assert_false(rp_tag_ok(long_tag, RP_ENTRY_MAX_TAG_LEN + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_cc_basic),
        RP_TEST(test_cc_quoted),
        RP_TEST(test_cc_bad_values),
        RP_TEST(test_cc_directive_limit),
        RP_TEST(test_cc_fails_closed),
        RP_TEST(test_dates),
        RP_TEST(test_dates_invalid),
        RP_TEST(test_age_parse),
        RP_TEST(test_vary_parse),
        RP_TEST(test_vary_steps),
        RP_TEST(test_connection),
        RP_TEST(test_cookies),
        RP_TEST(test_cookie_values),
        RP_TEST(test_cookie_names),
        RP_TEST(test_tags),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
