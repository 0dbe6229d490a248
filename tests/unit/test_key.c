/*
 * test_key.c: cache key building and hashing. The properties that matter are
 * that equivalent requests share a key (ignored parameters, parameter order,
 * host case) and that different ones never do (absent vs empty vary values,
 * order of equal names, ambiguous parts refused).
 */
#include <string.h>

#include <apr_strings.h>
#include <xxhash.h>

#include "rp_test.h"
#include "cache/rp_glob.h"
#include "cache/rp_key.h"

static const char *UTM[] = { "utm_*", "fbclid" };

static char *key_of(apr_pool_t *p, const char *query, const char *const *ignore, int n_ignore)
{
    rp_url_t u = { "http", "example.com", 80, "/p", query, ignore, n_ignore, NULL };

    return rp_key_url(p, &u);
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(rp_glob_match("utm_*", "utm_source", 10));
    assert_true(rp_glob_match("utm_*", "utm_", 4));
    assert_false(rp_glob_match("utm_*", "utm", 3));
    assert_false(rp_glob_match("utm_*", "UTM_source", 10));
    assert_true(rp_glob_match("*", "", 0));
    assert_true(rp_glob_match("", "", 0));
    assert_false(rp_glob_match("", "a", 1));
    assert_true(rp_glob_match("a*b*c", "aXbYc", 5));
    assert_true(rp_glob_match("a*b*c", "abc", 3));
    assert_false(rp_glob_match("a*b*c", "acb", 3));
    assert_true(rp_glob_match("*_ga", "x_ga", 4));
    assert_false(rp_glob_match("*_ga", "x_gax", 5));
    assert_true(rp_glob_match("**a**", "bab", 3));
    assert_true(rp_glob_match("a?b", "a?b", 3));   /* '?' is literal */
    assert_false(rp_glob_match("a?b", "axb", 3));
    assert_true(rp_glob_match("ab", "abc", 2));     /* slen bounds the subject */
    assert_true(rp_glob_match("a*", "a\0b", 3));    /* NUL bytes in the subject */
    assert_false(rp_glob_match("ab", "a\0b", 3));
    assert_false(rp_glob_match(NULL, "a", 1));
    assert_false(rp_glob_match("a", NULL, 1));
}

static void test_glob_no_blowup(void **state)
{
    apr_pool_t *p = *state;
    char *subject = apr_palloc(p, 20001);
    char *pattern = apr_palloc(p, 200);
    int i;

    memset(subject, 'a', 20000);
    subject[20000] = '\0';
    for (i = 0; i < 99; i++) {
        pattern[2 * i] = '*';
        pattern[2 * i + 1] = 'a';
    }
    pattern[198] = 'b';
    pattern[199] = '\0';
    /* exponential matchers never finish this one */
    assert_false(rp_glob_match(pattern, subject, 20000));
}

static void test_url_basic(void **state)
{
    apr_pool_t *p = *state;
    rp_url_t u = { "HTTPS", "Example.COM", 8443, "/A/b%2F", NULL, NULL, 0, NULL };

    assert_string_equal(rp_key_url(p, &u), "https://example.com:8443/A/b%2F");
    u.query = "";
    assert_string_equal(rp_key_url(p, &u), "https://example.com:8443/A/b%2F");
    u.query = "&&&";
    assert_string_equal(rp_key_url(p, &u), "https://example.com:8443/A/b%2F");
    u.query = "x=%2F+y";
    assert_string_equal(rp_key_url(p, &u), "https://example.com:8443/A/b%2F?x=%2F+y");
    u.host = "[::1]";
    u.query = NULL;
    assert_string_equal(rp_key_url(p, &u), "https://[::1]:8443/A/b%2F");
}

