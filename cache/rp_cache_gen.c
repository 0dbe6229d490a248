/*
 * rp_cache_gen.c: generations and epochs (rp_cache.h: "Invalidation
 * without scanning memcached"), the per-process hint of which pages carry
 * no tags, and the purges that move the generations on.
 */
#include <stdio.h>
#include <string.h>

#include "rp_cache_int.h"
#include "rp_local.h"
#include "rp_util.h"

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

void rp_cache_gen_key(char out[RP_KEY_HASH_MAX], const char *prefix,
                      const char *name)
{
    rp_key_hash(prefix, name, strlen(name), out);
}

rp_store_item_t *rp_cache_gen_items(apr_pool_t *p, const char *url_gen_key,
                                    const char *const *tags, unsigned n_tags,
                                    char (**keys)[RP_KEY_HASH_MAX])
{
    unsigned first = url_gen_key != NULL, k;
    rp_store_item_t *items = apr_pcalloc(p, sizeof(*items)
                                            * (size_t)(n_tags + first));
    char (*tk)[RP_KEY_HASH_MAX] = apr_palloc(p, RP_KEY_HASH_MAX
                                                * (size_t)(n_tags + 1));

    if (first) {
        items[0].key = url_gen_key;
        items[0].key_len = strlen(url_gen_key);
    }
    for (k = 0; k < n_tags; k++) {
        rp_cache_gen_key(tk[k], "rp:t:", tags[k]);
        items[first + k].key = tk[k];
        items[first + k].key_len = strlen(tk[k]);
    }
    if (keys != NULL) {
        *keys = tk;
    }
    return items;
}

/* A generation or epoch as memcached holds it: decimal digits. */
static int gen_text(char buf[32], uint64_t g)
{
    return snprintf(buf, 32, "%llu", (unsigned long long)g);
}

rp_st_rc_t rp_cache_gen_create(rp_store_t *s, const char *key, int64_t now_us)
{
    char buf[32];
    int n = gen_text(buf, (uint64_t)now_us);

    return rp_store_add(s, key, strlen(key), buf, (size_t)n, 0);
}

/* Overwrite key with a fresh generation (now_us): *gen. */
static rp_st_rc_t gen_replace(rp_store_t *s, const char *key, int64_t now_us,
                              uint64_t *gen)
{
    char buf[32];
    int n = gen_text(buf, (uint64_t)now_us);
    rp_st_rc_t rc = rp_store_set(s, key, strlen(key), buf, (size_t)n, 0);

    if (rc == RP_ST_OK && gen != NULL) {
        *gen = (uint64_t)now_us;
    }
    return rc;
}

rp_st_rc_t rp_cache_gen_ensure(rp_store_t *s, apr_pool_t *p, const char *key,
                               int64_t now_us, uint64_t *gen)
{
    const char *v;
    size_t vl;
    rp_st_rc_t rc;
    int tries;

    for (tries = 0; tries < 3; tries++) {
        rc = rp_cache_gen_create(s, key, now_us);
        if (rc == RP_ST_OK) {
            *gen = (uint64_t)now_us;
            return RP_ST_OK;
        }
        if (rc != RP_ST_EXISTS) {
            return rc;
        }
        rc = rp_store_get(s, p, key, strlen(key), &v, &vl);
        if (rc == RP_ST_OK) {
            if (rp_cache_parse_gen(v, vl, gen) == 0) {
                return RP_ST_OK;
            }
            /* not a generation (written by something else): replaced by
             * a fresh one, which no stored entry holds, rather than
             * leaving the URL unstorable and unpurgeable for good */
            return gen_replace(s, key, now_us, gen);
        }
        if (rc != RP_ST_NOTFOUND) {
            return rc;
        }
        /* evicted between add and get: try again */
    }
    return RP_ST_ERROR;
}

/* Move a generation on: every entry stored under the old one is dead.
 * *out (may be NULL): its new value. */
static rp_st_rc_t gen_bump(rp_store_t *s, const char *key, int64_t now_us,
                           uint64_t *out)
{
    uint64_t v;
    rp_st_rc_t rc;
    int tries;

    for (tries = 0; tries < 4; tries++) {
        rc = rp_store_incr(s, key, strlen(key), 1, &v);
        if (rc == RP_ST_OK) {
            if (out != NULL) {
                *out = v;
            }
            return rc;
        }
        if (rc != RP_ST_NOTFOUND) {
            /* memcached refuses to increment what is not a number (or did
             * not answer): a fresh generation moves it on just as well,
             * and fails the same way if memcached is gone */
            return gen_replace(s, key, now_us, out);
        }
        /* missing: create it with a value no entry can hold.  If someone
         * created it meanwhile (a store adopting a fresh generation), it
         * must still move on: go round and increment it. */
        rc = rp_cache_gen_create(s, key, now_us);
        if (rc == RP_ST_OK) {
            if (out != NULL) {
                *out = (uint64_t)now_us;
            }
            return RP_ST_OK;
        }
        if (rc != RP_ST_EXISTS) {
            return rc;
        }
    }
    return RP_ST_ERROR;
}

