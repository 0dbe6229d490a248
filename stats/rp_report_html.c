/*
 * rp_report_html.c: the status page in HTML: summary, latency picture,
 * phases, routes, inside the application, the advisor, slow requests, the
 * page cache and memcached
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"
#include "rp_advice_report.h"

/* The latency histogram of all requests, one bar per power of two. */
static void html_histogram(rp_buf_t *b, const rp_report_t *r)
{
    rp_rep_html_histogram(b, r->total_buckets, &r->total);
}

/* The application metrics' colours, after the phases' in the legend. */
static void html_app_legend(rp_buf_t *b, const rp_report_t *r)
{
    int k;

    if (r->n_app == 0) {
        return;
    }
    rp_buf_puts(b, "<br>inside handler, as the application reports it "
                "(Server-Timing): ");
    for (k = 0; k < r->n_app; k++) {
        rp_buf_printf(b, "<span><i style=\"background:%s\"></i>",
                      rp_rep_app_color(r, r->app[k].name));
        rp_rep_html_text(b, r->app[k].name);
        rp_buf_puts(b, "</span>");
    }
}

/* "Inside the application": every route's metrics, in the routes' order,
 * then the totals over all routes and the counters of reading them. */
static void html_app_section(rp_buf_t *b, const rp_report_t *r,
                             const rp_report_opts_t *o,
                             const rp_figure_t *figs)
{
    size_t i;

    rp_buf_puts(b, "<h2 id=\"app\">Inside the application</h2><p "
                "class=\"muted\">what the backends said in their "
                "Server-Timing header (ReqPerfAppTiming). share of handler: "
                "the metric's time over the handler's, all the route's "
                "requests counted; per response: in each response of the "
                "application that carried it (a cache hit carries none), "
                "so 52 entries of one query each are 52 queries; count, "
                "avg ... max: per entry</p>");
    if (r->n_app == 0) {
        rp_buf_puts(b, "<p class=\"muted\">no backend has sent a "
                    "Server-Timing metric yet</p>");
    }
    for (i = 0; i < r->n_routes; i++) {
        if (r->routes[i].n_app > 0) {
            rp_rep_html_route_app(b, r, &r->routes[i], o);
        }
    }
    if (r->n_app > 0) {
        rp_route_view_t all;
        uint64_t requests = r->counters[RP_CTR_REQUESTS];
        memset(&all, 0, sizeof(all));
        all.route = "all routes";
        all.method = "";
        all.count = requests;
        all.phase_avg[RP_PHASE_HANDLER] = (int64_t)r->phases[RP_PHASE_HANDLER].avg;
        all.app = r->app;
        all.n_app = r->n_app;
        rp_rep_html_route_app(b, r, &all, o);
    }
    rp_buf_puts(b, "<table id=\"app-counters\">");
    rp_rep_html_figure_rows(b, figs, RP_SEC_APP);
    rp_buf_puts(b, "</table>\n");
}
/* The title line: server, time, formats. */
static void html_title(rp_buf_t *b, const rp_report_t *r,
                       const rp_report_opts_t *o)
{
    char when[80];

    rp_buf_puts(b, "<h1>mod_reqperf</h1>");
    rp_rep_html_as_of(b, r, o);
    rp_rep_iso_time(when, sizeof(when), r->start_wall_us);
    rp_buf_printf(b, "counting since %s &middot; formats: ", when);
    rp_rep_html_link(b, o, "format=json");
    rp_buf_puts(b, "JSON</a>, ");
    rp_rep_html_link(b, o, "format=prometheus");
    rp_buf_puts(b, "Prometheus</a>, ");
    rp_rep_html_link(b, o, "auto");
    rp_buf_puts(b, "auto</a></p>\n");
}

/* The figures a reader looks at first (every one of them is also in the
 * table of totals, from the tables). */
static void html_summary(rp_buf_t *b, const rp_report_t *r)
{
    static const char *const names[4] = { "p50", "p95", "p99", "max" };
    const uint64_t vals[4] = { r->total.p50, r->total.p95, r->total.p99,
                               r->total.max };
    double rate = r->uptime_s ? (double)r->counters[RP_CTR_REQUESTS]
                                / (double)r->uptime_s : 0;
    int k;

    rp_buf_printf(b, "<table class=\"summary\"><tr>"
                  "<td>uptime<br><b>%llu s</b></td>"
                  "<td>requests<br><b>%llu</b></td>"
                  "<td>requests/s (average)<br><b>%.1f</b></td>"
                  "<td>slow requests<br><b>%llu</b></td>"
                  "<td>routes<br><b>%llu</b> of %u</td>",
                  (unsigned long long)r->uptime_s,
                  (unsigned long long)r->counters[RP_CTR_REQUESTS], rate,
                  (unsigned long long)r->counters[RP_CTR_SLOW_REQUESTS],
                  (unsigned long long)r->n_routes, r->max_routes);
    for (k = 0; k < 4; k++) {
        rp_buf_printf(b, "<td>%s<br><b>", names[k]);
        rp_rep_html_us(b, vals[k]);
        rp_buf_puts(b, "</b></td>");
    }
    rp_buf_puts(b, "</tr></table>\n");
}

