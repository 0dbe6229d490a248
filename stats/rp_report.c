/*
 * rp_report.c: the snapshot the status page's outputs render (see rp_report.h).
 *
 * rp_report_build() reads the shared-memory statistics once per request:
 * percentiles computed, routes sorted, the application metrics summed over
 * all routes.  Every renderer (rp_report_json.c, rp_report_prom.c,
 * rp_report_auto.c, rp_report_html.c, rp_report_route.c,
 * rp_report_status.c, rp_advice_report.c) reads only this snapshot, so
 * all formats show the same moment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        rp_prom_from_hist(snap->b, prom);   /* the unsplit buckets' */
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

/* The global figures: counters, the latency of all requests, phases. */
static void global_of(rp_report_t *r, rp_stats_t *st, rp_hist_snap_t *snap,
                      rp_stats_glob_t *g)
{
    int k, b;

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
}

/* One route's view from its record as read (a summed copy: its key is
 * copied, not pointed at). */
static void route_view_of(apr_pool_t *p, rp_stats_t *st,
                          const rp_route_rec_t *rec, rp_route_view_t *v,
                          rp_hist_snap_t *snap)
{
    int k, b;

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
    apr_hash_t *app_all = apr_hash_make(p);
    app_acc_t *app_scratch = apr_palloc(p, rp_stats_app_slots(st)
                                           * sizeof(app_acc_t));

    r->sort = (sort >= 0 && sort <= RP_SORT_ERRORS) ? sort : RP_SORT_TIME;
    r->now_wall_us = now_wall_us;
    r->start_wall_us = h->start_wall_us;
    r->uptime_s = now_mono_us > h->start_mono_us
                  ? (uint64_t)(now_mono_us - h->start_mono_us) / 1000000 : 0;
    r->max_routes = h->max_routes;
    r->app_names = h->app_names;
    global_of(r, st, snap, g);

    r->routes = apr_pcalloc(p, (n ? n : 1) * sizeof(rp_route_view_t));
    for (i = 0; i < n; i++) {
        rp_route_view_t *v;

        if (rp_stats_record_read(st, i, rec) == NULL) {
            continue;
        }
        v = &r->routes[r->n_routes++];
        route_view_of(p, st, rec, v, snap);
        route_app(p, st, rec, v, app_scratch, app_all, snap);
        v->advice = rp_advice_report_view(p, st, rec, now_wall_us / 1000000);
    }
    app_totals(p, r, app_all);
    qsort_r(r->routes, r->n_routes, sizeof(rp_route_view_t), cmp_views,
            &r->sort);

    r->slow = apr_palloc(p, (rp_stats_slow_size(st) + 1)
                            * sizeof(rp_slow_entry_t));
    r->n_slow = rp_stats_slow_read(st, r->slow, rp_stats_slow_size(st));
    return r;
}
