/*
 * rp_cache.h: the page cache's algorithm, against any store.
 *
 * This is the whole decision of what a request gets (HIT, STALE or MISS)
 * and of what a response leaves behind, written against rp_store_t so
 * that it runs unchanged over memcached in Apache and over the in-memory
 * store in unit tests.  The HTTP glue (mod_reqperf_cache.c) only turns a
 * request_rec into these inputs and a response into rp_cache_response_t.
 *
 * Keys (rp_key.h): the canonical URL names the page; the "base" full key
 * adds the ReqPerfCacheVary headers; a response Vary adds a second level
 * (the base key then holds a small "vary index" entry naming the
 * headers, and each variant lives under the base key plus their values).
 * Vary only grows for a base: a response that names fewer headers than the
 * index already does is stored as a variant of all of them, and a Vary the
 * server set before the lookup (extra_vary: mod_rewrite choosing a page by
 * a header) is keyed on even where no stored copy names it, so a backend
 * or a configuration that varies on a header for some requests only never
 * hands one variant to all.
 *
 * Invalidation without scanning memcached: every URL and every tag has a
 * generation counter in memcached (rp:u:..., rp:t:...).  An entry records
 * the generations it was stored under and is dead as soon as one has
 * moved on.  A generation that is missing (never created, or evicted)
 * matches nothing, so eviction can only cause a miss, never revive a
 * purged page; new generations start at the current time in
 * microseconds so a re-created one never repeats an old value.  The URL
 * generation is read (and created if needed) before the backend is asked,
 * and checked again before storing, so a purge made while the backend
 * was rendering is never undone.  Tags are only known from the response,
 * so a global tag epoch (rp:g:tags, moved on by every tag purge) is read
 * at lookup and again at store time; when it moved, a ring of the tags
 * the purges named (rp:g:tp:N) says whether one was the page's.
 *
 * Round trips on a hit: one multi-get (entry, URL generation, and for a
 * page that may be tagged the tag epoch and the entry's "validated"
 * epoch: each process remembers which pages it last found untagged, and
 * asks for those two keys only), plus one for the variant when the
 * response varied.  A tagged entry records (rp:v:<key>) the tag epoch at
 * which its tag generations were last seen unchanged; while the epoch
 * has not moved since, no tag was purged anywhere and the tags need no
 * second round trip.  After a tag purge the first hit of each tagged
 * entry checks its tags (one more round trip) and records the epoch
 * again.
 *
 * Two tiers: with a shared-memory tier (rp_local.h) a lookup asks it
 * first; a copy younger than ReqPerfCacheLocalTTL, fresh, and not purged
 * on this server since it was read is a HIT without memcached.  Older
 * copies are revalidated by one request through the memcached path
 * below, whose answers (hits, pass markers, stores) fill the tier.
 *
 * Stampede lock: on a miss one request adds rp:l:<key> (short TTL; the
 * variant's key once a vary index names it, so one variant's miss holds
 * up no other's; a pass marker is the variant's too) and goes to the
 * backend; the others poll for the entry for a bounded time,
 * or take the stale copy at once while it is within grace; when the wait
 * runs out (the filler is slow, or died) they take the copy that may
 * stand in for a failed backend if there is one, else go to the backend.
 *
 * Stale-if-error (RFC 5861): an entry stays in memcached for its
 * freshness, grace and stale-if-error together; a miss on a copy expired
 * less than its stale-if-error ago carries it back as lk->fallback, and
 * the glue serves it in place of a 5xx from the backend.  When the
 * answer cannot be stored, a short-lived "pass" marker (Varnish's
 * hit-for-pass) lets the next misses skip the lock, so an uncacheable
 * page under load is never served one request at a time.
 */
#ifndef RP_CACHE_H
#define RP_CACHE_H

#include <stdint.h>
#include <apr_pools.h>
#include "rp_store.h"
#include "rp_entry.h"
#include "rp_key.h"
#include "rp_rules.h"
#include "rp_local.h"