static void html_phases(rp_buf_t *b, const rp_report_t *r)
{
    int k;

    rp_buf_puts(b, "\n<h2>Phases</h2><table id=\"phases\"><tr><th>phase</th>"
                "<th class=\"n\">count</th><th class=\"n\">avg</th>"
                "<th class=\"n\">p50</th><th class=\"n\">p95</th>"
                "<th class=\"n\">p99</th><th class=\"n\">max</th>"
                "<th class=\"n\">time spent</th></tr>");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        const rp_dist_t *d = &r->phases[k];
        const uint64_t vals[6] = { d->avg, d->p50, d->p95, d->p99, d->max,
                                   d->sum };
        rp_buf_printf(b, "<tr><th><i style=\"display:inline-block;width:10px;"
                      "height:10px;background:%s\"></i> %s</th>"
                      "<td class=\"n\">%llu</td>",
                      rp_rep_phase_color(k), rp_phase_name(k),
                      (unsigned long long)d->count);
        rp_rep_html_us_cells(b, vals, 6);
        rp_buf_puts(b, "</tr>");
    }
    rp_buf_puts(b, "</table><p class=\"muted\">ttfb is the part of handler "
                "until the first body byte (the application's own time "
                "when it is proxied or under mod_wsgi). queue is HTTP/2's "
                "alone: a stream waiting for an h2 worker (H2MaxWorkers) "
                "after its HEADERS frame came.</p>\n");
}

/* The routes table's head: every column that sorts links to it. */
static void html_routes_head(rp_buf_t *b, const rp_report_t *r,
                             const rp_report_opts_t *o)
{
    static const struct { int sort; const char *label; } cols[] = {
        { RP_SORT_COUNT, "count" }, { RP_SORT_SLOW, "slow" },
        { RP_SORT_ERRORS, "5xx" }, { RP_SORT_TIME, "time spent" },
        { RP_SORT_AVG, "avg" }, { -1, "p50" }, { RP_SORT_P95, "p95" },
        { RP_SORT_P99, "p99" }, { RP_SORT_MAX, "max" }
    };
    int c;

    rp_buf_printf(b, "<h2>Routes</h2><p class=\"muted\">sorted by %s; "
                  "click a column to sort. recent = the last %d s.</p>",
                  rp_sort_name(r->sort), RP_RECENT_SLOTS * RP_RECENT_SLOT_S);
    rp_buf_puts(b, "<table id=\"routes\"><tr><th>route</th><th>method</th>");
    for (c = 0; c < (int)(sizeof(cols) / sizeof(cols[0])); c++) {
        rp_buf_printf(b, "<th class=\"n%s\">",
                      cols[c].sort == r->sort ? " sorted" : "");
        if (cols[c].sort >= 0) {
            char q[32];
            snprintf(q, sizeof(q), "sort=%s", rp_sort_name(cols[c].sort));
            rp_rep_html_link(b, o, q);
            rp_buf_puts(b, cols[c].label);
            rp_buf_puts(b, "</a>");
        }
        else {
            rp_buf_puts(b, cols[c].label);
        }
        rp_buf_puts(b, "</th>");
    }
    rp_buf_puts(b, "<th class=\"n\">recent count</th><th class=\"n\">recent "
                "p95</th><th class=\"n\">recent p99</th><th class=\"n\">cache "
                "hits</th><th>phases (avg)</th></tr>\n");
}

/* A route's cache cell: its hit ratio, stale copies for a failed
 * application, requests that waited on another's fill. */
static void html_route_cache(rp_buf_t *b, const rp_route_view_t *v)
{
    uint64_t lookups = v->cache[RP_CACHE_HIT] + v->cache[RP_CACHE_MISS]
                       + v->cache[RP_CACHE_STALE];

    rp_buf_puts(b, "<td class=\"n\">");
    if (lookups) {
        rp_buf_printf(b, "%.0f%%", 100.0 * (double)v->cache[RP_CACHE_HIT]
                                   / (double)lookups);
    }
    else {
        rp_buf_puts(b, "&ndash;");
    }
    if (v->stale_error) {
        rp_buf_printf(b, "<br><span class=\"warn\" title=\"served stale "
                      "because the application failed\">%llu stale: "
                      "app failed</span>",
                      (unsigned long long)v->stale_error);
    }
    if (v->lock_waits) {
        rp_buf_printf(b, "<br><span class=\"warn\" title=\"requests that "
                      "waited for another request to fill the entry\">"
                      "%llu waited</span>",
                      (unsigned long long)v->lock_waits);
    }
    rp_buf_puts(b, "</td>");
}

