/*
 * rp_report_json.c: the status page as one JSON object (?format=json), and
 * the pieces of it the route page's JSON shares (rp_report_int.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rp_report_int.h"
#include "rp_advice_report.h"

void rp_rep_json_str(rp_buf_t *b, const char *s)
{
    rp_buf_json_str(b, s, strlen(s));
}

void rp_rep_iso_time(char *out, size_t outsz, int64_t wall_us)
{
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)((wall_us / 1000) % 1000));
}

static void json_dist_fields(rp_buf_t *b, const rp_dist_t *d)
{
    rp_buf_printf(b, "\"count\":%llu,\"avg_us\":%llu,\"p50_us\":%llu,"
                  "\"p95_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu",
                  (unsigned long long)d->count, (unsigned long long)d->avg,
                  (unsigned long long)d->p50, (unsigned long long)d->p95,
                  (unsigned long long)d->p99, (unsigned long long)d->max);
}

static void json_dist(rp_buf_t *b, const rp_dist_t *d)
{
    rp_buf_add(b, "{", 1);
    json_dist_fields(b, d);
    rp_buf_add(b, "}", 1);
}

/* "app":{"db":{"count",...,"max_us","total_us","requests"},...} */
static void json_app(rp_buf_t *b, const rp_app_view_t *v, int n)
{
    int i;

    rp_buf_puts(b, ",\"app\":{");
    for (i = 0; i < n; i++) {
        if (i) {
            rp_buf_add(b, ",", 1);
        }
        rp_rep_json_str(b, v[i].name);
        rp_buf_add(b, ":{", 2);
        json_dist_fields(b, &v[i].d);
        rp_buf_printf(b, ",\"total_us\":%llu,\"requests\":%llu}",
                      (unsigned long long)v[i].d.sum,
                      (unsigned long long)v[i].requests);
    }
    rp_buf_add(b, "}", 1);
}

/* A slow request's ,"app":{"db":us} (or, counts set, ,"app_count":
 * {"db":entries}). */
static void json_slow_app(rp_buf_t *b, const rp_app_sums_t *a, int counts)
{
    uint32_t i;

    rp_buf_puts(b, counts ? ",\"app_count\":{" : ",\"app\":{");
    for (i = 0; i < a->n; i++) {
        if (i) {
            rp_buf_add(b, ",", 1);
        }
        rp_rep_json_str(b, a->m[i].name);
        rp_buf_add(b, ":", 1);
        if (counts) {
            rp_buf_u64(b, a->m[i].count);
        }
        else {
            rp_buf_i64(b, a->m[i].us);
        }
    }
    rp_buf_add(b, "}", 1);
}

/* {"read":12,"handler":300,...}: the phases with a value (>= 0). */
void rp_rep_json_phases(rp_buf_t *b, const int64_t *us)
{
    int k, first = 1;

    rp_buf_add(b, "{", 1);
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (us[k] < 0) {
            continue;
        }
        rp_buf_printf(b, "%s\"%s\":%lld", first ? "" : ",",
                      rp_phase_name(k), (long long)us[k]);
        first = 0;
    }
    rp_buf_add(b, "}", 1);
}

/* The figures of one section (rp_figures.h), "name":value each. */
static void json_figures(rp_buf_t *b, const rp_figure_t *figs,
                         rp_counter_section_t sec, int *first)
{
    int k;

    for (k = 0; k < RP_FIGURE_COUNT; k++) {
        const rp_figure_t *f = &figs[k];
        if (f->section != sec) {
            continue;
        }
        rp_buf_puts(b, *first ? "" : ",");
        *first = 0;
        rp_rep_json_str(b, f->json_name);
        rp_buf_add(b, ":", 1);
        if (f->is_bool) {
            rp_buf_puts(b, f->value ? "true" : "false");
        }
        else {
            rp_buf_u64(b, f->value);
        }
    }
}

/* ,"name":{figures of sec} */
static void json_figures_object(rp_buf_t *b, const char *name,
                                const rp_figure_t *figs,
                                rp_counter_section_t sec)
{
    int first = 1;

    rp_buf_printf(b, ",\"%s\":{", name);
    json_figures(b, figs, sec, &first);
    rp_buf_add(b, "}", 1);
}

