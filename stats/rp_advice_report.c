/*
 * rp_advice_report.c: the cache advisor on the status page (see
 * rp_advice_report.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "rp_advice_report.h"
#include "rp_report_int.h"

rp_advice_view_t *rp_advice_report_view(apr_pool_t *p, rp_stats_t *st,
                                        rp_route_rec_t *rec, int64_t now_s)
{
    rp_advice_rec_t *a = rp_stats_advice(st, (int32_t)rec->index);
    rp_advice_pool_t pool;
    rp_advice_view_t *v;

    if (a == NULL || __atomic_load_n(&a->n[RP_ADV_REQUESTS],
                                     __ATOMIC_RELAXED) == 0) {
        return NULL;
    }
    rp_stats_advice_pool(st, &pool);
    v = apr_palloc(p, sizeof(*v));
    rp_advice_snapshot(&pool, a, now_s, v);
    return v;
}

static const char *mode_name(unsigned modes)
{
    if (modes == (RP_ADVICE_MODE_OBSERVE | RP_ADVICE_MODE_ON)) {
        return "mixed";
    }
    return modes == RP_ADVICE_MODE_ON ? "on" : "observe";
}

/* ---------------------------------------------------------------- */
/* JSON                                                              */

void rp_advice_json(rp_buf_t *b, const rp_advice_view_t *v)
{
    char help[128];
    int k, first = 1;

    if (v == NULL) {
        return;
    }
    rp_buf_printf(b, ",\"advice\":{\"mode\":\"%s\"", mode_name(v->modes));
    for (k = 0; k < RP_ADV_N_OUTCOMES; k++) {
        rp_buf_printf(b, ",\"%s\":%llu", rp_advice_outcome_name[k],
                      (unsigned long long)v->n[k]);
    }
    rp_buf_printf(b, ",\"saved_us\":%llu,\"reasons\":{",
                  (unsigned long long)v->saved_us);
    for (k = 0; k < RP_ADV_N_REASONS; k++) {
        uint64_t n = v->n[RP_ADV_REASON_IDX(k)];
        if (n == 0) {
            continue;
        }
        rp_buf_printf(b, "%s\"%s\":%llu", first ? "" : ",",
                      rp_advice_reason_info[k].json_name,
                      (unsigned long long)n);
        first = 0;
    }
    rp_buf_puts(b, "},\"names\":[");
    for (k = 0; k < v->n_names; k++) {
        const rp_advice_name_view_t *nv = &v->names[k];
        const char *d = rp_advice_directive(nv->reason, nv->name, help,
                                            sizeof(help));
        rp_buf_printf(b, "%s{\"reason\":\"%s\",\"name\":", k ? "," : "",
                      rp_advice_reason_info[nv->reason].json_name);
        rp_buf_json_str(b, nv->name, strlen(nv->name));
        rp_buf_printf(b, ",\"count\":%llu,\"directive\":",
                      (unsigned long long)nv->count);
        if (d != NULL) {
            rp_buf_json_str(b, d, strlen(d));
        }
        else {
            rp_buf_puts(b, "null");
        }
        rp_buf_puts(b, "}");
    }
    rp_buf_printf(b, "],\"keys\":{\"tracked\":%s,\"capacity\":%d,"
                  "\"fresh\":%u,\"evicted_fresh\":%llu}}",
                  v->table_state == RP_ADV_READY ? "true" : "false",
                  RP_ADVICE_KEYS, v->fresh_keys,
                  (unsigned long long)v->evicted_fresh);
}

/* ---------------------------------------------------------------- */
/* Prometheus and ?auto                                              */

/* The routes' advice summed over their methods (GET and HEAD share a
 * page), in the report's order. */
typedef struct {
    const char *route;
    uint64_t n[RP_ADV_COUNTERS];
    uint64_t saved_us;
} by_route_t;