static void test_url_ignore_query(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(key_of(p, "b=2&utm_source=x&a=1&utm_medium=y&fbclid=9", UTM, 2),
                        "http://example.com:80/p?a=1&b=2");
    assert_string_equal(key_of(p, "utm_source=x&utm_campaign", UTM, 2),
                        "http://example.com:80/p");
    /* a piece holding ';' stays keyed: a backend splitting on ';' would
     * see id=evil in it (parameter cloaking) */
    assert_string_equal(key_of(p, "utm_source=1;id=evil&utm_medium=y", UTM, 2),
                        "http://example.com:80/p?utm_source=1;id=evil");
    /* names are matched as received: encoded names are not decoded */
    assert_string_equal(key_of(p, "utm%5Fsource=1", UTM, 2),
                        "http://example.com:80/p?utm%5Fsource=1");
    /* case-sensitive, and only the name counts */
    assert_string_equal(key_of(p, "UTM_source=1&x=utm_a", UTM, 2),
                        "http://example.com:80/p?UTM_source=1&x=utm_a");
    /* without patterns, nothing is dropped */
    assert_string_equal(key_of(p, "utm_source=1", NULL, 0),
                        "http://example.com:80/p?utm_source=1");
    /* the same page whatever the tracking parameters */
    assert_string_equal(key_of(p, "id=7&utm_source=a", UTM, 2),
                        key_of(p, "utm_source=b&id=7", UTM, 2));
}

static void test_url_stable_sort(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(key_of(p, "b=2&a=3&a=1&b=1", NULL, 0),
                        "http://example.com:80/p?a=3&a=1&b=2&b=1");
    /* order of repeated names is meaning: it must not be normalised away */
    assert_string_not_equal(key_of(p, "a=1&a=2", NULL, 0), key_of(p, "a=2&a=1", NULL, 0));
    /* pieces without '=' sort by the whole piece */
    assert_string_equal(key_of(p, "z=1&flag&a", NULL, 0),
                        "http://example.com:80/p?a&flag&z=1");
    /* only the name is the sort key, without case: shorter prefix first */
    assert_string_equal(key_of(p, "a=2&a-b=1&a=1&B=0", NULL, 0),
                        "http://example.com:80/p?a=2&a=1&a-b=1&B=0");
    /* names PHP or ASP.NET read as one keep their order: "a.b" is "a_b"
     * to PHP, "A" is "a" to ASP.NET */
    assert_string_not_equal(key_of(p, "a_b=1&a.b=2", NULL, 0),
                            key_of(p, "a.b=2&a_b=1", NULL, 0));
    assert_string_not_equal(key_of(p, "a=1&A=2", NULL, 0),
                            key_of(p, "A=2&a=1", NULL, 0));
    /* and names PHP reads otherwise than their bytes stay where they were
     * sent: leading spaces dropped, '[' an array (or, unclosed, '_') */
    assert_string_not_equal(key_of(p, "%20a=1&a=2", NULL, 0),
                            key_of(p, "a=2&%20a=1", NULL, 0));
    assert_string_not_equal(key_of(p, "a[b=1&a_b=2", NULL, 0),
                            key_of(p, "a_b=2&a[b=1", NULL, 0));
    assert_string_not_equal(key_of(p, "a[x]=1&a=2", NULL, 0),
                            key_of(p, "a=2&a[x]=1", NULL, 0));
    assert_string_equal(key_of(p, "b=1&a%5Bx%5D=2&a=3", NULL, 0),
                        "http://example.com:80/p?b=1&a%5Bx%5D=2&a=3");
    assert_string_equal(key_of(p, "a=&a", NULL, 0), "http://example.com:80/p?a=&a");
    assert_string_equal(key_of(p, "a&a=", NULL, 0), "http://example.com:80/p?a&a=");
    /* names compare as the backend decodes them: "%61" is "a" and "+" a
     * space, so one parameter's values keep their order whatever its
     * spelling (a backend taking the first value sees 1, then 2) */
    assert_string_not_equal(key_of(p, "a=1&%61=2", NULL, 0),
                            key_of(p, "%61=2&a=1", NULL, 0));
    assert_string_equal(key_of(p, "b=0&%61=2&a=1", NULL, 0),
                        "http://example.com:80/p?%61=2&a=1&b=0");
    assert_string_not_equal(key_of(p, "x+y=1&x%20y=2", NULL, 0),
                            key_of(p, "x%20y=2&x+y=1", NULL, 0));
    /* and so do names other backends read otherwise than their bytes: PHP
     * up to a NUL; Django and parse_qs every byte that is not UTF-8 as
     * U+FFFD; a double decoder "%2561" as "a"; and a piece holding ';',
     * two parameters to CGI.pm, Plack and Rack 2 (sixth review) */
    assert_string_not_equal(key_of(p, "a%00x=1&a=2", NULL, 0),
                            key_of(p, "a=2&a%00x=1", NULL, 0));
    assert_string_not_equal(key_of(p, "%FE=1&%FF=2", NULL, 0),
                            key_of(p, "%FF=2&%FE=1", NULL, 0));
    assert_string_not_equal(key_of(p, "%C3%A9=1&%E9=2", NULL, 0),
                            key_of(p, "%E9=2&%C3%A9=1", NULL, 0));
    assert_string_not_equal(key_of(p, "%2561=1&a=2", NULL, 0),
                            key_of(p, "a=2&%2561=1", NULL, 0));
    assert_string_not_equal(key_of(p, "a=1;lang=en&lang=de", NULL, 0),
                            key_of(p, "lang=de&a=1;lang=en", NULL, 0));
    assert_string_not_equal(key_of(p, "x%01=1&x=2", NULL, 0),
                            key_of(p, "x=2&x%01=1", NULL, 0));
    /* plain names still sort */
    assert_string_equal(key_of(p, "b=1&a=2", NULL, 0),
                        "http://example.com:80/p?a=2&b=1");
    /* a bad escape is its bytes */
    assert_string_equal(key_of(p, "%zz=1&%=2&a=3", NULL, 0),
                        "http://example.com:80/p?%=2&%zz=1&a=3");
}

