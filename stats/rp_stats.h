/*
 * rp_stats.h: the shared-memory statistics of mod_reqperf.
 *
 * One segment, created by the parent in post_config and inherited by
 * every child, holds everything the status page shows.  It is plain
 * memory handed in by the caller, so this file knows nothing of httpd
 * and is unit-tested with threads standing in for child processes.
 *
 * Layout (offsets are in the header; every region 64-byte aligned):
 *
 *   rp_stats_hdr_t   magic, layout version, sizes, start times
 *   index[idx_cap]   open-addressing hash of (route, method) -> record
 *   records[rec_cap] per route and method: its key and its recent window
 *   shards[shards][rec_cap]  the routes' counters and histograms, one
 *                    copy per shard
 *   global[shards]   global counters, total and per-phase histograms,
 *                    one copy per shard
 *   slow[slow_size]  ring of the most recent slow requests
 *   app_keys[rec_cap][app_slots]    per route, the state and name hash of
 *                    each application metric (Server-Timing) slot
 *   app[rec_cap][app_slots]         the slots: name, counts, histogram;
 *                    ReqPerfAppTimingMaxNames names, then __other__
 *   advice[rec_cap]  per route, the cache advisor's figures (rp_advice.h)
 *   adv_tables[...]  the advisor's pool of key tables, 16 KiB each, at
 *                    most RP_ADVICE_TABLES_MAX (rp_advice_tables_for())
 *
 * Shards: every counter that each request adds to (the global ones, and
 * those of its route) exists once per shard, and a request thread adds
 * to the shard of the CPU it runs on (sched_getcpu(), read from the
 * kernel's rseq area: no system call), so threads on different CPUs do
 * not pull the same cache lines back and forth; readers sum the shards
 * (rp_stats_record_read, rp_stats_global_read, rp_stats_counter), so
 * every total stays exact.  A thread that moves to another CPU between
 * reading its number and adding only shares a shard for that moment:
 * the adds are atomic all the same.  The recent window is not sharded
 * (one add per request; it would multiply the largest part of a record).
 *
 * Writer patterns, region by region:
 *   counters, histograms, record counters: any request thread in any
 *       child, with relaxed __atomic adds (exact counts, no lock).
 *   index slots: written once, 0 -> record number, by compare-and-swap;
 *       a record's key is written before its index slot is published
 *       (release), so a reader that sees the slot sees the key.
 *   n_records: atomic fetch-add reserves a record; records are never
 *       freed (only a full restart clears the segment).  A creator that
 *       finds its key published by another (several threads bringing one
 *       new route at once) gives its unpublished record back in spare[]
 *       (compare-and-swap 0 -> number), and a creator takes a spare one
 *       (number -> 0) before reserving: racing creators of one route
 *       never use up the records of others.
 *   slow ring: a writer claims a slot with an atomic cursor, then owns
 *       it by moving its sequence number from even to odd (CAS) and back
 *       to even when done; a reader copies a slot and keeps it only if
 *       the sequence was even and unchanged across the copy.
 *   recent window (histograms and phase sums): request threads add to
 *       slot `recent_cur`; only the parent (monitor hook) clears the next
 *       slot and advances recent_cur, so rotation never races with itself.
 *   application metric slots: slot 0 of a route is __other__, set up
 *       by the thread that creates the record, before the record is
 *       published.  A request thread claims a free slot for a new name by
 *       compare-and-swap of its key's state (FREE -> CLAIMING), zeroes
 *       the slot, writes the name and its hash, then publishes it (READY,
 *       release); from then on its counters are relaxed __atomic adds
 *       like every other counter.  Nobody waits for a CLAIMING slot: a
 *       thread looking for a name passes it by (two threads that both
 *       bring a new name at the same instant may each claim a slot for
 *       it; the report merges slots of one name).  At most
 *       ReqPerfAppTimingMaxNames slots are ever claimed per route, so a
 *       slot left CLAIMING by a child that died only lowers that route's
 *       cap by one.  A full restart resets the keys; the slots' memory is
 *       zeroed when claimed, never at start-up, so the pages of slots
 *       never used are never touched.
 *   advice: see rp_advice.h.  The figures are zeroed with the rest at
 *       start-up and on a full restart; a key table is zeroed when a
 *       route claims it (adv_tables_used, fetch-add), never before.
 *   start times, sizes: written by the parent before any child exists.
 */