/* What the cache did for a route beyond hit/miss/stale/bypass: the
 * requests that waited on another's fill, and every X-Cache value sent
 * (those sent at least once), inside its "cache" object. */
static void json_route_waits(rp_buf_t *b, const rp_route_view_t *v)
{
    int k, first = 1;

    rp_buf_printf(b, "\"lock_waits\":%llu,\"lock_wait_us\":%llu,"
                  "\"lock_wait_avg_us\":%llu,\"x_cache\":{",
                  (unsigned long long)v->lock_waits,
                  (unsigned long long)v->lock_wait_us,
                  (unsigned long long)(v->lock_waits
                                       ? v->lock_wait_us / v->lock_waits : 0));
    for (k = 0; k < RP_XCACHE_COUNT; k++) {
        if (v->xcache[k] == 0) {
            continue;
        }
        rp_buf_puts(b, first ? "" : ",");
        first = 0;
        rp_rep_json_str(b, rp_xcache_info[k].value);
        rp_buf_add(b, ":", 1);
        rp_buf_u64(b, v->xcache[k]);
    }
    rp_buf_add(b, "}", 1);
}

/* A route's fields ("route" ... "recent"), without the braces: the
 * routes array and the route page's object share them. */
void rp_rep_json_route_fields(rp_buf_t *b, const rp_route_view_t *v)
{
    rp_buf_puts(b, "\"route\":");
    rp_rep_json_str(b, v->route);
    rp_buf_puts(b, ",\"method\":");
    rp_rep_json_str(b, v->method);
    rp_buf_printf(b, ",\"count\":%llu,\"slow\":%llu,\"errors\":%llu,"
                  "\"total_us\":%llu,\"avg_us\":%llu,\"p50_us\":%llu,"
                  "\"p95_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu,"
                  "\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
                  "\"4xx\":%llu,\"5xx\":%llu},\"phases\":",
                  (unsigned long long)v->count,
                  (unsigned long long)v->slow,
                  (unsigned long long)v->errors,
                  (unsigned long long)v->d.sum,
                  (unsigned long long)v->d.avg,
                  (unsigned long long)v->d.p50,
                  (unsigned long long)v->d.p95,
                  (unsigned long long)v->d.p99,
                  (unsigned long long)v->d.max,
                  (unsigned long long)v->status_class[1],
                  (unsigned long long)v->status_class[2],
                  (unsigned long long)v->status_class[3],
                  (unsigned long long)v->status_class[4],
                  (unsigned long long)v->status_class[5]);
    rp_rep_json_phases(b, v->phase_avg);
    json_app(b, v->app, v->n_app);
    rp_advice_json(b, v->advice);
    rp_buf_printf(b, ",\"cache\":{\"hit\":%llu,\"miss\":%llu,"
                  "\"stale\":%llu,\"bypass\":%llu,\"stale_error\":%llu,",
                  (unsigned long long)v->cache[RP_CACHE_HIT],
                  (unsigned long long)v->cache[RP_CACHE_MISS],
                  (unsigned long long)v->cache[RP_CACHE_STALE],
                  (unsigned long long)v->cache[RP_CACHE_BYPASS],
                  (unsigned long long)v->stale_error);
    json_route_waits(b, v);
    rp_buf_printf(b, "},\"recent\":{\"window_s\":%d,\"count\":%llu,"
                  "\"p50_us\":%llu,\"p95_us\":%llu,\"p99_us\":%llu}",
                  RP_RECENT_SLOTS * RP_RECENT_SLOT_S,
                  (unsigned long long)v->recent_count,
                  (unsigned long long)v->recent_p50,
                  (unsigned long long)v->recent_p95,
                  (unsigned long long)v->recent_p99);
}

