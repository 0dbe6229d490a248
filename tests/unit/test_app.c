/*
 * test_app.c: application metrics (the backend's Server-Timing) in the
 * shared-memory statistics and on the status page (stats/rp_stats.c,
 * stats/rp_report.c): exact counts from threads standing in for child
 * processes, the per-route cap with __other__, nothing recorded for a
 * cache hit, the slow log's per-request sums, the totals over all routes,
 * and JSON, Prometheus, ?auto and HTML from the same figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <jansson.h>

#include "rp_test.h"
#include "stats/rp_report.h"

static rp_stats_t *make(uint32_t names, void **mem)
{
    rp_stats_params_t p = { 20, 4, names, 2 };
    size_t size = rp_stats_size(&p);

    *mem = calloc(1, size);
    return rp_stats_init(*mem, size, &p, 1700000000000000LL, 1000);
}

static void record(rp_stats_t *st, const char *route, int cache, int slow,
                   const char *v1, const char *v2)
{
    int64_t ph[RP_PHASE_COUNT];
    const char *values[2];
    rp_sample_t s;
    int i;

    for (i = 0; i < RP_PHASE_COUNT; i++) {
        ph[i] = -1;
    }
    ph[RP_PHASE_HANDLER] = 100000;
    values[0] = v1;
    values[1] = v2;
    memset(&s, 0, sizeof(s));
    s.route = route;
    s.method = "GET";
    s.uri = route;
    s.status = 200;
    s.total_us = 120000;
    s.phase_us = ph;
    s.slow = slow;
    s.cache = cache;
    s.app_values = values;
    s.n_app_values = v2 ? 2 : (v1 ? 1 : 0);
    rp_stats_record(st, &s);
}

static rp_report_t *report(void **state, rp_stats_t *st)
{
    return rp_report_build(*state, st, RP_SORT_TIME, 1700000001000000LL,
                           2000);
}

static const rp_route_view_t *route_view(const rp_report_t *r,
                                         const char *route)
{
    size_t i;

    for (i = 0; i < r->n_routes; i++) {
        if (strcmp(r->routes[i].route, route) == 0) {
            return &r->routes[i];
        }
    }
    return NULL;
}

static const rp_app_view_t *app_view(const rp_app_view_t *v, int n,
                                     const char *name)
{
    int i;

    for (i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            return &v[i];
        }
    }
    return NULL;
}

static void test_counts_sums_and_hits(void **state)
{
    void *mem;
    rp_stats_t *st = make(8, &mem);
    rp_report_t *r;
    const rp_route_view_t *v;
    const rp_app_view_t *db, *tpl, *q;

    record(st, "/inv", RP_CACHE_NONE, 0, "db;dur=10, tpl;dur=2.5", "q, q");
    record(st, "/inv", RP_CACHE_MISS, 0, "db;dur=30", NULL);
    /* a cache hit or a stale copy: the application did not run */
    record(st, "/inv", RP_CACHE_HIT, 0, "db;dur=1000", NULL);
    record(st, "/inv", RP_CACHE_STALE, 0, "db;dur=1000", NULL);
    /* junk only: nothing but the malformed counter */
    record(st, "/inv", RP_CACHE_NONE, 0, ";;;, db;dur=abc", "x;dur=-1");

    r = report(state, st);
    v = route_view(r, "/inv");
    assert_non_null(v);
    assert_int_equal(v->count, 5);
    assert_int_equal(v->n_app, 3);
    db = app_view(v->app, v->n_app, "db");
    tpl = app_view(v->app, v->n_app, "tpl");
    q = app_view(v->app, v->n_app, "q");
    assert_non_null(db);
    assert_non_null(tpl);
    assert_non_null(q);
    assert_int_equal(db->d.count, 2);
    assert_int_equal(db->d.sum, 40000);
    assert_int_equal(db->d.avg, 20000);
    assert_int_equal(db->d.max, 30000);
    assert_int_equal(db->requests, 2);
    assert_int_equal(tpl->d.sum, 2500);
    /* a metric without dur counts occurrences (of 0 us) */
    assert_int_equal(q->d.count, 2);
    assert_int_equal(q->d.sum, 0);
    assert_int_equal(q->requests, 1);
    assert_string_equal(v->app[0].name, "db");      /* first seen first */

    assert_int_equal(r->counters[RP_CTR_APP_RESPONSES], 2);
    assert_int_equal(r->counters[RP_CTR_APP_ENTRIES], 5);
    assert_int_equal(r->counters[RP_CTR_APP_MALFORMED], 3);
    assert_int_equal(r->counters[RP_CTR_APP_NAMES_OVERFLOW], 0);
    /* over all routes: the same */
    assert_int_equal(r->n_app, 3);
    assert_int_equal(app_view(r->app, r->n_app, "db")->d.sum, 40000);
    assert_string_equal(r->app[0].name, "db");      /* the most time */
    free(mem);
}

