/*
 * rp_mc.c: see rp_mc.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libmemcached/memcached.h>
#include <libmemcached/util.h>
#include <apr_strings.h>

#include "rp_mc.h"

struct rp_mc_t {
    memcached_st *master;
    memcached_pool_st *pool;
    int n;
    const char **names;
    rp_breaker_t *breakers;
    int64_t timeout_us;
    int out;                       /* connections borrowed (atomic) */
    int closed;                    /* the owning pool is being destroyed */
};

/* A request's handle on the pool.  The connection itself is popped at the
 * first operation, not at rp_mc_acquire(): a request answered from the
 * local tier never touches the pool's mutex. */
typedef struct {
    rp_mc_t *mc;
    apr_pool_t *p;
    memcached_st *memc;            /* NULL until first use, and after release */
    int done;                      /* released, or the pool was exhausted */
    int cleanup_set;               /* release_cleanup registered on p */
    memcached_result_st result;
    int result_ready;
    int64_t budget_us;             /* rp_mc_limit(): a run's time (0: none) */
    int64_t deadline_us;           /* the run's end; 0 until its first call */
    int over;                      /* a call was not made: past the budget */
} rp_mc_conn_t;

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whether a return code means "the server did not answer" (counts
 * against its breaker) rather than an answer. */
static int server_failed(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_NOTFOUND:
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
    case MEMCACHED_STORED:
    case MEMCACHED_DELETED:
    case MEMCACHED_END:
    case MEMCACHED_BUFFERED:
    case MEMCACHED_E2BIG:
    case MEMCACHED_BAD_KEY_PROVIDED:
    case MEMCACHED_CLIENT_ERROR:
    case MEMCACHED_SERVER_ERROR:
    case MEMCACHED_VALUE:
    case MEMCACHED_STAT:
    case MEMCACHED_ITEM:
        return 0;
    default:
        return 1;
    }
}

int rp_mc_parse_server(apr_pool_t *p, const char *s, const char **host,
                       unsigned *port)
{
    const char *colon = strrchr(s, ':');
    const char *c;
    long v = 0;

    if (colon == NULL || colon == s || colon[1] == '\0') {
        return -1;
    }
    /* the port is digits only: strtol would take "+11211" or " 11211" */
    for (c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9' || v > 65535) {
            return -1;
        }
        v = v * 10 + (*c - '0');
    }
    if (v < 1 || v > 65535) {
        return -1;
    }
    /* no whitespace or control bytes in the host ("bad host:11211") */
    for (c = s; c < colon; c++) {
        if ((unsigned char)*c <= 32 || (unsigned char)*c == 127) {
            return -1;
        }
    }
    if (s[0] == '[') {                 /* [::1]:11211 */
        if (colon[-1] != ']' || colon - s < 3) {
            return -1;
        }
        *host = apr_pstrndup(p, s + 1, (apr_size_t)(colon - s - 2));
    }
    else {
        *host = apr_pstrndup(p, s, (apr_size_t)(colon - s));
        if (strchr(*host, ':') || strchr(*host, '/')) {
            return -1;
        }
    }
    *port = (unsigned)v;
    return 0;
}

static apr_status_t destroy_mc(void *data)
{
    rp_mc_t *mc = data;

    mc->closed = 1;
    if (__atomic_load_n(&mc->out, __ATOMIC_ACQUIRE) != 0) {
        /* A request pool still holds a connection and will give it back
         * from its own cleanup, later (a connection in the event MPM's
         * write completion at child exit): leave the pool to the exiting
         * process rather than free it under that request. */
        return APR_SUCCESS;
    }
    if (mc->pool) {
        memcached_pool_destroy(mc->pool);
        mc->pool = NULL;
    }
    if (mc->master) {
        memcached_free(mc->master);
        mc->master = NULL;
    }
    return APR_SUCCESS;
}

