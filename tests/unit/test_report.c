/*
 * test_report.c: the status page's snapshot and renderings
 * (stats/rp_report.c, stats/rp_buf.c): valid JSON (checked with jansson)
 * whatever bytes a URI held, escaped HTML and Prometheus labels, sort
 * orders, and one counter table behind every format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <apr_general.h>
#include <apr_pools.h>

#include "stats/rp_report.h"

static apr_pool_t *pool;

static int setup(void **state)
{
    (void)state;
    apr_pool_create(&pool, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    apr_pool_destroy(pool);
    return 0;
}

static rp_stats_t *make_stats(void **mem)
{
    rp_stats_params_t p = { 50, 10, 8, 2 };
    size_t size = rp_stats_size(&p);

    *mem = calloc(1, size);
    return rp_stats_init(*mem, size, &p, 1700000000000000LL, 1000);
}

static void record(rp_stats_t *st, const char *route, const char *uri,
                   int status, int64_t total, int slow)
{
    int64_t ph[RP_PHASE_COUNT];
    rp_sample_t s;
    int i;

    for (i = 0; i < RP_PHASE_COUNT; i++) {
        ph[i] = -1;
    }
    ph[RP_PHASE_READ] = 10;
    ph[RP_PHASE_HANDLER] = total - 20;
    ph[RP_PHASE_TTFB] = total / 2;
    ph[RP_PHASE_LOG] = 5;
    memset(&s, 0, sizeof(s));
    s.route = route;
    s.method = "GET";
    s.uri = uri;
    s.status = status;
    s.total_us = total;
    s.wall_us = 1700000001000000LL;
    s.phase_us = ph;
    s.slow = slow;
    s.cache = slow ? RP_CACHE_MISS : RP_CACHE_NONE;
    rp_stats_record(st, &s);
}

static const char *hostile[] = {
    "/a/<script>alert(1)</script>",
    "/b/\"quote\"\\back",
    "/c/\xff\xfe bad utf8",
    "/d/\xc3\x28 overlong",
    "/e/\xed\xa0\x80 surrogate",
    "/f/\r\nX-Injected: 1",
    "/g/\x01\x1f\x7f",
    "/h/caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",   /* valid UTF-8 */
};

static void test_json_valid_for_hostile_bytes(void **state)
{
    void *mem;
    rp_stats_t *st = make_stats(&mem);
    rp_report_opts_t o;
    rp_report_server_t servers[1] = { { "127.0.0.1:11211", "up" } };
    rp_report_t *r;
    rp_buf_t b;
    json_t *root, *routes, *slow, *x;
    json_error_t err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        record(st, hostile[i], hostile[i], 200, 2000000 + (int64_t)i, 1);
    }
    record(st, "/ok", "/ok", 503, 100, 0);
    memset(&o, 0, sizeof(o));
    o.servers = servers;
    o.n_servers = 1;
    o.cache_configured = 1;
    r = rp_report_build(pool, st, RP_SORT_TIME, 1700000005000000LL,
                        1000 + 5000000);
    rp_buf_init(&b, pool, 16);
    rp_render_json(&b, r, &o);
    root = json_loadb(b.data, b.len, 0, &err);
    if (root == NULL) {
        fail_msg("invalid JSON: %s at %d: %.80s", err.text, err.position,
                 b.data + (err.position > 20 ? err.position - 20 : 0));
    }
    assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(root, "requests")), 9);
    assert_int_equal(json_integer_value(json_object_get(root, "slow_requests")), 8);
    assert_int_equal(json_integer_value(json_object_get(root, "uptime_s")), 5);
    routes = json_object_get(root, "routes");
    assert_int_equal(json_array_size(routes), 9);
    /* the valid UTF-8 route survives intact; the others are repaired */
    for (i = 0; i < json_array_size(routes); i++) {
        const char *route = json_string_value(
            json_object_get(json_array_get(routes, i), "route"));
        assert_non_null(route);
        if (strncmp(route, "/h/", 3) == 0) {
            assert_string_equal(route, hostile[7]);
        }
        if (strncmp(route, "/b/", 3) == 0) {
            assert_string_equal(route, hostile[1]);
        }
    }
    x = json_array_get(routes, 0);        /* sorted by time spent */
    assert_int_equal(json_integer_value(json_object_get(x, "total_us")),
                     2000007);
    assert_non_null(json_object_get(json_object_get(x, "phases"), "handler"));
    assert_null(json_object_get(json_object_get(x, "phases"), "authn"));
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(x, "recent"), "window_s")), 60);
    slow = json_object_get(root, "slow");
    assert_int_equal(json_array_size(slow), 8);
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(slow, 0), "cache")), "miss");
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(slow, 0), "time")), "2023-11-14T22:13:21.000Z");
    x = json_object_get(root, "cache");
    assert_non_null(json_object_get(x, "store_skipped"));
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(json_object_get(x, "servers"), 0), "state")), "up");
    assert_non_null(json_object_get(json_object_get(x, "local"),
                                    "memcached_hit"));
    json_decref(root);
    free(mem);
}

