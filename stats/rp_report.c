/*
 * rp_report.c: the snapshot and the four renderings of the status page.
 * See rp_report.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include "rp_report.h"
#include "rp_advice_report.h"

static const char *const sort_names[] = {
    "time", "count", "p95", "p99", "max", "avg", "slow", "errors", NULL
};

int rp_sort_by_name(const char *name)
{
    int i;

    for (i = 0; name && sort_names[i]; i++) {
        if (strcmp(name, sort_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *rp_sort_name(int sort)
{
    return (sort >= 0 && sort <= RP_SORT_ERRORS) ? sort_names[sort] : "time";
}

/* ---------------------------------------------------------------- */
/* snapshot                                                          */

static void dist_of(const rp_hist_snap_t *s, rp_dist_t *d)
{
    d->count = s->count;
    d->sum = s->sum;
    d->avg = s->count ? s->sum / s->count : 0;
    d->p50 = rp_hist_percentile(s, 50);
    d->p95 = rp_hist_percentile(s, 95);
    d->p99 = rp_hist_percentile(s, 99);
    d->max = s->max;
}

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t sort_key(const rp_route_view_t *v, int sort)
{
    switch (sort) {
    case RP_SORT_COUNT:
        return v->count;
    case RP_SORT_P95:
        return v->d.p95;
    case RP_SORT_P99:
        return v->d.p99;
    case RP_SORT_MAX:
        return v->d.max;
    case RP_SORT_AVG:
        return v->d.avg;
    case RP_SORT_SLOW:
        return v->slow;
    case RP_SORT_ERRORS:
        return v->errors;
    default:
        return v->d.sum;
    }
}

static int cmp_views(const void *a, const void *b, void *arg)
{
    const rp_route_view_t *x = a, *y = b;
    int sort_by = *(const int *)arg;
    uint64_t kx = sort_key(x, sort_by), ky = sort_key(y, sort_by);
    int c;

    if (kx != ky) {
        return kx > ky ? -1 : 1;
    }
    if (x->d.sum != y->d.sum) {
        return x->d.sum > y->d.sum ? -1 : 1;
    }
    c = strcmp(x->route, y->route);
    return c ? c : strcmp(x->method, y->method);
}

/* ---------------------------------------------------------------- */
/* application metrics: per route, and over all routes               */

typedef struct {
    const char *name;
    uint64_t requests;
    uint64_t prom[RP_PROM_BUCKETS];
    rp_hist_snap_t snap;
} app_acc_t;

static void app_acc_add(app_acc_t *a, const char *name, uint64_t requests,
                        const uint64_t *prom, const rp_hist_snap_t *snap)
{
    int b;

    a->name = name;
    a->requests += requests;
    for (b = 0; b < RP_PROM_BUCKETS; b++) {
        a->prom[b] += prom[b];
    }
    rp_hist_snap_merge(&a->snap, snap);
}

static void app_view_of(const app_acc_t *a, rp_app_view_t *v)
{
    v->name = a->name;
    v->requests = a->requests;
    dist_of(&a->snap, &v->d);
    memcpy(v->prom, a->prom, sizeof(v->prom));
}

/* The metrics of one record into v->app (slots of one name merged, the
 * __other__ slot last), each also added to the all-routes table. */
static void route_app(apr_pool_t *p, rp_stats_t *st,
                      const rp_route_rec_t *rec, rp_route_view_t *v,
                      app_acc_t *scratch, apr_hash_t *all,
                      rp_hist_snap_t *snap)
{
    uint32_t slots = rp_stats_app_slots(st), k, i;
    int n = 0, j;

    for (i = 1; i <= slots; i++) {
        const rp_app_slot_t *slot;
        app_acc_t *top;
        uint64_t prom[RP_PROM_BUCKETS], requests;
        int b;

        k = i % slots;                     /* 1 .. slots-1, then 0 */
        slot = rp_stats_app_slot(st, rec, k);
        if (slot == NULL) {
            continue;
        }
        rp_hist_snapshot(&slot->h, snap);
        if (snap->count == 0) {
            continue;
        }
        requests = ld(&slot->requests);
        for (b = 0; b < RP_PROM_BUCKETS; b++) {
            prom[b] = ld(&slot->prom[b]);
        }
        for (j = 0; j < n && strcmp(scratch[j].name, slot->name) != 0; j++) {
        }
        if (j == n) {
            memset(&scratch[n++], 0, sizeof(scratch[0]));
        }
        app_acc_add(&scratch[j], slot->name, requests, prom, snap);
        top = apr_hash_get(all, slot->name, APR_HASH_KEY_STRING);
        if (top == NULL) {
            top = apr_pcalloc(p, sizeof(*top));
            apr_hash_set(all, slot->name, APR_HASH_KEY_STRING, top);
        }
        app_acc_add(top, slot->name, requests, prom, snap);
    }
    v->n_app = n;
    v->app = n ? apr_palloc(p, (size_t)n * sizeof(rp_app_view_t)) : NULL;
    for (j = 0; j < n; j++) {
        app_view_of(&scratch[j], &v->app[j]);
    }
}

static int cmp_app_acc(const void *a, const void *b)
{
    const app_acc_t *x = *(app_acc_t *const *)a, *y = *(app_acc_t *const *)b;

    if (x->snap.sum != y->snap.sum) {
        return x->snap.sum > y->snap.sum ? -1 : 1;
    }
    if (x->snap.count != y->snap.count) {
        return x->snap.count > y->snap.count ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

/* Over all routes: the app_names names with the most time, the others
 * (and every route's __other__) in __other__, last. */
static void app_totals(apr_pool_t *p, rp_report_t *r, apr_hash_t *all)
{
    unsigned n = apr_hash_count(all), i = 0;
    app_acc_t **v = apr_palloc(p, (n ? n : 1) * sizeof(*v));
    app_acc_t *other = apr_pcalloc(p, sizeof(*other));
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, all); hi; hi = apr_hash_next(hi)) {
        v[i++] = apr_hash_this_val(hi);
    }
    qsort(v, n, sizeof(*v), cmp_app_acc);
    r->app = apr_palloc(p, (n + 1) * sizeof(rp_app_view_t));
    r->n_app = 0;
    for (i = 0; i < n; i++) {
        if (strcmp(v[i]->name, RP_APP_OTHER) != 0
            && (uint32_t)r->n_app < r->app_names) {
            app_view_of(v[i], &r->app[r->n_app++]);
        }
        else {
            /* (a response that carried two folded names counts twice in
             * its requests: an upper bound there) */
            app_acc_add(other, RP_APP_OTHER, v[i]->requests, v[i]->prom,
                        &v[i]->snap);
        }
    }
    if (other->snap.count) {
        app_view_of(other, &r->app[r->n_app++]);
    }
}

