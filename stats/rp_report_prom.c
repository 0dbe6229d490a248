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

void rp_render_prometheus(rp_buf_t *b, const rp_report_t *r,
                          const rp_report_opts_t *o)
{
    static const char *const classes[6] = { "other", "1xx", "2xx", "3xx",
                                            "4xx", "5xx" };
    const char *last = NULL;
    rp_buf_t labels;
    size_t i;
    int k, c;

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

    prom_head(b, "reqperf_phase_duration_seconds", "histogram",
              "Duration of each request phase");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "phase=\"%s\"", rp_phase_name(k));
        prom_histogram(b, "reqperf_phase_duration_seconds", labels,
                       r->phase_prom[k], r->phases[k].sum);
    }

    prom_app(b, r);

    prom_head(b, "reqperf_slow_requests_total", "counter",
              "Requests at or above ReqPerfSlowThreshold, by route and method");
    for (i = 0; i < r->n_routes; i++) {
        const rp_route_view_t *v = &r->routes[i];
        rp_buf_puts(b, "reqperf_slow_requests_total{");
        prom_route_labels(b, v);
        rp_buf_printf(b, "} %llu\n", (unsigned long long)v->slow);
    }

    rp_advice_prometheus(b, r);

    /* the global counters, from the one table */
    for (k = 0; k < RP_CTR_COUNT; k++) {
        const rp_counter_info_t *ci = &rp_counter_info[k];
        if (ci->prom_metric == NULL) {
            continue;
        }
        if (last == NULL || strcmp(last, ci->prom_metric) != 0) {
            prom_head(b, ci->prom_metric, "counter",
                      family_help(ci->prom_metric, ci->help));
            last = ci->prom_metric;
        }
        rp_buf_printf(b, "%s%s%s%s %llu\n", ci->prom_metric,
                      ci->prom_label ? "{" : "",
                      ci->prom_label ? ci->prom_label : "",
                      ci->prom_label ? "}" : "",
                      (unsigned long long)r->counters[k]);
    }

    if (o->n_servers > 0) {
        prom_head(b, "reqperf_memcached_up", "gauge",
                  "1 when the memcached server is in use, 0 while it is "
                  "skipped after failures");
        for (k = 0; k < o->n_servers; k++) {
            rp_buf_puts(b, "reqperf_memcached_up{server=\"");
            rp_buf_prom_label(b, o->servers[k].address,
                              strlen(o->servers[k].address));
            rp_buf_printf(b, "\"} %s\n",
                          server_state_value(o->servers[k].state));
        }
    }
    if (o->local_configured) {
        prom_head(b, "reqperf_cache_local_bytes", "gauge",
                  "Bytes of cached entries in the shared-memory tier");
        rp_buf_printf(b, "reqperf_cache_local_bytes %llu\n",
                      (unsigned long long)o->local_bytes_used);
        prom_head(b, "reqperf_cache_local_entries", "gauge",
                  "Entries in the shared-memory tier");
        rp_buf_printf(b, "reqperf_cache_local_entries %llu\n",
                      (unsigned long long)o->local_entries);
    }
    prom_head(b, "reqperf_start_time_seconds", "gauge",
              "When the statistics started (Unix time)");
    rp_buf_printf(b, "reqperf_start_time_seconds %lld\n",
                  (long long)(r->start_wall_us / 1000000));
}

