/*
 * fuzz_servertiming.c: a backend's Server-Timing header, arbitrary bytes
 * (stats/rp_servertiming.c), then through the statistics to the status
 * page.  Every metric read has a valid lower-case token name of at most
 * 32 bytes and a bounded dur; recorded on a route (the lines split at
 * '\n', as several header lines; a quarter of the inputs), they give JSON
 * that parses (jansson) whose metric names are all such names, and HTML
 * where those holding '&' or '\'' never appear unescaped.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "stats/rp_report.h"

#define LINES 4

static void check_names(json_t *app)
{
    const char *name;
    json_t *v;

    json_object_foreach(app, name, v) {
        if (strcmp(name, RP_APP_OTHER) != 0
            && !rp_st_valid_name(name, strlen(name))) {
            abort();
        }
        if (!json_is_integer(json_object_get(v, "count"))) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    static void *mem;
    static rp_stats_t *st;
    static const rp_stats_params_t params = { 4, 2, 3, 1 };
    int64_t ph[RP_PHASE_COUNT];
    const char *values[LINES];
    rp_st_cursor_t c;
    rp_st_metric_t m;
    uint32_t malformed = 0;
    rp_report_opts_t o;
    rp_report_t *r;
    rp_sample_t s;
    apr_pool_t *p;
    rp_buf_t b;
    json_t *root, *routes;
    json_error_t err;
    size_t i, start;
    int n = 0;

    if (!init) {
        apr_initialize();
        mem = calloc(1, rp_stats_size(&params));
        st = rp_stats_init(mem, rp_stats_size(&params), &params, 0, 0);
        init = 1;
    }
    rp_st_init(&c, (const char *)data, size);
    while (rp_st_next(&c, &m, &malformed)) {
        if (!rp_st_valid_name(m.name, m.name_len)
            || strlen(m.name) != m.name_len
            || m.dur_us > RP_ST_DUR_MAX_MS * 1000
            || (!m.has_dur && m.dur_us != 0)) {
            abort();
        }
    }
    if (malformed > size) {
        abort();
    }
    /* the statistics and the page cost some fifty times the parse: a
     * quarter of the inputs go that far (chosen by their length, so that
     * a run is repeatable), the parser gets the fuzzer's time */
    if (size % 4 != 0) {
        return 0;
    }

    apr_pool_create(&p, NULL);
    for (i = 0, start = 0; i <= size && n < LINES; i++) {
        if (i == size || data[i] == '\n') {
            values[n++] = apr_pstrndup(p, (const char *)data + start,
                                       i - start);
            start = i + 1;
        }
    }
    rp_stats_reset(st, 0, 0);
    for (i = 0; i < RP_PHASE_COUNT; i++) {
        ph[i] = (int64_t)i * 10;
    }
    memset(&s, 0, sizeof(s));
    s.route = "/fuzz";
    s.method = "GET";
    s.uri = "/fuzz";
    s.status = 200;
    s.total_us = 1000;
    s.phase_us = ph;
    s.slow = 1;
    s.app_values = values;
    s.n_app_values = n;
    rp_stats_record(st, &s);
    rp_stats_record(st, &s);

    memset(&o, 0, sizeof(o));
    r = rp_report_build(p, st, RP_SORT_TIME, 0, 0);
    rp_buf_init(&b, p, 4096);
    rp_render_json(&b, r, &o);
    root = json_loadb(b.data, b.len, 0, &err);
    if (root == NULL) {
        abort();
    }
    check_names(json_object_get(root, "app"));
    routes = json_object_get(root, "routes");
    for (i = 0; i < json_array_size(routes); i++) {
        check_names(json_object_get(json_array_get(routes, i), "app"));
    }
    json_decref(root);

    rp_buf_init(&b, p, 4096);
    rp_render_html(&b, r, &o);
    for (i = 0; i < (size_t)r->n_app; i++) {
        /* where the legend and the bar's title would show it raw */
        const char *raw_legend = apr_pstrcat(p, "</i>", r->app[i].name,
                                             "</span>", NULL);
        const char *raw_title = apr_pstrcat(p, "title=\"", r->app[i].name,
                                            " (application", NULL);
        if ((strchr(r->app[i].name, '&') || strchr(r->app[i].name, '\''))
            && (strstr(rp_buf_cstr(&b), raw_legend) != NULL
                || strstr(rp_buf_cstr(&b), raw_title) != NULL)) {
            abort();
        }
    }
    /* the route's own page: its JSON parses and names the metrics as
     * they are; on the HTML page, each metric's figures carry its name
     * as a JSON Pointer token, '~' and '/' escaped, '&' and '\'' as
     * entities */
    {
        rp_route_view_t *v = rp_report_route_find(r, "/fuzz", "GET");
        if (v == NULL) {
            abort();
        }
        rp_buf_init(&b, p, 4096);
        rp_render_route_json(&b, r, st, v, &o);
        root = json_loadb(b.data, b.len, 0, &err);
        if (root == NULL) {
            abort();
        }
        check_names(json_object_get(root, "app"));
        json_decref(root);
        rp_buf_init(&b, p, 4096);
        rp_render_route_html(&b, r, st, v, &o);
        for (i = 0; i < (size_t)v->n_app; i++) {
            const char *raw = apr_pstrcat(p, "data-k=\"/app/", v->app[i].name,
                                          "/", NULL);
            if (strpbrk(v->app[i].name, "~/&'") != NULL
                && strstr(rp_buf_cstr(&b), raw) != NULL) {
                abort();
            }
        }
    }
    /* (Prometheus: the same names through rp_buf_prom_label, which
     * fuzz_escape covers; rendering it here would halve the speed) */
    apr_pool_destroy(p);
    return 0;
}