static void test_twenty_names_capped(void **state)
{
    void *mem;
    rp_stats_t *st = make(8, &mem);
    rp_report_t *r;
    const rp_route_view_t *v;
    const rp_app_view_t *other;
    char hdr[1024];
    size_t len = 0;
    int i;

    for (i = 0; i < 20; i++) {
        len += (size_t)snprintf(hdr + len, sizeof(hdr) - len,
                                "%sm%02d;dur=%d", i ? ", " : "", i, i + 1);
    }
    record(st, "/many", RP_CACHE_NONE, 0, hdr, NULL);
    record(st, "/many", RP_CACHE_NONE, 0, hdr, NULL);
    r = report(state, st);
    v = route_view(r, "/many");
    assert_int_equal(v->n_app, 9);
    for (i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%02d", i);
        assert_string_equal(v->app[i].name, name);
        assert_int_equal(v->app[i].d.count, 2);
    }
    other = &v->app[8];
    assert_string_equal(other->name, "__other__");
    assert_int_equal(other->d.count, 24);
    assert_int_equal(other->requests, 2);
    /* m08..m19 took 9..20 ms each */
    assert_int_equal(other->d.sum, 2 * (9 + 20) * 12 / 2 * 1000);
    assert_int_equal(r->counters[RP_CTR_APP_NAMES_OVERFLOW], 24);
    assert_int_equal(r->counters[RP_CTR_APP_ENTRIES], 40);
    /* the totals keep 8 names too: the most time, then __other__ */
    assert_int_equal(r->n_app, 9);
    assert_string_equal(r->app[8].name, "__other__");
    assert_int_equal(r->app[8].d.count, 24);
    free(mem);
}

static void test_other_names_on_other_routes(void **state)
{
    void *mem;
    rp_stats_t *st = make(2, &mem);
    rp_report_t *r;
    const rp_app_view_t *o;

    record(st, "/a", RP_CACHE_NONE, 0, "db;dur=5, tpl;dur=1, x;dur=7", NULL);
    record(st, "/b", RP_CACHE_NONE, 0, "search;dur=50, db;dur=5", NULL);
    r = report(state, st);
    assert_int_equal(route_view(r, "/a")->n_app, 3);       /* db tpl other */
    assert_int_equal(route_view(r, "/b")->n_app, 2);
    /* all routes: search (50 ms), db (10 ms); tpl and /a's x (in /a's
     * __other__) fold into __other__ */
    assert_int_equal(r->n_app, 3);
    assert_string_equal(r->app[0].name, "search");
    assert_string_equal(r->app[1].name, "db");
    assert_int_equal(r->app[1].d.count, 2);
    o = &r->app[2];
    assert_string_equal(o->name, "__other__");
    assert_int_equal(o->d.count, 2);
    assert_int_equal(o->d.sum, 8000);
    free(mem);
}

