/*
 * rp_cache.c: see rp_cache.h for the design.
 */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

#include "rp_cache.h"
#include "rp_local.h"
#include "rp_util.h"

#define POLL_FIRST_US 10000
#define POLL_MAX_US 100000

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

int rp_cache_parse_gen(const char *v, size_t len, uint64_t *out)
{
    uint64_t g = 0;
    size_t i = 0;

    if (v == NULL || len == 0) {
        return -1;
    }
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(v[i] - '0');
        if (g > (UINT64_MAX - d) / 10) {
            return -1;
        }
        g = g * 10 + d;
    }
    if (i == 0) {
        return -1;
    }
    /* memcached pads an incremented value that got shorter with spaces */
    for (; i < len; i++) {
        if (v[i] != ' ' && v[i] != '\r' && v[i] != '\n') {
            return -1;
        }
    }
    *out = g;
    return 0;
}

static void gen_key(char out[RP_KEY_HASH_MAX], const char *prefix,
                    const char *name)
{
    rp_key_hash(prefix, name, strlen(name), out);
}

/* The generation under key, created (at the current time in µs, so that
 * it never repeats an evicted one) when missing. */
static rp_st_rc_t gen_ensure(rp_store_t *s, apr_pool_t *p, const char *key,
                             int64_t now_us, uint64_t *gen)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)now_us);
    const char *v;
    size_t vl;
    rp_st_rc_t rc;
    int tries;

    for (tries = 0; tries < 3; tries++) {
        rc = rp_store_add(s, key, strlen(key), buf, (size_t)n, 0);
        if (rc == RP_ST_OK) {
            *gen = (uint64_t)now_us;
            return RP_ST_OK;
        }
        if (rc != RP_ST_EXISTS) {
            return rc;
        }
        rc = rp_store_get(s, p, key, strlen(key), &v, &vl);
        if (rc == RP_ST_OK) {
            return rp_cache_parse_gen(v, vl, gen) == 0 ? RP_ST_OK
                                                       : RP_ST_ERROR;
        }
        if (rc != RP_ST_NOTFOUND) {
            return rc;
        }
        /* evicted between add and get: try again */
    }
    return RP_ST_ERROR;
}

/* Move a generation on: every entry stored under the old one is dead. */
static rp_st_rc_t gen_bump(rp_store_t *s, apr_pool_t *p, const char *key,
                           int64_t now_us)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)now_us);
    uint64_t v;
    rp_st_rc_t rc;
    int tries;

    (void)p;
    for (tries = 0; tries < 4; tries++) {
        rc = rp_store_incr(s, key, strlen(key), 1, &v);
        if (rc != RP_ST_NOTFOUND) {
            return rc;
        }
        /* missing: create it with a value no entry can hold.  If someone
         * created it meanwhile (a store adopting a fresh generation), it
         * must still move on: go round and increment it. */
        rc = rp_store_add(s, key, strlen(key), buf, (size_t)n, 0);
        if (rc == RP_ST_OK) {
            return RP_ST_OK;
        }
        if (rc != RP_ST_EXISTS) {
            return rc;
        }
    }
    return RP_ST_ERROR;
}

static uint64_t item_gen(const rp_store_item_t *it)
{
    uint64_t g;

    if (it->rc != RP_ST_OK
        || rp_cache_parse_gen(it->value, it->value_len, &g) != 0) {
        return 0;
    }
    return g;
}

/* ---- which pages carry no tags: a hint, per process ------------------
 *
 * An untagged page needs neither the tag epoch nor its "validated" key,
 * so a hit on it asks memcached for two keys (entry and URL generation)
 * instead of four.  Whether a page is tagged is only known from its
 * entry, so each process remembers, per base key (a bit in a table
 * indexed by a hash of the key), that it last found the page untagged.
 * The bit only decides which keys the first multi-get asks for: when it
 * is wrong (the page has become tagged, or another key shares the bit)
 * the tags are checked exactly as before, one round trip later; it never
 * lets a tag go unchecked.  Relaxed atomics: a lost update costs a round
 * trip, nothing else. */
#define UNTAGGED_HINT_BYTES 8192           /* 65,536 bits: 8 KB a process */
static unsigned char untagged_hint[UNTAGGED_HINT_BYTES];