rp_report_t *rp_report_build(apr_pool_t *p, rp_stats_t *st, int sort,
                             int64_t now_wall_us, int64_t now_mono_us)
{
    rp_report_t *r = apr_pcalloc(p, sizeof(*r));
    rp_stats_hdr_t *h = rp_stats_hdr(st);
    /* the counters as read, summed over their shards */
    rp_stats_glob_t *g = apr_palloc(p, sizeof(*g));
    rp_route_rec_t *rec = apr_palloc(p, sizeof(*rec));
    rp_hist_snap_t *snap = apr_palloc(p, sizeof(*snap));
    uint32_t i, n = rp_stats_nrecords(st);
    int k, b;
    apr_hash_t *app_all = apr_hash_make(p);
    app_acc_t *app_scratch = apr_palloc(p, rp_stats_app_slots(st)
                                           * sizeof(app_acc_t));

    r->sort = (sort >= 0 && sort <= RP_SORT_ERRORS) ? sort : RP_SORT_TIME;
    r->now_wall_us = now_wall_us;
    r->start_wall_us = h->start_wall_us;
    r->uptime_s = now_mono_us > h->start_mono_us
                  ? (uint64_t)(now_mono_us - h->start_mono_us) / 1000000 : 0;
    r->max_routes = h->max_routes;
    rp_stats_global_read(st, g);
    for (k = 0; k < RP_CTR_COUNT; k++) {
        r->counters[k] = g->counters[k];
    }
    rp_hist_snapshot(&g->total, snap);
    dist_of(snap, &r->total);
    memcpy(r->total_buckets, snap->b, sizeof(r->total_buckets));
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        rp_hist_snapshot(&g->phases[k].h, snap);
        dist_of(snap, &r->phases[k]);
        for (b = 0; b < RP_PROM_BUCKETS; b++) {
            r->phase_prom[k][b] = g->phases[k].prom[b];
        }
    }

    r->routes = apr_pcalloc(p, (n ? n : 1) * sizeof(rp_route_view_t));
    for (i = 0; i < n; i++) {
        rp_route_view_t *v;

        if (rp_stats_record_read(st, i, rec) == NULL) {
            continue;
        }
        v = &r->routes[r->n_routes++];
        v->route = apr_pstrdup(p, rec->route);
        v->method = apr_pstrdup(p, rec->method);
        v->count = ld(&rec->count);
        v->slow = ld(&rec->slow);
        v->errors = ld(&rec->errors);
        rp_hist_snapshot(&rec->h, snap);
        dist_of(snap, &v->d);
        for (b = 0; b < 6; b++) {
            v->status_class[b] = ld(&rec->status_class[b]);
        }
        for (b = 0; b < RP_CACHE_RESULTS; b++) {
            v->cache[b] = ld(&rec->cache[b]);
        }
        v->stale_error = ld(&rec->stale_error);
        v->has_rec = 1;
        v->rec_index = rec->index;
        v->lock_waits = ld(&rec->lock_waits);
        v->lock_wait_us = ld(&rec->lock_wait_us);
        for (b = 0; b < RP_XCACHE_COUNT; b++) {
            v->xcache[b] = ld(&rec->xcache[b]);
        }
        for (b = 0; b < RP_PROM_BUCKETS; b++) {
            v->prom[b] = ld(&rec->prom[b]);
        }
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            uint64_t c = ld(&rec->phase_count[k]);
            v->phase_avg[k] = c ? (int64_t)(ld(&rec->phase_sum[k]) / c) : -1;
        }
        rp_stats_recent(st, rec, snap);
        v->recent_count = snap->count;
        v->recent_p50 = rp_hist_percentile(snap, 50);
        v->recent_p95 = rp_hist_percentile(snap, 95);
        v->recent_p99 = rp_hist_percentile(snap, 99);
        route_app(p, st, rec, v, app_scratch, app_all, snap);
        v->advice = rp_advice_report_view(p, st, rec, now_wall_us / 1000000);
    }
    r->app_names = h->app_names;
    app_totals(p, r, app_all);
    qsort_r(r->routes, r->n_routes, sizeof(rp_route_view_t), cmp_views,
            &r->sort);

    r->slow = apr_palloc(p, (rp_stats_slow_size(st) + 1)
                            * sizeof(rp_slow_entry_t));
    r->n_slow = rp_stats_slow_read(st, r->slow, rp_stats_slow_size(st));
    return r;
}

/* ---------------------------------------------------------------- */
/* shared pieces                                                     */

static void buf_str(rp_buf_t *b, const char *s)
{
    rp_buf_json_str(b, s, strlen(s));
}

static void iso_time(char *out, size_t outsz, int64_t wall_us)
{
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)((wall_us / 1000) % 1000));
}

static const char *server_state_value(const char *state)
{
    return strcmp(state, "up") == 0 ? "1" : "0";
}

/* ---------------------------------------------------------------- */
/* JSON                                                              */

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
        buf_str(b, v[i].name);
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
        buf_str(b, a->m[i].name);
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
static void json_phases(rp_buf_t *b, const int64_t *us)
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

