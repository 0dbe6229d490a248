/*
 * rp_cache_store.c: the store side of the cache (rp_cache.h).  After a
 * miss, the verdict on the response (rp_cache_judge, which ReqPerfCache
 * Observe shares), the generations checked again against those read
 * before the fetch, and the entry (with its vary index) or, for an answer
 * that may not be stored, the pass marker.
 */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

#include "rp_cache_int.h"
#include "rp_local.h"

void rp_cache_refuse(rp_lookup_t *lk, rp_nostore_t why, int status)
{
    /* a request that met a live pass marker leaves it as it is: written
     * again by every pass, an uncacheable page cost a memcached write per
     * request instead of one per marker's life (the first miss after it
     * expires takes the lock and writes the next) */
    if (lk->refresh || lk->no_pass || lk->miss_reason == RP_MISS_PASS
        || !rp_nostore_is_about_the_page(why, status)) {
        rp_cache_release(lk);
        return;
    }
    rp_cache_mark_pass(lk, status);
}

void rp_cache_mark_pass(rp_lookup_t *lk, int status)
{
    int64_t now = lk->clock->now_us(lk->clock->baton);
    int64_t ttl = status >= 500 ? 5 : lk->conf->default_ttl_s;
    rp_entry_t e;
    char *bytes;
    size_t len;
    rp_entry_status_t est;

    if (ttl > RP_CACHE_PASS_MAX_S) {
        ttl = RP_CACHE_PASS_MAX_S;
    }
    if (ttl < 1) {
        ttl = 1;
    }
    /* a failing backend must not wipe out the stale copy grace keeps
     * for exactly this: the others go on getting it */
    if (lk->url_gen != 0 && !rp_cache_fallback_applies(lk, status)) {
        /* under the variant a vary index named, so the index and the
         * other variants stay: one variant's failure (a made-up
         * Accept-Language the application chokes on) passes only it */
        const char *full = lk->variant_full != NULL ? lk->variant_full
                                                    : lk->base_full;
        const char *key = lk->variant_full != NULL ? lk->variant_base_key
                                                   : lk->base_key;

        memset(&e, 0, sizeof(e));
        e.kind = RP_ENTRY_PASS;
        e.key = full;
        e.key_len = strlen(full);
        e.stored_us = now;
        e.fresh_until_us = now + ttl * 1000000;
        e.url_gen = lk->url_gen;
        bytes = rp_entry_encode_pool(&e, lk->pool, &len, &est);
        if (bytes != NULL
            && rp_store_set(lk->store, key, strlen(key), bytes, len,
                            (uint32_t)ttl) == RP_ST_OK) {
            rp_cache_local_put(lk, key, bytes, len, now);
        }
    }
    rp_cache_release(lk);
}

void rp_cache_response_info(const rp_lookup_t *lk,
                            const rp_cache_response_t *resp,
                            rp_response_info_t *ri)
{
    memset(ri, 0, sizeof(*ri));
    ri->status = resp->status;
    ri->cache_control = resp->cache_control;
    ri->vary = resp->vary;
    ri->has_set_cookie = resp->has_set_cookie;
    ri->has_content_range = resp->has_content_range;
    ri->expires = resp->expires;
    ri->date = resp->date;
    ri->pragma = resp->pragma;
    ri->age_s = rp_age_parse(resp->age);
    ri->request_authenticated = resp->request_authenticated;
    ri->input_changed = resp->input_changed;
    ri->incomplete = resp->incomplete;
    ri->grace_s = lk->conf->grace_s;
    ri->stale_if_error_s = lk->conf->stale_if_error_s;
}