static uint32_t hint_bit(const char *key)
{
    uint32_t h = 2166136261u;              /* FNV-1a over the hashed key */

    for (; *key; key++) {
        h = (h ^ (unsigned char)*key) * 16777619u;
    }
    return h % (UNTAGGED_HINT_BYTES * 8);
}

static int known_untagged(const char *key)
{
    uint32_t b = hint_bit(key);

    return (__atomic_load_n(&untagged_hint[b / 8], __ATOMIC_RELAXED)
            >> (b % 8)) & 1;
}

static void note_tagged(const char *key, int tagged)
{
    uint32_t b = hint_bit(key);
    unsigned char m = (unsigned char)(1u << (b % 8));

    if (((known_untagged(key) != 0) == (tagged == 0))) {
        return;                            /* already says so: no write */
    }
    if (tagged) {
        __atomic_fetch_and(&untagged_hint[b / 8], (unsigned char)~m,
                           __ATOMIC_RELAXED);
    }
    else {
        __atomic_fetch_or(&untagged_hint[b / 8], m, __ATOMIC_RELAXED);
    }
}

void rp_cache_hints_reset(void)
{
    memset(untagged_hint, 0, sizeof(untagged_hint));
}

/* Read the tag epoch and the validated epoch under vkey in one multi-get
 * (out[0], out[1]): for a tagged entry the hint had said was not.  -1 if
 * memcached could not tell. */
static int read_tag_epoch(rp_lookup_t *lk, const char *vkey,
                          rp_store_item_t out[2])
{
    memset(out, 0, 2 * sizeof(*out));
    lk->tag_epoch_asked = 1;
    out[0].key = RP_CACHE_TAG_EPOCH_KEY;
    out[0].key_len = sizeof(RP_CACHE_TAG_EPOCH_KEY) - 1;
    out[1].key = vkey;
    out[1].key_len = strlen(vkey);
    lk->round_trips++;
    rp_store_mget(lk->store, lk->pool, out, 2);
    if (out[0].rc != RP_ST_OK && out[0].rc != RP_ST_NOTFOUND) {
        return -1;
    }
    lk->tag_epoch = item_gen(&out[0]);
    lk->tag_epoch_read = 1;
    return 0;
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
    rp_key_hash("rp:e:", base_full, strlen(base_full), lk->base_key);
    rp_key_hash("rp:v:", base_full, strlen(base_full), lk->valid_key);
    gen_key(lk->url_gen_key, "rp:u:", url);
    /* the lock key is only needed on a miss: hashed then (lock_key()) */
}

/* The full key of the variant a request wants, given the header names a
 * vary index lists; NULL if it cannot be built. */