/* Whether a query holds a piece the key leaves out: the backend sees it,
 * so the answer is not stored (rp_key_query_ignores). */
static void test_query_ignores(void **state)
{
    (void)state;
    assert_int_equal(rp_key_query_ignores("id=7&utm_source=x", UTM, 2), 1);
    assert_int_equal(rp_key_query_ignores("utm_campaign", UTM, 2), 1);
    assert_int_equal(rp_key_query_ignores("id=7&x=utm_a", UTM, 2), 0);
    /* kept in the key, so nothing the key lacks */
    assert_int_equal(rp_key_query_ignores("utm_source=1;id=2", UTM, 2), 0);
    assert_int_equal(rp_key_query_ignores("utm%5Fsource=1", UTM, 2), 0);
    assert_int_equal(rp_key_query_ignores("&&id=1&", UTM, 2), 0);
    assert_int_equal(rp_key_query_ignores("", UTM, 2), 0);
    assert_int_equal(rp_key_query_ignores(NULL, UTM, 2), 0);
    assert_int_equal(rp_key_query_ignores("utm_source=1", NULL, 0), 0);
}

static void test_url_limits(void **state)
{
    apr_pool_t *p = *state;
    char *q = apr_pstrdup(p, "");
    int i;

    for (i = 0; i < RP_KEY_MAX_PARAMS; i++) {
        q = apr_psprintf(p, "%s%sp%d=1", q, i ? "&" : "", i);
    }
    assert_non_null(key_of(p, q, NULL, 0));
    assert_null(key_of(p, apr_pstrcat(p, q, "&one=more", NULL), NULL, 0));
    /* ignored pieces count towards the work bound */
    q = apr_pstrdup(p, "");
    for (i = 0; i < RP_KEY_MAX_QUERY_PIECES; i++) {
        q = apr_pstrcat(p, q, i ? "&" : "", "utm_x", NULL);
    }
    assert_string_equal(key_of(p, q, UTM, 2), "http://example.com:80/p");
    assert_null(key_of(p, apr_pstrcat(p, q, "&utm_y", NULL), UTM, 2));
    /* total length */
    {
        char *long_q = apr_palloc(p, RP_ENTRY_MAX_KEY + 1);

        memset(long_q, 'v', RP_ENTRY_MAX_KEY);
        long_q[0] = 'x';
        long_q[1] = '=';
        long_q[RP_ENTRY_MAX_KEY] = '\0';
        assert_null(key_of(p, long_q, NULL, 0));
        long_q[RP_ENTRY_MAX_KEY - strlen("http://example.com:80/p?")] = '\0';
        assert_non_null(key_of(p, long_q, NULL, 0));
        assert_int_equal(strlen(key_of(p, long_q, NULL, 0)), RP_ENTRY_MAX_KEY);
    }
}

