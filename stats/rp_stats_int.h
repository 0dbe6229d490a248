/*
 * rp_stats_int.h: the statistics segment as its own files see it (the
 * writers in rp_stats.c, the readers in rp_stats_read.c); nobody else
 * includes it.  The layout and the writer patterns: rp_stats.h.
 */
#ifndef RP_STATS_INT_H
#define RP_STATS_INT_H

#include "rp_stats.h"

struct rp_stats_t {
    rp_stats_hdr_t hdr;
};

/*
 * Phase counts by set of phases.  A request runs a set of phases, and
 * requests of one route run few different sets (a static file, a hit
 * answered by the quick handler, a proxied miss).  Instead of one count
 * per phase that ran (a dozen atomic adds), a request adds one count to
 * its set's slot: a table of RP_PHASE_MASKS masks (bit i: phase i ran),
 * each claimed once by compare-and-swap and never changed after (0 is a
 * free slot).  A reader's count of phase i is the sum of the counts of
 * the masks that hold bit i, plus the per-phase counts that requests
 * whose set found no slot (the table full) add as before.  Exact, and
 * each figure a sum of counters that only grow, so it never goes down
 * between two reads (Prometheus takes a decrease for a reset).  The
 * global phase histograms keep counting every value in its bucket, 0 µs
 * in bucket 0: a count derived there as runs minus the other buckets
 * would not be monotonic while requests are in flight.
 */

/* A recent slot's phases as they live in the records region. */
typedef struct {
    uint64_t sum[RP_PHASE_COUNT];
    uint32_t count[RP_PHASE_COUNT];        /* sets that found no slot */
    uint32_t by_mask[RP_PHASE_MASKS];
} recent_live_t;

/* A route as it lives in the records region: the key, its sets of
 * phases, and the recent window (not sharded); its counters are in the
 * shards. */
typedef struct {
    uint32_t published;
    uint32_t pad;
    uint64_t hash;
    char route[RP_ROUTE_MAX];
    char method[RP_METHOD_MAX];
    uint32_t phase_masks[RP_PHASE_MASKS];
    rp_hist32_t recent[RP_RECENT_SLOTS];
    recent_live_t recent_phases[RP_RECENT_SLOTS];
} route_live_t;

/* A route's counters in one shard (the fields of rp_route_rec_t that a
 * request adds to, under the same names). */
typedef struct {
    uint64_t count;
    uint64_t slow;
    uint64_t errors;
    uint64_t status_class[6];
    uint64_t cache[RP_CACHE_RESULTS];
    uint64_t stale_error;
    uint64_t lock_waits;
    uint64_t lock_wait_us;
    uint64_t xcache[RP_XCACHE_COUNT];
    uint64_t phase_sum[RP_PHASE_COUNT];
    uint64_t phase_count[RP_PHASE_COUNT];  /* sets that found no slot */
    uint64_t mask_count[RP_PHASE_MASKS];   /* by route_live_t.phase_masks */
    uint64_t prom[RP_PROM_BUCKETS];        /* rp_hist_prom: only values of
                                              buckets a bound splits */
    rp_hist_t h;
} route_ctr_t;

#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

static inline uint32_t *index_of(rp_stats_t *st)
{
    return (uint32_t *)((char *)st + st->hdr.idx_off);
}

static inline route_live_t *records_of(rp_stats_t *st)
{
    return (route_live_t *)((char *)st + st->hdr.rec_off);
}

/* Record ri's counters in shard sh. */
static inline route_ctr_t *ctr_of(rp_stats_t *st, uint32_t sh, uint32_t ri)
{
    return (route_ctr_t *)((char *)st + st->hdr.shard_off)
           + (uint64_t)sh * st->hdr.rec_cap + ri;
}

static inline rp_stats_glob_t *glob_of(rp_stats_t *st, uint32_t sh)
{
    return (rp_stats_glob_t *)((char *)st + st->hdr.glob_off
                               + sh * ALIGN64(sizeof(rp_stats_glob_t)));
}

static inline rp_slow_entry_t *slow_of(rp_stats_t *st)
{
    return (rp_slow_entry_t *)((char *)st + st->hdr.slow_off);
}

/* The application metric keys and slots of record number i. */
static inline rp_app_key_t *app_keys_of(rp_stats_t *st, uint32_t i)
{
    return (rp_app_key_t *)((char *)st + st->hdr.app_key_off)
           + (uint64_t)i * st->hdr.app_slots;
}

static inline rp_app_slot_t *app_slots_of(rp_stats_t *st, uint32_t i)
{
    return (rp_app_slot_t *)((char *)st + st->hdr.app_off)
           + (uint64_t)i * st->hdr.app_slots;
}

#endif
