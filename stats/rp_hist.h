/*
 * rp_hist.h: log-linear latency histograms that live in shared memory.
 *
 * Values are microseconds.  Below 8 µs every value has its own bucket;
 * above, each power of two is split into 8 equal sub-buckets, so a
 * bucket is at most 1/8 of its lower bound wide.  Reporting the middle
 * of the bucket that holds the nearest-rank value puts every percentile
 * within 1/16 (6.25%) of the exact value: inside SPEC's 10%.  The range
 * runs to 2^41 µs (25 days); larger values land in the last bucket.
 *
 * Writers are request threads in any child process: every update is a
 * relaxed GCC __atomic operation on a counter, never a lock.  Readers
 * take a snapshot (rp_hist_snap_t) and compute from that copy, so a
 * percentile is computed from one consistent set of buckets.
 *
 * Prometheus wants few, fixed `le` bounds and exact counts below each;
 * those are kept as separate counters (rp_prom_*), because a log-linear
 * bucket does not line up with 0.005 s.
 */
#ifndef RP_HIST_H
#define RP_HIST_H

#include <stddef.h>
#include <stdint.h>

#define RP_HIST_SUB_BITS 3
#define RP_HIST_SUB (1 << RP_HIST_SUB_BITS)
#define RP_HIST_MAX_EXP 40
#define RP_HIST_BUCKETS \
    (RP_HIST_SUB + (RP_HIST_MAX_EXP - RP_HIST_SUB_BITS + 1) * RP_HIST_SUB)

/* A histogram with 64-bit counters, plus sum and max.  count is not
 * written in shared memory (the sum of the buckets is the count: one
 * atomic add less per value); readers' copies fill it in. */
typedef struct {
    uint64_t count;
    uint64_t sum;
    uint64_t max;
    uint64_t b[RP_HIST_BUCKETS];
} rp_hist_t;

/* A histogram with 32-bit counters, for the short "recent" slots. */
typedef struct {
    uint32_t b[RP_HIST_BUCKETS];
} rp_hist32_t;

/* A reader's copy. */
typedef struct {
    uint64_t count;
    uint64_t sum;
    uint64_t max;
    uint64_t b[RP_HIST_BUCKETS];
} rp_hist_snap_t;

int rp_hist_bucket(uint64_t v);
uint64_t rp_hist_bucket_low(int b);   /* smallest value in bucket b */
uint64_t rp_hist_bucket_high(int b);  /* smallest value above bucket b */

/* Lock-free updates (shared memory, any process, any thread). */
void rp_hist_add(rp_hist_t *h, uint64_t v);
void rp_hist32_add(rp_hist32_t *h, uint64_t v);
void rp_atomic_max(uint64_t *p, uint64_t v);

/* Snapshots.  rp_hist32_accumulate adds a slot into a snapshot (count
 * and sum of the snapshot grow by what the buckets hold; sum is
 * estimated from bucket middles, max stays untouched). */
void rp_hist_snapshot(const rp_hist_t *h, rp_hist_snap_t *s);
void rp_hist_snap_clear(rp_hist_snap_t *s);
void rp_hist32_accumulate(const rp_hist32_t *h, rp_hist_snap_t *s);
void rp_hist_snap_merge(rp_hist_snap_t *into, const rp_hist_snap_t *from);

/* Nearest-rank percentile (p in 0..100) estimated as the middle of the
 * bucket holding it, clamped to the observed max; 0 when empty. */
uint64_t rp_hist_percentile(const rp_hist_snap_t *s, double p);

/* Fixed Prometheus bounds (µs), the last bucket is +Inf. */
#define RP_PROM_BUCKETS 15
extern const uint64_t rp_prom_bounds_us[RP_PROM_BUCKETS - 1];
extern const char *const rp_prom_bounds_le[RP_PROM_BUCKETS - 1];
int rp_prom_bucket(uint64_t v);

/* rp_hist_prom[b]: the Prometheus bucket that holds every value of
 * histogram bucket b, or -1 when a bound falls inside b (only 14 of the
 * buckets).  A writer that adds a value to both counts the Prometheus
 * bucket only for those 14; a reader adds the others' histogram counts
 * to their Prometheus bucket (rp_prom_from_hist).  Exact, one atomic add
 * less per value. */
extern signed char rp_hist_prom[RP_HIST_BUCKETS];
void rp_prom_from_hist(const uint64_t *hist_b, uint64_t *prom);

#endif