#define RP_CACHE_TAG_EPOCH_KEY "rp:g:tags"
#define RP_TAG_RING_SPAN 64           /* tag purges a store in flight reads */
#define RP_CACHE_MAX_TTL_S (30 * 24 * 3600)   /* memcached's relative max */
#define RP_CACHE_PASS_MAX_S 60

typedef struct {
    int64_t default_ttl_s;             /* ReqPerfCacheTTL */
    int64_t grace_s;                   /* ReqPerfCacheGrace */
    int64_t stale_if_error_s;          /* ReqPerfCacheStaleIfError */
    int lock;                          /* ReqPerfCacheLock */
    int64_t lock_wait_us;              /* a waiter gives up after this */
    uint32_t lock_ttl_s;               /* a lock expires by itself */
} rp_cache_conf_t;

typedef struct {
    int64_t (*now_us)(void *baton);    /* wall clock, µs since the epoch */
    void (*sleep_us)(void *baton, int64_t us);
    void *baton;
} rp_clock_t;

typedef enum {
    RP_LOOKUP_MISS = 0,
    RP_LOOKUP_HIT,
    RP_LOOKUP_STALE,
    RP_LOOKUP_DOWN                     /* the store could not answer */
} rp_lookup_result_t;

/* Why a STALE answer was stale. */
typedef enum {
    RP_STALE_GRACE = 0,                /* within grace: one request refreshes */
    RP_STALE_ERROR,                    /* the backend failed: the glue
                                          decides, or the fill waited for
                                          ended without a page */
    RP_STALE_TIMEOUT                   /* waited for another's fill in vain */
} rp_stale_reason_t;

typedef enum {
    RP_MISS_ABSENT = 0,
    RP_MISS_EXPIRED,
    RP_MISS_PURGED,
    RP_MISS_INVALID,
    RP_MISS_REFRESH,                   /* client asked for no-cache */
    RP_MISS_LOCK_TIMEOUT,              /* waited for another request */
    RP_MISS_PASS                       /* known uncacheable: no lock */
} rp_miss_reason_t;

typedef struct {
    /* inputs */
    rp_store_t *store;
    apr_pool_t *pool;
    const rp_cache_conf_t *conf;
    const rp_clock_t *clock;
    rp_header_get_fn get_header;       /* request headers, for Vary */
    void *header_baton;
    const char *url;                   /* rp_key_url() */
    const char *base_full;             /* url + ReqPerfCacheVary values */
    int no_lock;                       /* e.g. HEAD: will not store */
    int refresh;                       /* do not serve; fetch and store */
    int no_pass;                       /* never leave a pass marker (the
                                          response is not the page's own:
                                          an error document, say) */
    const char *extra_vary;            /* a Vary the server has already
                                          set for this request (mod_rewrite
                                          on a header): keyed on even
                                          where no stored copy names it */
    rp_local_t *local;                 /* the shared-memory tier, or NULL */
    int64_t local_ttl_us;              /* ReqPerfCacheLocalTTL */
    /* purges that wait for memcached to take them (rp_pending.h), when
     * some wait after this request made what it could: a copy whose URL
     * or one of whose tags they name is not served */
    const struct rp_pending_t *pending;
    const char *index_now_raw;         /* the store's last index read */
    size_t index_now_raw_len;
    int64_t index_now_kept_until_us;   /* when memcached drops that index */
    uint64_t pending_changes;          /* rp_pending_changes() before the
                                          lookup read any generation */

    /* outputs */
    rp_lookup_result_t result;
    rp_miss_reason_t miss_reason;
    rp_entry_t entry;                  /* HIT/STALE: what to serve */
    int64_t age_s;
    rp_stale_reason_t stale_reason;    /* STALE: why */
    /* MISS: a copy that may stand in if the backend fails (expired less
     * than its stale-if-error ago, or within grace while this request
     * refreshes it); never a purged one */
    int has_fallback;
    rp_entry_t fallback;
    int64_t fallback_age_s;
    int holds_lock;
    int waited;                        /* polled for another's fill */
    int64_t waited_us;                 /* for how long (to its last poll) */
    unsigned invalid_entries;          /* damaged or foreign bytes seen */
    unsigned stale_by_generation;
    unsigned round_trips;
    int from_local;                    /* HIT served from the local tier */
    /* rp_cache_store(): why it refused (RP_NOSTORE_NONE otherwise), and
     * once stored, the full key (the variant) and its freshness */
    rp_nostore_t refused;
    const char *stored_full;
    int64_t stored_fresh_s;
    int local_revalidating;            /* this request rechecks a copy */
    unsigned local_evictions;

    /* private */
    char base_key[RP_KEY_HASH_MAX];
    char url_gen_key[RP_KEY_HASH_MAX];
    char lock_key[RP_KEY_HASH_MAX];    /* "" until needed */
    char fail_key[RP_KEY_HASH_MAX];    /* "" until needed */
    char lock_value[24];               /* the lock this request took: its
                                          value (its fail mark's too) */
    size_t lock_value_len;
    char valid_key[RP_KEY_HASH_MAX];
    char variant_valid_key[RP_KEY_HASH_MAX];
    rp_store_item_t variant_items[2];
    uint64_t local_epoch;
    int local_seen;
    const char *base_raw, *variant_raw, *index_raw;
    size_t base_raw_len, variant_raw_len, index_raw_len;
    char variant_key[RP_KEY_HASH_MAX];
    /* the variant a vary index names for this request (found or not):
     * its fill lock and its pass marker are its own, so one variant's
     * miss or failure holds up no other */
    const char *variant_full;
    char variant_base_key[RP_KEY_HASH_MAX];
    int base_is_index;                 /* memcached's base bytes: an index */
    const char **extra_names;          /* extra_vary, parsed */
    int n_extra;
    const char *index_vary;            /* names of the vary index seen */
    uint64_t url_gen;                  /* 0 = missing */
    uint64_t tag_epoch;                /* 0 = missing */
    int tag_epoch_read;
    int tag_epoch_asked;               /* some multi-get asked for it */
} rp_lookup_t;

