/*
 * rp_html.c: the pieces every HTML page of the status handler draws
 * with (the main page, a route's page, the advisor's section): escaping,
 * links, durations, cells marked with their JSON Pointer, the phase bar,
 * a route's application metrics, the slow log
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"

static const char *const phase_colors[RP_PHASE_COUNT] = {
    "#e377c2", "#9ecae1", "#c6dbef", "#fdd0a2", "#fdae6b", "#fd8d3c", "#a1d99b",
    "#74c476", "#31a354", "#dadaeb", "#bcbddc", "#e7ba52", "#d6616b",
    "#843c39", "#969696"
};

void rp_rep_html_us(rp_buf_t *b, uint64_t us)
{
    if (us >= 9999500) {
        rp_buf_fixed(b, us, 6, 1);
        rp_buf_puts(b, "&nbsp;s");
    }
    else if (us >= 999500) {
        rp_buf_fixed(b, us, 6, 2);
        rp_buf_puts(b, "&nbsp;s");
    }
    else if (us >= 9950) {
        rp_buf_fixed(b, us, 3, 0);
        rp_buf_puts(b, "&nbsp;ms");
    }
    else if (us >= 1000) {
        rp_buf_fixed(b, us, 3, 1);
        rp_buf_puts(b, "&nbsp;ms");
    }
    else {
        rp_buf_u64(b, us);
        rp_buf_puts(b, "&nbsp;&micro;s");
    }
}

/* <td class="n">value</td> for each of n durations. */
void rp_rep_html_us_cells(rp_buf_t *b, const uint64_t *us, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        rp_buf_puts(b, "<td class=\"n\">");
        rp_rep_html_us(b, us[i]);
        rp_buf_puts(b, "</td>");
    }
}

void rp_rep_html_text(rp_buf_t *b, const char *s)
{
    rp_buf_html(b, s, strlen(s));
}

void rp_rep_html_link(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *query)
{
    rp_buf_puts(b, "<a href=\"");
    rp_rep_html_text(b, o->self_path ? o->self_path : "");
    rp_buf_puts(b, "?");
    rp_buf_puts(b, query);
    if (o->refresh_s > 0) {
        rp_buf_printf(b, "&amp;refresh=%d", o->refresh_s);
    }
    rp_buf_puts(b, "\">");
}

/* Escaped text that may wrap after '/', '?' and '&' (and nowhere else:
 * the CSS keeps words whole), for URIs and route names. */
void rp_rep_html_text_wrap(rp_buf_t *b, const char *s)
{
    const char *p = s;
    size_t n;

    while (*p) {
        n = strcspn(p, "/?&");
        if (p[n] == '\0') {
            rp_buf_html(b, p, n);
            break;
        }
        rp_buf_html(b, p, n + 1);
        /* no break right after the leading '/' of a path */
        if (p + n != s) {
            rp_buf_puts(b, "<wbr>");
        }
        p += n + 1;
    }
}

/* A query-string component, percent-encoded (RFC 3986 unreserved and
 * '/' kept as they are, for a readable link). */
void rp_rep_url_component(rp_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
            || *p == '_' || *p == '~' || *p == '/') {
            rp_buf_add(b, (const char *)p, 1);
        }
        else {
            char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            rp_buf_add(b, e, 3);
        }
    }
}

/* <a href="...?route=..&amp;method=..">route</a>: a route's own page. */
void rp_rep_html_route_link(rp_buf_t *b, const rp_report_opts_t *o,
                            const char *route, const char *method)
{
    rp_buf_puts(b, "<a class=\"route\" href=\"");
    rp_rep_html_text(b, o->self_path ? o->self_path : "");
    rp_buf_puts(b, "?route=");
    rp_rep_url_component(b, route);
    rp_buf_puts(b, "&amp;method=");
    rp_rep_url_component(b, method);
    if (o->refresh_s > 0) {
        rp_buf_printf(b, "&amp;refresh=%d", o->refresh_s);
    }
    rp_buf_puts(b, "\"><code>");
    rp_rep_html_text_wrap(b, route);
    rp_buf_puts(b, "</code></a>");
}

/* A JSON Pointer (RFC 6901) token: '~' and '/' escaped. */
static void pointer_token(rp_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '~') {
            rp_buf_puts(b, "~0");
        }
        else if (*s == '/') {
            rp_buf_puts(b, "~1");
        }
        else {
            rp_buf_add(b, s, 1);
        }
    }
}

/* data-k="<JSON Pointer into the route's JSON object>" data-v="<raw>":
 * the route page marks every figure with where the JSON has it, so a test
 * (or a person) can check the page against ?format=json.  prefix is a
 * pointer, name a token appended to it (may be NULL). */