static by_route_t *sum_by_route(apr_pool_t *p, const rp_report_t *r, int *n)
{
    by_route_t *out = apr_pcalloc(p, (r->n_routes + 1) * sizeof(*out));
    apr_hash_t *seen = apr_hash_make(p);
    size_t i;
    int k;

    *n = 0;
    for (i = 0; i < r->n_routes; i++) {
        const rp_advice_view_t *v = r->routes[i].advice;
        by_route_t *s;

        if (v == NULL) {
            continue;
        }
        s = apr_hash_get(seen, r->routes[i].route, APR_HASH_KEY_STRING);
        if (s == NULL) {
            s = &out[(*n)++];
            s->route = r->routes[i].route;
            apr_hash_set(seen, s->route, APR_HASH_KEY_STRING, s);
        }
        for (k = 0; k < RP_ADV_COUNTERS; k++) {
            s->n[k] += v->n[k];
        }
        s->saved_us += v->saved_us;
    }
    return out;
}

void rp_advice_prometheus(rp_buf_t *b, const rp_report_t *r)
{
    int n, i, k;
    by_route_t *s = sum_by_route(b->pool, r, &n);

    rp_buf_puts(b, "# HELP reqperf_cache_advice_total What the cache "
                "advisor counted (ReqPerfCache Observe and On), by route and "
                "outcome: requests, observed, examined, storable, would_hit, "
                "and each reason that kept a request from a lookup, a store "
                "or a hit\n# TYPE reqperf_cache_advice_total counter\n");
    for (i = 0; i < n; i++) {
        for (k = 0; k < RP_ADV_COUNTERS; k++) {
            if (k >= RP_ADV_N_OUTCOMES && s[i].n[k] == 0) {
                continue;
            }
            rp_buf_puts(b, "reqperf_cache_advice_total{route=\"");
            rp_buf_prom_label(b, s[i].route, strlen(s[i].route));
            rp_buf_printf(b, "\",outcome=\"%s\"} %llu\n",
                          k < RP_ADV_N_OUTCOMES
                          ? rp_advice_outcome_name[k]
                          : rp_advice_reason_info[k - RP_ADV_N_OUTCOMES]
                            .json_name,
                          (unsigned long long)s[i].n[k]);
        }
    }
    rp_buf_puts(b, "# HELP reqperf_cache_saved_seconds_total Backend time "
                "the cache would have saved (Observe: the handler time of the "
                "requests it would have answered) or saved (On: its hits "
                "times the route's average miss), by route\n"
                "# TYPE reqperf_cache_saved_seconds_total counter\n");
    for (i = 0; i < n; i++) {
        rp_buf_puts(b, "reqperf_cache_saved_seconds_total{route=\"");
        rp_buf_prom_label(b, s[i].route, strlen(s[i].route));
        rp_buf_printf(b, "\"} %llu.%06llu\n",
                      (unsigned long long)(s[i].saved_us / 1000000),
                      (unsigned long long)(s[i].saved_us % 1000000));
    }
}

void rp_advice_auto(rp_buf_t *b, const rp_report_t *r)
{
    uint64_t n[RP_ADV_N_OUTCOMES] = { 0 }, saved = 0;
    size_t i;
    int k;

    for (i = 0; i < r->n_routes; i++) {
        const rp_advice_view_t *v = r->routes[i].advice;
        if (v == NULL) {
            continue;
        }
        for (k = 0; k < RP_ADV_N_OUTCOMES; k++) {
            n[k] += v->n[k];
        }
        saved += v->saved_us;
    }
    for (k = 0; k < RP_ADV_N_OUTCOMES; k++) {
        rp_buf_printf(b, "cache_advice_%s: %llu\n", rp_advice_outcome_name[k],
                      (unsigned long long)n[k]);
    }
    rp_buf_printf(b, "cache_advice_saved_us: %llu\n",
                  (unsigned long long)saved);
}

/* ---------------------------------------------------------------- */
/* HTML                                                              */

/* A length of time a person reads at a glance: 850 µs, 12.5 ms, 3.20 s,
 * 4.5 min, 2.1 h. */
static void html_saved(rp_buf_t *b, uint64_t us)
{
    if (us == 0) {
        rp_buf_puts(b, "0");
    }
    else if (us < 1000) {
        rp_buf_printf(b, "%llu&nbsp;&micro;s", (unsigned long long)us);
    }
    else if (us < 1000000) {
        rp_buf_fixed(b, us, 3, 1);
        rp_buf_puts(b, "&nbsp;ms");
    }
    else if (us < 60ULL * 1000000) {
        rp_buf_fixed(b, us, 6, 2);
        rp_buf_puts(b, "&nbsp;s");
    }
    else if (us < 3600ULL * 1000000) {
        rp_buf_fixed(b, us / 60, 6, 1);
        rp_buf_puts(b, "&nbsp;min");
    }
    else {
        rp_buf_fixed(b, us / 3600, 6, 1);
        rp_buf_puts(b, "&nbsp;h");
    }
}

