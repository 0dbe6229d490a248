/*
 * rp_stats.c: see rp_stats.h for the layout and who writes what.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                        /* sched_getcpu */
#endif
#include <sched.h>
#include <string.h>
#include <xxhash.h>
#include "rp_stats_int.h"

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 16;

    while (p < n) {
        p <<= 1;
    }
    return p;
}

static void layout(const rp_stats_params_t *params, rp_stats_hdr_t *h)
{
    h->max_routes = params->max_routes;
    h->slow_size = params->slow_size;
    h->rec_cap = params->max_routes + RP_OTHER_RESERVE;
    h->idx_cap = pow2_at_least(h->rec_cap * 2);
    h->shards = params->shards < 1 ? 1
                : params->shards > RP_STATS_SHARDS_MAX ? RP_STATS_SHARDS_MAX
                : params->shards;
    h->idx_off = ALIGN64(sizeof(rp_stats_hdr_t));
    h->rec_off = ALIGN64(h->idx_off + (uint64_t)h->idx_cap * sizeof(uint32_t));
    h->shard_off = ALIGN64(h->rec_off
                           + (uint64_t)h->rec_cap * sizeof(route_live_t));
    h->glob_off = ALIGN64(h->shard_off + (uint64_t)h->shards * h->rec_cap
                                         * sizeof(route_ctr_t));
    h->slow_off = ALIGN64(h->glob_off
                          + (uint64_t)h->shards * ALIGN64(sizeof(rp_stats_glob_t)));
    h->app_names = params->app_names < RP_APP_NAMES_MAX
                   ? params->app_names : RP_APP_NAMES_MAX;
    h->app_slots = h->app_names + 1;
    h->app_key_off = ALIGN64(h->slow_off
                             + (uint64_t)h->slow_size
                               * sizeof(rp_slow_entry_t));
    h->app_off = ALIGN64(h->app_key_off + (uint64_t)h->rec_cap
                                          * h->app_slots
                                          * sizeof(rp_app_key_t));
    h->adv_off = ALIGN64(h->app_off + (uint64_t)h->rec_cap * h->app_slots
                                      * sizeof(rp_app_slot_t));
    h->adv_tables = rp_advice_tables_for(h->rec_cap);
    h->adv_tables_off = ALIGN64(h->adv_off + (uint64_t)h->rec_cap
                                             * sizeof(rp_advice_rec_t));
    h->size = ALIGN64(h->adv_tables_off + (uint64_t)h->adv_tables
                                          * sizeof(rp_advice_keys_t));
}

size_t rp_stats_size(const rp_stats_params_t *params)
{
    rp_stats_hdr_t h;

    layout(params, &h);
    return (size_t)h.size;
}

/* The shard of the CPU this thread runs on. */
static uint32_t my_shard(rp_stats_t *st)
{
    int cpu;

    if (st->hdr.shards <= 1) {
        return 0;
    }
    cpu = sched_getcpu();
    return cpu < 0 ? 0 : (uint32_t)cpu % st->hdr.shards;
}

static uint32_t app_name_hash(const char *name, size_t len)
{
    uint64_t h = XXH3_64bits(name, len);

    return (uint32_t)(h ^ (h >> 32));
}

/* A slot of a record nobody else can see yet, or just claimed. */
static void app_slot_setup(rp_app_key_t *key, rp_app_slot_t *slot,
                           const char *name, size_t len)
{
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->name, name, len);
    key->hash = app_name_hash(name, len);
}