/* One slow-log entry, as an object. */
void rp_rep_json_slow_entry(rp_buf_t *b, const rp_slow_entry_t *e)
{
    char when[80];

    rp_rep_iso_time(when, sizeof(when), e->wall_us);
    rp_buf_printf(b, "{\"time\":\"%s\",\"time_unix_us\":%lld,"
                  "\"method\":", when, (long long)e->wall_us);
    rp_rep_json_str(b, e->method);
    rp_buf_puts(b, ",\"uri\":");
    rp_rep_json_str(b, e->uri);
    rp_buf_puts(b, ",\"route\":");
    rp_rep_json_str(b, e->route);
    rp_buf_printf(b, ",\"status\":%d,\"total_us\":%lld,\"phases\":",
                  e->status, (long long)e->total_us);
    rp_rep_json_phases(b, e->phase_us);
    json_slow_app(b, &e->app, 0);
    json_slow_app(b, &e->app, 1);
    rp_buf_puts(b, ",\"cache\":");
    if (e->cache > RP_CACHE_NONE && e->cache < RP_CACHE_RESULTS) {
        rp_rep_json_str(b, rp_cache_result_name(e->cache));
    }
    else {
        rp_buf_puts(b, "null");
    }
    rp_buf_puts(b, ",\"x_cache\":");
    if (e->xcache >= 0 && e->xcache < RP_XCACHE_COUNT) {
        rp_rep_json_str(b, rp_xcache_info[e->xcache].value);
    }
    else {
        rp_buf_puts(b, "null");
    }
    rp_buf_printf(b, ",\"lock_wait_us\":%lld}", (long long)e->lock_wait_us);
}

/* ,"phases":{...} (the phases with requests), ,"app":{...} and
 * ,"app_timing":{...}. */
static void json_phases_app(rp_buf_t *b, const rp_report_t *r,
                            const rp_figure_t *figs)
{
    int k, first = 1;

    rp_buf_puts(b, ",\"phases\":{");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (r->phases[k].count == 0) {
            continue;
        }
        rp_buf_puts(b, first ? "" : ",");
        first = 0;
        rp_rep_json_str(b, rp_phase_name(k));
        rp_buf_add(b, ":", 1);
        json_dist(b, &r->phases[k]);
    }
    rp_buf_puts(b, "}");
    json_app(b, r->app, r->n_app);
    json_figures_object(b, "app_timing", figs, RP_SEC_APP);
}

/* ,"sort":..,"routes":[...],"slow":[...] */
static void json_routes_slow(rp_buf_t *b, const rp_report_t *r)
{
    size_t i;

    rp_buf_printf(b, ",\"sort\":\"%s\",\"routes\":[", rp_sort_name(r->sort));
    for (i = 0; i < r->n_routes; i++) {
        rp_buf_puts(b, i ? ",{" : "{");
        rp_rep_json_route_fields(b, &r->routes[i]);
        rp_buf_puts(b, "}");
    }
    rp_buf_puts(b, "],\"slow\":[");
    for (i = 0; i < r->n_slow; i++) {
        rp_buf_puts(b, i ? "," : "");
        rp_rep_json_slow_entry(b, &r->slow[i]);
    }
    rp_buf_puts(b, "]");
}

/* ,"cache":{figures,"purges":{..},"servers":[..],"local":{..}} */
static void json_cache(rp_buf_t *b, const rp_figure_t *figs,
                       const rp_report_opts_t *o)
{
    int k, first = 1;

    rp_buf_puts(b, ",\"cache\":{");
    json_figures(b, figs, RP_SEC_CACHE, &first);
    json_figures_object(b, "purges", figs, RP_SEC_PURGE);
    rp_buf_puts(b, ",\"servers\":[");
    for (k = 0; k < o->n_servers; k++) {
        rp_buf_puts(b, k ? ",{\"address\":" : "{\"address\":");
        rp_rep_json_str(b, o->servers[k].address);
        rp_buf_puts(b, ",\"state\":");
        rp_rep_json_str(b, o->servers[k].state);
        rp_buf_puts(b, "}");
    }
    rp_buf_puts(b, "]");
    json_figures_object(b, "local", figs, RP_SEC_LOCAL);
    rp_buf_puts(b, "}");
}

/* Not figures: the format's version, start_time_unix as a date, the
 * sort order; everything else comes from the tables (rp_figures.h). */
void rp_render_json(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    rp_figure_t figs[RP_FIGURE_COUNT];
    char when[80];
    int first = 0;

    rp_figures(r, o, figs);
    rp_rep_iso_time(when, sizeof(when), r->start_wall_us);
    rp_buf_printf(b, "{\"version\":1,\"start_time\":\"%s\"", when);
    json_figures(b, figs, RP_SEC_TOP, &first);
    json_figures_object(b, "total", figs, RP_SEC_TOTAL);
    json_phases_app(b, r, figs);
    json_routes_slow(b, r);
    json_cache(b, figs, o);
    rp_buf_puts(b, "}\n");
}
