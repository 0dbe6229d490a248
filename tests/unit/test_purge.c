/*
 * test_purge.c: purge request parsing. Valid bodies and headers produce the
 * items asked for; every kind of bad input is refused as a whole (no item
 * survives a bad neighbour), with a message, and within the limits.
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "cache/rp_purge.h"

#define URL(r, i) (APR_ARRAY_IDX((r).urls, (i), const char *))
#define TAG(r, i) (APR_ARRAY_IDX((r).tags, (i), const char *))

static int form(apr_pool_t *p, const char *body, rp_purge_req_t *r, const char **err)
{
    return rp_purge_parse_form(p, body, strlen(body), r, err);
}

static void test_form_valid(void **state)
{
    apr_pool_t *p = *state;
    rp_purge_req_t r;
    const char *err = "unset";

    assert_int_equal(form(p, "url=/a", &r, &err), 1);
    assert_null(err);
    assert_int_equal(r.urls->nelts, 1);
    assert_int_equal(r.tags->nelts, 0);
    assert_string_equal(URL(r, 0), "/a");

    assert_int_equal(form(p, "tag=invoice-123&url=%2Fshop%3Fpage%3D2&tag=customer-7", &r, &err), 3);
    assert_string_equal(URL(r, 0), "/shop?page=2");
    assert_string_equal(TAG(r, 0), "invoice-123");
    assert_string_equal(TAG(r, 1), "customer-7");

    /* absolute URLs, '+' is a space only where a space is allowed (nowhere here) */
    assert_int_equal(form(p, "url=https%3A%2F%2FExample.com%3A8443%2Fx%3Fa%3Db", &r, &err), 1);
    assert_string_equal(URL(r, 0), "https://Example.com:8443/x?a=b");
    /* a url= given as a URL is taken as typed: its escapes are its own */
    assert_int_equal(form(p, "url=http://h/p?q=%252F", &r, &err), 1);
    assert_string_equal(URL(r, 0), "http://h/p?q=%252F");
    assert_int_equal(form(p, "url=/app/caf%C3%A9", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/app/caf%C3%A9");
    assert_int_equal(form(p, "url=/s?q=a%26b", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/s?q=a%26b");
    assert_int_equal(form(p, "url=/a+b", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/a+b");
    /* fully form-encoded (curl --data-urlencode, an HTML form): decoded
     * once, then what a request line never holds raw is %XX again */
    assert_int_equal(form(p, "url=%2Fs%3Fq%3Da%2526b", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/s?q=a%26b");
    assert_int_equal(form(p, "url=%2Fapp%2Fcaf%C3%A9", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/app/caf%C3%A9");
    assert_int_equal(form(p, "url=%2Fa+b%22", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/a%20b%22");
    assert_int_equal(form(p, "url=HTTPS://h/x", &r, &err), 1);
    assert_string_equal(URL(r, 0), "HTTPS://h/x");

    /* repeated items are kept once; empty pairs are skipped */
    assert_int_equal(form(p, "&url=/a&&url=/a&tag=t&tag=t&url=/b&", &r, &err), 3);
    assert_int_equal(r.urls->nelts, 2);
    assert_string_equal(URL(r, 1), "/b");
    assert_int_equal(r.tags->nelts, 1);

    /* percent-decoding is case-insensitive in the hex digits */
    assert_int_equal(form(p, "tag=a%2db%2Dc", &r, &err), 1);
    assert_string_equal(TAG(r, 0), "a-b-c");

    /* binary-safe length: the body need not be NUL-terminated */
    assert_int_equal(rp_purge_parse_form(p, "tag=abcXXXX", 7, &r, &err), 1);
    assert_string_equal(TAG(r, 0), "abc");
}

static void expect_form_error(apr_pool_t *p, const char *body, const char *want_in_err)
{
    rp_purge_req_t r;
    const char *err = NULL;

    if (rp_purge_parse_form(p, body, strlen(body), &r, &err) != -1) {
        fail_msg("form body accepted: '%s'", body);
    }
    assert_non_null(err);
    assert_non_null(r.urls);
    assert_non_null(r.tags);
    assert_int_equal(r.urls->nelts, 0);
    assert_int_equal(r.tags->nelts, 0);
    if (want_in_err != NULL && strstr(err, want_in_err) == NULL) {
        fail_msg("error for '%s' is '%s', wanted '%s'", body, err, want_in_err);
    }
}

static void test_form_errors(void **state)
{
    apr_pool_t *p = *state;

    expect_form_error(p, "", "nothing");
    expect_form_error(p, "&&", "nothing");
    expect_form_error(p, "foo=1", "unknown field 'foo'");
    expect_form_error(p, "url=/a&foo=1", "unknown field 'foo'");   /* all or nothing */
    expect_form_error(p, "URL=/a", "unknown field 'URL'");
    expect_form_error(p, "urls=/a", "unknown field");
    expect_form_error(p, "u%72l=/a", "unknown field");             /* names are not decoded */
    expect_form_error(p, "=x", "unknown field ''");
    expect_form_error(p, "url", "empty url");
    expect_form_error(p, "url=", "empty url");
    expect_form_error(p, "tag=", "empty tag");
    expect_form_error(p, "tag=a&tag=", "empty tag");
    expect_form_error(p, "url=/a%", "percent");
    expect_form_error(p, "url=/a%2", "percent");
    expect_form_error(p, "url=/a%zz", "percent");
    expect_form_error(p, "url=%2Fa%", "percent");
    expect_form_error(p, "url=/a%C3%A", "percent");
    expect_form_error(p, "url=%2Fa%00b", "control");
    expect_form_error(p, "url=%2Fa%0d%0aX-Evil:%201", "control");
    expect_form_error(p, "url=%2Fa%0a", "control");
    expect_form_error(p, "tag=a%09b", "control");
    expect_form_error(p, "tag=a%7f", "control");
    expect_form_error(p, "url=a/b", "bad url");
    expect_form_error(p, "url=ftp://h/x", "bad url");
    expect_form_error(p, "url=//evil/x", "bad url");
    expect_form_error(p, "url=http://user@h/x", "bad url");
    expect_form_error(p, "url=http://h:0/x", "bad url");
    expect_form_error(p, "url=a%2Fb", "bad url");
    expect_form_error(p, "url=/a#frag", "bad url");
    expect_form_error(p, "tag=a+b", "bad tag");
    expect_form_error(p, "tag=a%2Cb", "bad tag");
    expect_form_error(p, "tag=caf%C3%A9", "bad tag");
    /* the echoed name is short and printable */
    {
        rp_purge_req_t r;
        const char *err = NULL;
        char *body = apr_pstrcat(p, "x\x01'\"\\", "0123456789012345678901234567890123456789=1", NULL);
        size_t i;

        assert_int_equal(form(p, body, &r, &err), -1);
        assert_true(strlen(err) < 64);
        for (i = 0; err[i] != '\0'; i++) {
            assert_true(err[i] >= 0x20 && err[i] < 0x7f);
        }
        assert_non_null(strstr(err, "x????"));
        assert_non_null(strstr(err, "...'"));
    }
    /* NULL body with a length */
    {
        rp_purge_req_t r;
        const char *err = NULL;

        assert_int_equal(rp_purge_parse_form(p, NULL, 3, &r, &err), -1);
        assert_int_equal(rp_purge_parse_form(p, NULL, 0, &r, &err), -1);
        assert_int_equal(rp_purge_parse_form(p, "x=1", 3, &r, NULL), -1);   /* err may be NULL */
    }
}

static void test_form_limits(void **state)
{
    apr_pool_t *p = *state;
    rp_purge_req_t r;
    const char *err;
    char *body = apr_pstrdup(p, "");
    char *url, *tag, *big;
    int i;

    for (i = 0; i < RP_PURGE_MAX_ITEMS; i++) {
        body = apr_psprintf(p, "%s%stag=t%d", body, i ? "&" : "", i);
    }
    assert_int_equal(form(p, body, &r, &err), RP_PURGE_MAX_ITEMS);
    expect_form_error(p, apr_pstrcat(p, body, "&tag=x", NULL), "too many");
    /* repeats count towards the limit: the work is bounded by what was sent */
    expect_form_error(p, apr_pstrcat(p, body, "&tag=t0", NULL), "too many");

    url = apr_palloc(p, RP_PURGE_MAX_URL + 2);
    url[0] = '/';
    memset(url + 1, 'a', RP_PURGE_MAX_URL);
    url[RP_PURGE_MAX_URL + 1] = '\0';
    expect_form_error(p, apr_pstrcat(p, "url=", url, NULL), "too long");
    url[RP_PURGE_MAX_URL] = '\0';
    assert_int_equal(form(p, apr_pstrcat(p, "url=", url, NULL), &r, &err), 1);
    assert_int_equal(strlen(URL(r, 0)), RP_PURGE_MAX_URL);

    tag = apr_palloc(p, 130);
    memset(tag, 't', 129);
    tag[129] = '\0';
    expect_form_error(p, apr_pstrcat(p, "tag=", tag, NULL), "bad tag");
    tag[128] = '\0';
    assert_int_equal(form(p, apr_pstrcat(p, "tag=", tag, NULL), &r, &err), 1);

    big = apr_palloc(p, RP_PURGE_MAX_BODY + 2);
    memcpy(big, "tag=a&", 6);
    memset(big + 6, '&', RP_PURGE_MAX_BODY - 6 + 1);
    big[RP_PURGE_MAX_BODY + 1] = '\0';
    expect_form_error(p, big, "too large");
    big[RP_PURGE_MAX_BODY] = '\0';
    assert_int_equal(form(p, big, &r, &err), 1);
}

static void test_header(void **state)
{
    apr_pool_t *p = *state;
    rp_purge_req_t r;
    const char *err = "unset";

    assert_int_equal(rp_purge_parse_header(p, "tag=invoice-123", &r, &err), 1);
    assert_null(err);
    assert_string_equal(TAG(r, 0), "invoice-123");
    assert_int_equal(rp_purge_parse_header(p, " url=/a?b=%2F , tag=x,tag=y\turl=https://h/z tag=x",
                                           &r, &err), 4);
    assert_int_equal(r.urls->nelts, 2);
    assert_string_equal(URL(r, 0), "/a?b=%2F");      /* not decoded */
    assert_string_equal(URL(r, 1), "https://h/z");
    assert_int_equal(r.tags->nelts, 2);
    assert_string_equal(TAG(r, 1), "y");
    /* no decoding: an encoded newline stays three harmless bytes */
    assert_int_equal(rp_purge_parse_header(p, "url=/a%0a", &r, &err), 1);
    assert_string_equal(URL(r, 0), "/a%0a");
    /* tags may hold '=' */
    assert_int_equal(rp_purge_parse_header(p, "tag=a=b", &r, &err), 1);
    assert_string_equal(TAG(r, 0), "a=b");
}

/* A backend's header, item by item: the good ones are made whatever the
 * bad ones (tenth review: one fragment cost every purge of the header). */
static void test_header_each(void **state)
{
    apr_pool_t *p = *state;
    rp_purge_req_t r;
    const char *err = NULL;
    char many[2048];
    size_t n = 0;
    int bad = -1, i;

    assert_int_equal(rp_purge_parse_header_each(p, "tag=product-7 url=/x#top "
                                                "what=1 url=/list tag=",
                                                &r, &err, &bad), 2);
    assert_int_equal(bad, 3);
    assert_non_null(err);
    assert_string_equal(TAG(r, 0), "product-7");
    assert_string_equal(URL(r, 0), "/list");
    assert_int_equal(rp_purge_parse_header_each(p, "tag=a", &r, &err, &bad), 1);
    assert_int_equal(bad, 0);
    assert_null(err);
    assert_int_equal(rp_purge_parse_header_each(p, "url=#", &r, &err, &bad), 0);
    assert_int_equal(bad, 1);
    assert_int_equal(r.urls->nelts + r.tags->nelts, 0);
    assert_int_equal(rp_purge_parse_header_each(p, NULL, &r, &err, &bad), -1);
    /* past the limit: the first 100 made, the rest counted */
    for (i = 0; i < 120; i++) {
        n += (size_t)snprintf(many + n, sizeof(many) - n, "tag=t%d ", i);
    }
    assert_int_equal(rp_purge_parse_header_each(p, many, &r, &err, &bad), 100);
    assert_int_equal(bad, 20);
    assert_string_equal(TAG(r, 99), "t99");
}

static void expect_header_error(apr_pool_t *p, const char *value, const char *want_in_err)
{
    rp_purge_req_t r;
    const char *err = NULL;

    if (rp_purge_parse_header(p, value, &r, &err) != -1) {
        fail_msg("header accepted: '%s'", value ? value : "(null)");
    }
    assert_non_null(err);
    assert_int_equal(r.urls->nelts, 0);
    assert_int_equal(r.tags->nelts, 0);
    if (want_in_err != NULL && strstr(err, want_in_err) == NULL) {
        fail_msg("error for '%s' is '%s', wanted '%s'", value, err, want_in_err);
    }
}

static void test_header_errors(void **state)
{
    apr_pool_t *p = *state;
    char *many = apr_pstrdup(p, "");
    char *huge;
    int i;

    expect_header_error(p, NULL, "nothing");
    expect_header_error(p, "", "nothing");
    expect_header_error(p, " ,, ", "nothing");
    expect_header_error(p, "tag=a invoice", "bad item");
    expect_header_error(p, "tag=a foo=b", "unknown field 'foo'");
    expect_header_error(p, "TAG=a", "unknown field 'TAG'");
    expect_header_error(p, "tag=", "empty tag");
    expect_header_error(p, "url=", "empty url");
    expect_header_error(p, "url=relative", "bad url");
    expect_header_error(p, "tag=a\x01", "control");
    expect_header_error(p, "url=/a\x7f", "control");
    expect_header_error(p, "tag=caf\xc3\xa9", "bad tag");
    for (i = 0; i <= RP_PURGE_MAX_ITEMS; i++) {
        many = apr_psprintf(p, "%s tag=t%d", many, i);
    }
    expect_header_error(p, many, "too many");
    huge = apr_palloc(p, RP_PURGE_MAX_BODY + 2);
    memset(huge, ' ', RP_PURGE_MAX_BODY + 1);
    memcpy(huge, "tag=a", 5);
    huge[RP_PURGE_MAX_BODY + 1] = '\0';
    expect_header_error(p, huge, "too large");
}

static void test_url_split(void **state)
{
    apr_pool_t *p = *state;
    const char *scheme, *host, *path, *query;
    unsigned port;

    assert_int_equal(rp_url_split(p, "/a/b?x=1&y", &scheme, &host, &port, &path, &query), 0);
    assert_null(scheme);
    assert_null(host);
    assert_int_equal(port, 0);
    assert_string_equal(path, "/a/b");
    assert_string_equal(query, "x=1&y");

    assert_int_equal(rp_url_split(p, "/", &scheme, &host, &port, &path, &query), 0);
    assert_string_equal(path, "/");
    assert_null(query);
    assert_int_equal(rp_url_split(p, "/p?", &scheme, &host, &port, &path, &query), 0);
    assert_string_equal(query, "");

    assert_int_equal(rp_url_split(p, "HTTP://Example.COM/X?Q", &scheme, &host, &port, &path,
                                  &query), 0);
    assert_string_equal(scheme, "http");
    assert_string_equal(host, "example.com");
    assert_int_equal(port, 80);
    assert_string_equal(path, "/X");
    assert_string_equal(query, "Q");

    assert_int_equal(rp_url_split(p, "https://h.example:8443", &scheme, &host, &port, &path,
                                  &query), 0);
    assert_string_equal(scheme, "https");
    assert_int_equal(port, 8443);
    assert_string_equal(path, "/");
    assert_null(query);
    assert_int_equal(rp_url_split(p, "https://h?q=1", &scheme, &host, &port, &path, &query), 0);
    assert_int_equal(port, 443);
    assert_string_equal(path, "/");
    assert_string_equal(query, "q=1");

    assert_int_equal(rp_url_split(p, "http://[::1]:8080/x", &scheme, &host, &port, &path,
                                  &query), 0);
    assert_string_equal(host, "[::1]");
    assert_int_equal(port, 8080);
    assert_int_equal(rp_url_split(p, "http://[2001:DB8::1]/", NULL, &host, NULL, NULL, NULL), 0);
    assert_string_equal(host, "[2001:db8::1]");
    assert_int_equal(rp_url_split(p, "http://h:65535/", NULL, NULL, &port, NULL, NULL), 0);
    assert_int_equal(port, 65535);
    assert_int_equal(rp_url_split(p, "/only", NULL, NULL, NULL, NULL, NULL), 0);
}

static void test_url_split_rejects(void **state)
{
    static const char *bad[] = {
        NULL, "", "a", "a/b", "?q", "//h/x", "ftp://h/x", "http:/h/x", "http//h",
        "http://", "http:///x", "http://u@h/x", "http://u:p@h/x", "http://h@", "http://h:/x",
        "http://h:0/x", "http://h:65536/x", "http://h:123456/x", "http://h:8o/x",
        "http://h:-1/x", "http://[::1/x", "http://[]/x", "http://[::g]/x", "http://h h/x",
        "/a b", "/a\tb", "/a\nb", "/a\x7f", "/a#f", "http://h/x#f", "http://h\\x/",
        "http://h%41/", "javascript:alert(1)", "http://h:80:80/",
    };
    size_t i;
    const char *path = "untouched";

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rp_url_split(*state, bad[i], NULL, NULL, NULL, &path, NULL) != -1) {
            fail_msg("accepted '%s'", bad[i] ? bad[i] : "(null)");
        }
    }
    assert_string_equal(path, "untouched");    /* outputs only written on success */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_form_valid),
        RP_TEST(test_form_errors),
        RP_TEST(test_form_limits),
        RP_TEST(test_header),
        RP_TEST(test_header_each),
        RP_TEST(test_header_errors),
        RP_TEST(test_url_split),
        RP_TEST(test_url_split_rejects),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
