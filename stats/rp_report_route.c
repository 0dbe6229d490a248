/*
 * rp_report_route.c: the page of one route (?route=...&method=...).
 *
 * Everything the status page knows of one route and method, on one
 * page: its latency histogram with p50/p95/p99 marked, lifetime and
 * last-minute figures side by side, its phases (lifetime and last
 * minute), what the application said about itself (Server-Timing), what
 * the cache did (every X-Cache value it sent, the requests that waited on
 * another's fill) and its own slow requests.  ?format=json gives one
 * object with the same figures; every figure on the HTML page carries
 * data-k, the JSON Pointer of its value in that object, and data-v, the
 * value itself, so the two can be checked against each other.
 *
 * Built from the same snapshot (rp_report_build) as the overview, with
 * the pieces of rp_report.c it shares (rp_report_int.h).
 */
#include <stdio.h>
#include <string.h>
#include "rp_report_int.h"
#include "rp_advice_report.h"

rp_route_view_t *rp_report_route_find(const rp_report_t *r,
                                      const char *route, const char *method)
{
    size_t i;

    if (route == NULL) {
        return NULL;
    }
    /* without a method: the first in the report's order (by time spent
     * unless sorted otherwise), the route's busiest */
    for (i = 0; i < r->n_routes; i++) {
        rp_route_view_t *v = &r->routes[i];
        if (strcmp(v->route, route) == 0
            && (method == NULL || *method == '\0'
                || strcmp(v->method, method) == 0)) {
            return v;
        }
    }
    return NULL;
}

/* What the route page adds to the view: the histogram's buckets and the
 * last minute's phases. */
typedef struct {
    uint64_t buckets[RP_HIST_BUCKETS];
    int64_t recent_phase_avg[RP_PHASE_COUNT];
    uint64_t recent_phase_count[RP_PHASE_COUNT];
} route_extra_t;

static void route_extra(rp_stats_t *st, const rp_route_view_t *v,
                        route_extra_t *x)
{
    rp_hist_snap_t snap;
    rp_route_rec_t rec;                    /* read again: a summed copy */

    memset(x, 0, sizeof(*x));
    if (!v->has_rec || rp_stats_record_read(st, v->rec_index, &rec) == NULL) {
        int k;
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            x->recent_phase_avg[k] = -1;
        }
        return;
    }
    rp_hist_snapshot(&rec.h, &snap);
    memcpy(x->buckets, snap.b, sizeof(x->buckets));
    rp_stats_recent_phases(st, &rec, x->recent_phase_avg,
                           x->recent_phase_count);
}

static int same_route(const rp_slow_entry_t *e, const rp_route_view_t *v)
{
    return strcmp(e->route, v->route) == 0
           && strcmp(e->method, v->method) == 0;
}

/* ---------------------------------------------------------------- */
/* JSON                                                              */

void rp_render_route_json(rp_buf_t *b, const rp_report_t *r,
                          rp_stats_t *st, const rp_route_view_t *v,
                          const rp_report_opts_t *o)
{
    route_extra_t x;
    uint64_t oct[48];
    size_t i;
    int k, first = 1;

    (void)o;
    route_extra(st, v, &x);
    rp_buf_puts(b, "{");
    rp_rep_json_route_fields(b, v);
    rp_buf_puts(b, ",\"recent_phases\":");
    rp_rep_json_phases(b, x.recent_phase_avg);
    /* the histogram as drawn: one bin per power of two that has any */
    rp_buf_puts(b, ",\"histogram\":[");
    rp_rep_histogram_octaves(x.buckets, oct);
    for (k = 0; k < 48; k++) {
        if (oct[k] == 0) {
            continue;
        }
        rp_buf_printf(b, "%s{\"from_us\":%llu,\"to_us\":%llu,\"count\":%llu}",
                      first ? "" : ",", (unsigned long long)(1ULL << k),
                      (unsigned long long)((2ULL << k) - 1),
                      (unsigned long long)oct[k]);
        first = 0;
    }
    /* ("slow" is the route's count of slow requests) */
    rp_buf_puts(b, "],\"slow_requests\":[");
    first = 1;
    for (i = 0; i < r->n_slow; i++) {
        if (!same_route(&r->slow[i], v)) {
            continue;
        }
        rp_buf_puts(b, first ? "" : ",");
        first = 0;
        rp_rep_json_slow_entry(b, &r->slow[i]);
    }
    /* (the cache advisor's "advice" is among the route's fields) */
    rp_buf_puts(b, "]}\n");
}