#ifndef RP_STATS_H
#define RP_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "rp_phase.h"
#include "rp_hist.h"
#include "rp_route.h"
#include "rp_counters.h"
#include "rp_servertiming.h"
#include "rp_advice.h"

#define RP_STATS_MAGIC 0x54535052u        /* "RPST" */
#define RP_STATS_LAYOUT_VERSION 11

#define RP_METHOD_MAX 16
#define RP_SLOW_URI_MAX 256
#define RP_RECENT_SLOTS 6
#define RP_RECENT_SLOT_S 10                /* 6 x 10 s = the last minute */
#define RP_OTHER_RESERVE 24                /* records kept for __other__ */
#define RP_APP_NAMES_MAX 64                /* ReqPerfAppTimingMaxNames limit */
#define RP_APP_OTHER "__other__"
#define RP_SLOW_APP_MAX 8                  /* metrics kept per slow request */
#define RP_APP_ENTRIES_MAX 1024            /* metrics read per response */
#define RP_STATS_SHARDS_MAX 8              /* counter shards (CPUs) */
#define RP_SPARE_RECORDS 64                /* records given back by losers */
#define RP_PHASE_MASKS 8                   /* a route's sets of phases counted
                                              as one (rp_stats_int.h) */

typedef struct {
    uint64_t prom[RP_PROM_BUCKETS];
    rp_hist_t h;
} rp_phase_stats_t;

/* One recent slot's phases of one route: sums and counts, so the route
 * page can show the last minute's phases beside the lifetime's. */
typedef struct {
    uint64_t sum[RP_PHASE_COUNT];
    uint32_t count[RP_PHASE_COUNT];
} rp_recent_phases_t;

/* One route and method, as a reader sees it: rp_stats_record_read()
 * fills it, its counters summed over the shards. */
typedef struct {
    uint32_t published;                    /* 1 once reachable by lookups */
    uint32_t index;                        /* its record number */
    uint64_t hash;
    char route[RP_ROUTE_MAX];
    char method[RP_METHOD_MAX];
    uint64_t count;
    uint64_t slow;
    uint64_t errors;                       /* 5xx */
    uint64_t status_class[6];              /* [1..5] = 1xx..5xx, [0] other */
    uint64_t cache[RP_CACHE_RESULTS];
    uint64_t stale_error;                  /* stale copies served because
                                              the application failed */
    uint64_t lock_waits;                   /* requests that waited on
                                              another's fill (any result) */
    uint64_t lock_wait_us;                 /* the time they waited */
    uint64_t xcache[RP_XCACHE_COUNT];      /* by X-Cache value sent */
    uint64_t phase_sum[RP_PHASE_COUNT];
    uint64_t phase_count[RP_PHASE_COUNT];
    uint64_t prom[RP_PROM_BUCKETS];
    rp_hist_t h;
    rp_hist32_t recent[RP_RECENT_SLOTS];
    rp_recent_phases_t recent_phases[RP_RECENT_SLOTS];  /* cleared with
                                              recent[], by the parent */
} rp_route_rec_t;

/* One application metric of one route (see the writer pattern above). */
typedef struct {
    uint32_t state;                        /* RP_APP_FREE ... READY */
    uint32_t hash;                         /* of the name, once READY */
} rp_app_key_t;

enum { RP_APP_FREE = 0, RP_APP_CLAIMING = 1, RP_APP_READY = 2 };

typedef struct {
    char name[40];                         /* RP_ST_NAME_MAX + NUL, padded */
    uint64_t requests;                     /* responses that carried it */
    uint64_t prom[RP_PROM_BUCKETS];        /* only the values of buckets a
                                              bound splits (rp_hist_prom) */
    rp_hist_t h;                           /* count: occurrences; values:
                                              their dur (0 without one) */
} rp_app_slot_t;