/* n of d as a whole percentage ("&ndash;" when d is 0). */
static void html_pct(rp_buf_t *b, uint64_t n, uint64_t d)
{
    if (d == 0) {
        rp_buf_puts(b, "&ndash;");
        return;
    }
    rp_buf_printf(b, "%llu%%", (unsigned long long)((n * 100 + d / 2) / d));
}

/* One thing that stands in the way: a reason, with the name it was found
 * with when one was kept, and the directive that helps against it. */
typedef struct {
    int reason;
    const char *name;                  /* NULL: the reason alone */
    uint64_t count;
    const char *directive;             /* NULL: none helps */
    const char *also[RP_ADVICE_NAMES]; /* names the same directive covers */
    int n_also;                        /* (_ga_Q1W2E3 beside _ga) */
} blocker_t;

/* A route's blockers, most frequent first: a reason with names gives one
 * per name (and one for what no name was kept for); names one directive
 * covers are one blocker. */
static int blockers_of(apr_pool_t *p, const rp_advice_view_t *v,
                       blocker_t *out, int max)
{
    char help[128];
    int n = 0, k, i, j;

    for (k = 0; k < RP_ADV_N_REASONS; k++) {
        uint64_t total = v->n[RP_ADV_REASON_IDX(k)], named = 0;
        for (i = 0; i < v->n_names && n < max; i++) {
            if (v->names[i].reason == k) {
                const char *d = rp_advice_directive(k, v->names[i].name, help,
                                                    sizeof(help));
                memset(&out[n], 0, sizeof(out[n]));
                out[n].reason = k;
                out[n].name = v->names[i].name;
                out[n].count = v->names[i].count;
                out[n++].directive = d ? apr_pstrdup(p, d) : NULL;
                named += v->names[i].count;
            }
        }
        if (total > named && n < max) {
            memset(&out[n], 0, sizeof(out[n]));
            out[n].reason = k;
            out[n++].count = total - named;
        }
    }
    for (i = 1; i < n; i++) {
        blocker_t tmp = out[i];
        for (j = i; j > 0 && out[j - 1].count < tmp.count; j--) {
            out[j] = out[j - 1];
        }
        out[j] = tmp;
    }
    /* the names a directive of a blocker before covers join it */
    for (i = 0; i < n; i++) {
        for (j = 0; j < i; j++) {
            if (out[i].directive != NULL && out[j].directive != NULL
                && out[j].reason == out[i].reason
                && strcmp(out[j].directive, out[i].directive) == 0
                && out[j].n_also < RP_ADVICE_NAMES) {
                out[j].also[out[j].n_also++] = out[i].name;
                break;
            }
        }
        if (j < i) {
            memmove(&out[i], &out[i + 1], (size_t)(n - i - 1) * sizeof(*out));
            n--;
            i--;
        }
    }
    return n;
}

/* "Set-Cookie: csrftoken on 100% of responses" and what it is known to
 * be; "Cookie: _ga, _ga_Q1W2E3 on 39% of requests" (the share of the most
 * frequent: they come together). */
static void html_blocker(rp_buf_t *b, const rp_advice_view_t *v,
                         const blocker_t *x)
{
    const rp_advice_reason_info_t *ri = &rp_advice_reason_info[x->reason];
    int req = ri->side == RP_ADV_SIDE_REQ, i;
    const char *hint = rp_advice_name_hint(x->reason, x->name);
    const char *at = ri->with_name ? strstr(ri->with_name, "%s") : NULL;

    if (x->name != NULL && at != NULL) {
        rp_buf_add(b, ri->with_name, (size_t)(at - ri->with_name));
        rp_buf_puts(b, "<code>");
        rp_rep_html_text(b, x->name);
        rp_buf_puts(b, "</code>");
        for (i = 0; i < x->n_also; i++) {
            rp_buf_puts(b, ", <code>");
            rp_rep_html_text(b, x->also[i]);
            rp_buf_puts(b, "</code>");
        }
        rp_rep_html_text(b, at + 2);
    }
    else {
        rp_rep_html_text(b, ri->phrase);
    }
    rp_buf_puts(b, " on ");
    html_pct(b, x->count, v->n[req ? RP_ADV_REQUESTS : RP_ADV_EXAMINED]);
    rp_buf_puts(b, req ? " of requests" : " of responses");
    if (hint != NULL) {
        rp_buf_puts(b, " <span class=\"muted\">(");
        rp_rep_html_text(b, hint);
        rp_buf_puts(b, ")</span>");
    }
}