void rp_cache_judge(rp_lookup_t *lk, const rp_cache_response_t *resp,
                    int64_t now_us, rp_judgement_t *j)
{
    rp_response_info_t ri;
    rp_response_facts_t facts;
    int k;

    memset(j, 0, sizeof(*j));
    rp_cache_response_info(lk, resp, &ri);
    j->age_s = ri.age_s;
    j->why = rp_response_verdict(&ri, now_us / 1000000,
                                 lk->conf->default_ttl_s, &facts);
    j->fresh_s = facts.fresh_s;
    j->grace_s = facts.grace_s;
    j->stale_if_error_s = facts.stale_if_error_s;
    /* Vary only grows: the response's names (as the verdict read them),
     * the index's, the server's */
    rp_vary_read(&facts.vary, lk->index_vary);
    rp_vary_read(&facts.vary, lk->extra_vary);
    if ((j->n_vary = rp_vary_names(lk->pool, &facts.vary, &j->vary)) < 0) {
        j->n_vary = 0;
        j->vary = NULL;
        if (j->why == RP_NOSTORE_NONE) {
            j->why = RP_NOSTORE_VARY_STAR;
        }
    }
    if (j->why == RP_NOSTORE_NONE && resp->tags) {
        j->n_tags = rp_tags_parse(lk->pool, resp->tags, &j->tags,
                                  &j->tags_dropped);
        if (j->tags_dropped > 0) {
            j->why = RP_NOSTORE_TAGS;
        }
    }
    if (resp->has_max_fresh && j->fresh_s > resp->max_fresh_s) {
        j->fresh_s = resp->max_fresh_s;
    }
    j->full = lk->base_full;
    if (j->n_vary > 0) {
        /* the base key names the headers; the page lives under the variant */
        j->names = apr_pcalloc(lk->pool, sizeof(*j->names) * (size_t)j->n_vary);
        for (k = 0; k < j->n_vary; k++) {
            j->names[k].name = j->vary[k];
            j->names[k].value = "";
        }
        j->full = rp_cache_variant_full(lk, j->names, j->n_vary);
    }
}

/* The store ends without an entry: *why says why, the lock goes. */
static rp_store_outcome_t give_up(rp_lookup_t *lk, const char **why,
                                  const char *reason,
                                  rp_store_outcome_t outcome)
{
    *why = reason;
    rp_cache_release(lk);
    return outcome;
}

/* What a write memcached did not take makes of the store.  Refused (a
 * page over memcached's item size, or no memory left in its slab): it
 * would be refused again, so a pass marker lets the next misses go to
 * the backend side by side instead of one fill lock at a time. */
static rp_store_outcome_t write_failed(rp_lookup_t *lk, const char **why,
                                       rp_st_rc_t rc, int status)
{
    if (rc == RP_ST_DOWN) {
        return give_up(lk, why, "memcached down", RP_STORE_DOWN);
    }
    *why = "memcached refused";
    if (lk->refresh || lk->no_pass || lk->miss_reason == RP_MISS_PASS) {
        rp_cache_release(lk);          /* as rp_cache_refuse() decides */
    }
    else {
        rp_cache_mark_pass(lk, status); /* (and the lock goes) */
    }
    return RP_STORE_FAILED;
}

/* The generations now, compared with those seen before the fetch: the
 * URL's, and for a tagged page each tag's (their items and keys, in
 * *tag_items and *tag_keys, for tag_generations() and tags_unpurged()).
 * RP_STORE_STORED: the URL's did not move on, *gen is it. */
static rp_store_outcome_t check_generations(rp_lookup_t *lk,
                                            const rp_judgement_t *j,
                                            rp_store_item_t **tag_items,
                                            char (**tag_keys)[RP_KEY_HASH_MAX],
                                            uint64_t *gen, const char **why)
{
    int n_tags = j->n_tags, k;
    char (*keys)[RP_KEY_HASH_MAX];
    rp_store_item_t *items = rp_cache_gen_items(lk->pool, lk->url_gen_key,
                                                j->tags, (unsigned)n_tags,
                                                &keys);

    rp_store_mget(lk->store, lk->pool, items, (size_t)(n_tags + 1));
    for (k = 0; k < n_tags + 1; k++) {
        if (items[k].rc == RP_ST_DOWN || items[k].rc == RP_ST_ERROR) {
            return give_up(lk, why, "memcached down", RP_STORE_DOWN);
        }
    }
    *gen = rp_cache_item_gen(&items[0]);
    if (lk->url_gen == 0 || *gen != lk->url_gen) {
        return give_up(lk, why, "url purged during fetch",
                       RP_STORE_PURGED_DURING_FETCH);
    }
    if (n_tags > 0 && (!lk->tag_epoch_read || lk->tag_epoch == 0)) {
        return give_up(lk, why, "tag purged during fetch",
                       RP_STORE_PURGED_DURING_FETCH);
    }
    *tag_items = items + 1;
    *tag_keys = keys;
    return RP_STORE_STORED;
}