/* One metric of a slow request: the sum of its entries. */
typedef struct {
    char name[40];
    int64_t us;
    uint32_t count;                        /* entries of that name */
    uint32_t pad;
} rp_slow_app_t;

/* A request's metrics by name (what its slow-log entry keeps). */
typedef struct {
    uint32_t n;
    rp_slow_app_t m[RP_SLOW_APP_MAX];
} rp_app_sums_t;

typedef struct {
    uint64_t seq;                          /* even: stable; odd: writing */
    uint64_t ticket;                       /* claim order, newest highest */
    int64_t wall_us;                       /* when the request started */
    int64_t total_us;
    int64_t phase_us[RP_PHASE_COUNT];      /* -1: phase did not run */
    int32_t status;
    int32_t cache;                         /* rp_cache_result_t */
    int32_t xcache;                        /* rp_xcache_t, -1: none */
    int32_t pad;
    int64_t lock_wait_us;                  /* > 0: waited on a fill */
    char method[RP_METHOD_MAX];
    char route[RP_ROUTE_MAX];
    char uri[RP_SLOW_URI_MAX];
    rp_app_sums_t app;                     /* its application metrics; the
                                              last is __other__ when it had
                                              more names than fit */
} rp_slow_entry_t;

/* The global counters and histograms (one copy per shard; summed by
 * rp_stats_global_read()). */
typedef struct {
    uint64_t counters[RP_CTR_COUNT];
    rp_phase_stats_t phases[RP_PHASE_COUNT];
    rp_hist_t total;
} rp_stats_glob_t;

typedef struct {
    uint32_t magic;
    uint32_t version;
    uint64_t size;
    uint32_t max_routes;
    uint32_t slow_size;
    uint32_t idx_cap;                      /* power of two */
    uint32_t rec_cap;
    uint64_t idx_off, rec_off, slow_off;
    uint32_t app_names;                    /* ReqPerfAppTimingMaxNames */
    uint32_t app_slots;                    /* app_names + 1 (__other__) */
    uint64_t app_key_off, app_off;
    uint32_t shards;                       /* 1 .. RP_STATS_SHARDS_MAX */
    uint32_t pad0;
    uint64_t shard_off, glob_off;
    int64_t start_wall_us;
    int64_t start_mono_us;

    uint32_t n_records;
    uint32_t n_tracked;                    /* records that are real routes */
    uint32_t recent_cur;
    uint32_t pad;
    int64_t recent_epoch;
    uint64_t slow_cursor;
    uint64_t adv_off, adv_tables_off;
    uint32_t adv_tables;                   /* key tables in the pool */
    uint32_t adv_tables_used;              /* claimed (may pass adv_tables) */
    /* records reserved by a creator that lost the race for its key (the
     * same new route brought by several threads at once), record number
     * + 1 or 0: the next creator takes one before reserving another */
    uint32_t spare[RP_SPARE_RECORDS];
} rp_stats_hdr_t;

typedef struct {
    uint32_t max_routes;
    uint32_t slow_size;
    uint32_t app_names;                    /* 0: everything is __other__ */
    uint32_t shards;                       /* 0 or 1: unsharded; capped at
                                              RP_STATS_SHARDS_MAX */
} rp_stats_params_t;

typedef struct rp_stats_t rp_stats_t;      /* = the mapped segment */

/* Bytes needed for these parameters. */
size_t rp_stats_size(const rp_stats_params_t *params);

/* Format a zeroed or reused segment. */
rp_stats_t *rp_stats_init(void *mem, size_t size,
                          const rp_stats_params_t *params,
                          int64_t now_wall_us, int64_t now_mono_us);

/* Use an existing segment if it has this layout and these parameters
 * (graceful restart); NULL otherwise. */
rp_stats_t *rp_stats_attach(void *mem, size_t size,
                            const rp_stats_params_t *params);

rp_stats_hdr_t *rp_stats_hdr(rp_stats_t *st);

