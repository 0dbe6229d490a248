/*
 * rp_cache_local.c: the shared-memory tier's part of a lookup (rp_cache.h:
 * "Two tiers").  The tier itself, its slots and purge ring, is
 * rp_local.c; this is what the cache algorithm asks of it and leaves in
 * it: a copy read first, served when it is young, fresh and not purged on
 * this server since it was read, and what memcached answered kept.
 */
#include <string.h>

#include "rp_cache_int.h"
#include "rp_local.h"

/* val: bytes that rp_cache_decode_for() accepted or rp_entry_encode()
 * made (every caller's): put as checked (rp_local_put_checked) */
void rp_cache_local_put(rp_lookup_t *lk, const char *key, const char *val,
                        size_t len, int64_t now_us)
{
    if (lk->local != NULL && val != NULL) {
        rp_local_put_checked(lk->local, key, val, len, lk->local_epoch, now_us,
                     &lk->local_evictions);
    }
}

void rp_cache_local_fill(rp_lookup_t *lk, rp_eval_t ev, int64_t now_us)
{
    if (lk->local == NULL) {
        return;
    }
    if (ev == RP_EV_FRESH || ev == RP_EV_PASS) {
        rp_cache_local_put(lk, lk->base_key, lk->base_raw, lk->base_raw_len,
                           now_us);
        if (lk->variant_raw != NULL) {
            rp_cache_local_put(lk, lk->variant_key, lk->variant_raw,
                               lk->variant_raw_len, now_us);
        }
    }
    else if (lk->local_seen) {
        /* the variant is what is missing or old: the index memcached
         * holds stays (a client asking for made-up variants would drop
         * it for every other variant's local hits) */
        if (lk->base_is_index) {
            rp_cache_local_put(lk, lk->base_key, lk->base_raw,
                               lk->base_raw_len, now_us);
        }
        else {
            rp_local_drop(lk->local, lk->base_key);
        }
        if (lk->variant_key[0] != '\0') {
            rp_local_drop(lk->local, lk->variant_key);
        }
    }
}

/* Was something this entry depends on purged on this server since its
 * copy was read from memcached? */
static int local_purged(rp_lookup_t *lk, const rp_entry_t *e, uint64_t since)
{
    uint64_t h[1 + RP_ENTRY_MAX_TAGS];
    uint32_t k;

    h[0] = rp_local_hash("u:", lk->url);
    for (k = 0; k < e->n_tags && k < RP_ENTRY_MAX_TAGS; k++) {
        h[k + 1] = rp_local_hash("t:", e->tags[k]);
    }
    return rp_local_purged_since(lk->local, since, h, (int)(k + 1));
}

/* A copy old enough to be checked against memcached again; or filled
 * "later" than now: the wall clock was set back, and its age is unknown
 * (it would otherwise be served unchecked, a purge made on another server
 * unseen, until the clock caught up). */
static int due(const rp_lookup_t *lk, const rp_local_meta_t *meta,
               int64_t now_us)
{
    return now_us - meta->filled_us >= lk->local_ttl_us
           || now_us < meta->filled_us;
}

/* A pass marker in the tier, the page's or its variant's. */
static rp_local_found_t local_pass(rp_lookup_t *lk, const rp_entry_t *e,
                                   rp_local_meta_t *meta, int64_t now_us)
{
    if (now_us >= e->fresh_until_us || local_purged(lk, e, meta->epoch)) {
        return RP_LOCAL_FOUND_NONE;
    }
    /* a purge elsewhere ends a pass too: recheck it like a page */
    if (due(lk, meta, now_us)
        && rp_local_try_revalidate(lk->local, meta, now_us)) {
        lk->local_revalidating = 1;
        return RP_LOCAL_FOUND_NONE;
    }
    /* the generation it was marked under: what a store after this miss
     * is checked against (a purge since then refuses it) */
    lk->url_gen = e->url_gen;
    return RP_LOCAL_FOUND_PASS;
}

rp_local_found_t rp_cache_local_lookup(rp_lookup_t *lk, int64_t now_us)
{
    rp_local_meta_t meta;
    const char *val, *want = lk->base_full;
    size_t len;
    rp_entry_t e;

    if (!rp_local_get_entry(lk->local, lk->base_key, lk->pool, &val, &len, &meta)) {
        return RP_LOCAL_FOUND_NONE;
    }
    lk->local_seen = 1;
    if (!rp_cache_decode_copy(lk, val, len, want, 0, meta.exact, &e)) {
        rp_local_drop(lk->local, lk->base_key);
        return RP_LOCAL_FOUND_NONE;
    }
    if (e.kind == RP_ENTRY_PASS) {
        return local_pass(lk, &e, &meta, now_us);
    }
    if (e.kind == RP_ENTRY_PAGE && lk->n_extra > 0) {
        return RP_LOCAL_FOUND_NONE;
    }
    if (e.kind == RP_ENTRY_VARY_INDEX) {
        char vkey[RP_KEY_HASH_MAX];

        lk->index_vary = rp_cache_index_vary(lk->pool, &e);
        if (meta.old) {
            /* the index is as hot as its variants: keep it too */
            rp_local_put_checked(lk->local, lk->base_key, val, len, meta.epoch,
                         meta.filled_us, &lk->local_evictions);
        }
        want = rp_cache_variant_full(lk, e.headers, (int)e.n_headers);
        if (want == NULL) {
            return RP_LOCAL_FOUND_NONE;
        }
        rp_key_hash("rp:e:", want, strlen(want), vkey);
        if (!rp_local_get_entry(lk->local, vkey, lk->pool, &val, &len, &meta)) {
            return RP_LOCAL_FOUND_NONE;
        }
        if (!rp_cache_decode_copy(lk, val, len, want, 0, meta.exact, &e)) {
            return RP_LOCAL_FOUND_NONE;
        }
        if (e.kind == RP_ENTRY_VARY_INDEX) {
            lk->invalid_entries++;             /* an index under a variant */
            return RP_LOCAL_FOUND_NONE;
        }
        memcpy(lk->variant_key, vkey, sizeof(vkey));
        if (e.kind == RP_ENTRY_PASS) {
            return local_pass(lk, &e, &meta, now_us);
        }
    }
    if (e.kind != RP_ENTRY_PAGE || now_us >= e.fresh_until_us
        || local_purged(lk, &e, meta.epoch)) {
        return RP_LOCAL_FOUND_NONE;             /* memcached decides */
    }
    if (due(lk, &meta, now_us)) {
        /* old copy: one request asks memcached, the others serve it */
        if (rp_local_try_revalidate(lk->local, &meta, now_us)) {
            lk->local_revalidating = 1;
            return RP_LOCAL_FOUND_NONE;
        }
    }
    lk->entry = e;
    lk->age_s = now_us > e.stored_us ? (now_us - e.stored_us) / 1000000 : 0;
    if (meta.old) {
        /* about to be overwritten, and used: keep it (CLOCK-like) */
        rp_local_put_checked(lk->local, e.kind == RP_ENTRY_PAGE && want != lk->base_full
                                ? lk->variant_key : lk->base_key,
                     val, len, meta.epoch, meta.filled_us,
                     &lk->local_evictions);
    }
    return RP_LOCAL_FOUND_HIT;
}