static void json_counters(rp_buf_t *b, const rp_report_t *r,
                          rp_counter_section_t sec, int *first)
{
    int k;

    for (k = 0; k < RP_CTR_COUNT; k++) {
        if (rp_counter_info[k].section != sec) {
            continue;
        }
        rp_buf_puts(b, *first ? "" : ",");
        *first = 0;
        buf_str(b, rp_counter_info[k].json_name);
        rp_buf_add(b, ":", 1);
        rp_buf_u64(b, r->counters[k]);
    }
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
        buf_str(b, rp_xcache_info[k].value);
        rp_buf_add(b, ":", 1);
        rp_buf_u64(b, v->xcache[k]);
    }
    rp_buf_add(b, "}", 1);
}

/* A route's fields ("route" ... "recent"), without the braces: the
 * routes array and the route page's object share them. */
static void json_route_fields(rp_buf_t *b, const rp_route_view_t *v)
{
    rp_buf_puts(b, "\"route\":");
    buf_str(b, v->route);
    rp_buf_puts(b, ",\"method\":");
    buf_str(b, v->method);
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
    json_phases(b, v->phase_avg);
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
static void json_slow_entry(rp_buf_t *b, const rp_slow_entry_t *e)
{
    char when[80];

    iso_time(when, sizeof(when), e->wall_us);
    rp_buf_printf(b, "{\"time\":\"%s\",\"time_unix_us\":%lld,"
                  "\"method\":", when, (long long)e->wall_us);
    buf_str(b, e->method);
    rp_buf_puts(b, ",\"uri\":");
    buf_str(b, e->uri);
    rp_buf_puts(b, ",\"route\":");
    buf_str(b, e->route);
    rp_buf_printf(b, ",\"status\":%d,\"total_us\":%lld,\"phases\":",
                  e->status, (long long)e->total_us);
    json_phases(b, e->phase_us);
    json_slow_app(b, &e->app, 0);
    json_slow_app(b, &e->app, 1);
    rp_buf_puts(b, ",\"cache\":");
    if (e->cache > RP_CACHE_NONE && e->cache < RP_CACHE_RESULTS) {
        buf_str(b, rp_cache_result_name(e->cache));
    }
    else {
        rp_buf_puts(b, "null");
    }
    rp_buf_puts(b, ",\"x_cache\":");
    if (e->xcache >= 0 && e->xcache < RP_XCACHE_COUNT) {
        buf_str(b, rp_xcache_info[e->xcache].value);
    }
    else {
        rp_buf_puts(b, "null");
    }
    rp_buf_printf(b, ",\"lock_wait_us\":%lld}", (long long)e->lock_wait_us);
}

void rp_render_json(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    char when[80];
    size_t i;
    int k, first;

    iso_time(when, sizeof(when), r->start_wall_us);
    rp_buf_printf(b, "{\"version\":1,\"uptime_s\":%llu,\"start_time\":\"%s\","
                  "\"start_time_unix\":%lld,",
                  (unsigned long long)r->uptime_s, when,
                  (long long)(r->start_wall_us / 1000000));
    first = 1;
    json_counters(b, r, RP_SEC_TOP, &first);
    rp_buf_printf(b, ",\"routes_tracked\":%llu,\"max_routes\":%u",
                  (unsigned long long)r->n_routes, r->max_routes);
    rp_buf_puts(b, ",\"total\":");
    json_dist(b, &r->total);

    rp_buf_puts(b, ",\"phases\":{");
    first = 1;
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (r->phases[k].count == 0) {
            continue;
        }
        rp_buf_puts(b, first ? "" : ",");
        first = 0;
        buf_str(b, rp_phase_name(k));
        rp_buf_add(b, ":", 1);
        json_dist(b, &r->phases[k]);
    }
    rp_buf_puts(b, "}");
    json_app(b, r->app, r->n_app);
    rp_buf_puts(b, ",\"app_timing\":{");
    first = 1;
    json_counters(b, r, RP_SEC_APP, &first);
    rp_buf_printf(b, ",\"max_names\":%u}", r->app_names);

    rp_buf_printf(b, ",\"sort\":\"%s\",\"routes\":[", rp_sort_name(r->sort));
    for (i = 0; i < r->n_routes; i++) {
        rp_buf_puts(b, i ? ",{" : "{");
        json_route_fields(b, &r->routes[i]);
        rp_buf_puts(b, "}");
    }
    rp_buf_puts(b, "],\"slow\":[");
    for (i = 0; i < r->n_slow; i++) {
        rp_buf_puts(b, i ? "," : "");
        json_slow_entry(b, &r->slow[i]);
    }
    rp_buf_puts(b, "],\"cache\":{");
    first = 1;
    json_counters(b, r, RP_SEC_CACHE, &first);
    rp_buf_printf(b, ",\"enabled\":%s,\"purges\":{",
                  o->cache_configured ? "true" : "false");
    first = 1;
    json_counters(b, r, RP_SEC_PURGE, &first);
    rp_buf_puts(b, "},\"servers\":[");
    for (k = 0; k < o->n_servers; k++) {
        rp_buf_puts(b, k ? ",{\"address\":" : "{\"address\":");
        buf_str(b, o->servers[k].address);
        rp_buf_puts(b, ",\"state\":");
        buf_str(b, o->servers[k].state);
        rp_buf_puts(b, "}");
    }
    rp_buf_puts(b, "],\"local\":{");
    first = 1;
    json_counters(b, r, RP_SEC_LOCAL, &first);
    rp_buf_printf(b, ",\"enabled\":%s,\"bytes_used\":%llu,\"bytes_total\":%llu,"
                  "\"entries\":%llu}}}\n",
                  o->local_configured ? "true" : "false",
                  (unsigned long long)o->local_bytes_used,
                  (unsigned long long)o->local_bytes_total,
                  (unsigned long long)o->local_entries);
}

/* ---------------------------------------------------------------- */
/* Prometheus text format 0.0.4                                      */

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

/* ---------------------------------------------------------------- */
/* ?auto: key: value lines, like mod_status                          */

