/*
 * rp_store_mem.c: an in-memory rp_store_t with memcached's semantics, for unit
 * tests of the cache logic.
 *
 * It copies values in and out like a network store would, so a test cannot pass
 * by accident through shared pointers, and it counts calls so tests can assert
 * how many round trips a lookup costs. Memory comes from one pool and is only
 * reused per key, never freed: fine for tests, wrong for production. Not
 * thread-safe. It lives under tests/: the module never links it.
 */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "cache/rp_util.h"
#include "rp_store_mem.h"

#define RP_MEM_MAGIC        0x52504d53u     /* "RPMS": catches a foreign rp_store_t */
#define RP_MEM_MAX_KEY      250             /* memcached's KEY_MAX_LENGTH */
#define RP_MEM_DEFAULT_MAX  (1024u * 1024u)
#define RP_MEM_RELATIVE_MAX (60 * 60 * 24 * 30)     /* memcached: larger ttls are absolute */

typedef enum { OP_GET, OP_MGET, OP_SET, OP_ADD, OP_DEL, OP_INCR, OP_COUNT } rp_mem_op_t;

static const char *const rp_mem_op_names[OP_COUNT] = {
    "get", "mget", "set", "add", "del", "incr"
};

typedef struct {
    char *value;
    size_t len;
    size_t cap;
    int64_t expires_s;      /* 0 = never */
} rp_mem_item_t;

typedef struct {
    unsigned magic;
    apr_pool_t *pool;
    apr_hash_t *items;      /* key bytes -> rp_mem_item_t */
    int64_t now_s;
    int fail;
    size_t max_value;
    unsigned long calls[OP_COUNT];
} rp_mem_t;

static rp_mem_t *mem_of(rp_store_t *s)
{
    rp_mem_t *m = s ? s->ctx : NULL;

    return (m != NULL && m->magic == RP_MEM_MAGIC) ? m : NULL;
}

static int key_ok(const char *key, size_t klen)
{
    size_t i;

    if (key == NULL || klen == 0 || klen > RP_MEM_MAX_KEY) {
        return 0;
    }
    for (i = 0; i < klen; i++) {
        if (!rp_is_vchar((unsigned char)key[i])) {
            return 0;
        }
    }
    return 1;
}

/* Counts the call and says whether it may proceed; mget checks its keys one by one. */
static rp_st_rc_t mem_enter(rp_mem_t *m, rp_mem_op_t op, const char *key, size_t klen)
{
    m->calls[op]++;
    if (m->fail) {
        return RP_ST_ERROR;
    }
    if (op != OP_MGET && !key_ok(key, klen)) {
        return RP_ST_ERROR;
    }
    return RP_ST_OK;
}

/* The live item for key, dropping it when expired (memcached's lazy expiry). */
static rp_mem_item_t *mem_find(rp_mem_t *m, const char *key, size_t klen)
{
    rp_mem_item_t *it = apr_hash_get(m->items, key, (apr_ssize_t)klen);

    if (it != NULL && it->expires_s != 0 && m->now_s >= it->expires_s) {
        apr_hash_set(m->items, key, (apr_ssize_t)klen, NULL);
        return NULL;
    }
    return it;
}

static void mem_store(rp_mem_t *m, const char *key, size_t klen, const char *val, size_t vlen,
          uint32_t ttl_s)
{
    rp_mem_item_t *it = apr_hash_get(m->items, key, (apr_ssize_t)klen);

    if (it == NULL) {
        it = apr_pcalloc(m->pool, sizeof(*it));
        apr_hash_set(m->items, apr_pmemdup(m->pool, key, klen), (apr_ssize_t)klen, it);
    }
    if (it->cap < vlen + 1) {
        it->cap = vlen + 1;
        it->value = apr_palloc(m->pool, it->cap);
    }
    if (vlen > 0) {
        memcpy(it->value, val, vlen);
    }
    it->value[vlen] = '\0';
    it->len = vlen;
    if (ttl_s == 0) {
        it->expires_s = 0;
    }
    else if (ttl_s > RP_MEM_RELATIVE_MAX) {
        it->expires_s = ttl_s;
    }
    else {
        it->expires_s = m->now_s + ttl_s;
    }
}