/* ---------------------------------------------------------------- */
/* HTML                                                              */

/* One row of the side-by-side table: a label, the lifetime figure and
 * the last minute's (recent_leaf NULL: not kept for the last minute). */
static void side_row(rp_buf_t *b, const char *label, const char *leaf,
                     uint64_t value, const char *recent_leaf,
                     uint64_t recent_value, int is_us)
{
    rp_buf_printf(b, "<tr><th>%s</th>", label);
    rp_rep_html_cell_k(b, "", NULL, leaf, value, is_us);
    if (recent_leaf != NULL) {
        rp_rep_html_cell_k(b, "/recent", NULL, recent_leaf, recent_value,
                           is_us);
    }
    else {
        rp_buf_puts(b, "<td class=\"n muted\">&ndash;</td>");
    }
    rp_buf_puts(b, "</tr>");
}

static void html_latency(rp_buf_t *b, const rp_route_view_t *v,
                         const route_extra_t *x)
{
    static const char *const classes[6] = { "", "1xx", "2xx", "3xx", "4xx",
                                            "5xx" };
    int c;

    rp_buf_printf(b, "<div class=\"cols\"><table id=\"figures\"><tr><th></th>"
                  "<th class=\"n\">lifetime</th><th class=\"n\">last %d s"
                  "</th></tr>", RP_RECENT_SLOTS * RP_RECENT_SLOT_S);
    side_row(b, "requests", "count", v->count, "count", v->recent_count, 0);
    side_row(b, "slow", "slow", v->slow, NULL, 0, 0);
    side_row(b, "5xx", "errors", v->errors, NULL, 0, 0);
    for (c = 1; c <= 5; c++) {
        char label[32], leaf[32];
        if (v->status_class[c] == 0 || c == 5) {
            continue;
        }
        snprintf(label, sizeof(label), "status %s", classes[c]);
        snprintf(leaf, sizeof(leaf), "status/%s", classes[c]);
        side_row(b, label, leaf, v->status_class[c], NULL, 0, 0);
    }
    side_row(b, "time spent", "total_us", v->d.sum, NULL, 0, 1);
    side_row(b, "avg", "avg_us", v->d.avg, NULL, 0, 1);
    side_row(b, "p50", "p50_us", v->d.p50, "p50_us", v->recent_p50, 1);
    side_row(b, "p95", "p95_us", v->d.p95, "p95_us", v->recent_p95, 1);
    side_row(b, "p99", "p99_us", v->d.p99, "p99_us", v->recent_p99, 1);
    side_row(b, "max", "max_us", v->d.max, NULL, 0, 1);
    rp_buf_puts(b, "</table><div>");
    rp_rep_html_histogram(b, x->buckets, &v->d);
    rp_buf_puts(b, "<p class=\"muted\">all of the route's requests, one bar "
                "per power of two; dashed: p50, p95, p99 (lifetime)</p>"
                "</div></div>\n");
}

static void html_phases(rp_buf_t *b, const rp_report_t *r,
                        const rp_route_view_t *v, const route_extra_t *x)
{
    int k;

    rp_buf_printf(b, "<h2>Phases</h2><table id=\"route-phases\"><tr>"
                  "<th>phase</th><th class=\"n\">avg, lifetime</th>"
                  "<th class=\"n\">avg, last %d s</th></tr>",
                  RP_RECENT_SLOTS * RP_RECENT_SLOT_S);
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (v->phase_avg[k] < 0 && x->recent_phase_avg[k] < 0) {
            continue;
        }
        rp_buf_printf(b, "<tr><th><i style=\"display:inline-block;width:10px;"
                      "height:10px;background:%s\"></i> %s</th>",
                      rp_rep_phase_color(k), rp_phase_name(k));
        if (v->phase_avg[k] >= 0) {
            rp_rep_html_cell_k(b, "/phases", rp_phase_name(k), NULL,
                               (uint64_t)v->phase_avg[k], 1);
        }
        else {
            rp_buf_puts(b, "<td class=\"n muted\">&ndash;</td>");
        }
        if (x->recent_phase_avg[k] >= 0) {
            rp_rep_html_cell_k(b, "/recent_phases", rp_phase_name(k), NULL,
                               (uint64_t)x->recent_phase_avg[k], 1);
        }
        else {
            rp_buf_puts(b, "<td class=\"n muted\">&ndash;</td>");
        }
        rp_buf_puts(b, "</tr>");
    }
    rp_buf_puts(b, "</table><p class=\"legend\">lifetime, each phase's "
                "share of the average request (handler split into what "
                "the application reported): </p>");
    rp_rep_html_phase_bar(b, r, v);
    rp_buf_puts(b, "\n");
}