static void test_url_refused(void **state)
{
    apr_pool_t *p = *state;
    rp_url_t good = { "http", "example.com", 80, "/p", "a=1", NULL, 0, NULL };
    rp_url_t u;

    assert_non_null(rp_key_url(p, &good));
    assert_null(rp_key_url(p, NULL));
    u = good; u.scheme = NULL;          assert_null(rp_key_url(p, &u));
    u = good; u.scheme = "";            assert_null(rp_key_url(p, &u));
    u = good; u.scheme = "1http";       assert_null(rp_key_url(p, &u));
    u = good; u.scheme = "ht/tp";       assert_null(rp_key_url(p, &u));
    u = good; u.host = NULL;            assert_null(rp_key_url(p, &u));
    u = good; u.host = "";              assert_null(rp_key_url(p, &u));
    u = good; u.host = "a/b";           assert_null(rp_key_url(p, &u));
    u = good; u.host = "a:80";          assert_null(rp_key_url(p, &u));
    u = good; u.host = "a b";           assert_null(rp_key_url(p, &u));
    u = good; u.host = "a@b";           assert_null(rp_key_url(p, &u));
    u = good; u.host = "a\nb";          assert_null(rp_key_url(p, &u));
    u = good; u.host = "[::1";          assert_null(rp_key_url(p, &u));
    u = good; u.host = "[::g]";         assert_null(rp_key_url(p, &u));
    u = good; u.host = "[]";            assert_null(rp_key_url(p, &u));
    u = good; u.port = 0;               assert_null(rp_key_url(p, &u));
    u = good; u.port = 65536;           assert_null(rp_key_url(p, &u));
    u = good; u.path = NULL;            assert_null(rp_key_url(p, &u));
    u = good; u.path = "";              assert_null(rp_key_url(p, &u));
    u = good; u.path = "p";             assert_null(rp_key_url(p, &u));
    u = good; u.path = "/a?b";          assert_null(rp_key_url(p, &u));
    u = good; u.path = "/a\nb";         assert_null(rp_key_url(p, &u));
    u = good; u.path = "/a\x7f";        assert_null(rp_key_url(p, &u));
    u = good; u.query = "a=1\n";        assert_null(rp_key_url(p, &u));
    u = good; u.query = "a=\x01";       assert_null(rp_key_url(p, &u));
    u = good; u.path = "/a b";          assert_null(rp_key_url(p, &u));
    u = good; u.query = "a=1 b";        assert_null(rp_key_url(p, &u));
    u = good; u.context = "a b";        assert_null(rp_key_url(p, &u));
    u = good; u.context = "a\x80";      assert_null(rp_key_url(p, &u));
    u = good; u.port = 65535;           assert_non_null(rp_key_url(p, &u));
}

static void test_url_context(void **state)
{
    apr_pool_t *p = *state;
    rp_url_t u = { "http", "Shop.Example", 80, "/p%2e", "b=2&a=1", NULL, 0,
                   "shop.example@*:80" };
    rp_url_t other = u;

    /* the path and query as sent, the virtual host after them */
    assert_string_equal(rp_key_url(p, &u), "http://shop.example:80/p%2e?a=1&b=2 @shop.example@*:80");
    other.context = "shop.example@*:8080";
    assert_string_not_equal(rp_key_url(p, &u), rp_key_url(p, &other));
    other.context = NULL;
    assert_string_equal(rp_key_url(p, &other), "http://shop.example:80/p%2e?a=1&b=2");
}