void rp_rep_html_key(rp_buf_t *b, const char *prefix, const char *name,
                     const char *leaf, uint64_t value)
{
    rp_buf_puts(b, " data-k=\"");
    rp_rep_html_text(b, prefix);
    if (name != NULL) {
        rp_buf_t t;
        rp_buf_init(&t, b->pool, 64);
        pointer_token(&t, name);
        rp_buf_add(b, "/", 1);
        rp_rep_html_text(b, rp_buf_cstr(&t));
    }
    if (leaf != NULL) {
        rp_buf_add(b, "/", 1);
        rp_buf_puts(b, leaf);
    }
    rp_buf_puts(b, "\" data-v=\"");
    rp_buf_u64(b, value);
    rp_buf_puts(b, "\"");
}

/* <td class="n" data-k=.. data-v=..>1.2&nbsp;ms</td> (durations) or the
 * number itself (counts, is_us 0). */
void rp_rep_html_cell_k(rp_buf_t *b, const char *prefix, const char *name,
                        const char *leaf, uint64_t value, int is_us)
{
    rp_buf_puts(b, "<td class=\"n\"");
    rp_rep_html_key(b, prefix, name, leaf, value);
    rp_buf_puts(b, ">");
    if (is_us) {
        rp_rep_html_us(b, value);
    }
    else {
        rp_buf_u64(b, value);
    }
    rp_buf_puts(b, "</td>");
}

/* Application metric colours, by the metric's rank over all routes;
 * __other__ and names outside the top are grey. */
static const char *const app_colors[] = {
    "#393b79", "#6b6ecf", "#637939", "#b5cf6b", "#8c6d31", "#e7cb94",
    "#7b4173", "#ce6dbd", "#5254a3", "#8ca252", "#bd9e39", "#a55194"
};
#define APP_COLOR_OTHER "#b0b0b0"

const char *rp_rep_app_color(const rp_report_t *r, const char *name)
{
    int k;

    for (k = 0; k < r->n_app; k++) {
        if (strcmp(r->app[k].name, name) == 0) {
            break;
        }
    }
    if (k == r->n_app || strcmp(name, RP_APP_OTHER) == 0) {
        return APP_COLOR_OTHER;
    }
    return app_colors[k % (int)(sizeof(app_colors) / sizeof(app_colors[0]))];
}

/* One piece of a bar: permille of its width, a colour, a title
 * ("handler 1200 us"; the label HTML-escaped). */
static void bar_span(rp_buf_t *b, uint64_t permille, const char *color,
                     const char *label, const char *what, int64_t us)
{
    if (permille < 5) {
        return;
    }
    rp_buf_puts(b, "<span style=\"width:");
    rp_buf_fixed(b, permille, 1, 1);
    rp_buf_puts(b, "%;background:");
    rp_buf_puts(b, color);
    rp_buf_puts(b, "\" title=\"");
    rp_rep_html_text(b, label);
    rp_buf_puts(b, what);
    rp_buf_i64(b, us);
    rp_buf_puts(b, " µs\"></span>");
}

/* One bar split by the average time of each phase; the handler's part is
 * split again into what the application reported in Server-Timing (per
 * request, each metric in its colour) and the rest of the handler. */
void rp_rep_html_phase_bar(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v)
{
    const int64_t *avg = v->phase_avg;
    int64_t sum = 0, app_sum = 0, handler = avg[RP_PHASE_HANDLER];
    int k, a;

    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (k != RP_PHASE_TTFB && avg[k] > 0) {
            sum += avg[k];
        }
    }
    for (a = 0; a < v->n_app && v->count; a++) {
        app_sum += (int64_t)(v->app[a].d.sum / v->count);
    }
    rp_buf_puts(b, "<div class=\"bar\">");
    for (k = 0; k < RP_PHASE_COUNT && sum > 0; k++) {
        uint64_t share;
        if (k == RP_PHASE_TTFB || avg[k] <= 0) {
            continue;
        }
        share = ((uint64_t)avg[k] * 1000 + (uint64_t)sum / 2) / (uint64_t)sum;
        if (k != RP_PHASE_HANDLER || app_sum <= 0) {
            bar_span(b, share, phase_colors[k], rp_phase_name(k), " ",
                     avg[k]);
            continue;
        }
        /* the application's metrics, scaled into the handler's part when
         * they add up to more (work done in parallel) */
        for (a = 0; a < v->n_app; a++) {
            int64_t us = (int64_t)(v->app[a].d.sum / v->count);
            uint64_t scaled = (uint64_t)(us < handler ? us : handler);
            if (app_sum > handler) {
                scaled = (uint64_t)((double)us * (double)handler
                                    / (double)app_sum);
            }
            bar_span(b, share * scaled / (uint64_t)handler,
                     rp_rep_app_color(r, v->app[a].name), v->app[a].name,
                     " (application, per request) ", us);
        }
        if (app_sum < handler) {
            bar_span(b, share * (uint64_t)(handler - app_sum)
                        / (uint64_t)handler,
                     phase_colors[k], "handler", " (the rest) ",
                     handler - app_sum);
        }
    }
    rp_buf_puts(b, "</div>");
}