/* One cache row: a label, its count (data-k), what it means. */
static void cache_row(rp_buf_t *b, const char *label, const char *prefix,
                      const char *name, const char *leaf, uint64_t n,
                      int is_us, const char *help, int sub)
{
    rp_buf_printf(b, "<tr%s><th>", sub ? " class=\"sub\"" : "");
    if (sub) {
        rp_buf_puts(b, "&emsp;<code>");
    }
    rp_rep_html_text(b, label);
    rp_buf_puts(b, sub ? "</code></th>" : "</th>");
    rp_rep_html_cell_k(b, prefix, name, leaf, n, is_us);
    rp_buf_puts(b, "<td class=\"help\">");
    rp_rep_html_text(b, help);
    rp_buf_puts(b, "</td></tr>");
}

static void html_cache(rp_buf_t *b, const rp_route_view_t *v)
{
    static const struct { int result; const char *name; const char *help; }
    results[] = {
        { RP_CACHE_HIT, "hit", "served from the cache, the application "
                               "not asked" },
        { RP_CACHE_STALE, "stale", "an expired copy served, and why" },
        { RP_CACHE_MISS, "miss", "looked up, went to the backend" },
        { RP_CACHE_BYPASS, "bypass", "the cache not used, and why "
                                     "(X-Cache: BYPASS <reason>)" }
    };
    uint64_t considered = 0;
    size_t i;
    int k;

    for (i = 0; i < RP_CACHE_RESULTS; i++) {
        considered += v->cache[i];
    }
    rp_buf_puts(b, "<h2>Cache</h2>");
    if (considered == 0) {
        rp_buf_puts(b, "<p class=\"muted\">the cache was not considered for "
                    "this route (ReqPerfCache is not On where it is "
                    "served)</p>\n");
        return;
    }
    rp_buf_puts(b, "<p class=\"muted\">every result, split by the X-Cache "
                "value sent (the same words are in the reqperf-cache "
                "note)</p><table id=\"route-cache\">");
    for (i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
        cache_row(b, results[i].name, "/cache", NULL, results[i].name,
                  v->cache[results[i].result], 0, results[i].help, 0);
        for (k = 0; k < RP_XCACHE_COUNT; k++) {
            if (rp_xcache_info[k].result != results[i].result
                || v->xcache[k] == 0) {
                continue;
            }
            cache_row(b, rp_xcache_info[k].value, "/cache/x_cache",
                      rp_xcache_info[k].value, NULL, v->xcache[k], 0,
                      rp_xcache_info[k].help, 1);
        }
    }
    if (v->xcache[RP_XC_OTHER]) {
        cache_row(b, rp_xcache_info[RP_XC_OTHER].value, "/cache/x_cache",
                  rp_xcache_info[RP_XC_OTHER].value, NULL,
                  v->xcache[RP_XC_OTHER], 0, rp_xcache_info[RP_XC_OTHER].help,
                  1);
    }
    cache_row(b, "stale: application failed", "/cache", NULL, "stale_error",
              v->stale_error, 0, "stale copies served because the "
              "application failed (X-Cache: STALE error)", 0);
    cache_row(b, "waited for the fill", "/cache", NULL, "lock_waits",
              v->lock_waits, 0, "requests that queued behind another "
              "request filling the entry (the stampede lock), whatever "
              "they got then: HIT wait, MISS wait, STALE timeout", 0);
    cache_row(b, "time waited", "/cache", NULL, "lock_wait_us",
              v->lock_wait_us, 1, "all of their waiting, added up", 0);
    cache_row(b, "average wait", "/cache", NULL, "lock_wait_avg_us",
              v->lock_waits ? v->lock_wait_us / v->lock_waits : 0, 1,
              "per request that waited", 0);
    rp_buf_puts(b, "</table>\n");
}