static void test_resource(void **state)
{
    apr_pool_t *p = *state;
    static const char *ign[] = { "utm_*" };

    /* one resource for every host, scheme and spelling of a query */
    assert_string_equal(rp_key_resource(p, "/a/b", NULL, NULL, 0), "/a/b");
    assert_string_equal(rp_key_resource(p, "/a", "", NULL, 0), "/a");
    assert_string_equal(rp_key_resource(p, "/a", "b=2&a=1&utm_x=3", ign, 1), "/a?a=1&b=2");
    assert_string_equal(rp_key_resource(p, "/a", "utm_x=3", ign, 1), "/a");
    assert_string_equal(rp_key_resource(p, "/a", "q=%7e%7E~&r=%2f%2F", NULL, 0),
                        "/a?q=~~~&r=//");
    /* a byte every backend reads as itself escaped or not: ',' ':' '@'
     * in a query and in a path; '&' '=' ';' '+' only in a path, '/' only
     * in a query */
    assert_string_equal(rp_key_resource(p, "/a", "ids=1%2C2&at=%40x", NULL, 0),
                        "/a?at=@x&ids=1,2");
    assert_string_equal(rp_key_resource(p, "/a", "q=a%26b%3Dc%3Bd%2Be", NULL, 0),
                        "/a?q=a%26b%3Dc%3Bd%2Be");
    assert_string_equal(rp_key_resource(p, "/u/%40alice/a%3Ab%2C%2B%26%3D", NULL, NULL, 0),
                        "/u/@alice/a:b,+&=");
    assert_string_equal(rp_key_resource(p, "/a%2Fb%3F%25%C3%A9", NULL, NULL, 0),
                        "/a%2Fb%3F%25%C3%A9");
    assert_string_equal(rp_key_resource(p, "/a", "q=%e9&x=%", NULL, 0), "/a?q=%E9&x=%");
    assert_string_equal(rp_key_resource(p, "/a", "q=a%26b", NULL, 0), "/a?q=a%26b");
    /* a space, as a form decoder reads it: '+' and %20 are one, %2B not */
    assert_string_equal(rp_key_resource(p, "/a", "q=a%20b+c", NULL, 0), "/a?q=a+b+c");
    assert_string_equal(rp_key_resource(p, "/a", "q=a%2Bb", NULL, 0), "/a?q=a%2Bb");
    assert_null(rp_key_resource(p, NULL, NULL, NULL, 0));
    assert_null(rp_key_resource(p, "", NULL, NULL, 0));
    assert_null(rp_key_resource(p, "a", NULL, NULL, 0));
    assert_null(rp_key_resource(p, "/a b", NULL, NULL, 0));
    assert_null(rp_key_resource(p, "/a\n", NULL, NULL, 0));
    assert_null(rp_key_resource(p, "/a", "x=\n", NULL, 0));
    assert_null(rp_key_resource(p, "/a", NULL, NULL, 1));
}

static void test_variant_key(void **state)
{
    apr_pool_t *p = *state;
    rp_header_t conf[1] = { { "X-A", "1" } };
    rp_header_t resp[2] = { { "accept-encoding", "gzip" }, { "x-b", NULL } };
    const char *base = rp_key_full(p, "http://h:80/p", conf, 1);
    const char *v = rp_key_variant(p, base, resp, 2);

    /* a ReqPerfCacheVary header and a response Vary together: the variant
     * sits under the base (which holds a newline of its own) */
    assert_non_null(base);
    assert_non_null(v);
    assert_string_equal(v, "http://h:80/p\nx-a:1\n*\naccept-encoding:gzip\nx-b:\x01-");
    /* never the text of a base key with more configured headers */
    {
        rp_header_t both[2] = { { "X-A", "1" }, { "accept-encoding", "gzip" } };
        assert_string_not_equal(v, rp_key_full(p, "http://h:80/p", both, 2));
    }
    assert_null(rp_key_variant(p, NULL, resp, 2));
    resp[0].value = "a\nb";
    assert_null(rp_key_variant(p, base, resp, 2));
}