static void html_route_row(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v,
                           const rp_report_opts_t *o)
{
    const uint64_t dist[6] = { v->d.sum, v->d.avg, v->d.p50, v->d.p95,
                               v->d.p99, v->d.max };
    const uint64_t recent[2] = { v->recent_p95, v->recent_p99 };

    rp_buf_puts(b, "<tr><td>");
    rp_rep_html_route_link(b, o, v->route, v->method);
    rp_buf_puts(b, "</td><td>");
    rp_rep_html_text(b, v->method);
    rp_buf_printf(b, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu"
                  "</td><td class=\"n\">%llu</td>",
                  (unsigned long long)v->count,
                  (unsigned long long)v->slow,
                  (unsigned long long)v->errors);
    rp_rep_html_us_cells(b, dist, 6);
    rp_buf_printf(b, "<td class=\"n\">%llu</td>",
                  (unsigned long long)v->recent_count);
    rp_rep_html_us_cells(b, recent, 2);
    html_route_cache(b, v);
    rp_buf_puts(b, "<td>");
    rp_rep_html_phase_bar(b, r, v);
    rp_buf_puts(b, "</td></tr>\n");
}

static void html_routes(rp_buf_t *b, const rp_report_t *r,
                        const rp_report_opts_t *o)
{
    size_t i;
    int k;

    html_routes_head(b, r, o);
    for (i = 0; i < r->n_routes; i++) {
        html_route_row(b, r, &r->routes[i], o);
    }
    rp_buf_puts(b, "</table><p class=\"legend\">");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (k == RP_PHASE_TTFB) {
            continue;
        }
        rp_buf_printf(b, "<span><i style=\"background:%s\"></i>%s</span>",
                      rp_rep_phase_color(k), rp_phase_name(k));
    }
    html_app_legend(b, r);
    rp_buf_puts(b, "</p>\n");
}

/* The totals, the page cache and memcached: every figure of the tables
 * (rp_figures.h) but the application's, which are in their section. */
static void html_figures(rp_buf_t *b, const rp_figure_t *figs,
                         const rp_report_opts_t *o)
{
    int k;

    rp_buf_puts(b, "<h2>Totals</h2><table id=\"totals\">");
    rp_rep_html_figure_rows(b, figs, RP_SEC_TOP);
    rp_rep_html_figure_rows(b, figs, RP_SEC_TOTAL);
    rp_buf_puts(b, "</table>\n<h2>Page cache</h2>");
    if (!o->cache_configured) {
        rp_buf_puts(b, "<p class=\"muted\">not configured "
                    "(ReqPerfCacheServers)</p>");
    }
    rp_buf_puts(b, "<table id=\"cache\">");
    rp_rep_html_figure_rows(b, figs, RP_SEC_CACHE);
    rp_rep_html_figure_rows(b, figs, RP_SEC_PURGE);
    rp_rep_html_figure_rows(b, figs, RP_SEC_LOCAL);
    rp_buf_puts(b, "</table>\n<h2>memcached servers</h2>");
    if (o->n_servers == 0) {
        rp_buf_puts(b, "<p class=\"muted\">none</p>");
        return;
    }
    rp_buf_puts(b, "<table id=\"servers\"><tr><th>address</th>"
                "<th>state</th></tr>");
    for (k = 0; k < o->n_servers; k++) {
        rp_buf_puts(b, "<tr><td><code>");
        rp_rep_html_text(b, o->servers[k].address);
        rp_buf_puts(b, "</code></td><td class=\"");
        rp_rep_html_text(b, o->servers[k].state);
        rp_buf_puts(b, "\">");
        rp_rep_html_text(b, o->servers[k].state);
        rp_buf_puts(b, "</td></tr>");
    }
    rp_buf_puts(b, "</table>");
}

void rp_render_html(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    rp_figure_t figs[RP_FIGURE_COUNT];

    rp_figures(r, o, figs);
    rp_rep_html_head(b, o, NULL);
    html_title(b, r, o);
    html_summary(b, r);
    rp_buf_puts(b, "<h2>Latency of all requests</h2>");
    html_histogram(b, r);
    html_phases(b, r);
    html_routes(b, r, o);
    html_app_section(b, r, o, figs);
    rp_advice_html(b, r);
    rp_buf_printf(b, "<h2>Slow requests</h2><p class=\"muted\">the %llu most "
                  "recent at or above ReqPerfSlowThreshold, newest first</p>",
                  (unsigned long long)r->n_slow);
    rp_rep_html_slow_table(b, r, o, NULL);
    html_figures(b, figs, o);
    rp_buf_puts(b, "\n</body></html>\n");
}
