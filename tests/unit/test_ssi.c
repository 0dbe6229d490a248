/*
 * test_ssi.c: what cache/rp_ssi.c reads in a page's server-side includes:
 * the headers it varies on, and what makes it personal (never stored).
 */
#include <string.h>

#include "rp_test.h"
#include "cache/rp_ssi.h"

typedef struct {
    char seen[512];
} heard_t;

static void heard(void *ctx, const char *name, size_t len)
{
    heard_t *h = ctx;
    size_t n = strlen(h->seen);

    if (n + len + 2 < sizeof(h->seen)) {
        memcpy(h->seen + n, name, len);
        h->seen[n + len] = ';';
        h->seen[n + len + 1] = '\0';
    }
}

/* The page fed in pieces of step bytes (0: whole); 1 when personal. */
static int scan(const char *page, size_t step, heard_t *h)
{
    rp_ssi_t s;
    size_t i, n = strlen(page);

    memset(h, 0, sizeof(*h));
    assert_int_equal(rp_ssi_init(&s, "<!--#", heard, h), 0);
    if (step == 0) {
        rp_ssi_feed(&s, page, n);
    }
    else {
        for (i = 0; i < n; i += step) {
            rp_ssi_feed(&s, page + i, n - i < step ? n - i : step);
        }
    }
    return rp_ssi_finish(&s);
}

/* the same answer whole and one byte at a time */
static int scan_both(const char *page, heard_t *h)
{
    heard_t one;
    int p = scan(page, 1, &one);

    assert_int_equal(scan(page, 0, h), p);
    assert_string_equal(h->seen, one.seen);
    return p;
}

static void test_plain_and_composed_pages(void **state)
{
    heard_t h;

    (void)state;
    assert_false(scan_both("<html><body>plain $5 text 100% {x}</body>", &h));
    assert_string_equal(h.seen, "");
    assert_false(scan_both("<!--#include virtual=\"/footer.html\" -->"
                           "<!--#config timefmt=\"%Y\" -->"
                           "<!--#echo var=\"DATE_LOCAL\" -->"
                           "<!--#flastmod file=\"x.html\" -->"
                           "<!--#echo var='DOCUMENT_URI' -->", &h));
    assert_string_equal(h.seen, "");
}

static void test_headers_read(void **state)
{
    heard_t h;

    (void)state;
    assert_false(scan_both("ua=<!--#echo var=\"HTTP_USER_AGENT\" -->", &h));
    assert_string_equal(h.seen, "USER-AGENT;");
    assert_false(scan_both("<!--#echo var=HTTP_X_LANG-->", &h));
    assert_string_equal(h.seen, "X-LANG;");
    assert_false(scan_both("<!--#if expr=\"%{HTTP:X-Beta} == 'y'\" -->b"
                           "<!--#elif expr=\"req('Accept') =~ /x/\" -->"
                           "<!--#elif expr=\"v('HTTP_DNT') == '1'\" -->"
                           "<!--#elif expr=\"%{req:X-A} && %{HTTP_X_B}\" -->"
                           "<!--#endif -->", &h));
    assert_string_equal(h.seen, "X-Beta;Accept;DNT;X-A;X-B;");
    assert_false(scan_both("<!--#set var=\"l\" value=\"${HTTP_ACCEPT_LANGUAGE}\" -->"
                           "<!--#if expr=\"$HTTP_REFERER = /a/\" -->", &h));
    assert_string_equal(h.seen, "ACCEPT-LANGUAGE;REFERER;");
    assert_false(scan_both("<!--#echo var=\"REDIRECT_HTTP_X_Y\" -->", &h));
    assert_string_equal(h.seen, "X-Y;");
}

static void test_personal(void **state)
{
    static const char *const pages[] = {
        "<!--#echo var=\"REMOTE_ADDR\" -->",
        "<!--#echo var=\"HTTP_COOKIE\" -->",
        "<!--#echo var=\"SSL_CLIENT_S_DN\" -->",
        "<!--#echo var=\"REDIRECT_REMOTE_USER\" -->",
        "<!--#printenv -->",
        "<!--#PRINTENV-->",
        "<!--# exec cmd=\"id\" -->",
        "<!--#exec cgi=\"/cgi-bin/x\" -->",
        "<!--#mystery -->",
        "<!--#echo var=\"$name\" -->",
        "<!--#echo var=\"${n}\" -->",
        "<!--#if expr=\"v($n) == 'x'\" -->",
        "<!--#if expr=\"-R '10.0.0.0/8'\" -->",
        "<!--#if expr=\"!-R '10.0.0.0/8'\" -->",
        "<!--#if expr=\"%{REMOTE_ADDR} -ipmatch '10.0.0.0/8'\" -->",
        "<!--#if expr=\"%{SERVER_PROTOCOL} == 'HTTP/2.0'\" -->",
        "<!--#if expr=\"%{THE_REQUEST} =~ /x/\" -->",
        "<!--#if expr=\"req('Cookie') =~ /x/\" -->",
        "<!--#if expr=\"req('a b') =~ /x/\" -->",
        "<!--#if expr=\"%{env:REMOTE_PORT}\" -->",
        "<!--#echo var=\"HTTP_\" -->",
        "<!--#echo var=\"${HTTP_USER_AGENT",   /* left open */
        NULL
    };
    heard_t h;
    int i;

    (void)state;
    for (i = 0; pages[i] != NULL; i++) {
        if (!scan_both(pages[i], &h)) {
            fail_msg("not personal: %s", pages[i]);
        }
    }
}

static void test_words_that_only_look_alike(void **state)
{
    heard_t h;

    (void)state;
    /* "-R" outside an #if, env( as part of a longer word, HTTPS */
    assert_false(scan_both("cp -R dir; process.env('X'); myv('REMOTE_ADDR')"
                           "<!--#echo var=\"HTTPS\" -->", &h));
    assert_string_equal(h.seen, "");
}

static void test_other_start_tag(void **state)
{
    rp_ssi_t s;
    heard_t h;
    const char *page = "<%echo var=\"REMOTE_ADDR\" %> <!--#printenv -->";

    (void)state;
    memset(&h, 0, sizeof(h));
    assert_int_equal(rp_ssi_init(&s, "<%", heard, &h), 0);
    rp_ssi_feed(&s, page, 14);
    rp_ssi_feed(&s, page + 14, strlen(page) - 14);
    assert_true(rp_ssi_finish(&s));
    /* a tag that overlaps itself */
    assert_int_equal(rp_ssi_init(&s, "<<!", heard, &h), 0);
    rp_ssi_feed(&s, "<<<!printenv", 12);
    assert_true(rp_ssi_finish(&s));
    assert_int_equal(rp_ssi_init(&s, "", heard, &h), -1);
    assert_true(rp_ssi_finish(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_plain_and_composed_pages),
        RP_TEST(test_headers_read),
        RP_TEST(test_personal),
        RP_TEST(test_words_that_only_look_alike),
        RP_TEST(test_other_start_tag),
    };

    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
