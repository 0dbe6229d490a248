/*
 * rp_local.h: the shared-memory hot tier in front of memcached.
 *
 * A cache hit that asks memcached pays a network round trip; a hit served
 * from this tier pays a memcpy.  It holds recently used entries in the
 * same encoded, checksummed form as memcached (rp_entry.h), so it can
 * only ever hand back bytes that memcached held, and every check of the
 * cache (full key, checksum, generations, freshness) runs on them as on
 * a memcached hit.
 *
 * Layout (one segment, created by the parent, shared by all children):
 *
 *   header   magic, version, sizes, the arena's reservation counter, the
 *            local purge epoch and the ring of recent local purges
 *   index    2^k slots, each naming one entry: the hash of its memcached
 *            key, where its bytes are, when they came from memcached
 *   arena    a ring of entry bytes; new entries are appended at the head
 *            and overwrite the oldest (FIFO), and an entry that is read
 *            while in the oldest quarter is appended again, so what is
 *            used stays (an approximation of LRU, like CLOCK)
 *
 * Concurrency, without a lock anywhere:
 *   - writers reserve arena space with one atomic add on a 64-bit logical
 *     position (bytes ever reserved), so two writers never share bytes;
 *   - an index slot is guarded by a sequence number (seqlock): a writer
 *     makes it odd by compare-and-swap (or gives up: the tier is only a
 *     cache), writes, and makes it even again;
 *   - a reader copies the slot and then the bytes, and keeps them only if
 *     the sequence did not move and no writer has reserved past the
 *     bytes' logical position plus the arena size (they were not
 *     overwritten while copied).  The entry's checksum is checked on top,
 *     unless no writer can have written over the bytes: every writer
 *     counts itself while it copies, and one that finds the arena lapped
 *     it marks every byte reserved so far suspect (rp_local.c,
 *     copy_is_exact); a hot hit then hashes nothing.
 *   So readers never block each other or writers; a torn read is a miss.
 *
 * Coherence: a purge made on this server is recorded in a ring of recent
 * purges (hash of "u:<url>" or "t:<tag>" with the local epoch); an entry
 * remembers the epoch before its bytes were read from memcached, and on a
 * hit the purges since then are checked against its URL and tags.  Purges
 * made on other servers are seen when the copy, older than
 * ReqPerfCacheLocalTTL, is revalidated against memcached by one request
 * (rp_local_try_revalidate) while the others keep serving it.
 */
#ifndef RP_LOCAL_H
#define RP_LOCAL_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#define RP_LOCAL_MAGIC 0x4c435052u            /* "RPCL" */
#define RP_LOCAL_VERSION 2
#define RP_LOCAL_PURGE_RING 256
#define RP_LOCAL_PROBE 8                      /* slots tried per key */
#define RP_LOCAL_REVALIDATE_STALE_US (5 * 1000 * 1000)

typedef struct rp_local_t rp_local_t;

/* What a lookup learned about the copy it returned. */
typedef struct {
    uint32_t slot;
    uint64_t seq;
    uint64_t pos;
    int64_t filled_us;                 /* when it came from memcached */
    uint64_t epoch;                    /* local purge epoch before that */
    int old;                           /* in the oldest quarter: re-put it */
    int exact;                         /* put checked, and no writer can
                                          have written over the bytes
                                          copied: they are the bytes put
                                          (rp_local.c, copy_is_exact) */
} rp_local_meta_t;

/* Format a segment of `size` bytes (at least 1 MiB); NULL if too small. */
rp_local_t *rp_local_init(void *mem, size_t size);

/* The copy stored under a memcached key, copied into pool memory. */
int rp_local_get(rp_local_t *l, const char *mkey, apr_pool_t *p,
                 const char **val, size_t *len, rp_local_meta_t *meta);

/* The same without the tier's own sum, for bytes that carry a checksum
 * of their own which the caller checks on every copy (a cache entry,
 * rp_entry_decode()): a copy torn by a writer that stalled is then caught
 * by that checksum, and a hit hashes its bytes once, not twice.  When
 * meta->exact says no writer can have touched them, they are the bytes
 * put, which had passed that check: the caller may skip it
 * (rp_entry_decode_trusted), and a hit hashes them not at all. */
int rp_local_get_entry(rp_local_t *l, const char *mkey, apr_pool_t *p,
                       const char **val, size_t *len, rp_local_meta_t *meta);

/* Store (or replace) a copy.  epoch: rp_local_epoch() read before the
 * bytes were read from memcached.  Returns 1 when stored, 0 when skipped
 * (too large, or the slot was busy); *evicted counts live entries that
 * had to make room. */
int rp_local_put(rp_local_t *l, const char *mkey, const char *val,
                 size_t len, uint64_t epoch, int64_t now_us,
                 unsigned *evicted);

/* The same for bytes that passed their owner's check (a cache entry that
 * rp_entry_decode() accepted): only their copies can be exact. */
int rp_local_put_checked(rp_local_t *l, const char *mkey, const char *val,
                         size_t len, uint64_t epoch, int64_t now_us,
                         unsigned *evicted);

/* rp_local_put's write in its three parts, for tests of a writer that
 * stalls between them: reserve space (counted as writing), copy the
 * bytes there, and stop counting (noting whether the arena lapped it). */
uint64_t rp_local_write_reserve(rp_local_t *l, uint32_t len);
void rp_local_write_bytes(rp_local_t *l, uint64_t pos, const char *val,
                          uint32_t len);
void rp_local_write_done(rp_local_t *l, uint64_t pos);

/* Forget a key. */
void rp_local_drop(rp_local_t *l, const char *mkey);

/* One request wins the right to revalidate an old copy (1); the others
 * keep serving it (0).  A revalidation that takes too long is taken over. */
int rp_local_try_revalidate(rp_local_t *l, const rp_local_meta_t *meta,
                            int64_t now_us);

/* Purges made on this server. */
uint64_t rp_local_epoch(rp_local_t *l);
void rp_local_record_purge(rp_local_t *l, uint64_t hash);
/* 1 when one of the hashes was purged after `since`, or when the ring no
 * longer reaches back that far (then the caller must ask memcached). */
int rp_local_purged_since(rp_local_t *l, uint64_t since,
                          const uint64_t *hashes, int n);
uint64_t rp_local_hash(const char *prefix, const char *s);

/* For the status page. */
void rp_local_usage(rp_local_t *l, uint64_t *bytes_used,
                    uint64_t *bytes_total, uint64_t *entries);

#endif