rp_mc_t *rp_mc_create(apr_pool_t *p, const char *const *servers, int n,
                      int64_t timeout_us, int max_connections,
                      rp_breaker_t *breakers, const char **err)
{
    /* the handle outlives p a little (see destroy_mc): from its parent */
    apr_pool_t *hp = apr_pool_parent_get(p) ? apr_pool_parent_get(p) : p;
    rp_mc_t *mc = apr_pcalloc(hp, sizeof(*mc));
    uint64_t ms = (uint64_t)(timeout_us + 999) / 1000;
    int i;

    if (n < 1 || n > RP_BREAKER_MAX_SERVERS) {
        *err = "between 1 and 32 memcached servers";
        return NULL;
    }
    mc->master = memcached_create(NULL);
    if (mc->master == NULL) {
        *err = "memcached_create failed";
        return NULL;
    }
    apr_pool_cleanup_register(p, mc, destroy_mc, apr_pool_cleanup_null);
    mc->n = n;
    mc->timeout_us = timeout_us;
    mc->names = apr_pcalloc(p, sizeof(char *) * (size_t)n);
    mc->breakers = breakers;
    for (i = 0; i < n; i++) {
        const char *host;
        unsigned port;
        if (rp_mc_parse_server(p, servers[i], &host, &port) != 0
            || memcached_server_add(mc->master, host, (in_port_t)port)
               != MEMCACHED_SUCCESS) {
            *err = apr_psprintf(p, "bad memcached server '%s'", servers[i]);
            return NULL;
        }
        mc->names[i] = servers[i];
    }
    if (ms < 1) {
        ms = 1;
    }
    /* every socket operation bounded; non-blocking so that the connect
     * timeout applies; consistent hashing so that adding a server moves
     * few keys; no libmemcached-level ejection: our breaker decides */
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_NO_BLOCK, 1);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_KETAMA, 1);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_SND_TIMEOUT,
                           (uint64_t)timeout_us);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_RCV_TIMEOUT,
                           (uint64_t)timeout_us);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT,
                           1000000);
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS, 0);
    mc->pool = memcached_pool_create(mc->master, 1,
                                     (uint32_t)(max_connections > 0
                                                ? max_connections : 1));
    if (mc->pool == NULL) {
        *err = "memcached_pool_create failed";
        return NULL;
    }
    return mc;
}

int rp_mc_all_down(const rp_mc_t *mc)
{
    int64_t now = 0;
    int i;

    if (mc->breakers == NULL) {
        return 0;
    }
    for (i = 0; i < mc->n; i++) {
        const rp_breaker_t *b = &mc->breakers[i];
        rp_brk_state_t st = rp_breaker_state(b);
        if (st == RP_BRK_UP) {
            return 0;                  /* the usual case: no clock read */
        }
        if (st == RP_BRK_DOWN) {
            if (now == 0) {
                now = mono_us();
            }
            if (now >= rp_breaker_time_us(b)) {
                return 0;
            }
        }
    }
    return 1;
}

int rp_mc_nservers(const rp_mc_t *mc)
{
    return mc->n;
}

const char *rp_mc_server_name(const rp_mc_t *mc, int i)
{
    return (i >= 0 && i < mc->n) ? mc->names[i] : NULL;
}

/* --- breaker plumbing ------------------------------------------------ */

typedef struct {
    int server;
    int probe;
} gate_t;

static apr_status_t release_cleanup(void *data);

/* The connection, borrowed from the pool on first use without waiting
 * (an exhausted pool reads as "down" for the rest of the request); NULL
 * after release. */
static memcached_st *conn_memc(rp_mc_conn_t *c)
{
    memcached_return_t rc;

    if (c->memc == NULL && !c->done) {
        if (c->mc->closed || c->mc->pool == NULL) {
            c->done = 1;
            return NULL;
        }
        c->memc = memcached_pool_pop(c->mc->pool, false, &rc);
        if (c->memc == NULL) {
            c->done = 1;
            return NULL;
        }
        __atomic_add_fetch(&c->mc->out, 1, __ATOMIC_ACQ_REL);
        if (!c->cleanup_set) {
            c->cleanup_set = 1;
            apr_pool_cleanup_register(c->p, c, release_cleanup,
                                      apr_pool_cleanup_null);
        }
    }
    return c->memc;
}

static int gate_open(rp_mc_conn_t *c, const char *key, size_t klen,
                     gate_t *g, int64_t now)
{
    g->server = -1;
    g->probe = 0;
    if (conn_memc(c) == NULL) {
        return 0;                      /* nothing to talk with */
    }
    g->server = (int)memcached_generate_hash(c->memc, key, klen);
    g->probe = 0;
    if (c->mc->breakers == NULL || g->server < 0 || g->server >= c->mc->n) {
        return 1;
    }
    return rp_breaker_allow(&c->mc->breakers[g->server], now, &g->probe);
}

