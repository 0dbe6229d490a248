/*
 * rp_report_prom.c: the status page as Prometheus text exposition 0.0.4
 * (?format=prometheus)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"
#include "rp_advice_report.h"

static const char *server_state_value(const char *state)
{
    return strcmp(state, "up") == 0 ? "1" : "0";
}


static void prom_route_labels(rp_buf_t *b, const rp_route_view_t *v)
{
    rp_buf_puts(b, "route=\"");
    rp_buf_prom_label(b, v->route, strlen(v->route));
    rp_buf_puts(b, "\",method=\"");
    rp_buf_prom_label(b, v->method, strlen(v->method));
    rp_buf_puts(b, "\"");
}

/* One histogram series: cumulative _bucket lines, _sum and _count, all
 * from the same copy of the counts (so +Inf always equals _count).
 * labels: the series' labels, already escaped, without braces. */
static void prom_histogram(rp_buf_t *b, const char *name, const char *labels,
                           const uint64_t *prom, uint64_t sum_us)
{
    uint64_t cum = 0;
    int k;

    for (k = 0; k < RP_PROM_BUCKETS; k++) {
        cum += prom[k];
        rp_buf_printf(b, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels,
                      k < RP_PROM_BUCKETS - 1 ? rp_prom_bounds_le[k] : "+Inf",
                      (unsigned long long)cum);
    }
    rp_buf_printf(b, "%s_sum{%s} %llu.%06llu\n%s_count{%s} %llu\n", name,
                  labels, (unsigned long long)(sum_us / 1000000),
                  (unsigned long long)(sum_us % 1000000), name, labels,
                  (unsigned long long)cum);
}

static void prom_head(rp_buf_t *b, const char *name, const char *type,
                      const char *help)
{
    rp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *family_help(const char *metric, const char *fallback)
{
#define RP_FAMILY_HELP(name, help) \
    if (strcmp(metric, name) == 0) { return help; }
    RP_PROM_FAMILIES(RP_FAMILY_HELP)
#undef RP_FAMILY_HELP
    return fallback;
}

/* reqperf_app_duration_seconds{route,method,metric}: what the backends
 * said in Server-Timing (a metric without dur is an observation of 0). */
static void prom_app(rp_buf_t *b, const rp_report_t *r)
{
    rp_buf_t labels;
    size_t i;
    int k;

    prom_head(b, "reqperf_app_duration_seconds", "histogram",
              "Time the application reported in its Server-Timing header, "
              "by route, method and metric");
    rp_buf_init(&labels, b->pool, 256);
    for (i = 0; i < r->n_routes; i++) {
        const rp_route_view_t *v = &r->routes[i];
        for (k = 0; k < v->n_app; k++) {
            labels.len = 0;
            prom_route_labels(&labels, v);
            rp_buf_puts(&labels, ",metric=\"");
            rp_buf_prom_label(&labels, v->app[k].name,
                              strlen(v->app[k].name));
            rp_buf_puts(&labels, "\"");
            prom_histogram(b, "reqperf_app_duration_seconds",
                           rp_buf_cstr(&labels), v->app[k].prom,
                           v->app[k].d.sum);
        }
    }
}

/* reqperf_requests_total{route,method,status_class} and the
 * reqperf_request_duration_seconds histogram of each route. */
static void prom_routes(rp_buf_t *b, const rp_report_t *r)
{
    static const char *const classes[6] = { "other", "1xx", "2xx", "3xx",
                                            "4xx", "5xx" };
    rp_buf_t labels;
    size_t i;
    int c;

    prom_head(b, "reqperf_requests_total", "counter",
              "Requests timed, by route, method and status class");
    for (i = 0; i < r->n_routes; i++) {
        const rp_route_view_t *v = &r->routes[i];
        for (c = 0; c < 6; c++) {
            if (v->status_class[c] == 0) {
                continue;
            }
            rp_buf_puts(b, "reqperf_requests_total{");
            prom_route_labels(b, v);
            rp_buf_printf(b, ",status_class=\"%s\"} %llu\n", classes[c],
                          (unsigned long long)v->status_class[c]);
        }
    }
    prom_head(b, "reqperf_request_duration_seconds", "histogram",
              "Request duration (read to end of logging), by route and method");
    rp_buf_init(&labels, b->pool, 256);
    for (i = 0; i < r->n_routes; i++) {
        labels.len = 0;
        prom_route_labels(&labels, &r->routes[i]);
        prom_histogram(b, "reqperf_request_duration_seconds",
                       rp_buf_cstr(&labels), r->routes[i].prom,
                       r->routes[i].d.sum);
    }
}

static void prom_phases(rp_buf_t *b, const rp_report_t *r)
{
    int k;

    prom_head(b, "reqperf_phase_duration_seconds", "histogram",
              "Duration of each request phase");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "phase=\"%s\"", rp_phase_name(k));
        prom_histogram(b, "reqperf_phase_duration_seconds", labels,
                       r->phase_prom[k], r->phases[k].sum);
    }
}

static void prom_slow(rp_buf_t *b, const rp_report_t *r)
{
    size_t i;

    prom_head(b, "reqperf_slow_requests_total", "counter",
              "Requests at or above ReqPerfSlowThreshold, by route and method");
    for (i = 0; i < r->n_routes; i++) {
        const rp_route_view_t *v = &r->routes[i];
        rp_buf_puts(b, "reqperf_slow_requests_total{");
        prom_route_labels(b, v);
        rp_buf_printf(b, "} %llu\n", (unsigned long long)v->slow);
    }
}

/* Every figure of the tables (rp_figures.h) that has a metric and is
 * shown; rows of one family follow each other, so one HELP each. */
static void prom_figures(rp_buf_t *b, const rp_figure_t *figs)
{
    const char *last = NULL;
    int k;

    for (k = 0; k < RP_FIGURE_COUNT; k++) {
        const rp_figure_t *f = &figs[k];
        if (f->prom_metric == NULL || !f->shown) {
            continue;
        }
        if (last == NULL || strcmp(last, f->prom_metric) != 0) {
            prom_head(b, f->prom_metric, f->is_gauge ? "gauge" : "counter",
                      family_help(f->prom_metric, f->help));
            last = f->prom_metric;
        }
        rp_buf_printf(b, "%s%s%s%s %llu\n", f->prom_metric,
                      f->prom_label ? "{" : "",
                      f->prom_label ? f->prom_label : "",
                      f->prom_label ? "}" : "",
                      (unsigned long long)f->value);
    }
}

/* reqperf_memcached_up{server}: each server's health. */
static void prom_servers(rp_buf_t *b, const rp_report_opts_t *o)
{
    int k;

    if (o->n_servers == 0) {
        return;
    }
    prom_head(b, "reqperf_memcached_up", "gauge",
              "1 when the memcached server is in use, 0 while it is "
              "skipped after failures");
    for (k = 0; k < o->n_servers; k++) {
        rp_buf_puts(b, "reqperf_memcached_up{server=\"");
        rp_buf_prom_label(b, o->servers[k].address,
                          strlen(o->servers[k].address));
        rp_buf_printf(b, "\"} %s\n", server_state_value(o->servers[k].state));
    }
}

void rp_render_prometheus(rp_buf_t *b, const rp_report_t *r,
                          const rp_report_opts_t *o)
{
    rp_figure_t figs[RP_FIGURE_COUNT];

    rp_figures(r, o, figs);
    prom_routes(b, r);
    prom_phases(b, r);
    prom_app(b, r);
    prom_slow(b, r);
    rp_advice_prometheus(b, r);
    prom_figures(b, figs);
    prom_servers(b, o);
}