#define TOP_BLOCKERS 3

/* The two cells: what stands in the way (the three most frequent, and any
 * other a directive helps against), and the directives that would help,
 * then ReqPerfCache On where Observe shows pages to store; where no
 * response could be stored, no directive helps: the application must
 * change. */
static void html_advice_cells(rp_buf_t *b, const rp_advice_view_t *v)
{
    blocker_t x[RP_ADV_N_REASONS + RP_ADVICE_NAMES];
    int n = blockers_of(b->pool, v, x, (int)(sizeof(x) / sizeof(x[0])));
    int never = v->n[RP_ADV_EXAMINED] > 0 && v->n[RP_ADV_STORABLE] == 0;
    int i, shown = 0, hidden = 0;

    rp_buf_puts(b, "<td class=\"u\">");
    if (n == 0) {
        rp_buf_puts(b, "<span class=\"muted\">nothing</span>");
    }
    for (i = 0; i < n; i++) {
        if (i >= TOP_BLOCKERS && x[i].directive == NULL) {
            hidden++;
            continue;
        }
        rp_buf_puts(b, shown++ ? "<br>" : "");
        html_blocker(b, v, &x[i]);
    }
    if (hidden > 0) {
        rp_buf_printf(b, "<br><span class=\"muted\">and %d more (JSON: "
                      "advice.reasons)</span>", hidden);
    }
    rp_buf_puts(b, "</td><td class=\"t\">");
    shown = 0;
    if (never) {
        rp_buf_puts(b, "<span class=\"warn\" style=\"white-space:normal\">"
                    "no response could be stored: the application must "
                    "change (above)</span>");
        shown++;
    }
    for (i = 0; i < n && !never; i++) {
        if (x[i].directive != NULL) {
            rp_buf_puts(b, shown++ ? "<br><code>" : "<code>");
            rp_rep_html_text(b, x[i].directive);
            rp_buf_puts(b, "</code>");
        }
    }
    if (v->modes == RP_ADVICE_MODE_OBSERVE && v->n[RP_ADV_STORABLE] > 0) {
        rp_buf_puts(b, shown++ ? "<br><code>" : "<code>");
        rp_buf_puts(b, "ReqPerfCache On</code>");
    }
    if (shown == 0) {
        rp_buf_puts(b, "<span class=\"muted\">&ndash;</span>");
    }
    rp_buf_puts(b, "</td>");
}

static int cmp_saved(const void *a, const void *b)
{
    const rp_route_view_t *x = *(const rp_route_view_t *const *)a;
    const rp_route_view_t *y = *(const rp_route_view_t *const *)b;
    int c;

    if (x->advice->saved_us != y->advice->saved_us) {
        return x->advice->saved_us > y->advice->saved_us ? -1 : 1;
    }
    if (x->advice->n[RP_ADV_REQUESTS] != y->advice->n[RP_ADV_REQUESTS]) {
        return x->advice->n[RP_ADV_REQUESTS] > y->advice->n[RP_ADV_REQUESTS]
               ? -1 : 1;
    }
    c = strcmp(x->route, y->route);
    return c ? c : strcmp(x->method, y->method);
}

/* A count; on a route's page (marks) with its JSON Pointer, as the page
 * marks its other figures. */
static void count_cell(rp_buf_t *b, int marks, const char *leaf, uint64_t n)
{
    rp_buf_puts(b, "<td class=\"n\"");
    if (marks) {
        rp_rep_html_key(b, "/advice", NULL, leaf, n);
    }
    rp_buf_printf(b, ">%llu</td>", (unsigned long long)n);
}