/* Set the inputs; computes the keys. */
void rp_cache_lookup_init(rp_lookup_t *lk, rp_store_t *store, apr_pool_t *p,
                          const rp_cache_conf_t *conf,
                          const rp_clock_t *clock, const char *url,
                          const char *base_full, rp_header_get_fn get_header,
                          void *header_baton);

rp_lookup_result_t rp_cache_lookup(rp_lookup_t *lk);

typedef struct {
    int status;
    const rp_header_t *headers;        /* to store, already filtered */
    int n_headers;
    const char *cache_control;
    const char *expires;
    const char *date;
    const char *vary;
    int has_set_cookie;
    int has_content_range;
    const char *pragma;
    const char *age;                   /* Age from an upstream cache */
    int request_authenticated;         /* see rp_response_info_t */
    int input_changed;
    int incomplete;
    const char *tags;                  /* X-ReqPerf-Tags */
    const char *body;
    size_t body_len;
    int has_max_fresh;                 /* fresh no longer than max_fresh_s */
    int64_t max_fresh_s;               /* (an included part's freshness) */
} rp_cache_response_t;

/* The rp_response_info_t of a response, for rp_response_storable(). */
void rp_cache_response_info(const rp_lookup_t *lk,
                            const rp_cache_response_t *resp,
                            rp_response_info_t *ri);

/* What rp_cache_store() decides of a response before it touches the
 * store. */
typedef struct {
    rp_nostore_t why;                  /* RP_NOSTORE_NONE: may be stored */
    int64_t fresh_s;                   /* what is left of its freshness */
    int64_t grace_s;                   /* how long it may be served stale */
    int64_t stale_if_error_s;          /* (RFC 5861; none where it forbids
                                          it, RFC 9111 4.2.4) */
    int64_t age_s;                     /* its Age */
    const char **vary;                 /* the names it varies on: the */
    rp_header_t *names;                /* response's, the index's, the */
    int n_vary;                        /* server's (values "") */
    const char **tags;
    int n_tags, tags_dropped;
    /* the full key it would be stored under (the variant its Vary names,
     * with this request's values); NULL when a value cannot be keyed */
    const char *full;
} rp_judgement_t;

