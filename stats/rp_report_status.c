/*
 * rp_report_status.c: the mod_reqperf section of mod_status's
 * /server-status: under ?auto one `ReqPerf<Key>: value` line per figure
 * of the tables (rp_figures.h), in HTML a line of the main figures, the
 * five routes with the most time, and every figure of the tables folded
 * in a <details> (no script).  The glue writes what these return.
 */
#include <stdio.h>
#include <string.h>
#include "rp_report_int.h"

void rp_render_status_auto(rp_buf_t *b, const rp_report_t *r,
                           const rp_report_opts_t *o)
{
    rp_rep_figure_lines(b, r, o, 1);
}

static void status_top_routes(rp_buf_t *b, const rp_report_t *r)
{
    size_t i;

    rp_buf_puts(b, "<table><tr><th>route</th><th>method</th><th>count</th>"
                "<th>time spent (ms)</th><th>p95 (ms)</th></tr>\n");
    for (i = 0; i < r->n_routes && i < 5; i++) {
        const rp_route_view_t *v = &r->routes[i];
        rp_buf_puts(b, "<tr><td>");
        rp_rep_html_text(b, v->route);
        rp_buf_puts(b, "</td><td>");
        rp_rep_html_text(b, v->method);
        rp_buf_printf(b, "</td><td>%llu</td><td>%.1f</td><td>%.1f</td>"
                      "</tr>\n", (unsigned long long)v->count,
                      (double)v->d.sum / 1000.0, (double)v->d.p95 / 1000.0);
    }
    rp_buf_puts(b, "</table>\n");
}

void rp_render_status_html(rp_buf_t *b, const rp_report_t *r,
                           const rp_report_opts_t *o)
{
    rp_figure_t figs[RP_FIGURE_COUNT];
    int s;

    rp_figures(r, o, figs);
    rp_buf_printf(b, "<hr />\n<h2>mod_reqperf</h2>\n<dl><dt>%llu requests "
                  "timed, %llu slow; p95 %llu &micro;s, p99 %llu &micro;s; "
                  "cache %llu hits, %llu misses</dt></dl>\n",
                  (unsigned long long)r->counters[RP_CTR_REQUESTS],
                  (unsigned long long)r->counters[RP_CTR_SLOW_REQUESTS],
                  (unsigned long long)r->total.p95,
                  (unsigned long long)r->total.p99,
                  (unsigned long long)r->counters[RP_CTR_CACHE_HIT],
                  (unsigned long long)r->counters[RP_CTR_CACHE_MISS]);
    status_top_routes(b, r);
    rp_buf_puts(b, "<details><summary>every figure</summary>"
                "<table id=\"reqperf-figures\">");
    for (s = 0; s < RP_SEC_COUNT; s++) {
        rp_rep_html_figure_rows(b, figs, (rp_counter_section_t)s);
    }
    rp_buf_puts(b, "</table></details>\n<p>The full picture is on the "
                "reqperf-status page.</p>\n");
}
