/*
 * rp_cache.c: the lookup (rp_cache.h has the design).  What memcached
 * holds for a request is judged here (evaluate), the stampede lock taken
 * and waited on, and a miss prepared for the store (before_fetch); the
 * shared-memory tier's part is rp_cache_local.c, the store side
 * rp_cache_store.c, generations and purges rp_cache_gen.c.
 */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

#include "rp_cache_int.h"
#include "rp_local.h"
#include "rp_pending.h"
#include "rp_util.h"

#define POLL_FIRST_US 10000
#define POLL_MAX_US 100000
#define FAIL_MARK_TTL_S 2                /* rp_cache_release_failed() */
/* A lock's value is when it was taken; an older module's "1" says
 * nothing (a time before 2001 is none) */
#define LOCK_BORN_MIN_US 1000000000000000ULL

const char *rp_miss_reason_name(rp_miss_reason_t r)
{
    switch (r) {
    case RP_MISS_EXPIRED:
        return "expired";
    case RP_MISS_PURGED:
        return "purged";
    case RP_MISS_INVALID:
        return "invalid";
    case RP_MISS_REFRESH:
        return "refresh";
    case RP_MISS_LOCK_TIMEOUT:
        return "lock-timeout";
    case RP_MISS_PASS:
        return "pass";
    default:
        return "absent";
    }
}

void rp_cache_lookup_init(rp_lookup_t *lk, rp_store_t *store, apr_pool_t *p,
                          const rp_cache_conf_t *conf,
                          const rp_clock_t *clock, const char *url,
                          const char *base_full, rp_header_get_fn get_header,
                          void *header_baton)
{
    memset(lk, 0, sizeof(*lk));
    lk->store = store;
    lk->pool = p;
    lk->conf = conf;
    lk->clock = clock;
    lk->url = url;
    lk->base_full = base_full;
    lk->get_header = get_header;
    lk->header_baton = header_baton;
    lk->extra_names = NULL;
    lk->n_extra = 0;
    rp_key_hash2("rp:e:", "rp:v:", base_full, strlen(base_full),
                 lk->base_key, lk->valid_key);
    rp_cache_gen_key(lk->url_gen_key, "rp:u:", url);
    /* the lock key is only needed on a miss: hashed then (lock_key()) */
}

const char *rp_cache_variant_full(rp_lookup_t *lk, const rp_header_t *names,
                                  int n)
{
    rp_header_t *vals = apr_palloc(lk->pool, sizeof(*vals)
                                             * (size_t)(n + lk->n_extra + 1));
    int i, j, m = 0;

    for (i = 0; i < n; i++) {
        vals[m].name = names[i].name;
        vals[m++].value = lk->get_header(lk->header_baton, names[i].name);
    }
    for (j = 0; j < lk->n_extra; j++) {
        for (i = 0; i < n && !rp_str_ieq(names[i].name, lk->extra_names[j]); i++) {
        }
        if (i == n) {
            vals[m].name = lk->extra_names[j];
            vals[m++].value = lk->get_header(lk->header_baton, lk->extra_names[j]);
        }
    }
    rp_key_sort_headers(vals, m);
    return rp_key_variant(lk->pool, lk->base_full, vals, m);
}

const char *rp_cache_index_vary(apr_pool_t *p, const rp_entry_t *idx)
{
    const char *out = "";
    uint32_t i;

    for (i = 0; i < idx->n_headers; i++) {
        out = apr_pstrcat(p, out, i ? ", " : "", idx->headers[i].name, NULL);
    }
    return out;
}

int rp_cache_decode_for(rp_lookup_t *lk, const char *val, size_t len,
                        const char *want, int page_only, rp_entry_t *e)
{
    return rp_cache_decode_copy(lk, val, len, want, page_only, 0, e);
}

int rp_cache_decode_copy(rp_lookup_t *lk, const char *val, size_t len,
                         const char *want, int page_only, int exact,
                         rp_entry_t *e)
{
    if ((exact ? rp_entry_decode_trusted(val, len, lk->pool, e)
               : rp_entry_decode(val, len, lk->pool, e)) != RP_ENTRY_OK
        || (page_only && e->kind != RP_ENTRY_PAGE)
        || e->key_len != strlen(want)
        || memcmp(e->key, want, e->key_len) != 0) {
        lk->invalid_entries++;
        return 0;
    }
    return 1;
}