static void test_full_key(void **state)
{
    apr_pool_t *p = *state;
    rp_header_t absent[] = { { "Accept-Encoding", NULL } };
    rp_header_t empty[] = { { "Accept-Encoding", "" } };
    rp_header_t two[] = { { "Accept-Encoding", "gzip" }, { "X-Lang", "de, en" } };
    const char *url = "http://h:80/";
    char *k_absent = rp_key_full(p, url, absent, 1);
    char *k_empty = rp_key_full(p, url, empty, 1);

    assert_string_equal(rp_key_full(p, url, NULL, 0), url);
    assert_non_null(k_absent);
    assert_non_null(k_empty);
    assert_string_not_equal(k_absent, k_empty);
    assert_string_equal(k_absent, "http://h:80/\naccept-encoding:\x01-");
    assert_string_equal(k_empty, "http://h:80/\naccept-encoding:");
    assert_string_equal(rp_key_full(p, url, two, 2),
                        "http://h:80/\naccept-encoding:gzip\nx-lang:de, en");
    /* values are case-sensitive, names are not */
    {
        rp_header_t a[] = { { "ACCEPT-ENCODING", "GZIP" } };
        rp_header_t b[] = { { "accept-encoding", "gzip" } };

        assert_string_not_equal(rp_key_full(p, url, a, 1), rp_key_full(p, url, b, 1));
        a[0].value = "gzip";
        assert_string_equal(rp_key_full(p, url, a, 1), rp_key_full(p, url, b, 1));
    }
    /* a value cannot fake another header or an absent one */
    {
        rp_header_t fake[] = { { "X-A", "1\nx-b:2" } };
        rp_header_t fake_absent[] = { { "X-A", "\x01-" } };
        rp_header_t tab[] = { { "X-A", "a\tb" } };
        rp_header_t bad_name[] = { { "X A", "1" } };
        rp_header_t no_name[] = { { NULL, "1" } };

        assert_null(rp_key_full(p, url, fake, 1));
        assert_null(rp_key_full(p, url, fake_absent, 1));
        assert_non_null(rp_key_full(p, url, tab, 1));
        assert_null(rp_key_full(p, url, bad_name, 1));
        assert_null(rp_key_full(p, url, no_name, 1));
    }
    assert_null(rp_key_full(p, NULL, NULL, 0));
    assert_null(rp_key_full(p, url, NULL, 1));
    assert_null(rp_key_full(p, "http://h:80/\nx", NULL, 0));
    /* over-long */
    {
        char *big = apr_palloc(p, RP_ENTRY_MAX_KEY);
        rp_header_t h[] = { { "X-Big", big } };

        memset(big, 'v', RP_ENTRY_MAX_KEY - 1);
        big[RP_ENTRY_MAX_KEY - 1] = '\0';
        assert_null(rp_key_full(p, url, h, 1));
        big[RP_ENTRY_MAX_KEY - strlen(url) - strlen("\nx-big:")] = '\0';
        assert_int_equal(strlen(rp_key_full(p, url, h, 1)), RP_ENTRY_MAX_KEY);
    }
}

static void test_sort_headers(void **state)
{
    rp_header_t h[] = {
        { "X-Lang", "1" }, { "accept", "2" }, { "Accept-Encoding", "3" },
        { "ACCEPT", "4" }, { "b", "5" },
    };

    (void)state;
    rp_key_sort_headers(h, 5);
    assert_string_equal(h[0].value, "2");   /* accept, ACCEPT: equal, order kept */
    assert_string_equal(h[1].value, "4");
    assert_string_equal(h[2].value, "3");
    assert_string_equal(h[3].value, "5");
    assert_string_equal(h[4].value, "1");
    rp_key_sort_headers(h, 0);
    rp_key_sort_headers(NULL, 0);
}