/* Whether a call starting now may be made: a run of calls made back to
 * back (a lookup; a store) ends once it has taken the budget, so that a
 * memcached answering each call just under the timeout costs a request
 * about twice the timeout, not the timeout times its calls.  The run
 * starts at its first call, after rp_mc_limit(), a park or a rest. */
static int within_budget(rp_mc_conn_t *c, int64_t now)
{
    if (c->budget_us <= 0) {
        return 1;
    }
    if (c->deadline_us == 0) {
        c->deadline_us = now + c->budget_us;
        return 1;
    }
    if (now < c->deadline_us) {
        return 1;
    }
    c->over = 1;
    return 0;
}

static void gate_close(rp_mc_conn_t *c, gate_t *g, memcached_return_t rc)
{
    rp_breaker_t *b;

    if (c->mc->breakers == NULL || g->server < 0 || g->server >= c->mc->n) {
        return;
    }
    b = &c->mc->breakers[g->server];
    if (server_failed(rc)) {
        rp_breaker_failure(b, mono_us(), g->probe);
    }
    else {
        rp_breaker_success(b, g->probe);
    }
}

static rp_st_rc_t map_rc(memcached_return_t rc)
{
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
    case MEMCACHED_DELETED:
    case MEMCACHED_END:
        return RP_ST_OK;
    case MEMCACHED_NOTFOUND:
        return RP_ST_NOTFOUND;
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
        return RP_ST_EXISTS;
    default:
        return server_failed(rc) ? RP_ST_DOWN : RP_ST_ERROR;
    }
}

/* --- operations ------------------------------------------------------ */

static apr_status_t free_value(void *v)
{
    free(v);
    return APR_SUCCESS;
}

/* Values at least this long are taken from libmemcached, not copied: its
 * buffer was allocated for this request's result anyway, and a page is
 * then copied once on its way from the socket (into that buffer), not
 * twice.  Short ones (generations, epochs) are copied; one fetched after
 * a page was taken gets a new small buffer, freed with the result. */
#define TAKE_VALUE_MIN 1024

/* The value of res as item it, owned by pool p. */
static void keep_value(apr_pool_t *p, memcached_result_st *res,
                       rp_store_item_t *it)
{
    size_t vl = memcached_result_length(res);
    char *v = NULL;

    if (vl >= TAKE_VALUE_MIN
        && (v = memcached_result_take_value(res)) != NULL) {
        /* libmemcached's default allocator is malloc (none other is set).
         * Freed when p's cleanups run, not when its memory goes: a
         * cleanup registered on p before this call must not read the
         * value (none does; later ones, such as the pool bucket that
         * sends a page, run first) */
        apr_pool_cleanup_register(p, v, free_value, apr_pool_cleanup_null);
    }
    else {
        v = apr_pmemdup(p, memcached_result_value(res), vl ? vl : 1);
    }
    it->value = v;
    it->value_len = vl;
    it->rc = RP_ST_OK;
}

/* The most keys one multi-get asks: a page's 64 tags with the URL's
 * generation and the tag epoch (rp_cache_store.c), and room to spare. */
#define MGET_MAX 128

/* One server's share of a multi-get: the keys idx[0..m) of items, all
 * held by the server of the first.  Returns that server's answer code. */
static memcached_return_t mget_one_server(rp_mc_conn_t *c, apr_pool_t *p,
                                          rp_store_item_t *items,
                                          const size_t *idx, size_t m)
{
    const char *keys[MGET_MAX];
    size_t lens[MGET_MAX];
    size_t k;
    memcached_return_t rc;
    memcached_result_st *res;

    for (k = 0; k < m; k++) {
        keys[k] = items[idx[k]].key;
        lens[k] = items[idx[k]].key_len;
    }
    rc = memcached_mget_by_key(c->memc, keys[0], lens[0], keys, lens, m);
    if (rc != MEMCACHED_SUCCESS) {
        return rc;
    }
    if (!c->result_ready) {
        memcached_result_create(c->memc, &c->result);
        c->result_ready = 1;
    }
    while ((res = memcached_fetch_result(c->memc, &c->result, &rc)) != NULL) {
        const char *rk = memcached_result_key_value(res);
        size_t rkl = memcached_result_key_length(res);
        for (k = 0; k < m; k++) {
            rp_store_item_t *it = &items[idx[k]];
            if (it->key_len == rkl && memcmp(it->key, rk, rkl) == 0) {
                keep_value(p, res, it);
                break;
            }
        }
    }
    /* the fetch loop ends with END (or NOTFOUND) when all went well */
    if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND) {
        rc = MEMCACHED_SUCCESS;
    }
    return rc;
}