uint64_t rp_cache_item_gen(const rp_store_item_t *it)
{
    uint64_t g;

    if (it->rc != RP_ST_OK
        || rp_cache_parse_gen(it->value, it->value_len, &g) != 0) {
        return 0;
    }
    return g;
}

void rp_cache_note_validated(rp_lookup_t *lk, const char *full, uint32_t ttl,
                             uint64_t entry_sum)
{
    char vkey[RP_KEY_HASH_MAX], ebuf[64];
    int n = snprintf(ebuf, sizeof(ebuf), "%llu %016llx",
                     (unsigned long long)lk->tag_epoch,
                     (unsigned long long)entry_sum);

    rp_key_hash("rp:v:", full, strlen(full), vkey);
    rp_store_set(lk->store, vkey, strlen(vkey), ebuf, (size_t)n, ttl);
}

int rp_cache_validated_holds(const rp_store_item_t *it, uint64_t epoch,
                             uint64_t entry_sum)
{
    const char *v, *sp;
    uint64_t e, sum = 0;
    size_t i, vl;

    if (it == NULL || it->rc != RP_ST_OK || epoch == 0) {
        return 0;
    }
    v = it->value;
    vl = it->value_len;
    sp = memchr(v, ' ', vl);
    if (sp == NULL || rp_cache_parse_gen(v, (size_t)(sp - v), &e) != 0
        || e != epoch || vl - (size_t)(sp + 1 - v) != 16) {
        return 0;
    }
    for (i = (size_t)(sp + 1 - v); i < vl; i++) {
        int d = rp_hexval((unsigned char)v[i]);
        if (d < 0) {
            return 0;
        }
        sum = sum << 4 | (uint64_t)d;
    }
    return sum == entry_sum;
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

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static uint32_t hint_bit(const char *key)
{
    size_t len = strlen(key);
    uint32_t h = 0;
    size_t i;

    /* a base key ends in the hex of its XXH3-128 (rp_key_hash): its last
     * four digits are already the 16 bits of a good hash */
    _Static_assert(UNTAGGED_HINT_BYTES * 8 == 65536, "16 bits of hex");
    for (i = len >= 4 ? len - 4 : len; i < len; i++) {
        int v = hex_value(key[i]);
        if (v < 0) {
            break;
        }
        h = h << 4 | (uint32_t)v;
    }
    if (len >= 4 && i == len) {
        return h;
    }
    h = 2166136261u;                       /* FNV-1a, for any other key */
    for (; *key; key++) {
        h = (h ^ (unsigned char)*key) * 16777619u;
    }
    return h % (UNTAGGED_HINT_BYTES * 8);
}

static int hint_says_untagged(uint32_t b)
{
    return (__atomic_load_n(&untagged_hint[b / 8], __ATOMIC_RELAXED)
            >> (b % 8)) & 1;
}

int rp_cache_known_untagged(const char *key)
{
    return hint_says_untagged(hint_bit(key));
}

void rp_cache_note_tagged(const char *key, int tagged)
{
    uint32_t b = hint_bit(key);
    unsigned char m = (unsigned char)(1u << (b % 8));

    if ((hint_says_untagged(b) != 0) == (tagged == 0)) {
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

/* For a tagged entry the hint had said was not. */
int rp_cache_read_tag_epoch(rp_lookup_t *lk, const char *vkey,
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
    lk->tag_epoch = rp_cache_item_gen(&out[0]);
    lk->tag_epoch_read = 1;
    return 0;
}

/* ---- which tag each tag purge named: a ring, for stores in flight ----
 *
 * A store of a tagged page must not outlive a purge of one of its tags
 * made while the backend rendered it, yet its tags are known only from
 * the response.  So each tag purge moves the tag epoch on, and records
 * under the new epoch which tag it purged: rp:g:tp:<epoch mod ring>
 * holds "<epoch> <tag's generation key>".  A store whose epoch moved by
 * at most RP_TAG_RING_SPAN since its lookup reads those records and is
 * refused only when one names one of its tags, or is missing, or was
 * overwritten by a later epoch (it cannot tell); a steady stream of
 * purges of other tags no longer keeps every tagged page out.
 *
 * Order of a tag purge: the epoch moves (and is recorded) before the
 * tag's generation, so a store that read the new generation reads a
 * moved epoch after it and finds the tag named; and it moves again
 * (recorded too) after the generation, so a hit that recorded the epoch
 * as "validated" while the generation had not moved yet is checked again
 * (rp_cache.c check_tags). */
#define RING_SLOTS 1024                /* > RP_TAG_RING_SPAN, and then some */

static void ring_key(char out[40], uint64_t epoch)
{
    snprintf(out, 40, "rp:g:tp:%u", (unsigned)(epoch % RING_SLOTS));
}

static rp_st_rc_t epoch_moved(rp_store_t *s, const char *tag_key,
                              int64_t now_us)
{
    char rkey[40], val[32 + RP_KEY_HASH_MAX];
    uint64_t e = 0;
    rp_st_rc_t rc = gen_bump(s, RP_CACHE_TAG_EPOCH_KEY, now_us, &e);
    int n;

    if (rc != RP_ST_OK) {
        return rc;
    }
    ring_key(rkey, e);
    n = snprintf(val, sizeof(val), "%llu %s", (unsigned long long)e, tag_key);
    /* not written (memcached full, or gone): a store that looks finds
     * nothing there, cannot tell, and is refused */
    (void)rp_store_set(s, rkey, strlen(rkey), val, (size_t)n,
                       (uint32_t)RP_CACHE_MAX_TTL_S);
    return RP_ST_OK;
}

rp_st_rc_t rp_cache_tag_purges_between(rp_store_t *s, apr_pool_t *p,
                                       uint64_t from, uint64_t to,
                                       char (*keys)[RP_KEY_HASH_MAX],
                                       unsigned n_keys)
{
    rp_store_item_t items[RP_TAG_RING_SPAN];
    char rkeys[RP_TAG_RING_SPAN][40];
    unsigned i, k, m;

    if (to <= from || to - from > RP_TAG_RING_SPAN) {
        return RP_ST_EXISTS;           /* too many to read, or re-created */
    }
    m = (unsigned)(to - from);
    memset(items, 0, sizeof(items[0]) * m);
    for (i = 0; i < m; i++) {
        ring_key(rkeys[i], from + 1 + i);
        items[i].key = rkeys[i];
        items[i].key_len = strlen(rkeys[i]);
    }
    rp_store_mget(s, p, items, m);
    for (i = 0; i < m; i++) {
        const char *v = items[i].value, *sp;
        size_t vl = items[i].value_len, tl;
        uint64_t e;

        if (items[i].rc == RP_ST_DOWN || items[i].rc == RP_ST_ERROR) {
            return RP_ST_DOWN;
        }
        sp = items[i].rc == RP_ST_OK ? memchr(v, ' ', vl) : NULL;
        if (sp == NULL || rp_cache_parse_gen(v, (size_t)(sp - v), &e) != 0
            || e != from + 1 + i) {
            return RP_ST_EXISTS;       /* missing or overwritten: unknown */
        }
        tl = vl - (size_t)(sp + 1 - v);
        for (k = 0; k < n_keys; k++) {
            if (strlen(keys[k]) == tl && memcmp(keys[k], sp + 1, tl) == 0) {
                return RP_ST_EXISTS;   /* one of these tags */
            }
        }
    }
    return RP_ST_OK;
}

/* Move the generation of a URL or of a tag on (a tag's moves the tag
 * epoch too, before and after: see the ring above).  This server's
 * copies go at once, whatever memcached said; recorded after the bump,
 * so a copy read from memcached before the bump carries an epoch older
 * than this record. */
static rp_st_rc_t purge(rp_store_t *s, apr_pool_t *p, rp_local_t *local,
                        int is_tag, const char *name, int64_t now_us)
{
    char key[RP_KEY_HASH_MAX];
    rp_st_rc_t rc;

    (void)p;
    rp_cache_gen_key(key, is_tag ? "rp:t:" : "rp:u:", name);
    rc = is_tag ? epoch_moved(s, key, now_us) : RP_ST_OK;
    if (rc == RP_ST_OK) {
        rc = gen_bump(s, key, now_us, NULL);
    }
    if (rc == RP_ST_OK && is_tag) {
        rc = epoch_moved(s, key, now_us);
    }
    if (local != NULL) {
        rp_local_record_purge(local, rp_local_hash(is_tag ? "t:" : "u:",
                                                   name));
    }
    return rc;
}

rp_st_rc_t rp_cache_purge_url(rp_store_t *s, apr_pool_t *p,
                              rp_local_t *local, const char *url,
                              int64_t now_us)
{
    return purge(s, p, local, 0, url, now_us);
}

rp_st_rc_t rp_cache_purge_tag(rp_store_t *s, apr_pool_t *p,
                              rp_local_t *local, const char *tag,
                              int64_t now_us)
{
    return purge(s, p, local, 1, tag, now_us);
}