static char *copy_out(apr_pool_t *p, const rp_mem_item_t *it)
{
    char *v = apr_palloc(p, it->len + 1);

    memcpy(v, it->value, it->len + 1);
    return v;
}

static rp_st_rc_t mem_get(void *ctx, apr_pool_t *p, const char *key, size_t klen, const char **val,
        size_t *vlen)
{
    rp_mem_t *m = ctx;
    rp_mem_item_t *it;
    rp_st_rc_t rc;

    *val = NULL;
    *vlen = 0;
    if ((rc = mem_enter(m, OP_GET, key, klen)) != RP_ST_OK) {
        return rc;
    }
    if ((it = mem_find(m, key, klen)) == NULL) {
        return RP_ST_NOTFOUND;
    }
    *val = copy_out(p, it);
    *vlen = it->len;
    return RP_ST_OK;
}

static rp_st_rc_t mem_mget(void *ctx, apr_pool_t *p, rp_store_item_t *items, size_t n)
{
    rp_mem_t *m = ctx;
    rp_st_rc_t rc = mem_enter(m, OP_MGET, NULL, 0);
    size_t i;

    for (i = 0; i < n; i++) {
        rp_mem_item_t *it;

        items[i].value = NULL;
        items[i].value_len = 0;
        if (rc != RP_ST_OK || !key_ok(items[i].key, items[i].key_len)) {
            items[i].rc = RP_ST_ERROR;
            continue;
        }
        it = mem_find(m, items[i].key, items[i].key_len);
        if (it == NULL) {
            items[i].rc = RP_ST_NOTFOUND;
            continue;
        }
        items[i].value = copy_out(p, it);
        items[i].value_len = it->len;
        items[i].rc = RP_ST_OK;
    }
    return rc;
}

/* set, and add (only_new): memcached refuses a value above its limit first */
static rp_st_rc_t mem_write(rp_mem_t *m, rp_mem_op_t op, int only_new, const char *key, size_t klen,
                            const char *val, size_t vlen, uint32_t ttl_s)
{
    rp_st_rc_t rc;

    if ((rc = mem_enter(m, op, key, klen)) != RP_ST_OK) {
        return rc;
    }
    if (vlen > m->max_value || (val == NULL && vlen > 0)) {
        return RP_ST_ERROR;
    }
    if (only_new && mem_find(m, key, klen) != NULL) {
        return RP_ST_EXISTS;
    }
    mem_store(m, key, klen, val, vlen, ttl_s);
    return RP_ST_OK;
}

static rp_st_rc_t mem_set(void *ctx, const char *key, size_t klen, const char *val, size_t vlen, uint32_t ttl_s)
{
    return mem_write(ctx, OP_SET, 0, key, klen, val, vlen, ttl_s);
}

static rp_st_rc_t mem_add(void *ctx, const char *key, size_t klen, const char *val, size_t vlen, uint32_t ttl_s)
{
    return mem_write(ctx, OP_ADD, 1, key, klen, val, vlen, ttl_s);
}

static rp_st_rc_t mem_del(void *ctx, const char *key, size_t klen)
{
    rp_mem_t *m = ctx;
    rp_st_rc_t rc;

    if ((rc = mem_enter(m, OP_DEL, key, klen)) != RP_ST_OK) {
        return rc;
    }
    if (mem_find(m, key, klen) == NULL) {
        return RP_ST_NOTFOUND;
    }
    apr_hash_set(m->items, key, (apr_ssize_t)klen, NULL);
    return RP_ST_OK;
}