/* A multi-get asks each server for its keys in turn.  One libmemcached
 * mget over several servers would answer with one code for all of them:
 * a dead server among live ones would read as "not found", never reach
 * its breaker, and cost every request the timeout.  With one server (or
 * all keys on one) it is a single round trip, as before. */
static rp_st_rc_t mc_mget(void *ctx, apr_pool_t *p, rp_store_item_t *items,
                          size_t n)
{
    rp_mc_conn_t *c = ctx;
    size_t idx[MGET_MAX], group[MGET_MAX];
    gate_t gates[MGET_MAX];
    char done[MGET_MAX];
    size_t i, k, g, m = 0;
    memcached_return_t rc;
    rp_st_rc_t out = RP_ST_OK;
    int64_t now = mono_us();

    if (n > MGET_MAX) {
        for (i = 0; i < n; i++) {
            items[i].value = NULL;     /* every item says so, not only the */
            items[i].value_len = 0;    /* call: callers read the items */
            items[i].rc = RP_ST_ERROR;
        }
        return RP_ST_ERROR;
    }
    if (!within_budget(c, now) || conn_memc(c) == NULL) {
        for (i = 0; i < n; i++) {
            items[i].value = NULL;
            items[i].value_len = 0;
            items[i].rc = RP_ST_DOWN;
        }
        return RP_ST_DOWN;
    }
    for (i = 0; i < n; i++) {
        items[i].value = NULL;
        items[i].value_len = 0;
        if (!gate_open(c, items[i].key, items[i].key_len, &gates[i],
                       now)) {
            items[i].rc = RP_ST_DOWN;
            out = RP_ST_DOWN;
            continue;
        }
        items[i].rc = RP_ST_NOTFOUND;
        idx[m++] = i;
    }
    memset(done, 0, sizeof(done));
    for (k = 0; k < m; k++) {
        if (done[k]) {
            continue;
        }
        if (k > 0 && !within_budget(c, mono_us())) {
            /* one server's share after another: the run may be over */
            for (i = k; i < m; i++) {
                if (!done[i]) {
                    gate_t *gt = &gates[idx[i]];
                    items[idx[i]].rc = RP_ST_DOWN;
                    done[i] = 1;
                    if (gt->probe) {
                        /* the probe it took, handed back untried */
                        gt->probe = 0;
                        rp_breaker_set(&c->mc->breakers[gt->server],
                                       RP_BRK_DOWN, now);
                    }
                }
            }
            out = RP_ST_DOWN;
            break;
        }
        /* the keys of the server holding idx[k] */
        g = 0;
        for (i = k; i < m; i++) {
            if (!done[i] && gates[idx[i]].server == gates[idx[k]].server) {
                group[g++] = idx[i];
                done[i] = 1;
            }
        }
        rc = mget_one_server(c, p, items, group, g);
        for (i = 0; i < g; i++) {
            gate_close(c, &gates[group[i]], rc);
            if (rc != MEMCACHED_SUCCESS && items[group[i]].rc != RP_ST_OK) {
                items[group[i]].rc = map_rc(rc) == RP_ST_OK ? RP_ST_ERROR
                                                            : map_rc(rc);
            }
        }
        if (rc != MEMCACHED_SUCCESS && out == RP_ST_OK) {
            out = map_rc(rc) == RP_ST_OK ? RP_ST_ERROR : map_rc(rc);
        }
    }
    return out;
}

static rp_st_rc_t mc_get(void *ctx, apr_pool_t *p, const char *key,
                         size_t klen, const char **val, size_t *vlen)
{
    rp_store_item_t it;
    rp_st_rc_t rc;

    it.key = key;
    it.key_len = klen;
    rc = mc_mget(ctx, p, &it, 1);
    if (rc != RP_ST_OK) {
        return rc;
    }
    *val = it.value;
    *vlen = it.value_len;
    return it.rc;
}