/* One finished request. */
typedef struct {
    const char *route;                     /* grouped, may be longer: cut */
    const char *method;                    /* rp_route_method() applied */
    const char *uri;                       /* path only, for the slow log */
    int status;
    int64_t wall_us;
    int64_t total_us;
    const int64_t *phase_us;               /* RP_PHASE_COUNT, -1 = absent */
    int slow;
    int cache;                             /* rp_cache_result_t */
    unsigned cache_flags;                  /* RP_CACHE_FLAG_* */
    const char *x_cache;                   /* the X-Cache value sent, or
                                              NULL (rp_xcache_of) */
    int64_t lock_wait_us;                  /* RP_CACHE_FLAG_LOCK_WAIT: how
                                              long it waited */
    /* the backend's Server-Timing field values (NUL-terminated), read
     * only when the application answered (never for a cache hit) */
    const char *const *app_values;
    int n_app_values;
} rp_sample_t;

void rp_stats_record(rp_stats_t *st, const rp_sample_t *s);

/* Find or create the record of (route, method); falls back to __other__
 * when ReqPerfMaxRoutes records exist.  Returns its record number, or -1
 * only if even that fails. */
int32_t rp_stats_route(rp_stats_t *st, const char *route,
                       const char *method);

void rp_stats_count(rp_stats_t *st, rp_counter_t c, uint64_t n);
/* A global counter, summed over the shards. */
uint64_t rp_stats_counter(rp_stats_t *st, rp_counter_t c);

/* The application metrics a sample carries, read and recorded on record
 * number ri (-1: only counted), their per-request sums into *sums (what
 * rp_stats_record does with them). */
void rp_stats_record_app(rp_stats_t *st, int32_t ri, const rp_sample_t *s,
                         rp_app_sums_t *sums);

/* Application metric slots per route (ReqPerfAppTimingMaxNames + 1), and
 * slot k of a record when it is published (NULL otherwise); the last slot
 * is __other__. */
uint32_t rp_stats_app_slots(rp_stats_t *st);
const rp_app_slot_t *rp_stats_app_slot(rp_stats_t *st,
                                       const rp_route_rec_t *rec,
                                       uint32_t k);

/* The cache advisor's figures of a record, and the pool of key tables
 * (rp_advice.h). */
rp_advice_rec_t *rp_stats_advice(rp_stats_t *st, int32_t ri);
void rp_stats_advice_pool(rp_stats_t *st, rp_advice_pool_t *out);

/* Parent only: advance the recent window to now. */
void rp_stats_rotate(rp_stats_t *st, int64_t now_mono_us);

/* Readers. */
uint32_t rp_stats_nrecords(rp_stats_t *st);
/* The i-th record, summed over the shards into *out (key and recent
 * window included); out, or NULL when it is unpublished or out of
 * range. */
rp_route_rec_t *rp_stats_record_read(rp_stats_t *st, uint32_t i,
                                     rp_route_rec_t *out);
/* The global counters and histograms, summed over the shards. */
void rp_stats_global_read(rp_stats_t *st, rp_stats_glob_t *out);
uint32_t rp_stats_shards(rp_stats_t *st);
/* Copy up to max slow entries, newest first, skipping torn ones. */
size_t rp_stats_slow_read(rp_stats_t *st, rp_slow_entry_t *out, size_t max);
uint32_t rp_stats_slow_size(rp_stats_t *st);
/* Recent window of one record (as read), summed over its slots. */
void rp_stats_recent(rp_stats_t *st, const rp_route_rec_t *rec,
                     rp_hist_snap_t *out);
/* The recent window's phases of one record: the average of each phase
 * over the last minute (-1: it did not run), its run counts in count[]
 * (may be NULL). */
void rp_stats_recent_phases(rp_stats_t *st, const rp_route_rec_t *rec,
                            int64_t *avg, uint64_t *count);

/* Parent only: zero everything and restart the clocks (full restart). */
void rp_stats_reset(rp_stats_t *st, int64_t now_wall_us, int64_t now_mono_us);

/* Hash of a (route, method) key; exposed for tests. */
uint64_t rp_stats_key_hash(const char *route, const char *method);

#endif
