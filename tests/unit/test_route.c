/*
 * test_route.c: route grouping (stats/rp_route.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "stats/rp_route.h"

static void check(const char *path, const char *want)
{
    char out[RP_ROUTE_MAX];

    rp_route_normalize(path, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_builtin_grouping(void **state)
{
    (void)state;
    check("/", "/");
    check("/invoices", "/invoices");
    check("/invoices/123", "/invoices/{id}");
    check("/invoices/123/", "/invoices/{id}/");
    check("/invoices/123/pdf", "/invoices/{id}/pdf");
    check("/a/1/b/22/c/333", "/a/{id}/b/{id}/c/{id}");
    check("/u/123e4567-e89b-12d3-a456-426614174000/x", "/u/{id}/x");
    check("/u/123E4567-E89B-12D3-A456-426614174000", "/u/{id}");
    check("/blob/0123456789abcdef", "/blob/{id}");             /* 16 hex */
    check("/blob/0123456789abcde", "/blob/0123456789abcde");   /* 15 hex */
    check("/sha/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/sha/{id}");
    check("/v2/items", "/v2/items");                 /* not all digits */
    check("/invoice-123", "/invoice-123");
    check("/123.json", "/123.json");
    check("/cafe", "/cafe");                         /* short hex word */
}

static void test_query_and_fragment_dropped(void **state)
{
    (void)state;
    check("/invoices/123?token=secret&x=1", "/invoices/{id}");
    check("/search?q=123", "/search");
    check("/page#frag", "/page");
    check("?only=query", "");
}

static void test_not_uuid(void **state)
{
    (void)state;
    check("/u/123e4567-e89b-12d3-a456-42661417400g", /* g is not hex */
          "/u/123e4567-e89b-12d3-a456-42661417400g");
    check("/u/123e4567xe89b-12d3-a456-426614174000",
          "/u/123e4567xe89b-12d3-a456-426614174000");
}

/* The rule as first written (each criterion over the whole segment),
 * against which the quicker one is checked. */
static int ref_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

static int ref_is_id(const char *seg, size_t len)
{
    size_t i;
    int digits = 1, hex = 1;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        digits &= seg[i] >= '0' && seg[i] <= '9';
        hex &= ref_hex((unsigned char)seg[i]);
    }
    if (digits || (hex && len >= 16)) {
        return 1;
    }
    if (len != 36) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if ((i == 8 || i == 13 || i == 18 || i == 23)
            ? seg[i] != '-' : !ref_hex((unsigned char)seg[i])) {
            return 0;
        }
    }
    return 1;
}

static void test_id_rule_as_specified(void **state)
{
    /* every length to 41 over an alphabet of the cases that matter
     * (digit, hex letter of each case, past-hex letter, dash), with
     * the UUID dashes placed or not: the same answer as the rule */
    static const char alpha[] = "09afAFgz-";
    char seg[48];
    uint32_t x = 12345;
    size_t len, i;
    int round, ids = 0;

    (void)state;
    for (len = 0; len <= 41; len++) {
        for (round = 0; round < 4000; round++) {
            int kind = round % 4;
            for (i = 0; i < len; i++) {
                x = x * 1103515245u + 12345u;
                /* kinds: any; digits mostly; hex mostly; a UUID shape */
                seg[i] = kind == 0 ? alpha[(x >> 16) % 9]
                         : kind == 1 ? ((x >> 16) % 50 ? '0' + (char)((x >> 8) % 10) : alpha[(x >> 16) % 9])
                         : ((x >> 16) % 60 ? "0123456789abcdefABCDEF"[(x >> 8) % 22] : alpha[(x >> 16) % 9]);
                if (kind == 3 && len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
                    seg[i] = (x >> 20) % 40 ? '-' : 'a';
                }
            }
            seg[len] = '\0';
            assert_int_equal(rp_route_is_id_segment(seg, len), ref_is_id(seg, len));
            ids += ref_is_id(seg, len);
        }
    }
    assert_true(ids > 1000);           /* the generator reaches both answers */
}