/* Whether any of the page's tags was purged since the lookup read the tag
 * epoch, asked after its generations were read (and made): a purge moves
 * the epoch on before the generation (rp_cache_gen.c), so one whose new
 * generation the store holds has moved the epoch it reads here.  Purges
 * of other tags meanwhile do not keep the page out. */
static rp_store_outcome_t tags_unpurged(rp_lookup_t *lk, const rp_entry_t *e,
                                        char (*keys)[RP_KEY_HASH_MAX],
                                        const char **why)
{
    const char *v;
    size_t vl;
    uint64_t now_epoch = 0;
    rp_st_rc_t rc = rp_store_get(lk->store, lk->pool, RP_CACHE_TAG_EPOCH_KEY,
                                 sizeof(RP_CACHE_TAG_EPOCH_KEY) - 1, &v, &vl);

    lk->round_trips++;
    if (rc != RP_ST_OK && rc != RP_ST_NOTFOUND) {
        return give_up(lk, why, "memcached down", RP_STORE_DOWN);
    }
    if (rc == RP_ST_OK && rp_cache_parse_gen(v, vl, &now_epoch) != 0) {
        now_epoch = 0;
    }
    if (now_epoch == lk->tag_epoch) {
        return RP_STORE_STORED;
    }
    lk->round_trips++;
    rc = rp_cache_tag_purges_between(lk->store, lk->pool, lk->tag_epoch,
                                     now_epoch, keys, e->n_tags);
    if (rc == RP_ST_DOWN) {
        return give_up(lk, why, "memcached down", RP_STORE_DOWN);
    }
    if (rc != RP_ST_OK) {
        return give_up(lk, why, "tag purged during fetch",
                       RP_STORE_PURGED_DURING_FETCH);
    }
    /* stored as read at the lookup: the validated epoch it records says
     * its tags held then, and the hits after check them again */
    return RP_STORE_STORED;
}

/* The generation of each of the page's tags, into e->tag_gens; a missing
 * one is created here, and if someone else just did, it was a purge of
 * this tag (or another store): then nothing is stored. */
static rp_store_outcome_t tag_generations(rp_lookup_t *lk, rp_entry_t *e,
                                          const rp_store_item_t *items,
                                          char (*keys)[RP_KEY_HASH_MAX],
                                          int64_t now, const char **why)
{
    uint64_t *gens = apr_palloc(lk->pool, sizeof(uint64_t) * e->n_tags);
    uint32_t k;
    rp_st_rc_t rc;

    for (k = 0; k < e->n_tags; k++) {
        gens[k] = rp_cache_item_gen(&items[k]);
        if (gens[k] != 0) {
            continue;
        }
        rc = rp_cache_gen_create(lk->store, keys[k], now);
        if (rc == RP_ST_EXISTS) {
            return give_up(lk, why, "tag purged during fetch",
                           RP_STORE_PURGED_DURING_FETCH);
        }
        if (rc != RP_ST_OK) {
            return give_up(lk, why, "memcached down", RP_STORE_DOWN);
        }
        gens[k] = (uint64_t)now;
    }
    e->tag_gens = gens;
    return RP_STORE_STORED;
}

/* The page entry a response leaves (its tags' generations apart), stored
 * under URL generation gen; *ttl how long memcached keeps it: for all the
 * time it may be served, fresh or standing in. */