/* One route's application metrics: a small table (the route's detail,
 * kept in one function so a page of its own can show it).  "Per
 * response" is per response of the application that carried the metric
 * (52 db entries: 52 queries); the share of handler is over all the
 * route's requests, as the handler's own average is. */
void rp_rep_html_route_app(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v,
                           const rp_report_opts_t *o)
{
    int64_t handler = v->phase_avg[RP_PHASE_HANDLER];
    int k;

    rp_buf_puts(b, "<h3>");
    if (v->has_rec) {
        rp_rep_html_route_link(b, o, v->route, v->method);
    }
    else {
        rp_buf_puts(b, "<code>");
        rp_rep_html_text(b, v->route);
        rp_buf_puts(b, "</code>");
    }
    rp_buf_puts(b, " ");
    rp_rep_html_text(b, v->method);
    rp_buf_printf(b, " <span class=\"muted\">%llu requests, handler ",
                  (unsigned long long)v->count);
    rp_rep_html_us(b, (uint64_t)(handler > 0 ? handler : 0));
    rp_buf_puts(b, " on average</span></h3><table class=\"app\"><tr>"
                "<th>metric</th><th class=\"n\">share of handler</th>"
                "<th class=\"n\">responses</th>"
                "<th class=\"n\">per response</th>"
                "<th class=\"n\">time per response</th>"
                "<th class=\"n\">count</th><th class=\"n\">avg</th>"
                "<th class=\"n\">p50</th><th class=\"n\">p95</th>"
                "<th class=\"n\">p99</th><th class=\"n\">max</th>"
                "<th class=\"n\">time spent</th></tr>");
    for (k = 0; k < v->n_app; k++) {
        const rp_app_view_t *a = &v->app[k];
        uint64_t per_req = v->count ? a->d.sum / v->count : 0;
        rp_buf_printf(b, "<tr><th><i style=\"display:inline-block;"
                      "width:10px;height:10px;background:%s\"></i> ",
                      rp_rep_app_color(r, a->name));
        rp_rep_html_text(b, a->name);
        rp_buf_puts(b, "</th><td class=\"n\">");
        if (handler > 0) {
            rp_buf_fixed(b, (per_req * 1000 + (uint64_t)handler / 2)
                            / (uint64_t)handler, 1, 1);
            rp_buf_puts(b, "%");
        }
        else {
            rp_buf_puts(b, "&ndash;");
        }
        rp_buf_puts(b, "</td>");
        rp_rep_html_cell_k(b, "/app", a->name, "requests", a->requests, 0);
        rp_buf_puts(b, "<td class=\"n\">");
        /* occurrences per response, one decimal: 52.0 queries */
        rp_buf_fixed(b, a->requests ? (a->d.count * 10 + a->requests / 2)
                                      / a->requests : 0, 1, 1);
        rp_buf_puts(b, "</td>");
        {
            const uint64_t per_resp = a->requests ? a->d.sum / a->requests : 0;
            rp_rep_html_us_cells(b, &per_resp, 1);
        }
        {
            static const char *const leaf[7] = { "count", "avg_us", "p50_us",
                "p95_us", "p99_us", "max_us", "total_us" };
            const uint64_t vals[7] = { a->d.count, a->d.avg, a->d.p50,
                                       a->d.p95, a->d.p99, a->d.max,
                                       a->d.sum };
            int j;
            for (j = 0; j < 7; j++) {
                rp_rep_html_cell_k(b, "/app", a->name, leaf[j], vals[j], j > 0);
            }
        }
        rp_buf_puts(b, "</tr>");
    }
    rp_buf_puts(b, "</table>\n");
}

/* "db=41.2&nbsp;ms&times;52 tpl=3.0&nbsp;ms": a slow request's metrics. */
static void html_slow_app(rp_buf_t *b, const rp_app_sums_t *a)
{
    uint32_t i;

    for (i = 0; i < a->n; i++) {
        rp_rep_html_text(b, a->m[i].name);
        rp_buf_puts(b, "=");
        rp_rep_html_us(b, (uint64_t)(a->m[i].us > 0 ? a->m[i].us : 0));
        if (a->m[i].count > 1) {
            rp_buf_printf(b, "&times;%u", a->m[i].count);
        }
        rp_buf_puts(b, " ");
    }
}


