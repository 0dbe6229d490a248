/*
 * rp_pending.h: purges memcached did not take, kept until it does.
 *
 * A purge made while memcached cannot be reached (down, or slower than
 * ReqPerfCacheTimeout) moves no generation: when the same memcached
 * answers again with its data intact, the purged page would be served
 * until it expires.  So a failed purge is queued here, in shared memory
 * every child of this server sees, and the next request that reaches
 * memcached makes it before its own lookup (rp_pending_take, then
 * rp_pending_done or rp_pending_retry).
 *
 * A fixed table of slots, no lock: a slot moves free -> writing ->
 * queued -> taken -> free by compare-and-swap, so one purge is made by
 * one request at a time; a taker that died (a crashed child) is taken
 * over after RP_PENDING_TAKEN_STALE_US.  The same purge queued twice is
 * kept once.  A full table, or a name too long to keep, is counted as
 * dropped (the status page shows it; the error log says so).  Made once
 * for the life of the parent process, so a graceful restart in the middle
 * of an incident keeps what waits (mod_reqperf_cache_child.c).
 */
#ifndef RP_PENDING_H
#define RP_PENDING_H

#include <stddef.h>
#include <stdint.h>

#define RP_PENDING_SLOTS 64
#define RP_PENDING_NAME_MAX 2048               /* bytes of a URL or a tag */
#define RP_PENDING_TAKEN_STALE_US (30 * 1000 * 1000)
#define RP_PENDING_BACKOFF_US (1000 * 1000)    /* after a retry failed */

typedef enum {
    RP_PENDING_URL = 1,
    RP_PENDING_TAG = 2
} rp_pending_kind_t;

typedef struct rp_pending_t rp_pending_t;

size_t rp_pending_size(void);
rp_pending_t *rp_pending_init(void *mem);

/* Queue a purge: 0 queued (or already queued), -1 dropped. */
int rp_pending_add(rp_pending_t *q, rp_pending_kind_t kind, const char *name);

/* How many purges wait (one atomic load: the lookup's fast path). */
uint64_t rp_pending_count(const rp_pending_t *q);

/* Take one purge to make now: its slot (>= 0) with *kind and name (a
 * copy, NUL-terminated, RP_PENDING_NAME_MAX + 1 bytes), or -1 when none
 * waits or the last retry failed less than RP_PENDING_BACKOFF_US ago. */
int rp_pending_take(rp_pending_t *q, int64_t now_us, rp_pending_kind_t *kind,
                    char *name);

/* The purge in slot was made: the slot is free again. */
void rp_pending_done(rp_pending_t *q, int slot);

/* It failed again: queued again, and nothing is taken for a while. */
void rp_pending_retry(rp_pending_t *q, int slot, int64_t now_us);

/* Whether a purge that waits matches: match(baton, kind, name, len) is
 * asked of each queued or taken purge; 1 as soon as one says 1, or when a
 * slot changed while it was read (it cannot tell, so it says so).  One
 * being queued right now is not looked at: it comes no earlier than the
 * lookup asking.  For a lookup made while purges wait: a page one of them
 * names is not served. */
int rp_pending_find(const rp_pending_t *q,
                    int (*match)(void *baton, rp_pending_kind_t kind,
                                 const char *name, size_t len),
                    void *baton);

/* Moves each time a purge is made (before its slot reads as free): a
 * lookup that read generations before a queued purge was made cannot
 * tell from rp_pending_find() (the slot is free), but sees this move. */
uint64_t rp_pending_changes(const rp_pending_t *q);

/* Purges made late, and dropped, since the start. */
uint64_t rp_pending_made(const rp_pending_t *q);
uint64_t rp_pending_dropped(const rp_pending_t *q);

#endif