/*
 * THE storage decision on a whole response, the one rp_cache_store() acts
 * on: rp_response_verdict() (its reading of Cache-Control and Vary is
 * kept, the stale windows included: nothing after it parses them again),
 * then a Vary that cannot be keyed, then tags that cannot be kept, the
 * included parts' freshness limit applied; and the full key, computed
 * whatever the verdict.  Pure (no store call), so that ReqPerfCache
 * Observe judges a response exactly as a store would.
 */
void rp_cache_judge(rp_lookup_t *lk, const rp_cache_response_t *resp,
                    int64_t now_us, rp_judgement_t *j);

typedef enum {
    RP_STORE_STORED = 0,
    RP_STORE_NOT_CACHEABLE,            /* see *why */
    RP_STORE_PURGED_DURING_FETCH,
    RP_STORE_DOWN,
    RP_STORE_FAILED
} rp_store_outcome_t;

/* Store a complete response after a MISS (or a refresh).  *why names the
 * reason when it was not stored; *tags_dropped counts the tags that could
 * not be kept (then nothing is stored: a purge of that tag would miss). */
rp_store_outcome_t rp_cache_store(rp_lookup_t *lk,
                                  const rp_cache_response_t *resp,
                                  const char **why, int *tags_dropped);

/* THE rule of stale-if-error: whether the copy kept in lk->fallback
 * stands in for a backend's answer of this status (a 5xx).  The glue
 * then serves it in place of the answer, and rp_cache_mark_pass() leaves
 * no pass marker over it, so the others go on getting it too. */
int rp_cache_fallback_applies(const rp_lookup_t *lk, int status);
/* Whether the fallback's URL and tag generations still hold (and no
 * queued purge names it): asked before it stands in.  0 also drops it. */
int rp_cache_fallback_holds(rp_lookup_t *lk);

/* Let go of the stampede lock if this request holds it (idempotent). */
void rp_cache_release(rp_lookup_t *lk);
/* The same, when the backend failed and the fallback stood in: the
 * requests waiting on the lock let their copies stand in too (a mark
 * lives 2 s) rather than each try the failing backend again. */
void rp_cache_release_failed(rp_lookup_t *lk);

/* The response to a miss cannot be stored (too large, Set-Cookie, ...):
 * leave a "pass" marker under the key for a short while (5 s after a
 * 5xx, else ReqPerfCacheTTL up to a minute) so that the next misses of
 * this URL go straight to the backend instead of queueing on the lock,
 * then release the lock.  A purge of the URL ends the pass. */
void rp_cache_mark_pass(rp_lookup_t *lk, int status);

/* A response that may not be stored: a pass marker when that says
 * something about the page for everyone (rp_nostore_is_about_the_page(),
 * and neither lk->refresh nor lk->no_pass), else only the lock goes.  A
 * client's own refresh or a one-off answer never makes a page uncacheable
 * for the others, nor replaces a good entry.  A request that was itself
 * passed by a marker writes none (the marker lives out its time). */
void rp_cache_refuse(rp_lookup_t *lk, rp_nostore_t why, int status);

/* Invalidation: every variant of a URL (its canonical rp_key_url form),
 * or every entry carrying a tag.  RP_ST_OK when memcached took it. */
rp_st_rc_t rp_cache_purge_url(rp_store_t *s, apr_pool_t *p,
                              rp_local_t *local, const char *url,
                              int64_t now_us);
rp_st_rc_t rp_cache_purge_tag(rp_store_t *s, apr_pool_t *p,
                              rp_local_t *local, const char *tag,
                              int64_t now_us);

const char *rp_miss_reason_name(rp_miss_reason_t r);

/* Exposed for tests. */
int rp_cache_parse_gen(const char *v, size_t len, uint64_t *out);
/* Forget which pages this process found untagged (a hit on one asks
 * memcached for 2 keys, on any other for 4; see rp_cache_gen.c). */
void rp_cache_hints_reset(void);

#endif
