/*
 * rp_stats_read.c: the readers of the statistics segment.  Each counter
 * a request adds to exists once per shard: what a reader gets is the sum
 * over the shards (rp_stats_int.h, and rp_stats.h for the layout).
 */
#include <string.h>
#include "rp_stats_int.h"

uint32_t rp_stats_nrecords(rp_stats_t *st)
{
    uint32_t n = __atomic_load_n(&st->hdr.n_records, __ATOMIC_ACQUIRE);

    return n > st->hdr.rec_cap ? st->hdr.rec_cap : n;
}

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Adds one shard's histogram into *out (max: the largest). */
static void hist_sum(rp_hist_t *out, const rp_hist_t *h)
{
    int b;
    uint64_t m = ld(&h->max);

    for (b = 0; b < RP_HIST_BUCKETS; b++) {
        uint64_t n = ld(&h->b[b]);
        out->b[b] += n;
        out->count += n;                /* a count is its buckets' sum */
    }
    out->sum += ld(&h->sum);
    if (m > out->max) {
        out->max = m;
    }
}

/* The runs of each phase: per-phase counts plus the counts of the sets
 * (masks) that hold it (rp_stats_int.h).  A mask still 0 has no count
 * yet: its claim comes before its first count. */
static void runs_add(uint64_t *runs, const uint32_t *masks,
                     const uint64_t *mask_count)
{
    int m, k;

    for (m = 0; m < RP_PHASE_MASKS; m++) {
        uint32_t bits = __atomic_load_n(&masks[m], __ATOMIC_ACQUIRE);
        uint64_t n = mask_count[m];
        if (bits == 0 || n == 0) {
            continue;
        }
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            if (bits & (1u << k)) {
                runs[k] += n;
            }
        }
    }
}

rp_route_rec_t *rp_stats_record_read(rp_stats_t *st, uint32_t i,
                                     rp_route_rec_t *out)
{
    route_live_t *live;
    uint32_t sh;
    int k, b;
    uint64_t masks[RP_PHASE_MASKS] = { 0 };

    if (i >= rp_stats_nrecords(st)) {
        return NULL;
    }
    live = &records_of(st)[i];
    if (!__atomic_load_n(&live->published, __ATOMIC_ACQUIRE)) {
        return NULL;
    }
    memset(out, 0, offsetof(rp_route_rec_t, recent));
    out->published = 1;
    out->index = i;
    out->hash = live->hash;
    memcpy(out->route, live->route, sizeof(out->route));
    memcpy(out->method, live->method, sizeof(out->method));
    for (sh = 0; sh < st->hdr.shards; sh++) {
        const route_ctr_t *c = ctr_of(st, sh, i);
        out->count += ld(&c->count);
        out->slow += ld(&c->slow);
        out->errors += ld(&c->errors);
        for (k = 0; k < 6; k++) {
            out->status_class[k] += ld(&c->status_class[k]);
        }
        for (k = 0; k < RP_CACHE_RESULTS; k++) {
            out->cache[k] += ld(&c->cache[k]);
        }
        out->stale_error += ld(&c->stale_error);
        out->lock_waits += ld(&c->lock_waits);
        out->lock_wait_us += ld(&c->lock_wait_us);
        for (k = 0; k < RP_XCACHE_COUNT; k++) {
            out->xcache[k] += ld(&c->xcache[k]);
        }
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            out->phase_sum[k] += ld(&c->phase_sum[k]);
            out->phase_count[k] += ld(&c->phase_count[k]);
        }
        for (k = 0; k < RP_PHASE_MASKS; k++) {
            masks[k] += ld(&c->mask_count[k]);
        }
        for (k = 0; k < RP_PROM_BUCKETS; k++) {
            out->prom[k] += ld(&c->prom[k]);
        }
        hist_sum(&out->h, &c->h);
    }
    runs_add(out->phase_count, live->phase_masks, masks);
    rp_prom_from_hist(out->h.b, out->prom);
    for (k = 0; k < RP_RECENT_SLOTS; k++) {
        uint64_t runs[RP_PHASE_COUNT] = { 0 };
        for (b = 0; b < RP_HIST_BUCKETS; b++) {
            out->recent[k].b[b] = __atomic_load_n(&live->recent[k].b[b],
                                                  __ATOMIC_RELAXED);
        }
        for (b = 0; b < RP_PHASE_COUNT; b++) {
            out->recent_phases[k].sum[b]
                = ld(&live->recent_phases[k].sum[b]);
            runs[b] = __atomic_load_n(&live->recent_phases[k].count[b],
                                      __ATOMIC_RELAXED);
        }
        for (b = 0; b < RP_PHASE_MASKS; b++) {
            masks[b] = __atomic_load_n(&live->recent_phases[k].by_mask[b],
                                       __ATOMIC_RELAXED);
        }
        runs_add(runs, live->phase_masks, masks);
        for (b = 0; b < RP_PHASE_COUNT; b++) {
            out->recent_phases[k].count[b] = (uint32_t)runs[b];
        }
    }
    return out;
}

