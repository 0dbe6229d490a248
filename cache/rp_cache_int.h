/*
 * rp_cache_int.h: what the pieces of the page cache share, and nothing
 * outside cache/rp_cache*.c may use.
 *
 * rp_cache.h's algorithm lives in four files, one job each:
 *   rp_cache.c        the lookup: memcached's answer judged, the stampede
 *                     lock, the wait, what a miss prepares for the store
 *   rp_cache_local.c  the shared-memory tier's part of a lookup
 *   rp_cache_store.c  the store side: the verdict on a response, the
 *                     entry it leaves (or the pass marker)
 *   rp_cache_gen.c    generations, the tag epoch, the per-process
 *                     untagged hints, and the purges that move them
 * This header is their seam: each function here has one owner file.
 */
#ifndef RP_CACHE_INT_H
#define RP_CACHE_INT_H

#include "rp_cache.h"

/* ---- rp_cache_gen.c --------------------------------------------------- */

/* The memcached key of a generation: prefix ("rp:u:", "rp:t:") and name. */
void rp_cache_gen_key(char out[RP_KEY_HASH_MAX], const char *prefix,
                      const char *name);

/* The items of one multi-get of generations: the URL's first (when
 * url_gen_key is not NULL), then each tag's, their keys in *keys (NULL:
 * not wanted).  From pool p. */
rp_store_item_t *rp_cache_gen_items(apr_pool_t *p, const char *url_gen_key,
                                    const char *const *tags, unsigned n_tags,
                                    char (**keys)[RP_KEY_HASH_MAX]);

/* The generation under key, created (at the current time in µs, so that
 * it never repeats an evicted one) when missing. */
rp_st_rc_t rp_cache_gen_ensure(rp_store_t *s, apr_pool_t *p, const char *key,
                               int64_t now_us, uint64_t *gen);

/* The generation a multi-get item holds; 0 when missing or unreadable. */
uint64_t rp_cache_item_gen(const rp_store_item_t *it);

/* The per-process hint: this process last found the page under base_key
 * untagged (so a lookup asks for 2 keys, not 4), and its update. */
int rp_cache_known_untagged(const char *base_key);
void rp_cache_note_tagged(const char *base_key, int tagged);

/* Read the tag epoch and the validated epoch under vkey in one multi-get
 * (out[0], out[1]) into lk; -1 if memcached could not tell. */
int rp_cache_read_tag_epoch(rp_lookup_t *lk, const char *vkey,
                            rp_store_item_t out[2]);

/* Record (rp:v:<full>, for ttl seconds) that the tags of the entry under
 * full whose bytes end with entry_sum (rp_entry_sum) held at
 * lk->tag_epoch: until the next tag purge a hit on that very entry need
 * not read them (one stored after the check, under tags read before a
 * purge, is not vouched for). */
void rp_cache_note_validated(rp_lookup_t *lk, const char *full, uint32_t ttl,
                             uint64_t entry_sum);
/* Whether such a record says so for the entry ending with entry_sum at
 * epoch (not 0). */
int rp_cache_validated_holds(const rp_store_item_t *it, uint64_t epoch,
                             uint64_t entry_sum);

/* Create a generation under key with the value now_us (rp_store_add()'s
 * answer: RP_ST_EXISTS when someone else has made it). */
rp_st_rc_t rp_cache_gen_create(rp_store_t *s, const char *key, int64_t now_us);

/* Whether a tag purge between the tag epochs from and to (from < to)
 * named one of keys[0..n_keys) (the tags' generation keys), from the
 * ring of purges (rp_cache_gen.c): RP_ST_OK none did; RP_ST_EXISTS one
 * did, or the ring cannot tell (more than RP_TAG_RING_SPAN purges, or a
 * record missing); RP_ST_DOWN memcached did not answer. */
rp_st_rc_t rp_cache_tag_purges_between(rp_store_t *s, apr_pool_t *p,
                                       uint64_t from, uint64_t to,
                                       char (*keys)[RP_KEY_HASH_MAX],
                                       unsigned n_keys);

/* ---- rp_cache.c ------------------------------------------------------- */

/* What the bytes found for a lookup are worth. */
typedef enum {
    RP_EV_NONE = 0,                    /* nothing usable */
    RP_EV_FRESH,
    RP_EV_STALE,                       /* within grace */
    RP_EV_EXPIRED,
    RP_EV_PURGED,
    RP_EV_PASS,                        /* known not cacheable, for now */
    RP_EV_DOWN
} rp_eval_t;

/* The full key of the variant a request wants, given the header names a
 * vary index lists (and lk's extra_vary names); NULL if it cannot be
 * built. */
const char *rp_cache_variant_full(rp_lookup_t *lk, const rp_header_t *names,
                                  int n);

/* Decode bytes found for want (into *e): 1 when they are an entry of
 * that full key (and a page, with page_only); else damaged or foreign
 * bytes, counted in lk->invalid_entries. */
int rp_cache_decode_for(rp_lookup_t *lk, const char *val, size_t len,
                        const char *want, int page_only, rp_entry_t *e);
/* The same for a copy from the local tier: exact (rp_local_meta_t) when
 * it is known to be the bytes put, which were decoded then; their
 * checksum is not computed again. */
int rp_cache_decode_copy(rp_lookup_t *lk, const char *val, size_t len,
                         const char *want, int page_only, int exact,
                         rp_entry_t *e);

/* The names an index lists, as a Vary value (to grow it at store time). */
const char *rp_cache_index_vary(apr_pool_t *p, const rp_entry_t *idx);

/* ---- rp_cache_local.c ------------------------------------------------- */

typedef enum {
    RP_LOCAL_FOUND_NONE = 0,           /* memcached decides */
    RP_LOCAL_FOUND_HIT,                /* lk->entry is served */
    RP_LOCAL_FOUND_PASS                /* a pass marker: a miss, no lock */
} rp_local_found_t;

/* Keep bytes read from or written to memcached in the tier (if any). */
void rp_cache_local_put(rp_lookup_t *lk, const char *key, const char *val,
                        size_t len, int64_t now_us);

/* After memcached answered: keep what it gave, forget what it did not. */
void rp_cache_local_fill(rp_lookup_t *lk, rp_eval_t ev, int64_t now_us);

/* Ask the tier first (lk->local not NULL). */
rp_local_found_t rp_cache_local_lookup(rp_lookup_t *lk, int64_t now_us);

#endif