rp_stats_t *rp_stats_init(void *mem, size_t size,
                          const rp_stats_params_t *params,
                          int64_t now_wall_us, int64_t now_mono_us)
{
    rp_stats_hdr_t h;
    rp_stats_t *st = mem;

    memset(&h, 0, sizeof(h));
    layout(params, &h);
    if (mem == NULL || size < h.size) {
        return NULL;
    }
    /* the application metric slots are zeroed when claimed: slots never
     * used are never touched */
    memset(mem, 0, (size_t)h.app_off);
    /* so are the advisor's key tables, when a route claims one */
    memset((char *)mem + h.adv_off, 0,
           (size_t)h.rec_cap * sizeof(rp_advice_rec_t));
    st->hdr = h;
    st->hdr.magic = RP_STATS_MAGIC;
    st->hdr.version = RP_STATS_LAYOUT_VERSION;
    st->hdr.start_wall_us = now_wall_us;
    st->hdr.start_mono_us = now_mono_us;
    st->hdr.recent_epoch = now_mono_us / 1000000 / RP_RECENT_SLOT_S;
    return st;
}

rp_stats_t *rp_stats_attach(void *mem, size_t size,
                            const rp_stats_params_t *params)
{
    rp_stats_t *st = mem;
    rp_stats_hdr_t h;

    layout(params, &h);
    if (mem == NULL || size < h.size
        || st->hdr.magic != RP_STATS_MAGIC
        || st->hdr.version != RP_STATS_LAYOUT_VERSION
        || st->hdr.size != h.size
        || st->hdr.max_routes != h.max_routes
        || st->hdr.slow_size != h.slow_size
        || st->hdr.app_names != h.app_names
        || st->hdr.shards != h.shards) {
        return NULL;
    }
    return st;
}

void rp_stats_reset(rp_stats_t *st, int64_t now_wall_us, int64_t now_mono_us)
{
    rp_stats_params_t params;

    params.max_routes = st->hdr.max_routes;
    params.slow_size = st->hdr.slow_size;
    params.app_names = st->hdr.app_names;
    params.shards = st->hdr.shards;
    rp_stats_init(st, (size_t)st->hdr.size, &params, now_wall_us,
                  now_mono_us);
}

rp_stats_hdr_t *rp_stats_hdr(rp_stats_t *st)
{
    return &st->hdr;
}

uint64_t rp_stats_key_hash(const char *route, const char *method)
{
    uint64_t h;
    /* one-shot on a small stack buffer is faster than the streaming API */
    char buf[RP_ROUTE_MAX + RP_METHOD_MAX + 2];
    size_t rl = strnlen(route, RP_ROUTE_MAX - 1);
    size_t ml = strnlen(method, RP_METHOD_MAX - 1);

    memcpy(buf, route, rl);
    buf[rl] = '\0';
    memcpy(buf + rl + 1, method, ml);
    h = XXH3_64bits(buf, rl + 1 + ml);
    return h ? h : 1;
}

static int key_equal(const route_live_t *r, uint64_t hash,
                     const char *route, const char *method)
{
    return r->hash == hash
           && strncmp(r->route, route, RP_ROUTE_MAX - 1) == 0
           && strncmp(r->method, method, RP_METHOD_MAX - 1) == 0;
}