/* Follow the vary index in *e to the variant this request wants: its
 * bytes and its "validated" epoch in one round trip.  RP_EV_FRESH stands
 * for "found" (the page is then in *e, its full key in *want, and
 * *validated its epoch's item; the caller judges it), else nothing usable
 * or memcached down. */
static rp_eval_t follow_index(rp_lookup_t *lk, rp_entry_t *e,
                              const char **want,
                              const rp_store_item_t **validated)
{
    rp_store_item_t *vi = lk->variant_items;
    char vkey[RP_KEY_HASH_MAX];

    lk->index_vary = rp_cache_index_vary(lk->pool, e);
    *want = rp_cache_variant_full(lk, e->headers, (int)e->n_headers);
    if (*want == NULL) {
        return RP_EV_NONE;
    }
    rp_key_hash2("rp:e:", "rp:v:", *want, strlen(*want), vkey,
                 lk->variant_valid_key);
    if (lk->variant_full == NULL) {    /* the first index read decides */
        lk->variant_full = *want;
        memcpy(lk->variant_base_key, vkey, sizeof(vkey));
    }
    memset(lk->variant_items, 0, sizeof(lk->variant_items));
    vi[0].key = vkey;
    vi[0].key_len = strlen(vkey);
    vi[1].key = lk->variant_valid_key;
    vi[1].key_len = strlen(lk->variant_valid_key);
    lk->round_trips++;
    rp_store_mget(lk->store, lk->pool, lk->variant_items, 2);
    if (vi[0].rc == RP_ST_DOWN || vi[0].rc == RP_ST_ERROR) {
        return RP_EV_DOWN;
    }
    if (vi[0].rc != RP_ST_OK) {
        return RP_EV_NONE;
    }
    *validated = &vi[1];
    memcpy(lk->variant_key, vkey, sizeof(lk->variant_key));
    lk->variant_raw = vi[0].value;
    lk->variant_raw_len = vi[0].value_len;
    /* a page, or the pass marker of this variant alone */
    if (!rp_cache_decode_for(lk, lk->variant_raw, lk->variant_raw_len,
                             *want, 0, e)) {
        return RP_EV_NONE;
    }
    if (e->kind == RP_ENTRY_VARY_INDEX) {
        lk->invalid_entries++;
        return RP_EV_NONE;
    }
    return RP_EV_FRESH;
}

/* Whether the tag generations the page e (stored under want) was stored
 * with still hold: without asking when the validated epoch says no tag
 * was purged since they were last checked, else read and, when they
 * hold, the epoch recorded again.  RP_EV_FRESH: they hold. */
static rp_eval_t check_tags(rp_lookup_t *lk, const rp_entry_t *e,
                            const char *want,
                            const rp_store_item_t *validated)
{
    rp_store_item_t *tags;
    unsigned k;
    uint64_t sum;

    if (!lk->tag_epoch_asked) {
        /* the hint had it untagged: the epochs now, one round trip more */
        rp_store_item_t *ep = apr_palloc(lk->pool, 2 * sizeof(*ep));
        const char *vkey = validated == &lk->variant_items[1]
                           ? lk->variant_valid_key : lk->valid_key;

        validated = rp_cache_read_tag_epoch(lk, vkey, ep) == 0 ? &ep[1]
                                                                : NULL;
    }
    if (!lk->tag_epoch_read) {
        /* the server of the tag epoch does not answer: a tag purge made
         * meanwhile stopped at its first step (moving the epoch), before
         * the tag's generation, so the generations cannot tell either */
        return RP_EV_DOWN;
    }
    /* the bytes of this entry: the record must name them, not an entry
     * stored under this key before or since */
    sum = want == lk->base_full ? rp_entry_sum(lk->base_raw, lk->base_raw_len)
                                : rp_entry_sum(lk->variant_raw,
                                               lk->variant_raw_len);
    if (rp_cache_validated_holds(validated, lk->tag_epoch, sum)) {
        return RP_EV_FRESH;   /* no tag purge anywhere since last checked */
    }
    tags = rp_cache_gen_items(lk->pool, NULL, e->tags, e->n_tags, NULL);
    lk->round_trips++;
    rp_store_mget(lk->store, lk->pool, tags, e->n_tags);
    for (k = 0; k < e->n_tags; k++) {
        if (tags[k].rc == RP_ST_DOWN || tags[k].rc == RP_ST_ERROR) {
            return RP_EV_DOWN;         /* cannot tell: never serve blind */
        }
        if (rp_cache_item_gen(&tags[k]) != e->tag_gens[k]) {
            lk->stale_by_generation++;
            return RP_EV_PURGED;
        }
    }
    /* the tags held at the epoch read before them: until the next tag
     * purge, a hit needs no second round trip */
    if (lk->tag_epoch != 0) {
        lk->round_trips++;
        rp_cache_note_validated(lk, want, (uint32_t)RP_CACHE_MAX_TTL_S, sum);
    }
    return RP_EV_FRESH;
}