static void test_html_escapes_everything(void **state)
{
    void *mem;
    rp_stats_t *st = make_stats(&mem);
    rp_report_opts_t o;
    rp_report_t *r;
    rp_buf_t b;
    const char *html;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        record(st, hostile[i], hostile[i], 200, 2000000, 1);
    }
    memset(&o, 0, sizeof(o));
    o.server_name = "<evil host>";
    o.self_path = "/reqperf-status\"><script>";
    o.refresh_s = 7;
    r = rp_report_build(pool, st, RP_SORT_P99, 1700000005000000LL, 5001000);
    rp_buf_init(&b, pool, 16);
    rp_render_html(&b, r, &o);
    html = rp_buf_cstr(&b);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<evil"));
    assert_null(strstr(html, "\r"));
    assert_null(strstr(html, "\x01"));
    assert_null(strstr(html, "\xff"));
    /* (a route or URI may break after each '/', nowhere else) */
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/<wbr>script&gt;"));
    assert_non_null(strstr(html, "&quot;quote&quot;"));
    assert_non_null(strstr(html, "<meta http-equiv=\"refresh\" content=\"7\">"));
    assert_non_null(strstr(html, "sorted by p99"));
    assert_non_null(strstr(html, "&amp;refresh=7"));
    assert_non_null(strstr(html, "<svg"));
    free(mem);
}