static rp_st_rc_t store_cmd(void *ctx, const char *key, size_t klen,
                            const char *val, size_t vlen, uint32_t ttl_s,
                            int add)
{
    rp_mc_conn_t *c = ctx;
    gate_t g;
    memcached_return_t rc;
    int64_t now = mono_us();

    if (!within_budget(c, now) || !gate_open(c, key, klen, &g, now)) {
        return RP_ST_DOWN;
    }
    rc = add ? memcached_add(c->memc, key, klen, val, vlen, (time_t)ttl_s, 0)
             : memcached_set(c->memc, key, klen, val, vlen, (time_t)ttl_s, 0);
    gate_close(c, &g, rc);
    return map_rc(rc);
}

static rp_st_rc_t mc_set(void *ctx, const char *key, size_t klen,
                         const char *val, size_t vlen, uint32_t ttl_s)
{
    return store_cmd(ctx, key, klen, val, vlen, ttl_s, 0);
}

static rp_st_rc_t mc_add(void *ctx, const char *key, size_t klen,
                         const char *val, size_t vlen, uint32_t ttl_s)
{
    return store_cmd(ctx, key, klen, val, vlen, ttl_s, 1);
}

static rp_st_rc_t mc_del(void *ctx, const char *key, size_t klen)
{
    rp_mc_conn_t *c = ctx;
    gate_t g;
    memcached_return_t rc;

    /* not held to the budget: a delete gives back a lock this request
     * took, which the others would otherwise wait out */
    if (!gate_open(c, key, klen, &g, mono_us())) {
        return RP_ST_DOWN;
    }
    rc = memcached_delete(c->memc, key, klen, 0);
    gate_close(c, &g, rc);
    return map_rc(rc);
}

static rp_st_rc_t mc_incr(void *ctx, const char *key, size_t klen,
                          uint64_t delta, uint64_t *newval)
{
    rp_mc_conn_t *c = ctx;
    gate_t g;
    memcached_return_t rc;
    int64_t now = mono_us();

    if (!within_budget(c, now) || !gate_open(c, key, klen, &g, now)) {
        return RP_ST_DOWN;
    }
    rc = memcached_increment(c->memc, key, klen, (uint32_t)delta, newval);
    gate_close(c, &g, rc);
    return map_rc(rc);
}

static void mc_rest(void *ctx)
{
    ((rp_mc_conn_t *)ctx)->deadline_us = 0;
}

static const rp_store_ops_t mc_ops = {
    "memcached", mc_get, mc_mget, mc_set, mc_add, mc_del, mc_incr, mc_rest
};

/* Give the connection back to the pool; done: for good (otherwise the
 * next operation borrows again). */
static void put_back(rp_mc_conn_t *c, int done)
{
    if (done) {
        c->done = 1;
    }
    c->deadline_us = 0;                /* the next call starts a new run */
    if (c->memc == NULL) {
        return;
    }
    if (c->result_ready) {
        memcached_result_free(&c->result);
        c->result_ready = 0;
    }
    memcached_pool_push(c->mc->pool, c->memc);
    c->memc = NULL;
    __atomic_sub_fetch(&c->mc->out, 1, __ATOMIC_ACQ_REL);
}

static apr_status_t release_cleanup(void *data)
{
    put_back(data, 1);
    return APR_SUCCESS;
}

int rp_mc_acquire(rp_mc_t *mc, apr_pool_t *p, rp_store_t *out)
{
    rp_mc_conn_t *c = apr_pcalloc(p, sizeof(*c));

    c->mc = mc;
    c->p = p;
    out->ops = &mc_ops;
    out->ctx = c;
    return 0;
}

void rp_mc_park(rp_store_t *s)
{
    if (s != NULL && s->ops == &mc_ops && s->ctx != NULL) {
        put_back(s->ctx, 0);
    }
}

void rp_mc_limit(rp_store_t *s)
{
    if (s != NULL && s->ops == &mc_ops && s->ctx != NULL) {
        rp_mc_conn_t *c = s->ctx;
        c->budget_us = c->mc->timeout_us;
        c->deadline_us = 0;
    }
}

int rp_mc_over(const rp_store_t *s)
{
    return s != NULL && s->ops == &mc_ops && s->ctx != NULL
           && ((const rp_mc_conn_t *)s->ctx)->over;
}

void rp_mc_release(rp_store_t *s)
{
    if (s != NULL && s->ops == &mc_ops && s->ctx != NULL) {
        put_back(s->ctx, 1);
    }
}