static void copy_str(char *dst, size_t dstsz, const char *src)
{
    size_t n = strnlen(src, dstsz - 1);

    /* never end on half a UTF-8 sequence */
    if (n == dstsz - 1) {
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A record given back by a creator that lost its race, or a new one
 * (may be >= rec_cap: none left). */
static uint32_t reserve_record(rp_stats_t *st)
{
    uint32_t k, v;

    for (k = 0; k < RP_SPARE_RECORDS; k++) {
        v = __atomic_load_n(&st->hdr.spare[k], __ATOMIC_ACQUIRE);
        if (v != 0 && __atomic_compare_exchange_n(&st->hdr.spare[k], &v, 0,
                                                  0, __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED)) {
            return v - 1;
        }
    }
    return __atomic_fetch_add(&st->hdr.n_records, 1, __ATOMIC_RELAXED);
}

/* An unpublished record nobody will use: kept for the next creator (lost
 * only when RP_SPARE_RECORDS are waiting already). */
static void give_back_record(rp_stats_t *st, uint32_t n)
{
    uint32_t k, v;

    for (k = 0; k < RP_SPARE_RECORDS; k++) {
        v = 0;
        if (__atomic_compare_exchange_n(&st->hdr.spare[k], &v, n + 1, 0,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
            return;
        }
    }
}

/* The record number of (route, method), created if need be; -1. */
static int32_t find_or_insert(rp_stats_t *st, const char *route,
                              const char *method, int is_other)
{
    uint32_t *idx = index_of(st);
    route_live_t *recs = records_of(st);
    uint32_t mask = st->hdr.idx_cap - 1;
    uint64_t h;
    uint32_t i, slot, v, mine = 0;
    char route_cut[RP_ROUTE_MAX];
    char method_cut[RP_METHOD_MAX];

    copy_str(route_cut, sizeof(route_cut), route);
    copy_str(method_cut, sizeof(method_cut), method);
    h = rp_stats_key_hash(route_cut, method_cut);

    for (i = 0; i <= mask; i++) {
        slot = (uint32_t)(h + i) & mask;
        v = __atomic_load_n(&idx[slot], __ATOMIC_ACQUIRE);
        if (v == 0) {
            if (mine == 0) {
                uint32_t n;
                if (!is_other && __atomic_load_n(&st->hdr.n_tracked,
                                                 __ATOMIC_RELAXED)
                                 >= st->hdr.max_routes) {
                    return -1;
                }
                n = reserve_record(st);
                if (n >= st->hdr.rec_cap) {
                    return -1;
                }
                mine = n + 1;
                recs[n].hash = h;
                memcpy(recs[n].route, route_cut, sizeof(route_cut));
                memcpy(recs[n].method, method_cut, sizeof(method_cut));
                /* slot 0, __other__, is ready before anyone sees it */
                app_slot_setup(&app_keys_of(st, n)[0],
                               &app_slots_of(st, n)[0], RP_APP_OTHER,
                               sizeof(RP_APP_OTHER) - 1);
                app_keys_of(st, n)[0].state = RP_APP_READY;
            }
            v = 0;
            if (__atomic_compare_exchange_n(&idx[slot], &v, mine, 0,
                                            __ATOMIC_RELEASE,
                                            __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&recs[mine - 1].published, 1,
                                 __ATOMIC_RELEASE);
                if (!is_other) {
                    __atomic_fetch_add(&st->hdr.n_tracked, 1,
                                       __ATOMIC_RELAXED);
                }
                return (int32_t)(mine - 1);
            }
            /* lost the race for this slot: v now holds the winner */
        }
        if (v - 1 < st->hdr.rec_cap
            && key_equal(&recs[v - 1], h, route_cut, method_cut)) {
            /* another creator published this key first: the record
             * reserved for it goes to the next new route */
            if (mine != 0) {
                give_back_record(st, mine - 1);
            }
            return (int32_t)(v - 1);
        }
    }
    if (mine != 0) {
        give_back_record(st, mine - 1);
    }
    return -1;
}

int32_t rp_stats_route(rp_stats_t *st, const char *route, const char *method)
{
    int32_t ri = find_or_insert(st, route, method, 0);

    if (ri < 0) {
        rp_stats_count(st, RP_CTR_ROUTES_OVERFLOW, 1);
        ri = find_or_insert(st, RP_ROUTE_OTHER, method, 1);
    }
    return ri;
}

void rp_stats_count(rp_stats_t *st, rp_counter_t c, uint64_t n)
{
    if (c < RP_CTR_COUNT) {
        __atomic_fetch_add(&glob_of(st, my_shard(st))->counters[c], n,
                           __ATOMIC_RELAXED);
    }
}

uint64_t rp_stats_counter(rp_stats_t *st, rp_counter_t c)
{
    uint64_t v = 0;
    uint32_t sh;

    if (c >= RP_CTR_COUNT) {
        return 0;
    }
    for (sh = 0; sh < st->hdr.shards; sh++) {
        v += __atomic_load_n(&glob_of(st, sh)->counters[c], __ATOMIC_RELAXED);
    }
    return v;
}

uint32_t rp_stats_shards(rp_stats_t *st)
{
    return st->hdr.shards;
}

/* ---------------------------------------------------------------- */
/* application metrics (the backend's Server-Timing)                 */

/* The slot of `name` on record number ri: found, or claimed while fewer
 * than app_names are in use; 0 (__other__) otherwise. */
static uint32_t app_slot_for(rp_stats_t *st, uint32_t ri,
                             const rp_st_metric_t *m, uint32_t hash)
{
    rp_app_key_t *keys = app_keys_of(st, ri);
    rp_app_slot_t *slots = app_slots_of(st, ri);
    uint32_t k;

    for (k = 1; k < st->hdr.app_slots; k++) {
        uint32_t state = __atomic_load_n(&keys[k].state, __ATOMIC_ACQUIRE);
        if (state == RP_APP_FREE
            && __atomic_compare_exchange_n(&keys[k].state, &state,
                                           RP_APP_CLAIMING, 0,
                                           __ATOMIC_ACQUIRE,
                                           __ATOMIC_ACQUIRE)) {
            app_slot_setup(&keys[k], &slots[k], m->name, m->name_len);
            __atomic_store_n(&keys[k].state, RP_APP_READY, __ATOMIC_RELEASE);
            return k;
        }
        /* state: READY, or CLAIMING by someone else (passed by) */
        if (state == RP_APP_READY && keys[k].hash == hash
            && strcmp(slots[k].name, m->name) == 0) {
            return k;
        }
    }
    return 0;
}

/* rp_hist_add with the bucket known, and its Prometheus counts (prom,
 * when not NULL: only for the buckets a bound splits; rp_hist_prom) */
static void hist_add(rp_hist_t *h, uint64_t *prom, int b, uint64_t v)
{
    /* no count: the readers take it from the buckets (one atomic add
     * less per histogram, a dozen per request) */
    __atomic_fetch_add(&h->b[b], 1, __ATOMIC_RELAXED);
    if (prom != NULL && rp_hist_prom[b] < 0) {
        __atomic_fetch_add(&prom[rp_prom_bucket(v)], 1, __ATOMIC_RELAXED);
    }
    if (v == 0) {
        return;                        /* adds nothing to sum or max */
    }
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    if (v > __atomic_load_n(&h->max, __ATOMIC_RELAXED)) {
        rp_atomic_max(&h->max, v);
    }
}

/* Add one metric to the per-request sums (the slow log's): the first
 * RP_SLOW_APP_MAX names as they are, the last slot becoming __other__
 * when a further name comes. */
static void app_sum(rp_app_sums_t *sums, const rp_st_metric_t *m)
{
    rp_slow_app_t *a = NULL;
    uint32_t i;

    for (i = 0; i < sums->n; i++) {
        if (strcmp(sums->m[i].name, m->name) == 0) {
            a = &sums->m[i];
            break;
        }
    }
    if (a == NULL) {
        if (sums->n < RP_SLOW_APP_MAX) {
            a = &sums->m[sums->n++];
            memset(a, 0, sizeof(*a));
            memcpy(a->name, m->name, m->name_len + 1);
        }
        else {
            a = &sums->m[RP_SLOW_APP_MAX - 1];
            memcpy(a->name, RP_APP_OTHER, sizeof(RP_APP_OTHER));
        }
    }
    a->us += (int64_t)m->dur_us;
    a->count++;
}

void rp_stats_record_app(rp_stats_t *st, int32_t rec, const rp_sample_t *s,
                         rp_app_sums_t *sums)
{
    uint8_t touched[RP_APP_NAMES_MAX + 1];
    uint32_t malformed = 0, entries = 0, overflow = 0, ri = 0;
    rp_app_slot_t *slots = NULL;
    rp_st_metric_t m;
    rp_st_cursor_t c;
    int v;

    sums->n = 0;
    if (s->app_values == NULL || s->n_app_values <= 0) {
        return;
    }
    if (rec >= 0 && (uint32_t)rec < st->hdr.rec_cap) {
        ri = (uint32_t)rec;
        slots = app_slots_of(st, ri);
        memset(touched, 0, st->hdr.app_slots);
    }
    for (v = 0; v < s->n_app_values; v++) {
        if (s->app_values[v] == NULL) {
            continue;
        }
        rp_st_init(&c, s->app_values[v], strlen(s->app_values[v]));
        while (rp_st_next(&c, &m, &malformed)) {
            uint32_t k;
            if (entries >= RP_APP_ENTRIES_MAX) {
                malformed++;               /* past what one response may */
                continue;
            }
            entries++;
            app_sum(sums, &m);
            if (slots == NULL) {
                continue;
            }
            k = app_slot_for(st, ri, &m, app_name_hash(m.name, m.name_len));
            overflow += k == 0;
            if (!touched[k]) {
                touched[k] = 1;
                __atomic_fetch_add(&slots[k].requests, 1, __ATOMIC_RELAXED);
            }
            hist_add(&slots[k].h, slots[k].prom, rp_hist_bucket(m.dur_us),
                     m.dur_us);
        }
    }
    if (entries) {
        rp_stats_count(st, RP_CTR_APP_RESPONSES, 1);
        rp_stats_count(st, RP_CTR_APP_ENTRIES, entries);
    }
    if (malformed) {
        rp_stats_count(st, RP_CTR_APP_MALFORMED, malformed);
    }
    if (overflow) {
        rp_stats_count(st, RP_CTR_APP_NAMES_OVERFLOW, overflow);
    }
}

uint32_t rp_stats_app_slots(rp_stats_t *st)
{
    return st->hdr.app_slots;
}

const rp_app_slot_t *rp_stats_app_slot(rp_stats_t *st,
                                       const rp_route_rec_t *rec, uint32_t k)
{
    uint32_t ri = rec->index;

    if (k >= st->hdr.app_slots || ri >= st->hdr.rec_cap
        || __atomic_load_n(&app_keys_of(st, ri)[k].state, __ATOMIC_ACQUIRE)
           != RP_APP_READY) {
        return NULL;
    }
    return &app_slots_of(st, ri)[k];
}

static void slow_push(rp_stats_t *st, const rp_sample_t *s,
                      const rp_app_sums_t *sums)
{
    rp_slow_entry_t *e;
    uint64_t ticket, seq;
    int i;

    if (st->hdr.slow_size == 0) {
        return;
    }
    ticket = __atomic_fetch_add(&st->hdr.slow_cursor, 1, __ATOMIC_RELAXED);
    e = &slow_of(st)[ticket % st->hdr.slow_size];
    seq = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    if ((seq & 1)
        || !__atomic_compare_exchange_n(&e->seq, &seq, seq + 1, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        /* another writer lapped the ring onto this slot; keep its entry */
        rp_stats_count(st, RP_CTR_SLOW_LOG_DROPPED, 1);
        return;
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e->ticket = ticket;
    e->wall_us = s->wall_us;
    e->total_us = s->total_us;
    for (i = 0; i < RP_PHASE_COUNT; i++) {
        e->phase_us[i] = s->phase_us ? s->phase_us[i] : -1;
    }
    e->status = s->status;
    e->cache = s->cache;
    e->xcache = rp_xcache_of(s->x_cache);
    e->lock_wait_us = (s->cache_flags & RP_CACHE_FLAG_LOCK_WAIT)
                      ? s->lock_wait_us : 0;
    copy_str(e->method, sizeof(e->method), s->method ? s->method : "");
    copy_str(e->route, sizeof(e->route), s->route ? s->route : "");
    copy_str(e->uri, sizeof(e->uri), s->uri ? s->uri : "");
    e->app.n = sums->n;
    memcpy(e->app.m, sums->m, sums->n * sizeof(sums->m[0]));
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

/* What the request's X-Cache said, and whether it waited on a fill. */
static void record_cache_detail(route_ctr_t *c, const rp_sample_t *s)
{
    int xc = rp_xcache_of(s->x_cache);

    if (xc >= 0) {
        __atomic_fetch_add(&c->xcache[xc], 1, __ATOMIC_RELAXED);
    }
    if (s->cache_flags & RP_CACHE_FLAG_LOCK_WAIT) {
        __atomic_fetch_add(&c->lock_waits, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->lock_wait_us, (uint64_t)(s->lock_wait_us > 0
                                                        ? s->lock_wait_us
                                                        : 0),
                           __ATOMIC_RELAXED);
    }
}

/* The slot of mask in a table of RP_PHASE_MASKS sets of phases, claimed
 * if need be; -1 when the table is full (rp_stats_int.h). */
static int mask_slot(uint32_t *tab, uint32_t mask)
{
    int i;

    for (i = 0; i < RP_PHASE_MASKS; i++) {
        uint32_t m = __atomic_load_n(&tab[i], __ATOMIC_ACQUIRE);
        if (m == 0) {
            if (__atomic_compare_exchange_n(&tab[i], &m, mask, 0,
                                            __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                return i;
            }
            /* another request claimed it first: m is its mask */
        }
        if (m == mask) {
            return i;
        }
    }
    return -1;
}

/* The phases of a sample: globally, and on route c (NULL: none) with
 * its record lv and recent slot rp. */
static void record_phases(rp_stats_glob_t *g, route_ctr_t *c,
                          route_live_t *lv, recent_live_t *rp,
                          const int64_t *phase_us)
{
    uint32_t mask = 0;
    int rm = -1, i;

    for (i = 0; i < RP_PHASE_COUNT; i++) {
        if (phase_us[i] >= 0) {
            mask |= 1u << i;
        }
    }
    if (c != NULL && mask != 0) {
        rm = mask_slot(lv->phase_masks, mask);
        if (rm >= 0) {
            __atomic_fetch_add(&c->mask_count[rm], 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&rp->by_mask[rm], 1, __ATOMIC_RELAXED);
        }
    }
    while (mask != 0) {
        uint64_t v;
        i = __builtin_ctz(mask);
        mask &= mask - 1;
        v = (uint64_t)phase_us[i];
        hist_add(&g->phases[i].h, g->phases[i].prom, rp_hist_bucket(v), v);
        if (c == NULL) {
            continue;
        }
        if (rm < 0) {
            __atomic_fetch_add(&c->phase_count[i], 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&rp->count[i], 1, __ATOMIC_RELAXED);
        }
        /* a phase under a microsecond (most of a fast request's) adds
         * nothing to the sums: two lock-prefixed adds less */
        if (v != 0) {
            __atomic_fetch_add(&c->phase_sum[i], v, __ATOMIC_RELAXED);
            __atomic_fetch_add(&rp->sum[i], v, __ATOMIC_RELAXED);
        }
    }
}

void rp_stats_record(rp_stats_t *st, const rp_sample_t *s)
{
    uint32_t sh = my_shard(st);
    rp_stats_glob_t *g = glob_of(st, sh);
    route_ctr_t *c;
    uint64_t total = s->total_us > 0 ? (uint64_t)s->total_us : 0;
    int hb = rp_hist_bucket(total);
    int sc = s->status / 100;
    int32_t ri;
    uint32_t cur;
    rp_app_sums_t sums;
    route_live_t *lv = NULL;

    __atomic_fetch_add(&g->counters[RP_CTR_REQUESTS], 1, __ATOMIC_RELAXED);
    hist_add(&g->total, NULL, hb, total);
    if (s->slow) {
        __atomic_fetch_add(&g->counters[RP_CTR_SLOW_REQUESTS], 1,
                           __ATOMIC_RELAXED);
    }
    ri = rp_stats_route(st, s->route ? s->route : "", s->method);
    c = ri >= 0 ? ctr_of(st, sh, (uint32_t)ri) : NULL;
    cur = __atomic_load_n(&st->hdr.recent_cur, __ATOMIC_RELAXED)
          % RP_RECENT_SLOTS;
    if (c != NULL) {
        lv = &records_of(st)[ri];
    }
    if (s->phase_us) {
        record_phases(g, c, lv, lv ? &lv->recent_phases[cur] : NULL,
                      s->phase_us);
    }
    if (c != NULL) {
        __atomic_fetch_add(&c->count, 1, __ATOMIC_RELAXED);
        if (s->slow) {
            __atomic_fetch_add(&c->slow, 1, __ATOMIC_RELAXED);
        }
        if (sc == 5) {
            __atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
        }
        __atomic_fetch_add(&c->status_class[sc >= 1 && sc <= 5 ? sc : 0],
                           1, __ATOMIC_RELAXED);
        if (s->cache > RP_CACHE_NONE && s->cache < RP_CACHE_RESULTS) {
            __atomic_fetch_add(&c->cache[s->cache], 1, __ATOMIC_RELAXED);
        }
        if (s->cache_flags & RP_CACHE_FLAG_STALE_ERROR) {
            __atomic_fetch_add(&c->stale_error, 1, __ATOMIC_RELAXED);
        }
        record_cache_detail(c, s);
        hist_add(&c->h, c->prom, hb, total);
        __atomic_fetch_add(&lv->recent[cur].b[hb], 1, __ATOMIC_RELAXED);
    }
    /* a cached answer: the application did not run */
    sums.n = 0;
    if (s->cache != RP_CACHE_HIT && s->cache != RP_CACHE_STALE) {
        rp_stats_record_app(st, ri, s, &sums);
    }
    if (s->slow) {
        slow_push(st, s, &sums);
    }
}

rp_advice_rec_t *rp_stats_advice(rp_stats_t *st, int32_t ri)
{
    if (ri < 0 || (uint32_t)ri >= st->hdr.rec_cap) {
        return NULL;
    }
    return (rp_advice_rec_t *)((char *)st + st->hdr.adv_off) + ri;
}

void rp_stats_advice_pool(rp_stats_t *st, rp_advice_pool_t *out)
{
    out->tables = (rp_advice_keys_t *)((char *)st + st->hdr.adv_tables_off);
    out->n_tables = st->hdr.adv_tables;
    out->used = &st->hdr.adv_tables_used;
}

void rp_stats_rotate(rp_stats_t *st, int64_t now_mono_us)
{
    int64_t epoch = now_mono_us / 1000000 / RP_RECENT_SLOT_S;
    uint32_t n = __atomic_load_n(&st->hdr.n_records, __ATOMIC_ACQUIRE);
    route_live_t *recs = records_of(st);
    int steps = 0;
    uint32_t i, next;

    if (n > st->hdr.rec_cap) {
        n = st->hdr.rec_cap;
    }
    while (st->hdr.recent_epoch < epoch && steps < RP_RECENT_SLOTS) {
        next = (st->hdr.recent_cur + 1) % RP_RECENT_SLOTS;
        for (i = 0; i < n; i++) {
            int b;
            for (b = 0; b < RP_HIST_BUCKETS; b++) {
                __atomic_store_n(&recs[i].recent[next].b[b], 0,
                                 __ATOMIC_RELAXED);
            }
            for (b = 0; b < RP_PHASE_COUNT; b++) {
                __atomic_store_n(&recs[i].recent_phases[next].sum[b], 0,
                                 __ATOMIC_RELAXED);
                __atomic_store_n(&recs[i].recent_phases[next].count[b], 0,
                                 __ATOMIC_RELAXED);
            }
            for (b = 0; b < RP_PHASE_MASKS; b++) {
                __atomic_store_n(&recs[i].recent_phases[next].by_mask[b], 0,
                                 __ATOMIC_RELAXED);
            }
        }
        __atomic_store_n(&st->hdr.recent_cur, next, __ATOMIC_RELEASE);
        st->hdr.recent_epoch++;
        steps++;
    }
    /* a long pause (machine suspended): everything is old, skip ahead */
    if (st->hdr.recent_epoch < epoch) {
        st->hdr.recent_epoch = epoch;
    }
}