static const char *section_prefix(rp_counter_section_t s)
{
    switch (s) {
    case RP_SEC_CACHE:
        return "cache_";
    case RP_SEC_LOCAL:
        return "cache_local_";
    case RP_SEC_PURGE:
        return "cache_purge_";
    case RP_SEC_APP:
        return "app_timing_";
    default:
        return "";
    }
}

/* <prefix><name>_count, _avg_us, _p95_us, _p99_us */
static void auto_dist(rp_buf_t *b, const char *prefix, const char *n,
                      const rp_dist_t *d)
{
    rp_buf_printf(b, "%s%s_count: %llu\n%s%s_avg_us: %llu\n"
                  "%s%s_p95_us: %llu\n%s%s_p99_us: %llu\n",
                  prefix, n, (unsigned long long)d->count, prefix, n,
                  (unsigned long long)d->avg, prefix, n,
                  (unsigned long long)d->p95, prefix, n,
                  (unsigned long long)d->p99);
}

void rp_render_auto(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    int k;

    rp_buf_printf(b, "uptime_s: %llu\n", (unsigned long long)r->uptime_s);
    for (k = 0; k < RP_CTR_COUNT; k++) {
        rp_buf_printf(b, "%s%s: %llu\n",
                      section_prefix(rp_counter_info[k].section),
                      rp_counter_info[k].json_name,
                      (unsigned long long)r->counters[k]);
    }
    rp_buf_printf(b, "routes: %llu\n", (unsigned long long)r->n_routes);
    rp_buf_printf(b, "total_avg_us: %llu\ntotal_p50_us: %llu\n"
                  "total_p95_us: %llu\ntotal_p99_us: %llu\n"
                  "total_max_us: %llu\n",
                  (unsigned long long)r->total.avg,
                  (unsigned long long)r->total.p50,
                  (unsigned long long)r->total.p95,
                  (unsigned long long)r->total.p99,
                  (unsigned long long)r->total.max);
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        auto_dist(b, "phase_", rp_phase_name(k), &r->phases[k]);
    }
    for (k = 0; k < r->n_app; k++) {
        auto_dist(b, "app_", r->app[k].name, &r->app[k].d);
    }
    for (k = 0; k < o->n_servers; k++) {
        rp_buf_printf(b, "memcached_%d: %s %s\n", k, o->servers[k].address,
                      o->servers[k].state);
    }
    rp_advice_auto(b, r);
}

/* ---------------------------------------------------------------- */
/* HTML                                                              */

static const char *const phase_colors[RP_PHASE_COUNT] = {
    "#e377c2", "#9ecae1", "#c6dbef", "#fdd0a2", "#fdae6b", "#fd8d3c", "#a1d99b",
    "#74c476", "#31a354", "#dadaeb", "#bcbddc", "#e7ba52", "#d6616b",
    "#843c39", "#969696"
};

static void html_us(rp_buf_t *b, uint64_t us)
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
static void html_us_cells(rp_buf_t *b, const uint64_t *us, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        rp_buf_puts(b, "<td class=\"n\">");
        html_us(b, us[i]);
        rp_buf_puts(b, "</td>");
    }
}

static void html_text(rp_buf_t *b, const char *s)
{
    rp_buf_html(b, s, strlen(s));
}

static void html_link(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *query)
{
    rp_buf_puts(b, "<a href=\"");
    html_text(b, o->self_path ? o->self_path : "");
    rp_buf_puts(b, "?");
    rp_buf_puts(b, query);
    if (o->refresh_s > 0) {
        rp_buf_printf(b, "&amp;refresh=%d", o->refresh_s);
    }
    rp_buf_puts(b, "\">");
}

/* Escaped text that may wrap after '/', '?' and '&' (and nowhere else:
 * the CSS keeps words whole), for URIs and route names. */