static void page_entry(const rp_cache_response_t *resp,
                       const rp_judgement_t *j, int64_t now, uint64_t gen,
                       rp_entry_t *e, int64_t *ttl)
{
    int64_t grace_s = j->grace_s, sie_s = j->stale_if_error_s;

    memset(e, 0, sizeof(*e));
    e->kind = RP_ENTRY_PAGE;
    e->key = j->full;
    e->key_len = strlen(j->full);
    e->status = resp->status;
    /* as old as the upstream cache says it is: Age counts on from there */
    e->stored_us = now - j->age_s * 1000000;
    e->fresh_until_us = now + j->fresh_s * 1000000;
    e->grace_us = grace_s * 1000000;
    e->stale_if_error_us = sie_s * 1000000;
    e->url_gen = gen;
    e->n_headers = (uint32_t)resp->n_headers;
    e->headers = (rp_header_t *)resp->headers;
    e->body = resp->body;
    e->body_len = resp->body_len;
    e->n_tags = (uint32_t)j->n_tags;
    e->tags = j->tags;
    *ttl = j->fresh_s + (grace_s > sie_s ? grace_s : sie_s) + 60;
    if (*ttl > RP_CACHE_MAX_TTL_S) {
        *ttl = RP_CACHE_MAX_TTL_S;
    }
}

/* A varying page: the vary index under the base key, naming the headers
 * (kept in lk->index_raw for the local tier). */
static rp_store_outcome_t store_index(rp_lookup_t *lk,
                                      const rp_judgement_t *j,
                                      const rp_entry_t *e, int64_t now,
                                      int64_t ttl, const char **why)
{
    rp_entry_t idx;
    rp_entry_status_t est;
    char *bytes;
    size_t len;
    rp_st_rc_t rc;

    memset(&idx, 0, sizeof(idx));
    idx.kind = RP_ENTRY_VARY_INDEX;
    idx.key = lk->base_full;
    idx.key_len = strlen(lk->base_full);
    idx.stored_us = now;
    idx.fresh_until_us = e->fresh_until_us;
    idx.grace_us = e->grace_us;
    idx.stale_if_error_us = e->stale_if_error_us;
    idx.url_gen = e->url_gen;
    idx.n_headers = (uint32_t)j->n_vary;
    idx.headers = j->names;
    bytes = rp_entry_encode_pool(&idx, lk->pool, &len, &est);
    if (bytes == NULL) {
        return give_up(lk, why, rp_entry_strerror(est), RP_STORE_FAILED);
    }
    rc = rp_store_set(lk->store, lk->base_key, strlen(lk->base_key),
                      bytes, len, (uint32_t)ttl);
    lk->index_raw = bytes;
    lk->index_raw_len = len;
    return rc == RP_ST_OK ? RP_STORE_STORED
                          : write_failed(lk, why, rc, e->status);
}

/* Until when memcached keeps an entry written at written_us (page_entry's
 * TTL: its servable time and a minute, at most RP_CACHE_MAX_TTL_S). */
static int64_t kept_until_us(const rp_entry_t *e, int64_t written_us)
{
    int64_t window = e->grace_us > e->stale_if_error_us ? e->grace_us
                                                        : e->stale_if_error_us;
    int64_t until = e->fresh_until_us + window + 60 * 1000000LL;
    int64_t cap = written_us + (int64_t)RP_CACHE_MAX_TTL_S * 1000000LL;

    return until < cap ? until : cap;
}

/* The vary index memcached holds now, if any: its names, joined. */
static const char *index_now(rp_lookup_t *lk, int *down)
{
    const char *v;
    size_t vl;
    rp_entry_t idx;
    rp_st_rc_t rc = rp_store_get(lk->store, lk->pool, lk->base_key,
                                 strlen(lk->base_key), &v, &vl);

    lk->round_trips++;
    *down = rc != RP_ST_OK && rc != RP_ST_NOTFOUND;
    if (rc == RP_ST_OK) {
        lk->index_now_raw = v;
        lk->index_now_raw_len = vl;
    }
    if (rc != RP_ST_OK || rp_entry_decode(v, vl, lk->pool, &idx)
                          != RP_ENTRY_OK
        || idx.kind != RP_ENTRY_VARY_INDEX || idx.key_len != strlen(lk->base_full)
        || memcmp(idx.key, lk->base_full, idx.key_len) != 0) {
        return NULL;
    }
    lk->index_now_kept_until_us = kept_until_us(&idx, idx.stored_us);
    return rp_cache_index_vary(lk->pool, &idx);
}

/* Judged again against the index memcached holds now: another variant's
 * fill (each has its own lock) may have grown it since the lookup, and
 * Vary only grows. */