static void test_prometheus_and_auto_use_the_counter_table(void **state)
{
    void *mem;
    rp_stats_t *st = make_stats(&mem);
    rp_report_opts_t o;
    rp_report_t *r;
    rp_buf_t b;
    const char *text;
    char want[256];
    int k;

    (void)state;
    record(st, "/x\"y\\z\n", "/x", 200, 3000, 0);
    rp_stats_count(st, RP_CTR_CACHE_HIT, 42);
    memset(&o, 0, sizeof(o));
    r = rp_report_build(pool, st, RP_SORT_TIME, 1700000005000000LL, 5001000);
    rp_buf_init(&b, pool, 16);
    rp_render_prometheus(&b, r, &o);
    text = rp_buf_cstr(&b);
    assert_non_null(strstr(text, "route=\"/x\\\"y\\\\z\\n\""));
    assert_non_null(strstr(text, "reqperf_cache_requests_total{result=\"hit\"} 42"));
    /* +Inf equals _count */
    assert_non_null(strstr(text, "le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "reqperf_request_duration_seconds_count{"
                                 "route=\"/x\\\"y\\\\z\\n\",method=\"GET\"} 1"));
    assert_non_null(strstr(text, "reqperf_request_duration_seconds_sum{"
                                 "route=\"/x\\\"y\\\\z\\n\",method=\"GET\"} 0.003000"));
    /* every labelled counter row of the table is exported */
    for (k = 0; k < RP_CTR_COUNT; k++) {
        const rp_counter_info_t *ci = &rp_counter_info[k];
        if (ci->prom_metric == NULL) {
            continue;
        }
        snprintf(want, sizeof(want), "%s%s%s%s ", ci->prom_metric,
                 ci->prom_label ? "{" : "", ci->prom_label ? ci->prom_label : "",
                 ci->prom_label ? "}" : "");
        if (strstr(text, want) == NULL) {
            fail_msg("missing %s", want);
        }
    }
    /* one HELP per metric family */
    assert_ptr_equal(strstr(text, "# HELP reqperf_cache_requests_total"),
                     strstr(strstr(text, "# HELP reqperf_cache_requests_total") + 1,
                            "# HELP reqperf_cache_requests_total") ? NULL
                     : strstr(text, "# HELP reqperf_cache_requests_total"));

    rp_buf_init(&b, pool, 16);
    rp_render_auto(&b, r, &o);
    text = rp_buf_cstr(&b);
    assert_non_null(strstr(text, "requests: 1\n"));
    assert_non_null(strstr(text, "cache_hit: 42\n"));
    for (k = 0; k < RP_CTR_COUNT; k++) {
        snprintf(want, sizeof(want), "%s: ", rp_counter_info[k].json_name);
        assert_non_null(strstr(text, want));
    }
    free(mem);
}

static void test_sort_orders(void **state)
{
    void *mem;
    rp_stats_t *st = make_stats(&mem);
    rp_report_t *r;
    int i;

    (void)state;
    for (i = 0; i < 10; i++) {
        record(st, "/many-fast", "/m", 200, 1000, 0);
    }
    record(st, "/one-slow", "/o", 200, 5000000, 0);
    record(st, "/two-mid", "/t", 200, 100000, 0);
    record(st, "/two-mid", "/t", 200, 100000, 0);
    r = rp_report_build(pool, st, RP_SORT_COUNT, 0, 0);
    assert_string_equal(r->routes[0].route, "/many-fast");
    r = rp_report_build(pool, st, RP_SORT_TIME, 0, 0);
    assert_string_equal(r->routes[0].route, "/one-slow");
    assert_string_equal(r->routes[1].route, "/two-mid");
    r = rp_report_build(pool, st, RP_SORT_P95, 0, 0);
    assert_string_equal(r->routes[0].route, "/one-slow");
    assert_int_equal(rp_sort_by_name("p99"), RP_SORT_P99);
    assert_int_equal(rp_sort_by_name("nope"), -1);
    assert_int_equal(rp_sort_by_name(NULL), -1);
    assert_string_equal(rp_sort_name(RP_SORT_MAX), "max");
    free(mem);
}

static void test_escapers(void **state)
{
    rp_buf_t b;

    (void)state;
    rp_buf_init(&b, pool, 1);
    rp_buf_json_str(&b, "a\"b\\c\n\x01\x7f\xff\xc3\xa9", 11);
    assert_string_equal(rp_buf_cstr(&b),
                        "\"a\\\"b\\\\c\\n\\u0001\\u007f\\ufffd\xc3\xa9\"");
    rp_buf_init(&b, pool, 1);
    rp_buf_html(&b, "<a href='x'>&\"\x02", 15);
    assert_string_equal(rp_buf_cstr(&b),
                        "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\xef\xbf\xbd");
    rp_buf_init(&b, pool, 1);
    rp_buf_prom_label(&b, "a\"\\\n\xfe", 5);
    assert_string_equal(rp_buf_cstr(&b), "a\\\"\\\\\\n\xef\xbf\xbd");
    rp_buf_init(&b, pool, 1);
    rp_buf_u64(&b, 0);
    rp_buf_puts(&b, " ");
    rp_buf_u64(&b, UINT64_MAX);
    rp_buf_puts(&b, " ");
    rp_buf_i64(&b, INT64_MIN);
    assert_string_equal(rp_buf_cstr(&b),
                        "0 18446744073709551615 -9223372036854775808");
    /* fixed point, rounded half up, zero-padded decimals */
    {
        static const struct {
            uint64_t v;
            int scale, decimals;
            const char *want;
        } cases[] = {
            { 1234567, 6, 2, "1.23" }, { 1235000, 6, 2, "1.24" },
            { 1005, 3, 1, "1.0" }, { 1049, 3, 1, "1.0" }, { 9950, 3, 0, "10" },
            { 0, 6, 2, "0.00" }, { 7, 1, 1, "0.7" }, { 42, 0, 3, "42" },
            { UINT64_MAX, 1, 0, "1844674407370955162" },
        };
        size_t i;
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            rp_buf_init(&b, pool, 1);
            rp_buf_fixed(&b, cases[i].v, cases[i].scale, cases[i].decimals);
            assert_string_equal(rp_buf_cstr(&b), cases[i].want);
        }
    }
    assert_int_equal(rp_utf8_seq((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(rp_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(rp_utf8_seq((const unsigned char *)"\xe2\x82", 2), 0);
}

/* The route page: found by route and method (or the busiest method),
 * valid JSON whatever bytes the route held, every string escaped, the
 * cache's words counted per X-Cache value and the lock waits per route. */
static void test_route_page(void **state)
{
    void *mem;
    rp_stats_t *st = make_stats(&mem);
    rp_report_opts_t o;
    rp_report_t *r;
    rp_route_view_t *v;
    rp_buf_t b;
    const char *html;
    json_t *root, *cache, *x;
    json_error_t err;
    int64_t ph[RP_PHASE_COUNT];
    rp_sample_t s;
    size_t i;
    int k;

    (void)state;
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        ph[k] = k == RP_PHASE_CACHE ? 900 : -1;
    }
    memset(&s, 0, sizeof(s));
    s.route = "/r/<i>{id}</i>\"&";
    s.method = "GET";
    s.uri = "/r/1?a=1&b=<2>";
    s.status = 200;
    s.total_us = 1000;
    s.phase_us = ph;
    s.slow = 1;
    s.cache = RP_CACHE_HIT;
    s.x_cache = "HIT wait";
    s.cache_flags = RP_CACHE_FLAG_LOCK_WAIT;
    s.lock_wait_us = 700;
    rp_stats_record(st, &s);
    s.lock_wait_us = 500;
    rp_stats_record(st, &s);
    s.cache_flags = 0;
    s.lock_wait_us = 0;
    s.x_cache = "MISS";
    s.cache = RP_CACHE_MISS;
    rp_stats_record(st, &s);
    s.x_cache = "BYPASS something new";
    s.cache = RP_CACHE_BYPASS;
    rp_stats_record(st, &s);
    s.method = "POST";
    s.x_cache = NULL;
    s.cache = RP_CACHE_NONE;
    rp_stats_record(st, &s);
    record(st, "/other", "/other", 200, 5000000, 1);

    memset(&o, 0, sizeof(o));
    o.self_path = "/status";
    r = rp_report_build(pool, st, RP_SORT_TIME, 1700000005000000LL, 5001000);
    assert_null(rp_report_route_find(r, "/nope", "GET"));
    assert_null(rp_report_route_find(r, "/r/<i>{id}</i>\"&", "PUT"));
    v = rp_report_route_find(r, "/r/<i>{id}</i>\"&", "POST");
    assert_non_null(v);
    assert_string_equal(v->method, "POST");
    v = rp_report_route_find(r, "/r/<i>{id}</i>\"&", NULL);
    assert_string_equal(v->method, "GET");   /* the busiest */
    assert_int_equal(v->lock_waits, 2);
    assert_int_equal(v->lock_wait_us, 1200);
    assert_int_equal(v->xcache[RP_XC_HIT_WAIT], 2);
    assert_int_equal(v->xcache[RP_XC_MISS], 1);
    assert_int_equal(v->xcache[RP_XC_OTHER], 1);

    rp_buf_init(&b, pool, 16);
    rp_render_route_json(&b, r, st, v, &o);
    root = json_loadb(b.data, b.len, 0, &err);
    if (root == NULL) {
        fail_msg("invalid JSON: %s at %d", err.text, err.position);
    }
    assert_string_equal(json_string_value(json_object_get(root, "route")),
                        "/r/<i>{id}</i>\"&");
    cache = json_object_get(root, "cache");
    assert_int_equal(json_integer_value(json_object_get(cache, "lock_waits")), 2);
    assert_int_equal(json_integer_value(json_object_get(cache, "lock_wait_avg_us")), 600);
    x = json_object_get(cache, "x_cache");
    assert_int_equal(json_integer_value(json_object_get(x, "HIT wait")), 2);
    assert_int_equal(json_integer_value(json_object_get(x, "other")), 1);
    assert_int_equal(json_object_size(x), 3);
    /* its own slow requests only: the POST and /other are not */
    x = json_object_get(root, "slow_requests");
    assert_int_equal(json_array_size(x), 4);
    for (i = 0; i < json_array_size(x); i++) {
        assert_string_equal(json_string_value(json_object_get(
            json_array_get(x, i), "method")), "GET");
    }
    /* newest first: the waiting ones are the oldest two */
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(x, 3), "x_cache")), "HIT wait");
    assert_int_equal(json_integer_value(json_object_get(
        json_array_get(x, 3), "lock_wait_us")), 700);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
        root, "recent_phases"), "cache")), 900);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(
        json_object_get(root, "histogram"), 0), "count")), 4);
    json_decref(root);

    rp_buf_init(&b, pool, 16);
    rp_render_route_html(&b, r, st, v, &o);
    html = rp_buf_cstr(&b);
    assert_null(strstr(html, "<i>"));
    assert_null(strstr(html, "<2>"));
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "&lt;i&gt;{id}&lt;/<wbr>i&gt;&quot;&amp;"));
    assert_non_null(strstr(html, "data-k=\"/cache/x_cache/HIT wait\" "
                                 "data-v=\"2\""));
    assert_non_null(strstr(html, "data-mark=\"p99\""));
    assert_non_null(strstr(html, "waited "));
    /* the links: route and method percent-encoded, then HTML-escaped */
    assert_non_null(strstr(html, "href=\"/status?format=json&amp;route="
                                 "/r/%3Ci%3E%7Bid%7D%3C/i%3E%22%26"
                                 "&amp;method=GET\""));

    rp_buf_init(&b, pool, 16);
    rp_render_route_unknown(&b, "/x/<b>\"", "GET", 1, &o);
    root = json_loadb(b.data, b.len, 0, &err);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "route")),
                        "/x/<b>\"");
    json_decref(root);
    rp_buf_init(&b, pool, 16);
    rp_render_route_unknown(&b, "/x/<b>\"", NULL, 0, &o);
    assert_null(strstr(rp_buf_cstr(&b), "<b>"));
    free(mem);
}

/* Every X-Cache value the glue sends is in the table, with its result. */
static void test_xcache_table(void **state)
{
    (void)state;
    assert_int_equal(rp_xcache_of(NULL), -1);
    assert_int_equal(rp_xcache_of(""), -1);
    assert_int_equal(rp_xcache_of("HIT wait"), RP_XC_HIT_WAIT);
    assert_int_equal(rp_xcache_info[rp_xcache_of("STALE timeout")].result,
                     RP_CACHE_STALE);
    assert_int_equal(rp_xcache_info[rp_xcache_of("BYPASS unkeyed-header")].result,
                     RP_CACHE_BYPASS);
    assert_int_equal(rp_xcache_info[rp_xcache_of("MISS wait")].result,
                     RP_CACHE_MISS);
    assert_int_equal(rp_xcache_of("HIT  wait"), RP_XC_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_valid_for_hostile_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_escapes_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_and_auto_use_the_counter_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort_orders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_page, setup, teardown),
        cmocka_unit_test(test_xcache_table),
    };
    apr_initialize();
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