void rp_stats_global_read(rp_stats_t *st, rp_stats_glob_t *out)
{
    uint32_t sh;
    int k, b;

    memset(out, 0, sizeof(*out));
    for (sh = 0; sh < st->hdr.shards; sh++) {
        const rp_stats_glob_t *g = glob_of(st, sh);
        for (k = 0; k < RP_CTR_COUNT; k++) {
            out->counters[k] += ld(&g->counters[k]);
        }
        for (k = 0; k < RP_PHASE_COUNT; k++) {
            for (b = 0; b < RP_PROM_BUCKETS; b++) {
                out->phases[k].prom[b] += ld(&g->phases[k].prom[b]);
            }
            hist_sum(&out->phases[k].h, &g->phases[k].h);
        }
        hist_sum(&out->total, &g->total);
    }
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        rp_prom_from_hist(out->phases[k].h.b, out->phases[k].prom);
    }
}

uint32_t rp_stats_slow_size(rp_stats_t *st)
{
    return st->hdr.slow_size;
}

size_t rp_stats_slow_read(rp_stats_t *st, rp_slow_entry_t *out, size_t max)
{
    uint64_t cursor = __atomic_load_n(&st->hdr.slow_cursor, __ATOMIC_ACQUIRE);
    uint64_t n = cursor < st->hdr.slow_size ? cursor : st->hdr.slow_size;
    size_t got = 0;
    uint64_t k;
    uint32_t i;

    for (k = 0; k < n && got < max; k++) {
        rp_slow_entry_t *e = &slow_of(st)[(cursor - 1 - k)
                                          % st->hdr.slow_size];
        uint64_t s1, s2;

        s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        if (s1 == 0 || (s1 & 1)) {
            continue;
        }
        memcpy(&out[got], e, sizeof(*e));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
        if (s1 != s2) {
            continue;                      /* torn: rewritten while copied */
        }
        out[got].method[RP_METHOD_MAX - 1] = '\0';
        out[got].route[RP_ROUTE_MAX - 1] = '\0';
        out[got].uri[RP_SLOW_URI_MAX - 1] = '\0';
        if (out[got].app.n > RP_SLOW_APP_MAX) {
            out[got].app.n = RP_SLOW_APP_MAX;
        }
        for (i = 0; i < out[got].app.n; i++) {
            out[got].app.m[i].name[sizeof(out[got].app.m[i].name) - 1] = '\0';
        }
        got++;
    }
    /* newest first, by claim order (slots can finish out of order) */
    for (k = 1; k < got; k++) {
        rp_slow_entry_t tmp = out[k];
        size_t j = k;
        while (j > 0 && out[j - 1].ticket < tmp.ticket) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = tmp;
    }
    return got;
}

void rp_stats_recent(rp_stats_t *st, const rp_route_rec_t *rec,
                     rp_hist_snap_t *out)
{
    int i;

    (void)st;
    rp_hist_snap_clear(out);
    for (i = 0; i < RP_RECENT_SLOTS; i++) {
        rp_hist32_accumulate(&rec->recent[i], out);
    }
}

void rp_stats_recent_phases(rp_stats_t *st, const rp_route_rec_t *rec,
                            int64_t *avg, uint64_t *count)
{
    int i, k;

    (void)st;
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        uint64_t sum = 0, n = 0;
        for (i = 0; i < RP_RECENT_SLOTS; i++) {
            sum += __atomic_load_n(&rec->recent_phases[i].sum[k],
                                   __ATOMIC_RELAXED);
            n += __atomic_load_n(&rec->recent_phases[i].count[k],
                                 __ATOMIC_RELAXED);
        }
        avg[k] = n ? (int64_t)(sum / n) : -1;
        if (count != NULL) {
            count[k] = n;
        }
    }
}