static rp_st_rc_t mem_incr(void *ctx, const char *key, size_t klen, uint64_t delta, uint64_t *newval)
{
    rp_mem_t *m = ctx;
    rp_mem_item_t *it;
    uint64_t v = 0;
    char digits[24];
    size_t i, dlen;
    rp_st_rc_t rc;

    if (newval != NULL) {
        *newval = 0;
    }
    if ((rc = mem_enter(m, OP_INCR, key, klen)) != RP_ST_OK) {
        return rc;
    }
    if ((it = mem_find(m, key, klen)) == NULL) {
        return RP_ST_NOTFOUND;
    }
    /* memcached: 1..20 decimal digits that fit in 64 bits, else "non-numeric value". */
    if (it->len == 0 || it->len > 20) {
        return RP_ST_ERROR;
    }
    for (i = 0; i < it->len; i++) {
        unsigned d = (unsigned)(it->value[i] - '0');

        if (it->value[i] < '0' || it->value[i] > '9'
            || v > (UINT64_MAX - d) / 10) {
            return RP_ST_ERROR;
        }
        v = v * 10 + d;
    }
    v += delta;     /* wraps at 2^64, as memcached's incr does */
    apr_snprintf(digits, sizeof(digits), "%" APR_UINT64_T_FMT, v);
    /* incr keeps the item's expiry: only the value changes. */
    dlen = strlen(digits);
    if (it->cap < dlen + 1) {
        it->cap = dlen + 1;
        it->value = apr_palloc(m->pool, it->cap);
    }
    memcpy(it->value, digits, dlen + 1);
    it->len = dlen;
    if (newval != NULL) {
        *newval = v;
    }
    return RP_ST_OK;
}

static const rp_store_ops_t rp_store_mem_ops = {
    "mem", mem_get, mem_mget, mem_set, mem_add, mem_del, mem_incr, NULL
};

rp_store_t *rp_store_mem_create(apr_pool_t *p)
{
    rp_store_t *s = apr_pcalloc(p, sizeof(*s));
    rp_mem_t *m = apr_pcalloc(p, sizeof(*m));

    m->magic = RP_MEM_MAGIC;
    m->pool = p;
    m->items = apr_hash_make(p);
    m->max_value = RP_MEM_DEFAULT_MAX;
    s->ops = &rp_store_mem_ops;
    s->ctx = m;
    return s;
}

void rp_store_mem_set_time(rp_store_t *s, int64_t now_s)
{
    rp_mem_t *m = mem_of(s);

    if (m != NULL) {
        m->now_s = now_s;
    }
}

void rp_store_mem_fail(rp_store_t *s, int fail)
{
    rp_mem_t *m = mem_of(s);

    if (m != NULL) {
        m->fail = fail;
    }
}

void rp_store_mem_set_max_value(rp_store_t *s, size_t max_bytes)
{
    rp_mem_t *m = mem_of(s);

    if (m != NULL) {
        m->max_value = max_bytes;
    }
}

unsigned long rp_store_mem_calls(rp_store_t *s, const char *op)
{
    rp_mem_t *m = mem_of(s);
    int i;

    if (m == NULL || op == NULL) {
        return 0;
    }
    for (i = 0; i < OP_COUNT; i++) {
        if (strcmp(op, rp_mem_op_names[i]) == 0) {
            return m->calls[i];
        }
    }
    return 0;
}

int rp_store_mem_corrupt(rp_store_t *s, const char *key, size_t klen, size_t offset,
                     unsigned char xor_mask)
{
    rp_mem_t *m = mem_of(s);
    rp_mem_item_t *it;

    if (m == NULL || !key_ok(key, klen) || (it = mem_find(m, key, klen)) == NULL
        || offset >= it->len) {
        return -1;
    }
    it->value[offset] = (char)(it->value[offset] ^ xor_mask);
    return 0;
}

unsigned long rp_store_mem_count(rp_store_t *s)
{
    rp_mem_t *m = mem_of(s);
    apr_hash_index_t *hi;
    unsigned long n = 0;

    if (m == NULL) {
        return 0;
    }
    for (hi = apr_hash_first(NULL, m->items); hi != NULL; hi = apr_hash_next(hi)) {
        rp_mem_item_t *it = apr_hash_this_val(hi);

        if (it->expires_s == 0 || m->now_s < it->expires_s) {
            n++;
        }
    }
    return n;
}

long rp_store_mem_ttl(rp_store_t *s, const char *key)
{
    rp_mem_t *m = mem_of(s);
    rp_mem_item_t *it;

    if (m == NULL || key == NULL
        || (it = apr_hash_get(m->items, key, (apr_ssize_t)strlen(key))) == NULL) {
        return -1;
    }
    return it->expires_s == 0 ? 0 : (long)(it->expires_s - m->now_s);
}