static void html_text_wrap(rp_buf_t *b, const char *s)
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
static void url_component(rp_buf_t *b, const char *s)
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
static void html_route_link(rp_buf_t *b, const rp_report_opts_t *o,
                            const char *route, const char *method)
{
    rp_buf_puts(b, "<a class=\"route\" href=\"");
    html_text(b, o->self_path ? o->self_path : "");
    rp_buf_puts(b, "?route=");
    url_component(b, route);
    rp_buf_puts(b, "&amp;method=");
    url_component(b, method);
    if (o->refresh_s > 0) {
        rp_buf_printf(b, "&amp;refresh=%d", o->refresh_s);
    }
    rp_buf_puts(b, "\"><code>");
    html_text_wrap(b, route);
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
static void html_key(rp_buf_t *b, const char *prefix, const char *name,
                     const char *leaf, uint64_t value)
{
    rp_buf_puts(b, " data-k=\"");
    html_text(b, prefix);
    if (name != NULL) {
        rp_buf_t t;
        rp_buf_init(&t, b->pool, 64);
        pointer_token(&t, name);
        rp_buf_add(b, "/", 1);
        html_text(b, rp_buf_cstr(&t));
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
static void html_cell_k(rp_buf_t *b, const char *prefix, const char *name,
                        const char *leaf, uint64_t value, int is_us)
{
    rp_buf_puts(b, "<td class=\"n\"");
    html_key(b, prefix, name, leaf, value);
    rp_buf_puts(b, ">");
    if (is_us) {
        html_us(b, value);
    }
    else {
        rp_buf_u64(b, value);
    }
    rp_buf_puts(b, "</td>");
}

static double log2_of(uint64_t v)
{
    double x = (double)(v ? v : 1), l = 0;

    while (x >= 2) {
        x /= 2;
        l += 1;
    }
    return l + (x - 1);                /* piecewise linear: good enough */
}

/* The latency histogram of all requests, one bar per power of two. */
static void html_histogram_of(rp_buf_t *b, const uint64_t *buckets,
                              const rp_dist_t *d);

static void html_histogram(rp_buf_t *b, const rp_report_t *r)
{
    html_histogram_of(b, r->total_buckets, &r->total);
}

/* Log-linear buckets folded into powers of two: oct[k] counts the
 * values in [2^k, 2^(k+1)) (oct[0] also 0). */
static void histogram_octaves(const uint64_t *buckets, uint64_t *oct)
{
    int k;

    memset(oct, 0, 48 * sizeof(*oct));
    for (k = 0; k < RP_HIST_BUCKETS; k++) {
        uint64_t lowv = rp_hist_bucket_low(k);
        int o = lowv ? 63 - __builtin_clzll(lowv) : 0;
        oct[o] += buckets[k];
    }
}

/* Any set of buckets, its p50/p95/p99 marked; each bar's title says
 * how many requests, between which bounds (the route page's JSON gives
 * the same octaves, "histogram"). */
static void html_histogram_of(rp_buf_t *b, const uint64_t *buckets,
                              const rp_dist_t *d)
{
    uint64_t oct[48], top = 0;
    int lo = 48, hi = -1, k, x;
    const int w = 760, h = 200, left = 40, bottom = 30, right = 10;
    double span, bw;
    static const struct { uint64_t us; const char *label; } ticks[] = {
        { 10, "10µs" }, { 100, "100µs" }, { 1000, "1ms" },
        { 10000, "10ms" }, { 100000, "100ms" }, { 1000000, "1s" },
        { 10000000, "10s" }, { 100000000, "100s" }
    };
    struct { uint64_t v; const char *name; const char *color; } marks[3];

    histogram_octaves(buckets, oct);
    for (k = 0; k < 48; k++) {
        if (oct[k]) {
            if (k < lo) {
                lo = k;
            }
            hi = k;
            if (oct[k] > top) {
                top = oct[k];
            }
        }
    }
    rp_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                  "aria-label=\"latency histogram\" class=\"hist\">",
                  w, h, w, h);
    rp_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                  "fill=\"#fafafa\"/>", w, h);
    if (hi < 0) {
        rp_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"14\" "
                      "fill=\"#777\">no requests yet</text></svg>",
                      w / 2 - 50, h / 2);
        return;
    }
    /* show at least 1 µs .. 1 s so pictures are comparable */
    if (lo > 0) {
        lo = 0;
    }
    if (hi < 20) {
        hi = 20;
    }
    span = hi - lo + 1;
    bw = (w - left - right) / span;
    for (k = lo; k <= hi; k++) {
        double bh = top ? (double)oct[k] / (double)top * (h - bottom - 20) : 0;
        if (oct[k] == 0) {
            continue;
        }
        if (bh < 1) {
            bh = 1;
        }
        rp_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                      "height=\"%.1f\" fill=\"#4a7ab7\" class=\"bin\">"
                      "<title>%llu requests between %llu and %llu µs</title>"
                      "</rect>",
                      left + (k - lo) * bw + 1, h - bottom - bh, bw - 2, bh,
                      (unsigned long long)oct[k],
                      (unsigned long long)(1ULL << k),
                      (unsigned long long)((2ULL << k) - 1));
    }
    for (k = 0; k < (int)(sizeof(ticks) / sizeof(ticks[0])); k++) {
        double l = log2_of(ticks[k].us);
        if (l < lo || l > hi + 1) {
            continue;
        }
        x = (int)(left + (l - lo) * bw);
        rp_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                      "stroke=\"#999\"/><text x=\"%d\" y=\"%d\" "
                      "font-size=\"11\" text-anchor=\"middle\" "
                      "fill=\"#333\">%s</text>", x, h - bottom, x,
                      h - bottom + 5, x, h - bottom + 18, ticks[k].label);
    }
    marks[0].v = d->p50;
    marks[0].name = "p50";
    marks[0].color = "#2ca02c";
    marks[1].v = d->p95;
    marks[1].name = "p95";
    marks[1].color = "#ff7f0e";
    marks[2].v = d->p99;
    marks[2].name = "p99";
    marks[2].color = "#d62728";
    for (k = 0; k < 3; k++) {
        x = (int)(left + (log2_of(marks[k].v) - lo) * bw);
        rp_buf_printf(b, "<g class=\"mark\" data-mark=\"%s\" data-v=\"%llu\">"
                      "<line x1=\"%d\" y1=\"12\" x2=\"%d\" y2=\"%d\" "
                      "stroke=\"%s\" stroke-dasharray=\"4 3\"/>"
                      "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\"%s>"
                      "%s</text></g>", marks[k].name,
                      (unsigned long long)marks[k].v, x, x, h - bottom,
                      marks[k].color, x > w - 40 ? x - 3 : x + 3, 12 + 11 * k,
                      marks[k].color,
                      /* near the right edge, the label goes to the left */
                      x > w - 40 ? " text-anchor=\"end\"" : "",
                      marks[k].name);
    }
    rp_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                  "stroke=\"#333\"/></svg>", left, h - bottom, w - right,
                  h - bottom);
}

/* Application metric colours, by the metric's rank over all routes;
 * __other__ and names outside the top are grey. */
static const char *const app_colors[] = {
    "#393b79", "#6b6ecf", "#637939", "#b5cf6b", "#8c6d31", "#e7cb94",
    "#7b4173", "#ce6dbd", "#5254a3", "#8ca252", "#bd9e39", "#a55194"
};
#define APP_COLOR_OTHER "#b0b0b0"

static const char *app_color(const rp_report_t *r, const char *name)
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
    html_text(b, label);
    rp_buf_puts(b, what);
    rp_buf_i64(b, us);
    rp_buf_puts(b, " µs\"></span>");
}

/* One bar split by the average time of each phase; the handler's part is
 * split again into what the application reported in Server-Timing (per
 * request, each metric in its colour) and the rest of the handler. */