static const char *variant_full(rp_lookup_t *lk, const rp_header_t *names,
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

/* The names an index lists, as a Vary value (to grow it at store time). */
static const char *index_vary(apr_pool_t *p, const rp_entry_t *idx)
{
    const char *out = "";
    uint32_t i;

    for (i = 0; i < idx->n_headers; i++) {
        out = apr_pstrcat(p, out, i ? ", " : "", idx->headers[i].name, NULL);
    }
    return out;
}

typedef enum {
    EV_NONE = 0,                       /* nothing usable */
    EV_FRESH,
    EV_STALE,                          /* within grace */
    EV_EXPIRED,
    EV_PURGED,
    EV_PASS,                           /* known not cacheable, for now */
    EV_DOWN
} eval_t;

/* Decide about the bytes found under the base key (following a vary
 * index to the variant).  Fills lk->entry when the result is usable. */
static eval_t evaluate(rp_lookup_t *lk, const rp_store_item_t *it,
                       const rp_store_item_t *validated, int64_t now_us)
{
    rp_entry_t e;
    const char *want = lk->base_full;
    const char *val = it->value;
    size_t vlen = it->value_len;
    unsigned k;

    if (it->rc == RP_ST_DOWN) {
        return EV_DOWN;
    }
    if (it->rc != RP_ST_OK) {
        return EV_NONE;
    }
    lk->base_raw = val;
    lk->base_raw_len = vlen;
    lk->variant_raw = NULL;
    if (rp_entry_decode(val, vlen, lk->pool, &e) != RP_ENTRY_OK
        || e.key_len != strlen(want) || memcmp(e.key, want, e.key_len) != 0) {
        lk->invalid_entries++;
        return EV_NONE;
    }
    if (e.kind == RP_ENTRY_PASS) {
        /* a purge of the URL also ends a pass */
        if (lk->url_gen != 0 && e.url_gen == lk->url_gen
            && now_us < e.fresh_until_us) {
            return EV_PASS;
        }
        return EV_NONE;
    }
    if (e.kind == RP_ENTRY_PAGE && lk->n_extra > 0) {
        return EV_NONE;     /* it did not vary on what the server now does */
    }
    if (e.kind == RP_ENTRY_VARY_INDEX) {
        char vkey[RP_KEY_HASH_MAX];
        rp_st_rc_t rc;

        lk->index_vary = index_vary(lk->pool, &e);
        want = variant_full(lk, e.headers, (int)e.n_headers);
        if (want == NULL) {
            return EV_NONE;
        }
        /* the variant and its "validated" epoch, in one round trip */
        rp_key_hash("rp:e:", want, strlen(want), vkey);
        rp_key_hash("rp:v:", want, strlen(want), lk->variant_valid_key);
        memset(lk->variant_items, 0, sizeof(lk->variant_items));
        lk->variant_items[0].key = vkey;
        lk->variant_items[0].key_len = strlen(vkey);
        lk->variant_items[1].key = lk->variant_valid_key;
        lk->variant_items[1].key_len = strlen(lk->variant_valid_key);
        lk->round_trips++;
        rp_store_mget(lk->store, lk->pool, lk->variant_items, 2);
        rc = lk->variant_items[0].rc;
        if (rc == RP_ST_DOWN || rc == RP_ST_ERROR) {
            return EV_DOWN;
        }
        if (rc != RP_ST_OK) {
            return EV_NONE;
        }
        val = lk->variant_items[0].value;
        vlen = lk->variant_items[0].value_len;
        validated = &lk->variant_items[1];
        memcpy(lk->variant_key, vkey, sizeof(lk->variant_key));
        lk->variant_raw = val;
        lk->variant_raw_len = vlen;
        if (rp_entry_decode(val, vlen, lk->pool, &e) != RP_ENTRY_OK
            || e.kind != RP_ENTRY_PAGE || e.key_len != strlen(want)
            || memcmp(e.key, want, e.key_len) != 0) {
            lk->invalid_entries++;
            return EV_NONE;
        }
    }
    if (e.kind != RP_ENTRY_PAGE) {
        lk->invalid_entries++;
        return EV_NONE;
    }
    /* generations: the URL's, then each tag's */
    if (lk->url_gen == 0 || e.url_gen != lk->url_gen) {
        lk->stale_by_generation++;
        return EV_PURGED;
    }
    note_tagged(lk->base_key, e.n_tags > 0);
    if (e.n_tags > 0 && !lk->tag_epoch_asked) {
        /* the hint had it untagged: the epochs now, one round trip more
         * (if memcached cannot say, the tags themselves are read below) */
        rp_store_item_t *ep = apr_palloc(lk->pool, 2 * sizeof(*ep));
        validated = read_tag_epoch(lk, validated == &lk->variant_items[1]
                                       ? lk->variant_valid_key
                                       : lk->valid_key, ep) == 0
                    ? &ep[1] : NULL;
    }
    if (e.n_tags > 0 && validated != NULL && lk->tag_epoch != 0
        && item_gen(validated) == lk->tag_epoch) {
        /* no tag purge anywhere since these tags were last checked */
    }
    else if (e.n_tags > 0) {
        char vkey[RP_KEY_HASH_MAX];
        char ebuf[32];
        int n;
        rp_store_item_t *tags = apr_pcalloc(lk->pool,
                                            sizeof(*tags) * e.n_tags);
        char (*keys)[RP_KEY_HASH_MAX] = apr_palloc(lk->pool,
                                                   RP_KEY_HASH_MAX
                                                   * (size_t)e.n_tags);
        for (k = 0; k < e.n_tags; k++) {
            gen_key(keys[k], "rp:t:", e.tags[k]);
            tags[k].key = keys[k];
            tags[k].key_len = strlen(keys[k]);
        }
        lk->round_trips++;
        rp_store_mget(lk->store, lk->pool, tags, e.n_tags);
        for (k = 0; k < e.n_tags; k++) {
            if (tags[k].rc == RP_ST_DOWN || tags[k].rc == RP_ST_ERROR) {
                return EV_DOWN;        /* cannot tell: never serve blind */
            }
            if (item_gen(&tags[k]) != e.tag_gens[k]) {
                lk->stale_by_generation++;
                return EV_PURGED;
            }
        }
        /* the tags held at the epoch read before them: until the next tag
         * purge, a hit needs no second round trip */
        if (lk->tag_epoch != 0) {
            rp_key_hash("rp:v:", want, strlen(want), vkey);
            n = snprintf(ebuf, sizeof(ebuf), "%llu",
                         (unsigned long long)lk->tag_epoch);
            lk->round_trips++;
            rp_store_set(lk->store, vkey, strlen(vkey), ebuf, (size_t)n,
                         (uint32_t)RP_CACHE_MAX_TTL_S);
        }
    }
    lk->entry = e;
    lk->age_s = now_us > e.stored_us ? (now_us - e.stored_us) / 1000000 : 0;
    if (now_us < e.fresh_until_us) {
        return EV_FRESH;
    }
    if (now_us < e.fresh_until_us + e.grace_us) {
        return EV_STALE;
    }
    return EV_EXPIRED;
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

static const char *lock_key(rp_lookup_t *lk)
{
    if (lk->lock_key[0] == '\0') {
        rp_key_hash("rp:l:", lk->base_full, strlen(lk->base_full),
                    lk->lock_key);
    }
    return lk->lock_key;
}

static int try_lock(rp_lookup_t *lk)
{
    rp_st_rc_t rc = rp_store_add(lk->store, lock_key(lk),
                                 strlen(lock_key(lk)), "1", 1,
                                 lk->conf->lock_ttl_s);

    lk->round_trips++;
    if (rc == RP_ST_OK) {
        lk->holds_lock = 1;
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
        && gen_ensure(lk->store, lk->pool, lk->url_gen_key, now_us, &g)
           == RP_ST_OK) {
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
        && gen_ensure(lk->store, lk->pool, RP_CACHE_TAG_EPOCH_KEY, now_us, &g)
           == RP_ST_OK) {
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

/* ---- the shared-memory tier ------------------------------------------- */

typedef enum { LOCAL_NONE = 0, LOCAL_HIT, LOCAL_PASS } local_t;

static void local_put(rp_lookup_t *lk, const char *key, const char *val,
                      size_t len, int64_t now_us)
{
    if (lk->local != NULL && val != NULL) {
        rp_local_put(lk->local, key, val, len, lk->local_epoch, now_us,
                     &lk->local_evictions);
    }
}

/* After memcached answered: keep what it gave, forget what it did not. */
static void local_fill(rp_lookup_t *lk, eval_t ev, int64_t now_us)
{
    if (lk->local == NULL) {
        return;
    }
    if (ev == EV_FRESH || ev == EV_PASS) {
        local_put(lk, lk->base_key, lk->base_raw, lk->base_raw_len, now_us);
        if (lk->variant_raw != NULL) {
            local_put(lk, lk->variant_key, lk->variant_raw,
                      lk->variant_raw_len, now_us);
        }
    }
    else if (lk->local_seen) {
        rp_local_drop(lk->local, lk->base_key);
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

static local_t local_lookup(rp_lookup_t *lk, int64_t now_us)
{
    rp_local_meta_t meta;
    const char *val, *want = lk->base_full;
    size_t len;
    rp_entry_t e;

    if (!rp_local_get_entry(lk->local, lk->base_key, lk->pool, &val, &len, &meta)) {
        return LOCAL_NONE;
    }
    lk->local_seen = 1;
    if (rp_entry_decode(val, len, lk->pool, &e) != RP_ENTRY_OK
        || e.key_len != strlen(want) || memcmp(e.key, want, e.key_len) != 0) {
        lk->invalid_entries++;
        rp_local_drop(lk->local, lk->base_key);
        return LOCAL_NONE;
    }
    if (e.kind == RP_ENTRY_PASS) {
        if (now_us >= e.fresh_until_us || local_purged(lk, &e, meta.epoch)) {
            return LOCAL_NONE;
        }
        /* a purge elsewhere ends a pass too: recheck it like a page */
        if (now_us - meta.filled_us >= lk->local_ttl_us
            && rp_local_try_revalidate(lk->local, &meta, now_us)) {
            lk->local_revalidating = 1;
            return LOCAL_NONE;
        }
        /* the generation it was marked under: what a store after this
         * miss is checked against (a purge since then refuses it) */
        lk->url_gen = e.url_gen;
        return LOCAL_PASS;
    }
    if (e.kind == RP_ENTRY_PAGE && lk->n_extra > 0) {
        return LOCAL_NONE;
    }
    if (e.kind == RP_ENTRY_VARY_INDEX) {
        char vkey[RP_KEY_HASH_MAX];

        lk->index_vary = index_vary(lk->pool, &e);
        if (meta.old) {
            /* the index is as hot as its variants: keep it too */
            rp_local_put(lk->local, lk->base_key, val, len, meta.epoch,
                         meta.filled_us, &lk->local_evictions);
        }
        want = variant_full(lk, e.headers, (int)e.n_headers);
        if (want == NULL) {
            return LOCAL_NONE;
        }
        rp_key_hash("rp:e:", want, strlen(want), vkey);
        if (!rp_local_get_entry(lk->local, vkey, lk->pool, &val, &len, &meta)) {
            return LOCAL_NONE;
        }
        if (rp_entry_decode(val, len, lk->pool, &e) != RP_ENTRY_OK
            || e.kind != RP_ENTRY_PAGE || e.key_len != strlen(want)
            || memcmp(e.key, want, e.key_len) != 0) {
            lk->invalid_entries++;
            return LOCAL_NONE;
        }
        memcpy(lk->variant_key, vkey, sizeof(vkey));
    }
    if (e.kind != RP_ENTRY_PAGE || now_us >= e.fresh_until_us
        || local_purged(lk, &e, meta.epoch)) {
        return LOCAL_NONE;             /* memcached decides */
    }
    if (now_us - meta.filled_us >= lk->local_ttl_us) {
        /* old copy: one request asks memcached, the others serve it */
        if (rp_local_try_revalidate(lk->local, &meta, now_us)) {
            lk->local_revalidating = 1;
            return LOCAL_NONE;
        }
    }
    lk->entry = e;
    lk->age_s = now_us > e.stored_us ? (now_us - e.stored_us) / 1000000 : 0;
    if (meta.old) {
        /* about to be overwritten, and used: keep it (CLOCK-like) */
        rp_local_put(lk->local, e.kind == RP_ENTRY_PAGE && want != lk->base_full
                                ? lk->variant_key : lk->base_key,
                     val, len, meta.epoch, meta.filled_us,
                     &lk->local_evictions);
    }
    return LOCAL_HIT;
}

rp_lookup_result_t rp_cache_lookup(rp_lookup_t *lk)
{
    rp_store_item_t items[4];
    size_t n_items;
    int64_t now = lk->clock->now_us(lk->clock->baton), deadline, pause,
            wait_start;
    eval_t ev;
    rp_miss_reason_t why;
    int got;

    if (lk->extra_vary != NULL && lk->extra_names == NULL) {
        int n = rp_vary_parse(lk->pool, lk->extra_vary, &lk->extra_names);
        if (n < 0) {
            /* a server Vary we cannot key on: no copy is the right one */
            lk->extra_vary = NULL;
            lk->refresh = 1;
            lk->no_pass = 1;
        }
        lk->n_extra = n > 0 ? n : 0;
    }

    if (lk->local != NULL) {
        /* before anything is read from memcached: a purge recorded after
         * this moment is checked against whatever is filled below */
        lk->local_epoch = rp_local_epoch(lk->local);
        if (!lk->refresh) {
            switch (local_lookup(lk, now)) {
            case LOCAL_HIT:
                lk->from_local = 1;
                lk->result = RP_LOOKUP_HIT;
                return lk->result;
            case LOCAL_PASS:
                return miss(lk, RP_MISS_PASS, now);
            default:
                memset(&lk->entry, 0, sizeof(lk->entry));
                break;
            }
        }
    }
    memset(items, 0, sizeof(items));
    items[0].key = lk->base_key;
    items[0].key_len = strlen(lk->base_key);
    items[1].key = lk->url_gen_key;
    items[1].key_len = strlen(lk->url_gen_key);
    /* the tag epoch and the validated epoch only where the page may be
     * tagged (see untagged_hint) */
    n_items = known_untagged(lk->base_key) ? 2 : 4;
    items[2].key = RP_CACHE_TAG_EPOCH_KEY;
    items[2].key_len = sizeof(RP_CACHE_TAG_EPOCH_KEY) - 1;
    items[3].key = lk->valid_key;
    items[3].key_len = strlen(lk->valid_key);
    lk->round_trips++;
    rp_store_mget(lk->store, lk->pool, items, n_items);
    if (items[0].rc == RP_ST_DOWN || items[1].rc == RP_ST_DOWN
        || items[0].rc == RP_ST_ERROR || items[1].rc == RP_ST_ERROR) {
        /* a copy that could not be revalidated is not served again: the
         * others must not keep it past ReqPerfCacheLocalTTL */
        if (lk->local_revalidating) {
            rp_local_drop(lk->local, lk->base_key);
        }
        lk->result = RP_LOOKUP_DOWN;
        return lk->result;
    }
    lk->url_gen = item_gen(&items[1]);
    if (n_items == 4) {
        lk->tag_epoch_asked = 1;
        lk->tag_epoch = item_gen(&items[2]);
        lk->tag_epoch_read = items[2].rc == RP_ST_OK
                             || items[2].rc == RP_ST_NOTFOUND;
    }

    if (lk->refresh) {
        return miss(lk, RP_MISS_REFRESH, now);
    }
    ev = evaluate(lk, &items[0], n_items == 4 ? &items[3] : NULL, now);
    local_fill(lk, ev, now);
    switch (ev) {
    case EV_FRESH:
        lk->result = RP_LOOKUP_HIT;
        return lk->result;
    case EV_DOWN:
        if (lk->local_revalidating) {
            rp_local_drop(lk->local, lk->base_key);
        }
        lk->result = RP_LOOKUP_DOWN;
        return lk->result;
    case EV_PASS:
        memset(&lk->entry, 0, sizeof(lk->entry));
        return miss(lk, RP_MISS_PASS, now);
    case EV_STALE:
        /* one request refreshes, the others get the stale copy at once */
        if (lk->no_lock || try_lock(lk) == 0) {
            lk->stale_reason = RP_STALE_GRACE;
            lk->result = RP_LOOKUP_STALE;
            return lk->result;
        }
        lk->refreshing_stale = 1;
        keep_fallback(lk, now);
        return miss(lk, RP_MISS_EXPIRED, now);
    case EV_EXPIRED:
        why = RP_MISS_EXPIRED;
        keep_fallback(lk, now);
        break;
    case EV_PURGED:
        why = RP_MISS_PURGED;
        break;
    default:
        why = lk->invalid_entries ? RP_MISS_INVALID : RP_MISS_ABSENT;
        break;
    }
    memset(&lk->entry, 0, sizeof(lk->entry));
    if (!lk->conf->lock || lk->no_lock) {
        return miss(lk, why, now);
    }
    got = try_lock(lk);
    if (got != 0) {
        return miss(lk, why, now);     /* ours, or no lock to be had */
    }

    /* another request is filling it: wait a bounded time */
    lk->waited = 1;
    wait_start = now;
    deadline = now + lk->conf->lock_wait_us;
    pause = POLL_FIRST_US;
    for (;;) {
        rp_store_item_t poll[2];

        lk->clock->sleep_us(lk->clock->baton, pause);
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
        lk->round_trips++;
        rp_store_mget(lk->store, lk->pool, poll, 2);
        if (poll[1].rc == RP_ST_DOWN || poll[1].rc == RP_ST_ERROR) {
            lk->result = RP_LOOKUP_DOWN;
            return lk->result;
        }
        if (poll[1].rc != RP_ST_OK && poll[0].rc == RP_ST_NOTFOUND) {
            /* the two keys may live on different servers: read the entry
             * once more now that the lock is known to be gone */
            rp_store_mget(lk->store, lk->pool, &poll[1], 1);
        }
        if (poll[1].rc == RP_ST_OK) {
            /* the URL generation may have been created by the filler */
            if (lk->url_gen == 0) {
                rp_store_item_t g;
                memset(&g, 0, sizeof(g));
                g.key = lk->url_gen_key;
                g.key_len = strlen(lk->url_gen_key);
                rp_store_mget(lk->store, lk->pool, &g, 1);
                lk->url_gen = item_gen(&g);
            }
            ev = evaluate(lk, &poll[1], NULL, now);
            if (ev == EV_FRESH) {
                local_fill(lk, ev, now);
                lk->result = RP_LOOKUP_HIT;
                return lk->result;
            }
            memset(&lk->entry, 0, sizeof(lk->entry));
            if (ev == EV_PASS) {
                /* the filler found it uncacheable: no point waiting */
                return miss(lk, RP_MISS_PASS, now);
            }
        }
        if (poll[0].rc == RP_ST_NOTFOUND) {
            /* the filler gave up (error, not cacheable): our turn? */
            got = try_lock(lk);
            if (got != 0) {
                return miss(lk, why, now);
            }
        }
        if (now >= deadline) {
            if (lk->has_fallback) {
                /* the filler is slow or gone: the copy that may stand in
                 * for a failed backend does, rather than one more fetch */
                lk->entry = lk->fallback;
                lk->age_s = lk->fallback_age_s;
                lk->stale_reason = RP_STALE_TIMEOUT;
                lk->result = RP_LOOKUP_STALE;
                return lk->result;
            }
            return miss(lk, RP_MISS_LOCK_TIMEOUT, now);
        }
    }
}

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
            local_put(lk, lk->base_key, bytes, len, now);
        }
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
        j->full = variant_full(lk, j->names, j->n_vary);
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
        gen_key(keys[k], "rp:t:", tags[k]);
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
    gen = item_gen(&items[0]);
    if (lk->url_gen == 0 || gen != lk->url_gen) {
        *why = "url purged during fetch";
        rp_cache_release(lk);
        return RP_STORE_PURGED_DURING_FETCH;
    }
    if (n_tags > 0 && (!lk->tag_epoch_read
                       || item_gen(&items[1]) != lk->tag_epoch)) {
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
            uint64_t tg = item_gen(&items[k + 2]);
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
        note_tagged(lk->base_key, n_tags > 0);
        local_put(lk, full_key, bytes, len, now);
        if (n_vary > 0) {
            local_put(lk, lk->base_key, lk->index_raw, lk->index_raw_len,
                      now);
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

rp_st_rc_t rp_cache_purge_url(rp_store_t *s, apr_pool_t *p,
                              rp_local_t *local, const char *url,
                              int64_t now_us)
{
    char key[RP_KEY_HASH_MAX];
    rp_st_rc_t rc;

    gen_key(key, "rp:u:", url);
    rc = gen_bump(s, p, key, now_us);
    /* this server's copies go at once, whatever memcached said; recorded
     * after the bump, so a copy read from memcached before the bump
     * carries an epoch older than this record */
    if (local != NULL) {
        rp_local_record_purge(local, rp_local_hash("u:", url));
    }
    return rc;
}

rp_st_rc_t rp_cache_purge_tag(rp_store_t *s, apr_pool_t *p,
                              rp_local_t *local, const char *tag,
                              int64_t now_us)
{
    char key[RP_KEY_HASH_MAX];
    rp_st_rc_t rc;

    gen_key(key, "rp:t:", tag);
    rc = gen_bump(s, p, key, now_us);
    if (rc == RP_ST_OK) {
        /* lets a store in flight notice that some tag moved on */
        rc = gen_bump(s, p, RP_CACHE_TAG_EPOCH_KEY, now_us);
    }
    if (local != NULL) {
        rp_local_record_purge(local, rp_local_hash("t:", tag));
    }
    return rc;
}
