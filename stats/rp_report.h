/*
 * rp_report.h: what the status page shows, computed once per request.
 *
 * rp_report_build() copies the shared-memory statistics into a snapshot
 * (percentiles computed, routes sorted); the renderers turn one snapshot
 * into HTML, JSON, Prometheus text, mod_status-style `key: value`
 * lines or the section of mod_status's own page.  Every single figure
 * (the counters and the gauges of rp_counters.h) comes from the tables
 * there (rp_figures.h), so the five outputs name and show the same.  Nothing here knows
 * httpd: the glue passes what the cache knows (memcached servers, the
 * local tier) in rp_report_opts_t.
 */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include <apr_pools.h>
#include "rp_stats.h"
#include "rp_buf.h"

typedef enum {
    RP_SORT_TIME = 0,                  /* total time spent (default) */
    RP_SORT_COUNT,
    RP_SORT_P95,
    RP_SORT_P99,
    RP_SORT_MAX,
    RP_SORT_AVG,
    RP_SORT_SLOW,
    RP_SORT_ERRORS
} rp_sort_t;

/* "time", "count", "p95" ... -> rp_sort_t; -1 if unknown. */
int rp_sort_by_name(const char *name);
const char *rp_sort_name(int sort);

typedef struct {
    uint64_t count, sum, avg, p50, p95, p99, max;
} rp_dist_t;

/* One application metric (the backend's Server-Timing), of a route or of
 * all routes: d.count is its occurrences, d.sum their durations. */
typedef struct {
    const char *name;
    uint64_t requests;                         /* responses carrying it */
    rp_dist_t d;
    uint64_t prom[RP_PROM_BUCKETS];            /* not cumulative */
} rp_app_view_t;

typedef struct {
    const char *route;
    const char *method;
    uint64_t count, slow, errors;
    rp_dist_t d;
    uint64_t status_class[6];
    uint64_t cache[RP_CACHE_RESULTS];
    uint64_t stale_error;
    int64_t phase_avg[RP_PHASE_COUNT];         /* -1: no data */
    uint64_t prom[RP_PROM_BUCKETS];            /* not cumulative */
    uint64_t recent_count, recent_p95, recent_p99;
    rp_app_view_t *app;                        /* first seen first, */
    int n_app;                                 /* __other__ last */
    int has_rec;                               /* from a record: */
    uint32_t rec_index;                        /* its number (route page) */
    uint64_t recent_p50;
    uint64_t lock_waits, lock_wait_us;         /* waited on another's fill */
    uint64_t xcache[RP_XCACHE_COUNT];          /* by X-Cache value sent */
    struct rp_advice_view_t *advice;           /* the cache advisor's
                                                  figures, or NULL */
} rp_route_view_t;

typedef struct {
    int64_t now_wall_us;
    int64_t start_wall_us;
    uint64_t uptime_s;
    uint64_t counters[RP_CTR_COUNT];
    rp_dist_t total;
    uint64_t total_buckets[RP_HIST_BUCKETS];   /* for the histogram picture */
    rp_dist_t phases[RP_PHASE_COUNT];
    uint64_t phase_prom[RP_PHASE_COUNT][RP_PROM_BUCKETS];
    rp_route_view_t *routes;
    size_t n_routes;
    uint32_t max_routes;
    rp_slow_entry_t *slow;
    size_t n_slow;
    int sort;
    /* over all routes: the ReqPerfAppTimingMaxNames names with the most
     * time (then occurrences), the others folded into __other__ (last) */
    rp_app_view_t *app;
    int n_app;
    uint32_t app_names;
} rp_report_t;

typedef struct {
    const char *address;
    const char *state;                         /* "up", "down", "retrying" */
} rp_report_server_t;

typedef struct rp_report_opts_t {
    const char *server_name;                   /* for the HTML title */
    const char *self_path;                     /* the status URI, for links */
    int refresh_s;                             /* 0: no reload */
    int cache_configured;
    const rp_report_server_t *servers;
    int n_servers;
    int local_configured;
    uint64_t local_bytes_used;
    uint64_t local_bytes_total;
    uint64_t local_entries;
} rp_report_opts_t;

rp_report_t *rp_report_build(apr_pool_t *p, rp_stats_t *st, int sort,
                             int64_t now_wall_us, int64_t now_mono_us);

void rp_render_json(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o);
void rp_render_prometheus(rp_buf_t *b, const rp_report_t *r,
                          const rp_report_opts_t *o);
void rp_render_auto(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o);
void rp_render_html(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o);
/* The mod_reqperf section of mod_status's /server-status: ?auto lines
 * (ReqPerfRequests: N ...) and HTML (rp_report_status.c). */
void rp_render_status_auto(rp_buf_t *b, const rp_report_t *r,
                           const rp_report_opts_t *o);
void rp_render_status_html(rp_buf_t *b, const rp_report_t *r,
                           const rp_report_opts_t *o);

/* The page of one route (?route=...&method=..., rp_report_route.c).
 * rp_report_route_find: its view in r, or NULL when the route was never
 * seen (method NULL or "": the route's busiest method). */
rp_route_view_t *rp_report_route_find(const rp_report_t *r,
                                      const char *route, const char *method);
void rp_render_route_html(rp_buf_t *b, const rp_report_t *r,
                          rp_stats_t *st, const rp_route_view_t *v,
                          const rp_report_opts_t *o);
void rp_render_route_json(rp_buf_t *b, const rp_report_t *r,
                          rp_stats_t *st, const rp_route_view_t *v,
                          const rp_report_opts_t *o);
/* The 404 page of a route never seen (HTML; JSON: {"error": ...}). */
void rp_render_route_unknown(rp_buf_t *b, const char *route,
                             const char *method, int json,
                             const rp_report_opts_t *o);

#endif