void rp_render_route_html(rp_buf_t *b, const rp_report_t *r,
                          rp_stats_t *st, const rp_route_view_t *v,
                          const rp_report_opts_t *o)
{
    route_extra_t x;
    size_t i, n_slow = 0;
    rp_buf_t q;

    route_extra(st, v, &x);
    rp_rep_html_head(b, o, v->route);
    rp_buf_puts(b, "<h1 id=\"route\"><code>");
    rp_rep_html_text_wrap(b, v->route);
    rp_buf_puts(b, "</code> ");
    rp_rep_html_text(b, v->method);
    rp_buf_puts(b, "</h1>");
    rp_rep_html_as_of(b, r, o);
    rp_buf_puts(b, "<span class=\"noprint\">");
    rp_rep_html_link(b, o, "sort=time");
    rp_buf_puts(b, "all routes</a> &middot; ");
    rp_buf_init(&q, b->pool, 256);
    rp_buf_puts(&q, "format=json&amp;route=");
    rp_rep_url_component(&q, v->route);
    rp_buf_puts(&q, "&amp;method=");
    rp_rep_url_component(&q, v->method);
    rp_rep_html_link(b, o, rp_buf_cstr(&q));
    rp_buf_puts(b, "JSON</a></span></p>\n<h2>Latency</h2>");
    html_latency(b, v, &x);
    html_phases(b, r, v, &x);

    rp_buf_puts(b, "<h2>Inside the application</h2>");
    if (v->n_app > 0) {
        rp_rep_html_route_app(b, r, v, o);
    }
    else {
        rp_buf_puts(b, "<p class=\"muted\">the application sent no "
                    "Server-Timing metric for this route "
                    "(ReqPerfAppTiming)</p>\n");
    }

    html_cache(b, v);
    if (v->advice != NULL) {
        rp_buf_puts(b, "<h2>What caching would save</h2>");
        rp_advice_html_route(b, v);
    }

    for (i = 0; i < r->n_slow; i++) {
        n_slow += same_route(&r->slow[i], v);
    }
    rp_buf_printf(b, "<h2>Slow requests</h2><p class=\"muted\">the %llu of "
                  "this route among the %llu most recent at or above "
                  "ReqPerfSlowThreshold, newest first</p>",
                  (unsigned long long)n_slow, (unsigned long long)r->n_slow);
    rp_rep_html_slow_table(b, r, o, v);
    rp_buf_puts(b, "\n</body></html>\n");
}

void rp_render_route_unknown(rp_buf_t *b, const char *route,
                             const char *method, int json,
                             const rp_report_opts_t *o)
{
    if (json) {
        rp_buf_puts(b, "{\"error\":\"no such route: this route and method "
                    "have not been seen since the statistics started\","
                    "\"route\":");
        rp_rep_json_str(b, route ? route : "");
        rp_buf_puts(b, ",\"method\":");
        if (method != NULL && *method) {
            rp_rep_json_str(b, method);
        }
        else {
            rp_buf_puts(b, "null");
        }
        rp_buf_puts(b, "}\n");
        return;
    }
    rp_rep_html_head(b, o, "no such route");
    rp_buf_puts(b, "<h1>No such route</h1><p>mod_reqperf has not seen the "
                "route <code>");
    rp_rep_html_text_wrap(b, route ? route : "");
    rp_buf_puts(b, "</code>");
    if (method != NULL && *method) {
        rp_buf_puts(b, " with the method <code>");
        rp_rep_html_text(b, method);
        rp_buf_puts(b, "</code>");
    }
    rp_buf_puts(b, " since the statistics started (a route is a grouped "
                "path such as <code>/invoices/{id}</code>, as listed on the "
                "status page).</p><p>");
    rp_rep_html_link(b, o, "sort=time");
    rp_buf_puts(b, "All routes</a></p>\n</body></html>\n");
}