static void test_bounded_and_utf8_safe(void **state)
{
    char longpath[4096], out[RP_ROUTE_MAX];
    size_t n, i;

    (void)state;
    memset(longpath, 'z', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    n = rp_route_normalize(longpath, out, sizeof(out));
    assert_int_equal(n, RP_ROUTE_MAX - 1);
    assert_int_equal(strlen(out), RP_ROUTE_MAX - 1);

    /* a 2-byte UTF-8 character straddling the limit is not split */
    longpath[0] = '/';
    for (i = 1; i < sizeof(longpath) - 2; i += 2) {
        longpath[i] = (char)0xC3;
        longpath[i + 1] = (char)0xA9;                  /* é */
    }
    longpath[i] = '\0';
    n = rp_route_normalize(longpath, out, sizeof(out));
    assert_true(n < RP_ROUTE_MAX);
    assert_int_not_equal((unsigned char)out[n - 1], 0xC3);

    /* many ids: "{id}" is never cut in half */
    strcpy(longpath, "");
    for (i = 0; i < 60; i++) {
        strcat(longpath, "/12345");
    }
    n = rp_route_normalize(longpath, out, sizeof(out));
    assert_true(n < RP_ROUTE_MAX);
    assert_null(strstr(out, "{i/"));
    assert_true(n >= 4 && (memcmp(out + n - 4, "{id}", 4) == 0
                           || out[n - 1] == '/'));
    assert_int_equal(rp_route_normalize(NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_template_check(void **state)
{
    char err[160];

    (void)state;
    assert_int_equal(rp_route_template_check("/a/$1", 1, err, sizeof(err)), 0);
    assert_int_equal(rp_route_template_check("/a/$0/$2", 2, err, sizeof(err)), 0);
    assert_int_equal(rp_route_template_check("/price-$$", 0, err, sizeof(err)), 0);
    assert_int_equal(rp_route_template_check("/a/$2", 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "$2"));
    assert_int_equal(rp_route_template_check("/a/$1", 0, err, sizeof(err)), -1);
    assert_int_equal(rp_route_template_check("/a/$x", 3, err, sizeof(err)), -1);
    assert_int_equal(rp_route_template_check("/a/$", 3, err, sizeof(err)), -1);
    assert_int_equal(rp_route_template_check("", 3, err, sizeof(err)), -1);
}

/* SPEC: routes never contain a query string, so neither may a template */
static void test_template_check_query(void **state)
{
    char err[160];

    (void)state;
    assert_int_equal(rp_route_template_check("/a?x=1", 0, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "'?'"));
    assert_int_equal(rp_route_template_check("/a/$1?", 1, err, sizeof(err)),
                     -1);
    assert_int_equal(rp_route_template_check("?", 0, err, sizeof(err)), -1);
    assert_int_equal(rp_route_template_check("/a#top", 0, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "'#'"));
    assert_int_equal(rp_route_template_check("/a/{id}", 0, err, sizeof(err)),
                     0);
}

static void test_expand(void **state)
{
    const char *subject = "/shop/books/item/42";
    rp_span_t m[3] = { { 0, 19 }, { 6, 11 }, { -1, -1 } };
    char out[RP_ROUTE_MAX];

    (void)state;
    rp_route_expand("/shop/$1/item/{sku}", subject, m, 3, out, sizeof(out));
    assert_string_equal(out, "/shop/books/item/{sku}");
    rp_route_expand("$0|$2|$$", subject, m, 3, out, sizeof(out));
    assert_string_equal(out, "/shop/books/item/42||$");
    rp_route_expand("/x/$1", subject, m, 3, out, 8);
    assert_string_equal(out, "/x/book");
}

static void test_method(void **state)
{
    (void)state;
    assert_string_equal(rp_route_method("GET"), "GET");
    assert_string_equal(rp_route_method("PATCH"), "PATCH");
    assert_string_equal(rp_route_method("get"), "OTHER");
    assert_string_equal(rp_route_method("BREW"), "OTHER");
    assert_string_equal(rp_route_method(NULL), "OTHER");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_grouping),
        cmocka_unit_test(test_query_and_fragment_dropped),
        cmocka_unit_test(test_not_uuid),
        cmocka_unit_test(test_id_rule_as_specified),
        cmocka_unit_test(test_bounded_and_utf8_safe),
        cmocka_unit_test(test_template_check),
        cmocka_unit_test(test_template_check_query),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_method),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