static void html_phase_bar(rp_buf_t *b, const rp_report_t *r,
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
                     app_color(r, v->app[a].name), v->app[a].name,
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
static void html_route_app(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v,
                           const rp_report_opts_t *o)
{
    int64_t handler = v->phase_avg[RP_PHASE_HANDLER];
    int k;

    rp_buf_puts(b, "<h3>");
    if (v->has_rec) {
        html_route_link(b, o, v->route, v->method);
    }
    else {
        rp_buf_puts(b, "<code>");
        html_text(b, v->route);
        rp_buf_puts(b, "</code>");
    }
    rp_buf_puts(b, " ");
    html_text(b, v->method);
    rp_buf_printf(b, " <span class=\"muted\">%llu requests, handler ",
                  (unsigned long long)v->count);
    html_us(b, (uint64_t)(handler > 0 ? handler : 0));
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
                      app_color(r, a->name));
        html_text(b, a->name);
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
        html_cell_k(b, "/app", a->name, "requests", a->requests, 0);
        rp_buf_puts(b, "<td class=\"n\">");
        /* occurrences per response, one decimal: 52.0 queries */
        rp_buf_fixed(b, a->requests ? (a->d.count * 10 + a->requests / 2)
                                      / a->requests : 0, 1, 1);
        rp_buf_puts(b, "</td>");
        {
            const uint64_t per_resp = a->requests ? a->d.sum / a->requests : 0;
            html_us_cells(b, &per_resp, 1);
        }
        {
            static const char *const leaf[7] = { "count", "avg_us", "p50_us",
                "p95_us", "p99_us", "max_us", "total_us" };
            const uint64_t vals[7] = { a->d.count, a->d.avg, a->d.p50,
                                       a->d.p95, a->d.p99, a->d.max,
                                       a->d.sum };
            int j;
            for (j = 0; j < 7; j++) {
                html_cell_k(b, "/app", a->name, leaf[j], vals[j], j > 0);
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
        html_text(b, a->m[i].name);
        rp_buf_puts(b, "=");
        html_us(b, (uint64_t)(a->m[i].us > 0 ? a->m[i].us : 0));
        if (a->m[i].count > 1) {
            rp_buf_printf(b, "&times;%u", a->m[i].count);
        }
        rp_buf_puts(b, " ");
    }
}

static void html_counter_rows(rp_buf_t *b, const rp_report_t *r,
                              rp_counter_section_t sec)
{
    int k;

    for (k = 0; k < RP_CTR_COUNT; k++) {
        if (rp_counter_info[k].section != sec) {
            continue;
        }
        rp_buf_printf(b, "<tr><th>%s%s</th><td class=\"n\">%llu</td>"
                      "<td class=\"help\">%s</td></tr>",
                      section_prefix(sec), rp_counter_info[k].json_name,
                      (unsigned long long)r->counters[k],
                      rp_counter_info[k].help);
    }
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
                      app_color(r, r->app[k].name));
        html_text(b, r->app[k].name);
        rp_buf_puts(b, "</span>");
    }
}

/* "Inside the application": every route's metrics, in the routes' order,
 * then the totals over all routes and the counters of reading them. */
static void html_app_section(rp_buf_t *b, const rp_report_t *r,
                             const rp_report_opts_t *o)
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
            html_route_app(b, r, &r->routes[i], o);
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
        html_route_app(b, r, &all, o);
    }
    rp_buf_puts(b, "<table id=\"app-counters\">");
    html_counter_rows(b, r, RP_SEC_APP);
    rp_buf_puts(b, "</table>\n");
}

/* The page's head: title, optional reload, and the one stylesheet both
 * pages use.  Sized for a 1366-pixel laptop screen: tables wrap long
 * routes and URIs only at '/', '?' and '&' (<wbr>), never inside a word;
 * numbers never wrap; printed, it drops the colours of links and fits
 * the tables to the paper. */
static void html_head(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *title)
{
    rp_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                "<meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\">");
    if (o->refresh_s > 0) {
        rp_buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">",
                      o->refresh_s);
    }
    rp_buf_puts(b, "<title>");
    if (title != NULL) {
        html_text(b, title);
        rp_buf_puts(b, " - ");
    }
    rp_buf_puts(b, "mod_reqperf status");
    if (o->server_name) {
        rp_buf_puts(b, " - ");
        html_text(b, o->server_name);
    }
    rp_buf_puts(b, "</title><style>"
        "body{font:14px/1.4 system-ui,sans-serif;margin:1em 1.2em;"
        "color:#222}"
        ".warn{color:#a40}"
        "h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;"
        "margin:1.4em 0 .5em;border-bottom:1px solid #ddd}"
        "table{border-collapse:collapse;font-size:13px}"
        "th,td{padding:3px 6px;border-bottom:1px solid #eee;"
        "text-align:left;vertical-align:top;overflow-wrap:normal;"
        "word-break:normal}"
        "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
        "td.n{white-space:nowrap}"
        "th a{color:#225;text-decoration:none}th.sorted{background:#e8eef8}"
        "code{font-size:12px}h1 code{font-size:1em}"
        "td.u{min-width:11em}"
        "a.route{color:#225}"
        ".bar{display:flex;width:130px;height:12px;background:#f2f2f2}"
        ".bar span{display:block;height:12px}"
        ".legend span{display:inline-block;margin-right:10px}"
        ".legend i{display:inline-block;width:10px;height:10px;"
        "margin-right:3px}"
        ".summary td{padding-right:20px}.help{color:#777}"
        ".up{color:#2a7}.down{color:#c33}.retrying{color:#c80}"
        ".muted{color:#777}"
        "h3{font-size:1em;margin:1.2em 0 .3em}"
        "svg.hist{max-width:100%;height:auto}"
        ".cols{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
        "td.t,td.when{white-space:nowrap}"
        "@media print{body{margin:0;font-size:10pt;color:#000}"
        "table{font-size:8pt}th,td{padding:2px 3px}code{font-size:7.5pt}"
        ".bar{width:70px}svg.hist{width:100%}"
        "td.u{min-width:6em}td.t{white-space:normal}"
        "a,a.route,th a{color:#000;text-decoration:none}"
        "th.sorted{background:none}h2{break-after:avoid}"
        "tr,svg,h3{break-inside:avoid}.noprint{display:none}"
        "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}"
        "@page{margin:12mm}"
        "</style></head><body>\n");
}

