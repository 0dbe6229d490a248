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
    if (lk->refresh || lk->no_pass || !rp_nostore_is_about_the_page(why, status)) {
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
    if (lk->url_gen != 0
        && !((lk->refreshing_stale || lk->has_fallback) && status >= 500)) {
        memset(&e, 0, sizeof(e));
        e.kind = RP_ENTRY_PASS;
        e.key = lk->base_full;
        e.key_len = strlen(lk->base_full);
        e.stored_us = now;
        e.fresh_until_us = now + ttl * 1000000;
        e.url_gen = lk->url_gen;
        bytes = rp_entry_encode_pool(&e, lk->pool, &len, &est);
        if (bytes != NULL
            && rp_store_set(lk->store, lk->base_key, strlen(lk->base_key),
                            bytes, len, (uint32_t)ttl) == RP_ST_OK) {
            rp_cache_local_put(lk, lk->base_key, bytes, len, now);
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
    const char *v = resp->vary;
    int k;

    memset(j, 0, sizeof(*j));
    rp_cache_response_info(lk, resp, &ri);
    j->age_s = ri.age_s;
    j->why = rp_response_storable(&ri, now_us / 1000000,
                                  lk->conf->default_ttl_s, &j->fresh_s);
    /* Vary only grows: the index's names, the server's, the response's */
    if (lk->index_vary != NULL && *lk->index_vary != '\0') {
        v = v ? apr_pstrcat(lk->pool, v, ", ", lk->index_vary, NULL)
              : lk->index_vary;
    }
    if (lk->extra_vary != NULL) {
        v = v ? apr_pstrcat(lk->pool, v, ", ", lk->extra_vary, NULL)
              : lk->extra_vary;
    }
    if (v != NULL && (j->n_vary = rp_vary_parse(lk->pool, v, &j->vary)) < 0) {
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

rp_store_outcome_t rp_cache_store(rp_lookup_t *lk,
                                  const rp_cache_response_t *resp,
                                  const char **why, int *tags_dropped)
{
    int64_t now = lk->clock->now_us(lk->clock->baton);
    int64_t fresh_s, ttl, grace_s = lk->conf->grace_s, sie_s = 0;
    rp_judgement_t j;
    const char **tags;
    int n_vary, n_tags, k;
    rp_store_item_t *items;
    char (*keys)[RP_KEY_HASH_MAX];
    rp_entry_t e, idx;
    const char *full;
    char full_key[RP_KEY_HASH_MAX];
    char *bytes;
    size_t len;
    rp_entry_status_t est;
    rp_st_rc_t rc;
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
        *why = "vary key";
        rp_cache_release(lk);
        return RP_STORE_NOT_CACHEABLE;
    }
    fresh_s = j.fresh_s;
    full = j.full;
    n_vary = j.n_vary;
    tags = j.tags;
    n_tags = j.n_tags;

    /* the generations now, compared with those seen before the fetch */
    items = apr_pcalloc(lk->pool, sizeof(*items) * (size_t)(n_tags + 2));
    keys = apr_palloc(lk->pool, RP_KEY_HASH_MAX * (size_t)(n_tags + 1));
    items[0].key = lk->url_gen_key;
    items[0].key_len = strlen(lk->url_gen_key);
    items[1].key = RP_CACHE_TAG_EPOCH_KEY;
    items[1].key_len = sizeof(RP_CACHE_TAG_EPOCH_KEY) - 1;
    for (k = 0; k < n_tags; k++) {
        rp_cache_gen_key(keys[k], "rp:t:", tags[k]);
        items[k + 2].key = keys[k];
        items[k + 2].key_len = strlen(keys[k]);
    }
    rp_store_mget(lk->store, lk->pool, items, (size_t)(n_tags + 2));
    for (k = 0; k < n_tags + 2; k++) {
        if (k == 1 && n_tags == 0) {
            continue;                  /* an untagged page needs no epoch */
        }
        if (items[k].rc == RP_ST_DOWN || items[k].rc == RP_ST_ERROR) {
            *why = "memcached down";
            rp_cache_release(lk);
            return RP_STORE_DOWN;
        }
    }
    gen = rp_cache_item_gen(&items[0]);
    if (lk->url_gen == 0 || gen != lk->url_gen) {
        *why = "url purged during fetch";
        rp_cache_release(lk);
        return RP_STORE_PURGED_DURING_FETCH;
    }
    if (n_tags > 0 && (!lk->tag_epoch_read
                       || rp_cache_item_gen(&items[1]) != lk->tag_epoch)) {
        *why = "tag purged during fetch";
        rp_cache_release(lk);
        return RP_STORE_PURGED_DURING_FETCH;
    }

    /* how long it may be served stale (RFC 5861; none where the response
     * forbids it, RFC 9111 4.2.4) */
    {
        rp_cc_t cc;
        rp_cc_parse(resp->cache_control, &cc);
        rp_stale_windows(&cc, lk->conf->grace_s, lk->conf->stale_if_error_s,
                         &grace_s, &sie_s);
    }
    memset(&e, 0, sizeof(e));
    e.kind = RP_ENTRY_PAGE;
    e.status = resp->status;
    /* as old as the upstream cache says it is: Age counts on from there */
    e.stored_us = now - j.age_s * 1000000;
    e.fresh_until_us = now + fresh_s * 1000000;
    e.grace_us = grace_s * 1000000;
    e.stale_if_error_us = sie_s * 1000000;
    e.url_gen = gen;
    e.n_headers = (uint32_t)resp->n_headers;
    e.headers = (rp_header_t *)resp->headers;
    e.body = resp->body;
    e.body_len = resp->body_len;
    if (n_tags > 0) {
        e.n_tags = (uint32_t)n_tags;
        e.tags = tags;
        e.tag_gens = apr_palloc(lk->pool, sizeof(uint64_t) * (size_t)n_tags);
        for (k = 0; k < n_tags; k++) {
            uint64_t tg = rp_cache_item_gen(&items[k + 2]);
            if (tg == 0) {
                /* create it ourselves; if someone else just did, it was
                 * a purge of this tag (or another store): do not store */
                char buf[32];
                int n = snprintf(buf, sizeof(buf), "%llu",
                                 (unsigned long long)now);
                rc = rp_store_add(lk->store, keys[k], strlen(keys[k]), buf,
                                  (size_t)n, 0);
                if (rc == RP_ST_EXISTS) {
                    *why = "tag purged during fetch";
                    rp_cache_release(lk);
                    return RP_STORE_PURGED_DURING_FETCH;
                }
                if (rc != RP_ST_OK) {
                    *why = "memcached down";
                    rp_cache_release(lk);
                    return RP_STORE_DOWN;
                }
                tg = (uint64_t)now;
            }
            e.tag_gens[k] = tg;
        }
    }
    /* kept for all the time it may be served, fresh or standing in */
    ttl = fresh_s + (grace_s > sie_s ? grace_s : sie_s) + 60;
    if (ttl > RP_CACHE_MAX_TTL_S) {
        ttl = RP_CACHE_MAX_TTL_S;
    }

    if (n_vary > 0) {
        memset(&idx, 0, sizeof(idx));
        idx.kind = RP_ENTRY_VARY_INDEX;
        idx.key = lk->base_full;
        idx.key_len = strlen(lk->base_full);
        idx.stored_us = now;
        idx.fresh_until_us = e.fresh_until_us;
        idx.grace_us = e.grace_us;
        idx.stale_if_error_us = e.stale_if_error_us;
        idx.url_gen = gen;
        idx.n_headers = (uint32_t)n_vary;
        idx.headers = j.names;
        bytes = rp_entry_encode_pool(&idx, lk->pool, &len, &est);
        if (bytes == NULL) {
            *why = rp_entry_strerror(est);
            rp_cache_release(lk);
            return RP_STORE_FAILED;
        }
        rc = rp_store_set(lk->store, lk->base_key, strlen(lk->base_key),
                          bytes, len, (uint32_t)ttl);
        lk->index_raw = bytes;
        lk->index_raw_len = len;
        if (rc != RP_ST_OK) {
            *why = rc == RP_ST_DOWN ? "memcached down" : "memcached refused";
            rp_cache_release(lk);
            return rc == RP_ST_DOWN ? RP_STORE_DOWN : RP_STORE_FAILED;
        }
    }
    e.key = full;
    e.key_len = strlen(full);
    rp_key_hash("rp:e:", full, strlen(full), full_key);
    bytes = rp_entry_encode_pool(&e, lk->pool, &len, &est);
    if (bytes == NULL) {
        *why = rp_entry_strerror(est);
        rp_cache_release(lk);
        return RP_STORE_FAILED;
    }
    rc = rp_store_set(lk->store, full_key, strlen(full_key), bytes, len,
                      (uint32_t)ttl);
    if (rc == RP_ST_OK) {
        rp_cache_note_tagged(lk->base_key, n_tags > 0);
        rp_cache_local_put(lk, full_key, bytes, len, now);
        if (n_vary > 0) {
            rp_cache_local_put(lk, lk->base_key, lk->index_raw,
                               lk->index_raw_len, now);
        }
    }
    if (rc == RP_ST_OK && n_tags > 0 && lk->tag_epoch != 0) {
        /* the tag generations above were read with this epoch */
        char vkey[RP_KEY_HASH_MAX], ebuf[32];
        int n = snprintf(ebuf, sizeof(ebuf), "%llu",
                         (unsigned long long)lk->tag_epoch);
        rp_key_hash("rp:v:", full, strlen(full), vkey);
        rp_store_set(lk->store, vkey, strlen(vkey), ebuf, (size_t)n,
                     (uint32_t)ttl);
    }
    rp_cache_release(lk);
    if (rc != RP_ST_OK) {
        *why = rc == RP_ST_DOWN ? "memcached down" : "memcached refused";
        return rc == RP_ST_DOWN ? RP_STORE_DOWN : RP_STORE_FAILED;
    }
    lk->stored_full = full;
    lk->stored_fresh_s = fresh_s;
    return RP_STORE_STORED;
}
