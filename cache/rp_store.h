/*
 * rp_store.h: where cache bytes live, as a table of functions.
 *
 * Like httpd's cache_provider, this keeps the cache logic ignorant of memcached:
 * the same code runs against libmemcached in production and against the
 * in-memory store below in unit tests. The operations and their results follow
 * memcached's text protocol (get, multi-get, set, add, delete, incr), so the
 * in-memory store is a faithful stand-in.
 */
#ifndef RP_STORE_H
#define RP_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

typedef enum {
    RP_ST_OK = 0,
    RP_ST_NOTFOUND,
    RP_ST_EXISTS,
    RP_ST_ERROR,    /* the call failed: bad key, value too large, non-numeric incr, ... */
    RP_ST_DOWN      /* no server reachable (or skipped while marked down) */
} rp_st_rc_t;

typedef struct {
    const char *key;
    size_t key_len;
    const char *value;      /* filled by mget: memory from the pool passed to mget */
    size_t value_len;
    rp_st_rc_t rc;          /* filled by mget: OK or NOTFOUND (or the call's error) */
} rp_store_item_t;

typedef struct rp_store_ops_t {
    const char *name;
    rp_st_rc_t (*get)(void *ctx, apr_pool_t *p, const char *key, size_t klen,
                      const char **val, size_t *vlen);
    /* fills each item's value/rc; the return says whether the call itself worked */
    rp_st_rc_t (*mget)(void *ctx, apr_pool_t *p, rp_store_item_t *items, size_t n);
    rp_st_rc_t (*set)(void *ctx, const char *key, size_t klen, const char *val, size_t vlen,
                      uint32_t ttl_s);
    /* EXISTS if present */
    rp_st_rc_t (*add)(void *ctx, const char *key, size_t klen, const char *val, size_t vlen,
                      uint32_t ttl_s);
    /* NOTFOUND if absent */
    rp_st_rc_t (*del)(void *ctx, const char *key, size_t klen);
    /* NOTFOUND if absent; the value must be a decimal number, as in memcached */
    rp_st_rc_t (*incr)(void *ctx, const char *key, size_t klen, uint64_t delta,
                       uint64_t *newval);
    /* optional (NULL): the calls so far were one run, the next starts
     * another (between the polls of a wait); see rp_mc_limit() */
    void (*rest)(void *ctx);
} rp_store_ops_t;

typedef struct {
    const rp_store_ops_t *ops;
    void *ctx;
} rp_store_t;

static inline rp_st_rc_t rp_store_get(rp_store_t *s, apr_pool_t *p, const char *key, size_t klen,
             const char **val, size_t *vlen)
{
    return s->ops->get(s->ctx, p, key, klen, val, vlen);
}

static inline rp_st_rc_t rp_store_mget(rp_store_t *s, apr_pool_t *p, rp_store_item_t *items, size_t n)
{
    return s->ops->mget(s->ctx, p, items, n);
}

static inline rp_st_rc_t rp_store_set(rp_store_t *s, const char *key, size_t klen, const char *val, size_t vlen,
             uint32_t ttl_s)
{
    return s->ops->set(s->ctx, key, klen, val, vlen, ttl_s);
}

static inline rp_st_rc_t rp_store_add(rp_store_t *s, const char *key, size_t klen, const char *val, size_t vlen,
             uint32_t ttl_s)
{
    return s->ops->add(s->ctx, key, klen, val, vlen, ttl_s);
}

static inline rp_st_rc_t rp_store_del(rp_store_t *s, const char *key, size_t klen)
{
    return s->ops->del(s->ctx, key, klen);
}

static inline rp_st_rc_t rp_store_incr(rp_store_t *s, const char *key, size_t klen, uint64_t delta, uint64_t *newval)
{
    return s->ops->incr(s->ctx, key, klen, delta, newval);
}

static inline void rp_store_rest(rp_store_t *s)
{
    if (s->ops->rest != NULL) {
        s->ops->rest(s->ctx);
    }
}

/* "ok", "notfound", "exists", "error", "down". */
const char *rp_st_rc_name(rp_st_rc_t rc);

#endif /* RP_STORE_H */