static int judged_again(rp_lookup_t *lk, const rp_cache_response_t *resp,
                        int64_t now, const char *vary_now, rp_judgement_t *j,
                        rp_entry_t *e)
{
    if (vary_now == NULL || (lk->index_vary != NULL
                             && strcmp(vary_now, lk->index_vary) == 0)) {
        return 1;
    }
    lk->index_vary = lk->index_vary
                     ? apr_pstrcat(lk->pool, vary_now, ", ", lk->index_vary,
                                   NULL)
                     : vary_now;
    rp_cache_judge(lk, resp, now, j);
    if (j->why != RP_NOSTORE_NONE || j->full == NULL) {
        return 0;
    }
    e->key = j->full;
    e->key_len = strlen(j->full);
    return 1;
}

#define INDEX_LOCK_TRIES 10
#define INDEX_LOCK_PAUSE_US 2000

/* Where the page varies, its index is written under a short lock of its
 * own, from the index memcached holds at that moment joined with this
 * page's names: two variants filled side by side (each under its own
 * fill lock) never write an index smaller than either.  An unvaried page
 * still reads the index once: one that appeared since its lookup makes it
 * a variant. */
static rp_store_outcome_t vary_as_stored(rp_lookup_t *lk,
                                         const rp_cache_response_t *resp,
                                         int64_t now, rp_judgement_t *j,
                                         rp_entry_t *e, int64_t ttl,
                                         const char **why)
{
    char ikey[RP_KEY_HASH_MAX];
    const char *vary_now;
    rp_store_outcome_t out;
    rp_st_rc_t rc = RP_ST_EXISTS;
    int down, tries;

    if (j->n_vary == 0) {
        vary_now = index_now(lk, &down);
        if (down) {
            return give_up(lk, why, "memcached down", RP_STORE_DOWN);
        }
        if (vary_now == NULL) {
            return RP_STORE_STORED;            /* no index: the page alone */
        }
        if (!judged_again(lk, resp, now, vary_now, j, e)) {
            return give_up(lk, why, "vary key", RP_STORE_NOT_CACHEABLE);
        }
        if (j->n_vary == 0) {
            return RP_STORE_STORED;            /* an index naming nothing */
        }
    }
    else if (lk->index_vary != NULL) {
        /* the index memcached holds may name exactly these headers
         * already (every fill after the first): nothing to write, and
         * neither the index lock nor the index's write is a call of the
         * store's run (a store cut after the index, before the page,
         * was every store of a varied page at a third of the timeout).
         * Only where the lookup saw an index: a first fill writes it */
        const char *mine = "";
        int k;

        for (k = 0; k < j->n_vary; k++) {
            mine = apr_pstrcat(lk->pool, mine, k ? ", " : "", j->vary[k],
                               NULL);
        }
        lk->index_now_raw = NULL;
        vary_now = index_now(lk, &down);
        if (down) {
            return give_up(lk, why, "memcached down", RP_STORE_DOWN);
        }
        /* and it lives as long as this page may be served (memcached
         * drops it when the fill that wrote it runs out: the variants
         * stored after it would be found by nothing) */
        if (vary_now != NULL && strcmp(vary_now, mine) == 0
            && lk->index_now_raw != NULL
            && lk->index_now_kept_until_us
               >= kept_until_us(e, now) - 60 * 1000000LL) {
            lk->index_raw = lk->index_now_raw;
            lk->index_raw_len = lk->index_now_raw_len;
            return RP_STORE_STORED;
        }
    }
    rp_key_hash("rp:li:", lk->base_full, strlen(lk->base_full), ikey);
    for (tries = 0; tries < INDEX_LOCK_TRIES; tries++) {
        lk->round_trips++;
        rc = rp_store_add(lk->store, ikey, strlen(ikey), "1", 1, 2);
        if (rc != RP_ST_EXISTS) {
            break;
        }
        lk->clock->sleep_us(lk->clock->baton, INDEX_LOCK_PAUSE_US);
        rp_store_rest(lk->store);      /* a pause, not memcached's time */
    }
    if (rc != RP_ST_OK) {
        return rc == RP_ST_EXISTS
               ? give_up(lk, why, "vary index busy", RP_STORE_FAILED)
               : give_up(lk, why, "memcached down", RP_STORE_DOWN);
    }
    vary_now = index_now(lk, &down);
    if (down) {
        out = give_up(lk, why, "memcached down", RP_STORE_DOWN);
    }
    else if (!judged_again(lk, resp, now, vary_now, j, e)) {
        out = give_up(lk, why, "vary key", RP_STORE_NOT_CACHEABLE);
    }
    else {
        out = store_index(lk, j, e, now, ttl, why);
    }
    rp_store_del(lk->store, ikey, strlen(ikey));
    return out;
}