static void test_slow_log_sums(void **state)
{
    void *mem;
    rp_stats_t *st = make(8, &mem);
    rp_report_t *r;
    const rp_slow_entry_t *e;

    record(st, "/s", RP_CACHE_NONE, 1,
           "db;dur=1, db;dur=2, db;dur=3, tpl;dur=4, a, b, c, d, e",
           "f;dur=1, g;dur=2, h");
    r = report(state, st);
    assert_int_equal(r->n_slow, 1);
    e = &r->slow[0];
    assert_int_equal(e->app.n, RP_SLOW_APP_MAX);
    assert_string_equal(e->app.m[0].name, "db");
    assert_int_equal(e->app.m[0].us, 6000);
    assert_int_equal(e->app.m[0].count, 3);
    assert_string_equal(e->app.m[1].name, "tpl");
    /* db tpl a b c d e, then f g h together */
    assert_string_equal(e->app.m[7].name, "__other__");
    assert_int_equal(e->app.m[7].count, 3);
    assert_int_equal(e->app.m[7].us, 3000);
    /* a slow cache hit keeps no metrics */
    record(st, "/s", RP_CACHE_HIT, 1, "db;dur=1", NULL);
    r = report(state, st);
    assert_int_equal(r->slow[0].app.n, 0);
    free(mem);
}

typedef struct {
    rp_stats_t *st;
    int n;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    int i;

    for (i = 0; i < w->n; i++) {
        /* every thread brings the same new names at once */
        record(w->st, "/race", RP_CACHE_NONE, 0, "db;dur=1, tpl;dur=2",
               i % 2 ? "q" : "db;dur=3");
    }
    return NULL;
}

static void test_threads_exact(void **state)
{
    void *mem;
    rp_stats_t *st = make(8, &mem);
    pthread_t t[8];
    worker_t w = { st, 2000 };
    rp_report_t *r;
    const rp_route_view_t *v;
    int i;

    for (i = 0; i < 8; i++) {
        pthread_create(&t[i], NULL, worker, &w);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
    }
    r = report(state, st);
    v = route_view(r, "/race");
    assert_int_equal(v->count, 16000);
    /* slots claimed twice in a race are merged back into one name */
    assert_int_equal(v->n_app, 3);
    assert_int_equal(app_view(v->app, v->n_app, "db")->d.count, 24000);
    assert_int_equal(app_view(v->app, v->n_app, "db")->d.sum,
                     16000 * 1000 + 8000 * 3000);
    assert_int_equal(app_view(v->app, v->n_app, "db")->requests, 16000);
    assert_int_equal(app_view(v->app, v->n_app, "tpl")->d.count, 16000);
    assert_int_equal(app_view(v->app, v->n_app, "q")->d.count, 8000);
    assert_int_equal(r->counters[RP_CTR_APP_ENTRIES], 48000);
    assert_int_equal(r->counters[RP_CTR_APP_NAMES_OVERFLOW], 0);
    free(mem);
}

static void test_reset_and_layout(void **state)
{
    void *mem;
    rp_stats_t *st = make(8, &mem);
    rp_stats_params_t p8 = { 20, 4, 8, 2 }, p3 = { 20, 4, 3, 2 };
    rp_report_t *r;

    assert_ptr_equal(rp_stats_attach(mem, rp_stats_size(&p8), &p8), st);
    assert_null(rp_stats_attach(mem, rp_stats_size(&p8), &p3));
    assert_true(rp_stats_size(&p8) > rp_stats_size(&p3));
    assert_int_equal(rp_stats_app_slots(st), 9);
    record(st, "/r", RP_CACHE_NONE, 0, "old;dur=5", NULL);
    rp_stats_reset(st, 1700000000000000LL, 1000);
    record(st, "/r", RP_CACHE_NONE, 0, "new;dur=1", NULL);
    r = report(state, st);
    assert_int_equal(route_view(r, "/r")->n_app, 1);
    assert_string_equal(route_view(r, "/r")->app[0].name, "new");
    assert_int_equal(route_view(r, "/r")->app[0].d.count, 1);
    free(mem);
}