static void html_row(rp_buf_t *b, const rp_route_view_t *rv, int marks)
{
    const rp_advice_view_t *v = rv->advice;

    rp_buf_puts(b, "<tr><td><code>");
    rp_rep_html_text_wrap(b, rv->route);
    rp_buf_puts(b, "</code></td><td>");
    rp_rep_html_text(b, rv->method);
    rp_buf_printf(b, "</td><td>%s</td>",
                  v->modes == RP_ADVICE_MODE_ON ? "On"
                  : v->modes == RP_ADVICE_MODE_OBSERVE ? "Observe" : "both");
    count_cell(b, marks, "requests", v->n[RP_ADV_REQUESTS]);
    count_cell(b, marks, "observed", v->n[RP_ADV_OBSERVED]);
    rp_buf_puts(b, "<td class=\"n\">");
    html_pct(b, v->n[RP_ADV_STORABLE], v->n[RP_ADV_EXAMINED]);
    rp_buf_puts(b, "</td><td class=\"n\">");
    html_pct(b, v->n[RP_ADV_WOULD_HIT], v->n[RP_ADV_OBSERVED]);
    if (v->table_state == RP_ADV_NO_TABLE
        && v->modes != RP_ADVICE_MODE_ON) {
        rp_buf_puts(b, "<br><span class=\"warn\">keys not tracked</span>");
    }
    else if (v->evicted_fresh > 0) {
        rp_buf_printf(b, "<br><span class=\"muted\" title=\"fresh keys the "
                      "record had to drop: at most that many would-be hits "
                      "more\">+&le;%llu</span>",
                      (unsigned long long)v->evicted_fresh);
    }
    rp_buf_puts(b, "</td><td class=\"n\">");
    html_saved(b, v->saved_us);
    rp_buf_puts(b, "</td>");
    html_advice_cells(b, v);
    rp_buf_puts(b, "</tr>\n");
}

static const char *const head_row =
    "<tr><th>route</th><th>method</th><th>ReqPerfCache</th>"
    "<th class=\"n\">requests</th><th class=\"n\">lookups</th>"
    "<th class=\"n\">storable</th><th class=\"n\">would hit</th>"
    "<th class=\"n\">time saved</th><th>what stands in the way</th>"
    "<th>what would help</th></tr>";

void rp_advice_html(rp_buf_t *b, const rp_report_t *r)
{
    const rp_route_view_t **rows = apr_palloc(b->pool, (r->n_routes + 1)
                                                       * sizeof(*rows));
    size_t i, n = 0;

    for (i = 0; i < r->n_routes; i++) {
        if (r->routes[i].advice != NULL) {
            rows[n++] = &r->routes[i];
        }
    }
    rp_buf_printf(b, "<h2 id=\"advice\">What caching would save</h2><p "
                  "class=\"muted\">where <code>ReqPerfCache Observe</code> "
                  "is set, every decision of the cache is taken and nothing "
                  "is served or stored; where it is <code>On</code>, what it "
                  "did. storable: of the backend's responses; would hit: of "
                  "the lookups (On: hits), from a record of the last %d keys "
                  "of each route and their freshness; time saved: the "
                  "handler time of the requests a cache would have answered "
                  "(On: hits times the route's average miss)</p>",
                  RP_ADVICE_KEYS);
    if (n == 0) {
        rp_buf_puts(b, "<p class=\"muted\">no route has <code>ReqPerfCache "
                    "Observe</code> or <code>On</code> yet</p>\n");
        return;
    }
    qsort(rows, n, sizeof(*rows), cmp_saved);
    rp_buf_puts(b, "<table id=\"advice-routes\">");
    rp_buf_puts(b, head_row);
    for (i = 0; i < n; i++) {
        html_row(b, rows[i], 0);
    }
    rp_buf_puts(b, "</table>\n");
}

void rp_advice_html_route(rp_buf_t *b, const rp_route_view_t *v)
{
    if (v == NULL || v->advice == NULL) {
        return;
    }
    rp_buf_puts(b, "<table id=\"route-advice\">");
    rp_buf_puts(b, head_row);
    html_row(b, v, 1);
    rp_buf_puts(b, "</table>\n");
}