/* The slow-request log, newest first: all of it, or one route's. */
static void html_slow_table(rp_buf_t *b, const rp_report_t *r,
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
        iso_time(when, sizeof(when), e->wall_us);
        rp_buf_printf(b, "<tr><td class=\"when\">%s</td><td>", when);
        html_text(b, e->method);
        rp_buf_puts(b, "</td><td class=\"u\"><code>");
        html_text_wrap(b, e->uri);
        rp_buf_puts(b, "</code></td>");
        if (only == NULL) {
            rp_buf_puts(b, "<td class=\"u\">");
            html_route_link(b, o, e->route, e->method);
            rp_buf_puts(b, "</td>");
        }
        html_cell_k(b, prefix, NULL, "status",
                    (uint64_t)(e->status > 0 ? e->status : 0), 0);
        html_cell_k(b, prefix, NULL, "total_us",
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
            html_key(b, prefix, NULL, "lock_wait_us",
                     (uint64_t)e->lock_wait_us);
            rp_buf_puts(b, ">waited ");
            html_us(b, (uint64_t)e->lock_wait_us);
            rp_buf_puts(b, " for the fill</span>");
        }
        rp_buf_puts(b, "</td><td><code>");
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            if (e->phase_us[k] < 0) {
                continue;
            }
            rp_buf_printf(b, "%s=", rp_phase_name(k));
            html_us(b, (uint64_t)e->phase_us[k]);
            rp_buf_puts(b, " ");
        }
        rp_buf_puts(b, "</code></td><td><code>");
        html_slow_app(b, &e->app);
        rp_buf_puts(b, "</code></td></tr>\n");
    }
    rp_buf_puts(b, "</table>\n");
}

void rp_render_html(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    static const struct { int sort; const char *label; } cols[] = {
        { RP_SORT_COUNT, "count" }, { RP_SORT_SLOW, "slow" },
        { RP_SORT_ERRORS, "5xx" }, { RP_SORT_TIME, "time spent" },
        { RP_SORT_AVG, "avg" }, { -1, "p50" }, { RP_SORT_P95, "p95" },
        { RP_SORT_P99, "p99" }, { RP_SORT_MAX, "max" }
    };
    char when[80];
    size_t i;
    int k, c;
    double rate = r->uptime_s ? (double)r->counters[RP_CTR_REQUESTS]
                                / (double)r->uptime_s : 0;

    html_head(b, o, NULL);

    rp_buf_puts(b, "<h1>mod_reqperf</h1><p class=\"muted\">");
    if (o->server_name) {
        html_text(b, o->server_name);
        rp_buf_puts(b, " &middot; ");
    }
    iso_time(when, sizeof(when), r->now_wall_us);
    rp_buf_printf(b, "as of %s &middot; ", when);
    iso_time(when, sizeof(when), r->start_wall_us);
    rp_buf_printf(b, "counting since %s &middot; formats: ", when);
    html_link(b, o, "format=json");
    rp_buf_puts(b, "JSON</a>, ");
    html_link(b, o, "format=prometheus");
    rp_buf_puts(b, "Prometheus</a>, ");
    html_link(b, o, "auto");
    rp_buf_puts(b, "auto</a></p>\n");

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
    {
        static const char *const names[4] = { "p50", "p95", "p99", "max" };
        const uint64_t vals[4] = { r->total.p50, r->total.p95, r->total.p99,
                                   r->total.max };
        for (k = 0; k < 4; k++) {
            rp_buf_printf(b, "<td>%s<br><b>", names[k]);
            html_us(b, vals[k]);
            rp_buf_puts(b, "</b></td>");
        }
    }
    rp_buf_puts(b, "</tr></table>\n");

    rp_buf_puts(b, "<h2>Latency of all requests</h2>");
    html_histogram(b, r);

    /* phases */
    rp_buf_puts(b, "\n<h2>Phases</h2><table id=\"phases\"><tr><th>phase</th>"
                "<th class=\"n\">count</th><th class=\"n\">avg</th>"
                "<th class=\"n\">p50</th><th class=\"n\">p95</th>"
                "<th class=\"n\">p99</th><th class=\"n\">max</th>"
                "<th class=\"n\">time spent</th></tr>");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        const rp_dist_t *d = &r->phases[k];
        rp_buf_printf(b, "<tr><th><i style=\"display:inline-block;width:10px;"
                      "height:10px;background:%s\"></i> %s</th>"
                      "<td class=\"n\">%llu</td>",
                      phase_colors[k], rp_phase_name(k),
                      (unsigned long long)d->count);
        {
            const uint64_t vals[6] = { d->avg, d->p50, d->p95, d->p99, d->max,
                                       d->sum };
            html_us_cells(b, vals, 6);
        }
        rp_buf_puts(b, "</tr>");
    }
    rp_buf_puts(b, "</table><p class=\"muted\">ttfb is the part of handler "
                "until the first body byte (the application's own time "
                "when it is proxied or under mod_wsgi). queue is HTTP/2's "
                "alone: a stream waiting for an h2 worker (H2MaxWorkers) "
                "after its HEADERS frame came.</p>\n");

    /* routes */
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
            html_link(b, o, q);
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
    for (i = 0; i < r->n_routes; i++) {
        const rp_route_view_t *v = &r->routes[i];
        uint64_t lookups = v->cache[RP_CACHE_HIT] + v->cache[RP_CACHE_MISS]
                           + v->cache[RP_CACHE_STALE];
        rp_buf_puts(b, "<tr><td>");
        html_route_link(b, o, v->route, v->method);
        rp_buf_puts(b, "</td><td>");
        html_text(b, v->method);
        rp_buf_printf(b, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu"
                      "</td><td class=\"n\">%llu</td>",
                      (unsigned long long)v->count,
                      (unsigned long long)v->slow,
                      (unsigned long long)v->errors);
        {
            const uint64_t vals[6] = { v->d.sum, v->d.avg, v->d.p50, v->d.p95,
                                       v->d.p99, v->d.max };
            html_us_cells(b, vals, 6);
        }
        rp_buf_printf(b, "<td class=\"n\">%llu</td>",
                      (unsigned long long)v->recent_count);
        {
            const uint64_t vals[2] = { v->recent_p95, v->recent_p99 };
            html_us_cells(b, vals, 2);
        }
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
        rp_buf_puts(b, "</td><td>");
        html_phase_bar(b, r, v);
        rp_buf_puts(b, "</td></tr>\n");
    }
    rp_buf_puts(b, "</table><p class=\"legend\">");
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        if (k == RP_PHASE_TTFB) {
            continue;
        }
        rp_buf_printf(b, "<span><i style=\"background:%s\"></i>%s</span>",
                      phase_colors[k], rp_phase_name(k));
    }
    html_app_legend(b, r);
    rp_buf_puts(b, "</p>\n");
    html_app_section(b, r, o);
    rp_advice_html(b, r);

    /* slow log */
    rp_buf_printf(b, "<h2>Slow requests</h2><p class=\"muted\">the %llu most "
                  "recent at or above ReqPerfSlowThreshold, newest first</p>",
                  (unsigned long long)r->n_slow);
    html_slow_table(b, r, o, NULL);

    /* cache */
    rp_buf_puts(b, "<h2>Page cache</h2>");
    if (!o->cache_configured) {
        rp_buf_puts(b, "<p class=\"muted\">not configured "
                    "(ReqPerfCacheServers)</p>");
    }
    rp_buf_puts(b, "<table id=\"cache\">");
    html_counter_rows(b, r, RP_SEC_CACHE);
    html_counter_rows(b, r, RP_SEC_PURGE);
    html_counter_rows(b, r, RP_SEC_LOCAL);
    if (o->local_configured) {
        rp_buf_printf(b, "<tr><th>cache_local_bytes_used</th><td class=\"n\">"
                      "%llu</td><td class=\"help\">of %llu bytes</td></tr>"
                      "<tr><th>cache_local_entries</th><td class=\"n\">%llu"
                      "</td><td class=\"help\">entries in the shared-memory "
                      "tier</td></tr>",
                      (unsigned long long)o->local_bytes_used,
                      (unsigned long long)o->local_bytes_total,
                      (unsigned long long)o->local_entries);
    }
    rp_buf_puts(b, "</table>\n<h2>memcached servers</h2>");
    if (o->n_servers == 0) {
        rp_buf_puts(b, "<p class=\"muted\">none</p>");
    }
    else {
        rp_buf_puts(b, "<table id=\"servers\"><tr><th>address</th>"
                    "<th>state</th></tr>");
        for (k = 0; k < o->n_servers; k++) {
            rp_buf_puts(b, "<tr><td><code>");
            html_text(b, o->servers[k].address);
            rp_buf_puts(b, "</code></td><td class=\"");
            html_text(b, o->servers[k].state);
            rp_buf_puts(b, "\">");
            html_text(b, o->servers[k].state);
            rp_buf_puts(b, "</td></tr>");
        }
        rp_buf_puts(b, "</table>");
    }
    rp_buf_puts(b, "\n</body></html>\n");
}