typedef struct {
    const rp_lookup_t *lk;
    const rp_entry_t *e;
} waits_t;

static int names_this_page(void *baton, rp_pending_kind_t kind,
                           const char *name, size_t len)
{
    const waits_t *w = baton;
    char key[RP_KEY_HASH_MAX];
    uint32_t k;

    if (kind == RP_PENDING_URL) {
        /* as rp_cache_purge_url names it: by its generation's key */
        char *u = apr_pstrmemdup(w->lk->pool, name, len);
        rp_cache_gen_key(key, "rp:u:", u);
        return strcmp(key, w->lk->url_gen_key) == 0;
    }
    for (k = 0; k < w->e->n_tags; k++) {
        if (strlen(w->e->tags[k]) == len
            && memcmp(w->e->tags[k], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A purge of this page's URL or of one of its tags waits in the queue
 * (memcached did not take it, and this request could not make it): the
 * copy memcached still holds is the one purged. */
static int purge_waits(const rp_lookup_t *lk, const rp_entry_t *e)
{
    waits_t w;

    w.lk = lk;
    w.e = e;
    /* a queued purge made since the generations were read: they may be
     * the ones it moved, and its slot no longer names it */
    if (rp_pending_changes(lk->pending) != lk->pending_changes) {
        return 1;
    }
    return rp_pending_find(lk->pending, names_this_page, &w);
}

/* Decide about the bytes found under the base key (following a vary
 * index to the variant).  Fills lk->entry when the result is usable. */
static rp_eval_t evaluate(rp_lookup_t *lk, const rp_store_item_t *it,
                          const rp_store_item_t *validated, int64_t now_us)
{
    rp_entry_t e;
    const char *want = lk->base_full;
    rp_eval_t ev;

    lk->base_is_index = 0;
    if (it->rc == RP_ST_DOWN) {
        return RP_EV_DOWN;
    }
    if (it->rc != RP_ST_OK) {
        return RP_EV_NONE;
    }
    lk->base_raw = it->value;
    lk->base_raw_len = it->value_len;
    lk->variant_raw = NULL;
    if (!rp_cache_decode_for(lk, it->value, it->value_len, want, 0, &e)) {
        return RP_EV_NONE;
    }
    if (e.kind == RP_ENTRY_PAGE && lk->n_extra > 0) {
        return RP_EV_NONE;  /* it did not vary on what the server now does */
    }
    lk->base_is_index = e.kind == RP_ENTRY_VARY_INDEX;
    if (e.kind == RP_ENTRY_VARY_INDEX
        && (ev = follow_index(lk, &e, &want, &validated)) != RP_EV_FRESH) {
        return ev;
    }
    if (e.kind == RP_ENTRY_PASS) {
        /* the page's, or its variant's; a purge of the URL ends it too */
        if (lk->url_gen != 0 && e.url_gen == lk->url_gen
            && now_us < e.fresh_until_us) {
            return RP_EV_PASS;
        }
        return RP_EV_NONE;
    }
    if (e.kind != RP_ENTRY_PAGE) {
        lk->invalid_entries++;
        return RP_EV_NONE;
    }
    /* generations: the URL's, then each tag's */
    if (lk->url_gen == 0 || e.url_gen != lk->url_gen) {
        lk->stale_by_generation++;
        return RP_EV_PURGED;
    }
    if (lk->pending != NULL && purge_waits(lk, &e)) {
        lk->stale_by_generation++;
        return RP_EV_PURGED;
    }
    rp_cache_note_tagged(lk->base_key, e.n_tags > 0);
    if (e.n_tags > 0
        && (ev = check_tags(lk, &e, want, validated)) != RP_EV_FRESH) {
        return ev;
    }
    lk->entry = e;
    lk->age_s = now_us > e.stored_us ? (now_us - e.stored_us) / 1000000 : 0;
    if (now_us < e.fresh_until_us) {
        return RP_EV_FRESH;
    }
    if (now_us < e.fresh_until_us + e.grace_us) {
        return RP_EV_STALE;
    }
    return RP_EV_EXPIRED;
}

/* The copy in lk->entry may stand in for a failed backend: within its
 * grace (this request refreshes it) or its stale-if-error. */
static void keep_fallback(rp_lookup_t *lk, int64_t now_us)
{
    const rp_entry_t *e = &lk->entry;
    int64_t window = e->grace_us > e->stale_if_error_us ? e->grace_us
                                                        : e->stale_if_error_us;

    if (e->kind == RP_ENTRY_PAGE && now_us < e->fresh_until_us + window) {
        lk->fallback = *e;
        lk->fallback_age_s = lk->age_s;
        lk->has_fallback = 1;
    }
}

int rp_cache_fallback_holds(rp_lookup_t *lk)
{
    const rp_entry_t *e = &lk->fallback;
    rp_store_item_t *items;
    uint32_t k;

    if (!lk->has_fallback) {
        return 0;
    }
    items = rp_cache_gen_items(lk->pool, lk->url_gen_key, e->tags,
                               e->n_tags, NULL);
    lk->round_trips++;
    rp_store_mget(lk->store, lk->pool, items, e->n_tags + 1);
    if (rp_cache_item_gen(&items[0]) != e->url_gen) {
        lk->has_fallback = 0;          /* purged (or cannot tell) */
        return 0;
    }
    for (k = 0; k < e->n_tags; k++) {
        if (rp_cache_item_gen(&items[k + 1]) != e->tag_gens[k]) {
            lk->has_fallback = 0;
            return 0;
        }
    }
    if (lk->pending != NULL && purge_waits(lk, e)) {
        lk->has_fallback = 0;
        return 0;
    }
    return 1;
}

int rp_cache_fallback_applies(const rp_lookup_t *lk, int status)
{
    /* a refresh within grace keeps its copy too (keep_fallback) */
    return lk->has_fallback && status >= 500;
}

/* The fill lock: the variant's when a vary index named it (a miss of one
 * variant, an attacker's made-up one included, holds up no other's
 * fill), else the page's.  Fixed by its first use. */
static const char *lock_key(rp_lookup_t *lk)
{
    if (lk->lock_key[0] == '\0') {
        const char *full = lk->variant_full != NULL ? lk->variant_full
                                                    : lk->base_full;

        rp_key_hash("rp:l:", full, strlen(full), lk->lock_key);
    }
    return lk->lock_key;
}

/* Where a filler whose backend failed says so, for a moment: the
 * others waiting on its lock let their copies stand in too. */
static const char *fail_key(rp_lookup_t *lk)
{
    if (lk->fail_key[0] == '\0') {
        const char *full = lk->variant_full != NULL ? lk->variant_full
                                                    : lk->base_full;

        rp_key_hash("rp:lf:", full, strlen(full), lk->fail_key);
    }
    return lk->fail_key;
}

static int try_lock(rp_lookup_t *lk)
{
    char born[24];
    int64_t now = lk->clock->now_us(lk->clock->baton);
    int n = snprintf(born, sizeof(born), "%lld",
                     (long long)(now > 0 ? now : 1));
    rp_st_rc_t rc;

    /* its value: when it was taken, so that a waiter can tell a lock that
     * ran out from one given back */
    rc = rp_store_add(lk->store, lock_key(lk), strlen(lock_key(lk)), born,
                      (size_t)n, lk->conf->lock_ttl_s);

    lk->round_trips++;
    if (rc == RP_ST_OK) {
        lk->holds_lock = 1;
        memcpy(lk->lock_value, born, (size_t)n);
        lk->lock_value_len = (size_t)n;
        return 1;
    }
    /* EXISTS: somebody fills it; anything else: no lock to be had */
    return rc == RP_ST_EXISTS ? 0 : -1;
}

/* Before going to the backend: make sure the URL generation exists, so
 * that a purge during the fetch moves it and the store notices. */
static void before_fetch(rp_lookup_t *lk, int64_t now_us)
{
    uint64_t g;

    if (lk->url_gen == 0
        && rp_cache_gen_ensure(lk->store, lk->pool, lk->url_gen_key, now_us,
                               &g) == RP_ST_OK) {
        lk->url_gen = g;
        lk->round_trips++;
    }
    /* a tagged answer is stored only against the tag epoch read before
     * the backend was asked: read it now if the lookup did not */
    if (!lk->tag_epoch_read) {
        const char *v;
        size_t vl;
        rp_st_rc_t rc = rp_store_get(lk->store, lk->pool,
                                     RP_CACHE_TAG_EPOCH_KEY,
                                     sizeof(RP_CACHE_TAG_EPOCH_KEY) - 1,
                                     &v, &vl);
        lk->round_trips++;
        if (rc == RP_ST_OK && rp_cache_parse_gen(v, vl, &g) == 0) {
            lk->tag_epoch = g;
            lk->tag_epoch_read = 1;
        }
        else if (rc == RP_ST_NOTFOUND) {
            lk->tag_epoch_read = 1;
        }
    }
    /* once per memcached: the tag epoch exists from then on */
    if (lk->tag_epoch == 0 && lk->tag_epoch_read
        && rp_cache_gen_ensure(lk->store, lk->pool, RP_CACHE_TAG_EPOCH_KEY,
                               now_us, &g) == RP_ST_OK) {
        lk->tag_epoch = g;
        lk->round_trips++;
    }
}

static rp_lookup_result_t miss(rp_lookup_t *lk, rp_miss_reason_t why,
                               int64_t now_us)
{
    lk->result = RP_LOOKUP_MISS;
    lk->miss_reason = why;
    if (why != RP_MISS_PASS) {
        before_fetch(lk, now_us);     /* a pass neither locks nor stores */
    }
    return lk->result;
}

/* A Vary the server set before the lookup, read once. */
static void read_extra_vary(rp_lookup_t *lk)
{
    int n;

    if (lk->extra_vary == NULL || lk->extra_names != NULL) {
        return;
    }
    n = rp_vary_parse(lk->pool, lk->extra_vary, &lk->extra_names);
    if (n < 0) {
        /* a server Vary we cannot key on: no copy is the right one */
        lk->extra_vary = NULL;
        lk->refresh = 1;
        lk->no_pass = 1;
    }
    lk->n_extra = n > 0 ? n : 0;
}

/* The shared-memory tier first: 1 when it decided (lk->result is set). */
static int ask_local(rp_lookup_t *lk, int64_t now)
{
    /* before anything is read from memcached: a purge recorded after
     * this moment is checked against whatever is filled below */
    lk->local_epoch = rp_local_epoch(lk->local);
    if (lk->refresh) {
        return 0;
    }
    switch (rp_cache_local_lookup(lk, now)) {
    case RP_LOCAL_FOUND_HIT:
        lk->from_local = 1;
        lk->result = RP_LOOKUP_HIT;
        return 1;
    case RP_LOCAL_FOUND_PASS:
        miss(lk, RP_MISS_PASS, now);
        return 1;
    default:
        memset(&lk->entry, 0, sizeof(lk->entry));
        return 0;
    }
}

/* memcached could not answer: a copy this request was revalidating is
 * not served again, so that the others do not keep it past
 * ReqPerfCacheLocalTTL. */
static rp_lookup_result_t down(rp_lookup_t *lk)
{
    if (lk->local_revalidating) {
        rp_local_drop(lk->local, lk->base_key);
    }
    lk->result = RP_LOOKUP_DOWN;
    return lk->result;
}

/* The first multi-get: the entry and the URL generation, and where the
 * page may be tagged (see rp_cache_known_untagged) the tag epoch and the
 * validated epoch.  How many it asked for; 0 when memcached could not
 * answer. */
static size_t ask_memcached(rp_lookup_t *lk, rp_store_item_t items[4])
{
    size_t n_items = rp_cache_known_untagged(lk->base_key) ? 2 : 4;

    memset(items, 0, 4 * sizeof(*items));
    items[0].key = lk->base_key;
    items[0].key_len = strlen(lk->base_key);
    items[1].key = lk->url_gen_key;
    items[1].key_len = strlen(lk->url_gen_key);
    items[2].key = RP_CACHE_TAG_EPOCH_KEY;
    items[2].key_len = sizeof(RP_CACHE_TAG_EPOCH_KEY) - 1;
    items[3].key = lk->valid_key;
    items[3].key_len = strlen(lk->valid_key);
    lk->round_trips++;
    rp_store_mget(lk->store, lk->pool, items, n_items);
    if (items[0].rc == RP_ST_DOWN || items[1].rc == RP_ST_DOWN
        || items[0].rc == RP_ST_ERROR || items[1].rc == RP_ST_ERROR) {
        return 0;
    }
    lk->url_gen = rp_cache_item_gen(&items[1]);
    if (n_items == 4) {
        lk->tag_epoch_asked = 1;
        lk->tag_epoch = rp_cache_item_gen(&items[2]);
        lk->tag_epoch_read = items[2].rc == RP_ST_OK
                             || items[2].rc == RP_ST_NOTFOUND;
    }
    return n_items;
}

/* While waiting: the entry the filler stored, if it is there now.  1 when
 * it decided (a hit, or the filler's pass marker), 0 to go on waiting. */
static int take_fill(rp_lookup_t *lk, const rp_store_item_t *entry,
                     int64_t now)
{
    rp_eval_t ev;

    /* the URL generation may have been created by the filler */
    if (lk->url_gen == 0) {
        rp_store_item_t g;
        memset(&g, 0, sizeof(g));
        g.key = lk->url_gen_key;
        g.key_len = strlen(lk->url_gen_key);
        rp_store_mget(lk->store, lk->pool, &g, 1);
        lk->url_gen = rp_cache_item_gen(&g);
    }
    ev = evaluate(lk, entry, NULL, now);
    if (ev == RP_EV_FRESH) {
        rp_cache_local_fill(lk, ev, now);
        lk->result = RP_LOOKUP_HIT;
        return 1;
    }
    memset(&lk->entry, 0, sizeof(lk->entry));
    if (ev == RP_EV_PASS) {
        /* the filler found it uncacheable: no point waiting */
        miss(lk, RP_MISS_PASS, now);
        return 1;
    }
    return 0;
}

/* The copy that may stand in for a failed backend, served: the fill it
 * waited for failed (RP_STALE_ERROR) or did not come (RP_STALE_TIMEOUT). */
static rp_lookup_result_t stand_in(rp_lookup_t *lk, rp_stale_reason_t why)
{
    lk->entry = lk->fallback;
    lk->age_s = lk->fallback_age_s;
    lk->stale_reason = why;
    lk->result = RP_LOOKUP_STALE;
    return lk->result;
}

static int same_value(const rp_store_item_t *it, const char *v, size_t len)
{
    return it->value_len == len && memcmp(it->value, v, len) == 0;
}

/* Another request is filling the entry: poll for it a bounded time, take
 * the lock if the filler gives up, and when the wait runs out serve the
 * copy that may stand in for a failed backend, or go to the backend. */
static rp_lookup_result_t wait_for_fill(rp_lookup_t *lk,
                                        rp_miss_reason_t why, int64_t now)
{
    int64_t wait_start = now, deadline = now + lk->conf->lock_wait_us;
    int64_t pause = POLL_FIRST_US, slept = 0, lock_born = 0;
    char seen[24];                     /* the lock value last seen */
    size_t seen_len = 0;

    lk->waited = 1;
    for (;;) {
        rp_store_item_t poll[3];

        lk->clock->sleep_us(lk->clock->baton, pause);
        slept += pause;
        /* each poll is a run of its own (rp_mc_limit): the wait is
         * bounded by ReqPerfCacheLock, not by memcached's budget */
        rp_store_rest(lk->store);
        now = lk->clock->now_us(lk->clock->baton);
        lk->waited_us = now - wait_start;  /* every way out is below */
        pause = pause * 2 > POLL_MAX_US ? POLL_MAX_US : pause * 2;
        /* the lock first: the filler stores the entry, then deletes the
         * lock, so if the lock is gone when read, the entry read after
         * it is there (when it was stored at all) */
        memset(poll, 0, sizeof(poll));
        poll[0].key = lock_key(lk);
        poll[0].key_len = strlen(lock_key(lk));
        poll[1].key = lk->base_key;
        poll[1].key_len = strlen(lk->base_key);
        poll[2].key = fail_key(lk);
        poll[2].key_len = strlen(fail_key(lk));
        lk->round_trips++;
        /* the failure mark only matters to a copy that may stand in */
        poll[2].rc = RP_ST_NOTFOUND;
        rp_store_mget(lk->store, lk->pool, poll, lk->has_fallback ? 3 : 2);
        if (poll[1].rc == RP_ST_DOWN || poll[1].rc == RP_ST_ERROR) {
            lk->result = RP_LOOKUP_DOWN;
            return lk->result;
        }
        if (poll[1].rc != RP_ST_OK && poll[0].rc == RP_ST_NOTFOUND) {
            /* the two keys may live on different servers: read the entry
             * once more now that the lock is known to be gone */
            rp_store_mget(lk->store, lk->pool, &poll[1], 1);
        }
        if (poll[1].rc == RP_ST_OK && take_fill(lk, &poll[1], now)) {
            return lk->result;
        }
        if (poll[0].rc == RP_ST_OK
            && (poll[0].value_len != seen_len
                || memcmp(poll[0].value, seen, seen_len) != 0)) {
            /* a lock not seen before: its value is when it was taken, on
             * the clock of the server that took it.  Believed only where
             * this server's clock agrees (born no later than now, and no
             * earlier than a lock lives); else it is at least as old as
             * this sighting */
            uint64_t t;

            lock_born = 0;
            seen_len = 0;
            if (rp_cache_parse_gen(poll[0].value, poll[0].value_len, &t) == 0
                && t > LOCK_BORN_MIN_US && t <= (uint64_t)INT64_MAX
                && poll[0].value_len <= sizeof(seen)) {
                lock_born = (int64_t)t;
                if (lock_born > now
                    || now - lock_born > (lk->conf->lock_ttl_s + 1)
                                         * 1000000LL) {
                    lock_born = now;
                }
                memcpy(seen, poll[0].value, poll[0].value_len);
                seen_len = poll[0].value_len;
            }
        }
        /* the filler's backend failed and its copy stood in (it says so
         * under rp:lf: for a moment, the mark holding its lock's value):
         * ours does too, rather than one more fetch from a failing
         * backend; a mark beside another lock is an earlier fill's; a
         * copy purged meanwhile stands in for nothing */
        if (poll[2].rc == RP_ST_OK && lk->has_fallback
            && (poll[0].rc == RP_ST_OK
                ? same_value(&poll[0], poll[2].value, poll[2].value_len)
                /* the lock gone: the mark of the one last seen, if any */
                : poll[0].rc == RP_ST_NOTFOUND
                  && (seen_len == 0
                      || same_value(&poll[2], seen, seen_len)))
            && rp_cache_fallback_holds(lk)) {
            return stand_in(lk, RP_STALE_ERROR);
        }
        if (poll[0].rc == RP_ST_NOTFOUND) {
            /* the lock is gone without a page.  Run out while its backend
             * hangs (a lock lives lock_ttl_s; memcached counts whole
             * seconds): never join that fill when a copy may stand in.
             * Given back (an answer not stored): our turn? */
            if (lock_born > 0
                && now - lock_born >= (lk->conf->lock_ttl_s - 1) * 1000000LL
                && lk->has_fallback && rp_cache_fallback_holds(lk)) {
                return stand_in(lk, RP_STALE_TIMEOUT);
            }
            if (try_lock(lk) != 0) {
                return miss(lk, why, now);
            }
        }
        /* (the pauses alone bound it too: a wall clock set back while
         * waiting would otherwise keep this request here that long) */
        if (now >= deadline || slept >= lk->conf->lock_wait_us) {
            break;
        }
    }
    if (lk->has_fallback && rp_cache_fallback_holds(lk)) {
        /* the filler is slow or gone: the copy that may stand in for a
         * failed backend does, rather than one more fetch */
        return stand_in(lk, RP_STALE_TIMEOUT);
    }
    return miss(lk, RP_MISS_LOCK_TIMEOUT, now);
}

/* What memcached's answer, judged, makes of the request. */
static rp_lookup_result_t act_on(rp_lookup_t *lk, rp_eval_t ev, int64_t now)
{
    rp_miss_reason_t why;

    switch (ev) {
    case RP_EV_FRESH:
        lk->result = RP_LOOKUP_HIT;
        return lk->result;
    case RP_EV_DOWN:
        return down(lk);
    case RP_EV_PASS:
        memset(&lk->entry, 0, sizeof(lk->entry));
        return miss(lk, RP_MISS_PASS, now);
    case RP_EV_STALE:
        /* one request refreshes, the others get the stale copy at once */
        if (lk->no_lock || try_lock(lk) == 0) {
            lk->stale_reason = RP_STALE_GRACE;
            lk->result = RP_LOOKUP_STALE;
            return lk->result;
        }
        keep_fallback(lk, now);
        return miss(lk, RP_MISS_EXPIRED, now);
    case RP_EV_EXPIRED:
        why = RP_MISS_EXPIRED;
        keep_fallback(lk, now);
        break;
    case RP_EV_PURGED:
        why = RP_MISS_PURGED;
        break;
    default:
        why = lk->invalid_entries ? RP_MISS_INVALID : RP_MISS_ABSENT;
        break;
    }
    memset(&lk->entry, 0, sizeof(lk->entry));
    if (!lk->conf->lock || lk->no_lock || try_lock(lk) != 0) {
        return miss(lk, why, now);     /* no lock; ours; or none to be had */
    }
    return wait_for_fill(lk, why, now);
}

rp_lookup_result_t rp_cache_lookup(rp_lookup_t *lk)
{
    rp_store_item_t items[4];
    size_t n_items;
    int64_t now = lk->clock->now_us(lk->clock->baton);
    rp_eval_t ev;

    read_extra_vary(lk);
    if (lk->local != NULL && ask_local(lk, now)) {
        return lk->result;
    }
    n_items = ask_memcached(lk, items);
    if (n_items == 0) {
        return down(lk);
    }
    if (lk->refresh) {
        return miss(lk, RP_MISS_REFRESH, now);
    }
    ev = evaluate(lk, &items[0], n_items == 4 ? &items[3] : NULL, now);
    rp_cache_local_fill(lk, ev, now);
    return act_on(lk, ev, now);
}

void rp_cache_release_failed(rp_lookup_t *lk)
{
    if (lk->holds_lock) {
        /* the lock's value: a waiter tells this fill's mark from one an
         * earlier fill left beside a newer lock */
        (void)rp_store_set(lk->store, fail_key(lk), strlen(fail_key(lk)),
                           lk->lock_value, lk->lock_value_len,
                           FAIL_MARK_TTL_S);
    }
    rp_cache_release(lk);
}

void rp_cache_release(rp_lookup_t *lk)
{
    if (lk->holds_lock) {
        lk->holds_lock = 0;
        rp_store_del(lk->store, lock_key(lk), strlen(lock_key(lk)));
    }
}