/* The page itself under its full key, then what the local tier, the
 * untagged hint and the validated epoch learn from it. */
static rp_store_outcome_t store_page(rp_lookup_t *lk, const rp_judgement_t *j,
                                     const rp_entry_t *e, int64_t now,
                                     int64_t ttl, const char **why)
{
    char full_key[RP_KEY_HASH_MAX];
    rp_entry_status_t est;
    char *bytes;
    size_t len;
    rp_st_rc_t rc;

    rp_key_hash("rp:e:", j->full, strlen(j->full), full_key);
    bytes = rp_entry_encode_pool(e, lk->pool, &len, &est);
    if (bytes == NULL) {
        return give_up(lk, why, rp_entry_strerror(est), RP_STORE_FAILED);
    }
    rc = rp_store_set(lk->store, full_key, strlen(full_key), bytes, len,
                      (uint32_t)ttl);
    if (rc != RP_ST_OK) {
        return write_failed(lk, why, rc, e->status);
    }
    rp_cache_note_tagged(lk->base_key, j->n_tags > 0);
    rp_cache_local_put(lk, full_key, bytes, len, now);
    if (j->n_vary > 0) {
        rp_cache_local_put(lk, lk->base_key, lk->index_raw,
                           lk->index_raw_len, now);
    }
    if (j->n_tags > 0 && lk->tag_epoch != 0) {
        /* the tag generations were read with this epoch */
        rp_cache_note_validated(lk, j->full, (uint32_t)ttl,
                                rp_entry_sum(bytes, len));
    }
    rp_cache_release(lk);
    return RP_STORE_STORED;
}

rp_store_outcome_t rp_cache_store(rp_lookup_t *lk,
                                  const rp_cache_response_t *resp,
                                  const char **why, int *tags_dropped)
{
    int64_t now = lk->clock->now_us(lk->clock->baton), ttl;
    rp_judgement_t j;
    rp_store_item_t *tag_items = NULL;
    char (*tag_keys)[RP_KEY_HASH_MAX] = NULL;
    rp_entry_t e;
    rp_store_outcome_t out;
    uint64_t gen;

    *why = NULL;
    lk->refused = RP_NOSTORE_NONE;
    rp_cache_judge(lk, resp, now, &j);
    if (tags_dropped) {
        *tags_dropped = j.tags_dropped;
    }
    if (j.why != RP_NOSTORE_NONE) {
        lk->refused = j.why;
        *why = rp_nostore_name(j.why);
        rp_cache_refuse(lk, j.why, resp->status);
        return RP_STORE_NOT_CACHEABLE;
    }
    if (j.full == NULL) {
        /* a header value we cannot key on: this request's, not the
         * page's, so no pass marker */
        return give_up(lk, why, "vary key", RP_STORE_NOT_CACHEABLE);
    }
    out = check_generations(lk, &j, &tag_items, &tag_keys, &gen, why);
    if (out != RP_STORE_STORED) {
        return out;
    }
    page_entry(resp, &j, now, gen, &e, &ttl);
    if (e.n_tags > 0
        && ((out = tag_generations(lk, &e, tag_items, tag_keys, now, why))
            != RP_STORE_STORED
            || (out = tags_unpurged(lk, &e, tag_keys, why))
               != RP_STORE_STORED)) {
        return out;
    }
    if ((out = vary_as_stored(lk, resp, now, &j, &e, ttl, why))
        != RP_STORE_STORED) {
        return out;
    }
    out = store_page(lk, &j, &e, now, ttl, why);
    if (out == RP_STORE_STORED) {
        lk->stored_full = j.full;
        lk->stored_fresh_s = j.fresh_s;
    }
    return out;
}