/* ---------------------------------------------------------------- */
/* lent to rp_report_route.c (see rp_report_int.h)                   */

void rp_rep_json_str(rp_buf_t *b, const char *s)
{
    buf_str(b, s);
}

void rp_rep_iso_time(char *out, size_t outsz, int64_t wall_us)
{
    iso_time(out, outsz, wall_us);
}

void rp_rep_json_route_fields(rp_buf_t *b, const rp_route_view_t *v)
{
    json_route_fields(b, v);
}

void rp_rep_json_slow_entry(rp_buf_t *b, const rp_slow_entry_t *e)
{
    json_slow_entry(b, e);
}

void rp_rep_json_phases(rp_buf_t *b, const int64_t *us)
{
    json_phases(b, us);
}

void rp_rep_html_head(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *title)
{
    html_head(b, o, title);
}

void rp_rep_html_text(rp_buf_t *b, const char *s)
{
    html_text(b, s);
}

void rp_rep_html_text_wrap(rp_buf_t *b, const char *s)
{
    html_text_wrap(b, s);
}

void rp_rep_url_component(rp_buf_t *b, const char *s)
{
    url_component(b, s);
}

void rp_rep_html_us(rp_buf_t *b, uint64_t us)
{
    html_us(b, us);
}

void rp_rep_html_link(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *query)
{
    html_link(b, o, query);
}

void rp_rep_html_key(rp_buf_t *b, const char *prefix, const char *name,
                     const char *leaf, uint64_t value)
{
    html_key(b, prefix, name, leaf, value);
}

void rp_rep_html_cell_k(rp_buf_t *b, const char *prefix, const char *name,
                        const char *leaf, uint64_t value, int is_us)
{
    html_cell_k(b, prefix, name, leaf, value, is_us);
}

void rp_rep_histogram_octaves(const uint64_t *buckets, uint64_t *oct)
{
    histogram_octaves(buckets, oct);
}

void rp_rep_html_histogram(rp_buf_t *b, const uint64_t *buckets,
                           const rp_dist_t *d)
{
    html_histogram_of(b, buckets, d);
}

void rp_rep_html_phase_bar(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v)
{
    html_phase_bar(b, r, v);
}

const char *rp_rep_phase_color(int phase)
{
    return phase >= 0 && phase < RP_PHASE_COUNT ? phase_colors[phase]
                                                : "#ccc";
}

void rp_rep_html_route_app(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v,
                           const rp_report_opts_t *o)
{
    html_route_app(b, r, v, o);
}

void rp_rep_html_slow_table(rp_buf_t *b, const rp_report_t *r,
                            const rp_report_opts_t *o,
                            const rp_route_view_t *only)
{
    html_slow_table(b, r, o, only);
}