static void test_renderings(void **state)
{
    void *mem;
    rp_stats_t *st = make(8, &mem);
    rp_report_opts_t o;
    rp_report_t *r;
    rp_buf_t b;
    json_t *root, *app, *db, *slow;
    json_error_t err;

    memset(&o, 0, sizeof(o));
    record(st, "/inv", RP_CACHE_NONE, 1, "db;dur=40, a'b&c;dur=1", NULL);
    record(st, "/inv", RP_CACHE_NONE, 0, "db;dur=20", NULL);
    r = report(state, st);

    rp_buf_init(&b, *state, 1024);
    rp_render_json(&b, r, &o);
    root = json_loadb(b.data, b.len, 0, &err);
    assert_non_null(root);
    app = json_object_get(json_array_get(json_object_get(root, "routes"), 0),
                          "app");
    db = json_object_get(app, "db");
    assert_int_equal(json_integer_value(json_object_get(db, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(db, "avg_us")), 30000);
    assert_int_equal(json_integer_value(json_object_get(db, "max_us")), 40000);
    assert_int_equal(json_integer_value(json_object_get(db, "total_us")),
                     60000);
    assert_int_equal(json_integer_value(json_object_get(db, "requests")), 2);
    assert_non_null(json_object_get(db, "p50_us"));
    assert_non_null(json_object_get(db, "p95_us"));
    assert_non_null(json_object_get(db, "p99_us"));
    assert_non_null(json_object_get(app, "a'b&c"));
    db = json_object_get(json_object_get(root, "app"), "db");
    assert_int_equal(json_integer_value(json_object_get(db, "count")), 2);
    slow = json_array_get(json_object_get(root, "slow"), 0);
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(slow, "app"), "db")), 40000);
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(slow, "app_count"), "db")), 1);
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(root, "app_timing"), "entries")), 3);
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(root, "app_timing"), "max_names")), 8);
    json_decref(root);

    rp_buf_init(&b, *state, 1024);
    rp_render_prometheus(&b, r, &o);
    assert_non_null(strstr(rp_buf_cstr(&b),
        "reqperf_app_duration_seconds_count{route=\"/inv\",method=\"GET\","
        "metric=\"db\"} 2\n"));
    assert_non_null(strstr(rp_buf_cstr(&b),
        "reqperf_app_duration_seconds_sum{route=\"/inv\",method=\"GET\","
        "metric=\"db\"} 0.060000\n"));
    assert_non_null(strstr(rp_buf_cstr(&b),
        "reqperf_app_duration_seconds_bucket{route=\"/inv\",method=\"GET\","
        "metric=\"db\",le=\"0.025\"} 1\n"));
    assert_non_null(strstr(rp_buf_cstr(&b),
        "reqperf_app_timing_entries_total 3\n"));

    rp_buf_init(&b, *state, 1024);
    rp_render_auto(&b, r, &o);
    assert_non_null(strstr(rp_buf_cstr(&b), "\napp_db_count: 2\n"));
    assert_non_null(strstr(rp_buf_cstr(&b), "\napp_db_avg_us: 30000\n"));
    assert_non_null(strstr(rp_buf_cstr(&b), "\napp_timing_entries: 3\n"));

    rp_buf_init(&b, *state, 1024);
    rp_render_html(&b, r, &o);
    assert_non_null(strstr(rp_buf_cstr(&b), "Inside the application"));
    assert_non_null(strstr(rp_buf_cstr(&b), "a&#39;b&amp;c"));
    assert_null(strstr(rp_buf_cstr(&b), "a'b&c"));
    /* the handler's bar holds db's share: 30 ms of 100 */
    assert_non_null(strstr(rp_buf_cstr(&b),
                           "title=\"db (application, per request) 30000"));
    assert_non_null(strstr(rp_buf_cstr(&b),
                           "title=\"handler (the rest) 69500"));
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_counts_sums_and_hits),
        RP_TEST(test_twenty_names_capped),
        RP_TEST(test_other_names_on_other_routes),
        RP_TEST(test_slow_log_sums),
        RP_TEST(test_threads_exact),
        RP_TEST(test_reset_and_layout),
        RP_TEST(test_renderings),
    };

    apr_initialize();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