/* The slow-request log, newest first: all of it, or one route's. */
void rp_rep_html_slow_table(rp_buf_t *b, const rp_report_t *r,
                            const rp_report_opts_t *o,
                            const rp_route_view_t *only)
{
    char when[80];
    size_t i, row = 0;
    int k;

    rp_buf_printf(b, "<table id=\"slow\"><tr><th>time (UTC)</th>"
                  "<th>method</th><th>uri</th>%s<th class=\"n\">status</th>"
                  "<th class=\"n\">total</th><th>cache</th><th>phases</th>"
                  "<th>application</th></tr>",
                  only != NULL ? "" : "<th>route</th>");
    for (i = 0; i < r->n_slow; i++) {
        const rp_slow_entry_t *e = &r->slow[i];
        char prefix[32];
        if (only != NULL && (strcmp(e->route, only->route) != 0
                             || strcmp(e->method, only->method) != 0)) {
            continue;
        }
        /* the same entries as the JSON's "slow" (on a route's page, its
         * object's "slow_requests") */
        snprintf(prefix, sizeof(prefix), only != NULL ? "/slow_requests/%u"
                                                      : "/slow/%u",
                 (unsigned)row++);
        rp_rep_iso_time(when, sizeof(when), e->wall_us);
        rp_buf_printf(b, "<tr><td class=\"when\">%s</td><td>", when);
        rp_rep_html_text(b, e->method);
        rp_buf_puts(b, "</td><td class=\"u\"><code>");
        rp_rep_html_text_wrap(b, e->uri);
        rp_buf_puts(b, "</code></td>");
        if (only == NULL) {
            rp_buf_puts(b, "<td class=\"u\">");
            rp_rep_html_route_link(b, o, e->route, e->method);
            rp_buf_puts(b, "</td>");
        }
        rp_rep_html_cell_k(b, prefix, NULL, "status",
                    (uint64_t)(e->status > 0 ? e->status : 0), 0);
        rp_rep_html_cell_k(b, prefix, NULL, "total_us",
                    (uint64_t)(e->total_us > 0 ? e->total_us : 0), 1);
        rp_buf_puts(b, "<td class=\"t\">");
        if (e->xcache >= 0 && e->xcache < RP_XCACHE_COUNT) {
            rp_buf_puts(b, rp_xcache_info[e->xcache].value);
        }
        else {
            rp_buf_puts(b, rp_cache_result_name(e->cache));
        }
        if (e->lock_wait_us > 0) {
            /* why a "hit" took a second: it queued behind the fill */
            rp_buf_puts(b, "<br><span class=\"warn\"");
            rp_rep_html_key(b, prefix, NULL, "lock_wait_us",
                     (uint64_t)e->lock_wait_us);
            rp_buf_puts(b, ">waited ");
            rp_rep_html_us(b, (uint64_t)e->lock_wait_us);
            rp_buf_puts(b, " for the fill</span>");
        }
        rp_buf_puts(b, "</td><td><code>");
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            if (e->phase_us[k] < 0) {
                continue;
            }
            rp_buf_printf(b, "%s=", rp_phase_name(k));
            rp_rep_html_us(b, (uint64_t)e->phase_us[k]);
            rp_buf_puts(b, " ");
        }
        rp_buf_puts(b, "</code></td><td><code>");
        html_slow_app(b, &e->app);
        rp_buf_puts(b, "</code></td></tr>\n");
    }
    rp_buf_puts(b, "</table>\n");
}


const char *rp_rep_phase_color(int phase)
{
    return phase >= 0 && phase < RP_PHASE_COUNT ? phase_colors[phase]
                                                : "#ccc";
}

/* One row per figure of a section shown (rp_figures.h): its ?auto key,
 * its value marked with its JSON Pointer, what it counts. */
void rp_rep_html_figure_rows(rp_buf_t *b, const rp_figure_t *figs,
                             rp_counter_section_t sec)
{
    int k;

    for (k = 0; k < RP_FIGURE_COUNT; k++) {
        const rp_figure_t *f = &figs[k];
        if (f->section != sec || !f->shown) {
            continue;
        }
        rp_buf_puts(b, "<tr><th>");
        rp_buf_puts(b, f->auto_key);
        rp_buf_puts(b, "</th>");
        rp_rep_html_cell_k(b, f->json_pointer, NULL, NULL, f->value, 0);
        rp_buf_puts(b, "<td class=\"help\">");
        rp_rep_html_text(b, f->help);
        rp_buf_puts(b, "</td></tr>");
    }
}

/* <p class="muted">server &middot; as of <time> &middot; (the paragraph
 * under a page's title; the caller goes on and closes it). */
void rp_rep_html_as_of(rp_buf_t *b, const rp_report_t *r,
                       const rp_report_opts_t *o)
{
    char when[80];

    rp_buf_puts(b, "<p class=\"muted\">");
    if (o->server_name) {
        rp_rep_html_text(b, o->server_name);
        rp_buf_puts(b, " &middot; ");
    }
    rp_rep_iso_time(when, sizeof(when), r->now_wall_us);
    rp_buf_printf(b, "as of %s &middot; ", when);
}