static void test_hash(void **state)
{
    apr_pool_t *p = *state;
    char a[RP_KEY_HASH_MAX], b[RP_KEY_HASH_MAX], expect[64];
    XXH128_canonical_t c;
    size_t i;

    rp_key_hash(RP_KEY_PREFIX_ENTRY, "hello", 5, a);
    assert_int_equal(strlen(a), 5 + 32);
    assert_memory_equal(a, "rp:e:", 5);
    for (i = 5; i < 37; i++) {
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
    }
    /* it is XXH3-128 in canonical (big-endian) order */
    XXH128_canonicalFromHash(&c, XXH3_128bits("hello", 5));
    for (i = 0; i < 16; i++) {
        apr_snprintf(expect + 2 * i, 3, "%02x", c.digest[i]);
    }
    assert_string_equal(a + 5, expect);

    /* deterministic; differs with data, length and prefix */
    rp_key_hash(RP_KEY_PREFIX_ENTRY, "hello", 5, b);
    assert_string_equal(a, b);
    rp_key_hash(RP_KEY_PREFIX_ENTRY, "hellp", 5, b);
    assert_string_not_equal(a, b);
    rp_key_hash(RP_KEY_PREFIX_ENTRY, "hello", 4, b);
    assert_string_not_equal(a, b);
    rp_key_hash(RP_KEY_PREFIX_URL, "hello", 5, b);
    assert_string_not_equal(a, b);
    assert_string_equal(a + 5, b + 5);
    rp_key_hash(NULL, "a\0b", 3, b);
    rp_key_hash(NULL, "a\0c", 3, a);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    rp_key_hash(NULL, NULL, 0, a);
    rp_key_hash(NULL, "", 0, b);
    assert_string_equal(a, b);

    /* two prefixes over one hash: each as rp_key_hash gives it */
    {
        char x[RP_KEY_HASH_MAX], y[RP_KEY_HASH_MAX];

        rp_key_hash2(RP_KEY_PREFIX_ENTRY, "rp:v:", "hello", 5, x, y);
        rp_key_hash(RP_KEY_PREFIX_ENTRY, "hello", 5, a);
        rp_key_hash("rp:v:", "hello", 5, b);
        assert_string_equal(x, a);
        assert_string_equal(y, b);
        rp_key_hash2("a b", NULL, NULL, 0, x, y);
        rp_key_hash("a b", "", 0, a);
        rp_key_hash(NULL, "", 0, b);
        assert_string_equal(x, a);
        assert_string_equal(y, b);
    }

    /* prefix: at most 16 bytes, made valid for memcached */
    rp_key_hash("0123456789abcdefXYZ", "x", 1, a);
    assert_int_equal(strlen(a), 16 + 32);
    assert_memory_equal(a, "0123456789abcdef", 16);
    rp_key_hash("a b\n\x01", "x", 1, a);
    assert_memory_equal(a, "a_b__", 5);
    for (i = 0; a[i] != '\0'; i++) {
        assert_true(a[i] > 0x20 && a[i] < 0x7f);
    }

    /* many different keys, no collisions in the printed form */
    {
        char *keys = apr_palloc(p, 5000 * RP_KEY_HASH_MAX);
        int n, m;

        for (n = 0; n < 5000; n++) {
            char data[32];
            int len = apr_snprintf(data, sizeof(data), "http://h:80/?id=%d", n);

            rp_key_hash(RP_KEY_PREFIX_ENTRY, data, (size_t)len, keys + n * RP_KEY_HASH_MAX);
        }
        for (n = 0; n < 5000; n += 97) {
            for (m = 0; m < 5000; m++) {
                if (m != n) {
                    assert_string_not_equal(keys + n * RP_KEY_HASH_MAX,
                                            keys + m * RP_KEY_HASH_MAX);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_glob),
        RP_TEST(test_glob_no_blowup),
        RP_TEST(test_url_basic),
        RP_TEST(test_url_ignore_query),
        RP_TEST(test_url_stable_sort),
        RP_TEST(test_query_ignores),
        RP_TEST(test_url_limits),
        RP_TEST(test_url_refused),
        RP_TEST(test_url_context),
        RP_TEST(test_resource),
        RP_TEST(test_variant_key),
        RP_TEST(test_full_key),
        RP_TEST(test_sort_headers),
        RP_TEST(test_hash),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
