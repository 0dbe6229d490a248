/*
 * rp_mc.c: see rp_mc.h.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <libmemcached/memcached.h>
#include <libmemcached/util.h>
#include <apr_strings.h>

#include "rp_mc.h"
#include "rp_mc_text.h"
#include "rp_entry.h"

/* The buffer a get's reply is read into, from the request's pool: a
 * reply up to this size (a 14 KB page with its headers, say) comes in one
 * read of the socket, and a value of IN_PLACE_MIN bytes or more that came
 * whole is used where it lies, without a copy; the buffer is then the
 * value's, and the request's next get takes a new one.  Shorter values
 * (generations, locks, marks) are copied out, so the gets of a request
 * that polls for another's fill share one buffer. */
#define GET_REPLY_BUF (32u * 1024u)
#define IN_PLACE_MIN 1024u

/* The sockets of one of the pool's connection objects, one per server
 * (-1: not connected).  The commands are sent over these with the text
 * protocol of rp_mc_text.h; libmemcached itself opens no socket. */
typedef struct {
    int fd[RP_BREAKER_MAX_SERVERS];
} rp_mc_slot_t;

/* The addresses a server's name resolves to, tried in their order (as
 * libmemcached does: "localhost" may give ::1 first, where memcached
 * listens on 127.0.0.1 only). */
#define ADDRS_MAX 4

typedef struct {
    struct sockaddr_storage addr[ADDRS_MAX];
    socklen_t len[ADDRS_MAX];
    int n;                         /* 0: not resolved */
} rp_mc_addrs_t;

/* A server and the addresses its name resolves to, shared by the
 * child's threads (under mu).  Resolved when the handle is created, and
 * again once every address has failed (as libmemcached did: a name may
 * move, a replaced host or a failover), by a thread of its own, so that
 * a resolver that is slow or does not answer costs a call no more than
 * its timeout (getaddrinfo has none of its own).  The addresses are
 * tried in turn; one whose connect timed out is not tried first again.
 * malloc'ed, not from a pool: a resolver thread may outlive the handle,
 * and then frees it. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* a resolution ended */
    rp_mc_addrs_t addrs;           /* the last resolution that gave any */
    int next;                      /* the address to try first */
    int stale;                     /* all failed: resolve again first */
    int numeric;                   /* an address, not a name: never again */
    int resolving;                 /* a resolver thread runs */
    int orphan;                    /* the handle is gone: the thread frees */
    unsigned gen;                  /* resolutions ended */
    char host[256];
    char port[8];
} rp_mc_server_t;

struct rp_mc_t {
    memcached_st *master;
    memcached_pool_st *pool;
    int n;
    const char **names;
    rp_mc_server_t **servers;
    rp_mc_slot_t *slots;
    int n_slots;
    int next_slot;                 /* slots handed out (atomic) */
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
    rp_mc_slot_t *slot;            /* memc's sockets */
    char *spare;                   /* a get's reply buffer, from p, that no
                                    * value was left in */
    int done;                      /* released, or the pool was exhausted */
    int cleanup_set;               /* release_cleanup registered on p */
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

static void free_server(rp_mc_server_t *sv);

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
    if (mc->slots != NULL) {
        int i, k, n = __atomic_load_n(&mc->next_slot, __ATOMIC_ACQUIRE);
        for (i = 0; i < n && i < mc->n_slots; i++) {
            for (k = 0; k < mc->n; k++) {
                if (mc->slots[i].fd[k] >= 0) {
                    close(mc->slots[i].fd[k]);
                    mc->slots[i].fd[k] = -1;
                }
            }
        }
    }
    if (mc->servers != NULL) {
        int k;
        for (k = 0; k < mc->n; k++) {
            rp_mc_server_t *sv = mc->servers[k];
            int running;
            if (sv == NULL) {
                continue;
            }
            pthread_mutex_lock(&sv->mu);
            running = sv->resolving;
            sv->orphan = 1;            /* the resolver frees it */
            pthread_mutex_unlock(&sv->mu);
            if (!running) {
                free_server(sv);
            }
            mc->servers[k] = NULL;
        }
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

/* sv's addresses into *out (out->n 0 when it does not resolve); may take
 * as long as the resolver does. */
static void resolve(const rp_mc_server_t *sv, rp_mc_addrs_t *out)
{
    struct addrinfo hints, *res = NULL, *ai;

    out->n = 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(sv->host, sv->port, &hints, &res) != 0) {
        res = NULL;
    }
    for (ai = res; ai != NULL && out->n < ADDRS_MAX; ai = ai->ai_next) {
        if (ai->ai_addrlen <= sizeof(out->addr[0])) {
            memcpy(&out->addr[out->n], ai->ai_addr, ai->ai_addrlen);
            out->len[out->n++] = ai->ai_addrlen;
        }
    }
    if (res != NULL) {
        freeaddrinfo(res);
    }
}

static void free_server(rp_mc_server_t *sv)
{
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->cv);
    free(sv);
}

static void *resolver(void *data)
{
    rp_mc_server_t *sv = data;
    rp_mc_addrs_t a;
    int orphan;

    resolve(sv, &a);                   /* host, port: never written again */
    pthread_mutex_lock(&sv->mu);
    if (a.n > 0) {
        sv->addrs = a;
        sv->next = 0;
        sv->stale = 0;
    }
    sv->gen++;
    sv->resolving = 0;
    orphan = sv->orphan;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    if (orphan) {
        free_server(sv);
    }
    return NULL;
}

/* With sv->mu held: a resolution of sv (a new one, or the one under way)
 * waited for until the deadline.  0: it ended (sv->addrs is its result,
 * or the last good one); 1: it is still under way, the deadline passed;
 * -1: no thread to resolve with. */
static int resolve_until(rp_mc_server_t *sv, int64_t deadline_us)
{
    unsigned gen = sv->gen;

    if (!sv->resolving) {
        pthread_attr_t at;
        pthread_t th;
        int rc;

        if (pthread_attr_init(&at) != 0) {
            return -1;
        }
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &at, resolver, sv);
        pthread_attr_destroy(&at);
        if (rc != 0) {
            return -1;
        }
        sv->resolving = 1;             /* it waits for mu, held here */
    }
    while (sv->gen == gen) {
        struct timespec ts;

        if (mono_us() >= deadline_us) {
            return 1;
        }
        ts.tv_sec = (time_t)(deadline_us / 1000000);
        ts.tv_nsec = (long)(deadline_us % 1000000) * 1000;
        (void)pthread_cond_timedwait(&sv->cv, &sv->mu, &ts);
    }
    return 0;
}

/* A server for host and port, resolved before the deadline if it can be
 * (else by the time a connection is wanted); NULL when out of memory or
 * the name is too long. */
static rp_mc_server_t *new_server(const char *host, unsigned port,
                                  int64_t deadline_us)
{
    rp_mc_server_t *sv;
    pthread_condattr_t ca;
    unsigned char any[sizeof(struct in6_addr)];

    if (strlen(host) >= sizeof(sv->host)
        || (sv = calloc(1, sizeof(*sv))) == NULL) {
        return NULL;
    }
    memcpy(sv->host, host, strlen(host) + 1);
    snprintf(sv->port, sizeof(sv->port), "%u", port);
    sv->numeric = inet_pton(AF_INET, host, any) == 1
                  || inet_pton(AF_INET6, host, any) == 1;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sv->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&sv->mu);
    if (sv->numeric || resolve_until(sv, deadline_us) < 0) {
        resolve(sv, &sv->addrs);       /* no resolver asked: at once */
    }
    pthread_mutex_unlock(&sv->mu);
    return sv;
}

rp_mc_t *rp_mc_create(apr_pool_t *p, const char *const *servers, int n,
                      int64_t timeout_us, int max_connections,
                      rp_breaker_t *breakers, const char **err)
{
    /* the handle outlives p a little (see destroy_mc): from its parent */
    apr_pool_t *hp = apr_pool_parent_get(p) ? apr_pool_parent_get(p) : p;
    rp_mc_t *mc = apr_pcalloc(hp, sizeof(*mc));
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
    mc->servers = apr_pcalloc(hp, sizeof(*mc->servers) * (size_t)n);
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
        mc->servers[i] = new_server(host, port, mono_us() + timeout_us);
        if (mc->servers[i] == NULL) {
            *err = apr_psprintf(p, "bad memcached server '%s'", servers[i]);
            return NULL;
        }
    }
    /* one slot of sockets per connection object the pool can hand out */
    mc->n_slots = max_connections > 0 ? max_connections : 1;
    mc->slots = apr_palloc(hp, sizeof(*mc->slots) * (size_t)mc->n_slots);
    for (i = 0; i < mc->n_slots; i++) {
        int k;
        for (k = 0; k < RP_BREAKER_MAX_SERVERS; k++) {
            mc->slots[i].fd[k] = -1;
        }
    }
    /* libmemcached opens no socket (command() does, with its own
     * deadline): it only spreads the keys, with consistent hashing so
     * that adding a server moves few keys, and never ejects a server
     * from the ring (which would move keys too): our breaker decides */
    memcached_behavior_set(mc->master, MEMCACHED_BEHAVIOR_KETAMA, 1);
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
    int open;                          /* the breaker let the call be made */
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
        c->slot = memcached_get_user_data(c->memc);
        if (c->slot == NULL) {
            /* a connection object the pool made since: its own sockets
             * (the pool makes at most n_slots of them) */
            int i = __atomic_fetch_add(&c->mc->next_slot, 1,
                                       __ATOMIC_ACQ_REL);
            if (i < c->mc->n_slots) {
                c->slot = &c->mc->slots[i];
                memcached_set_user_data(c->memc, c->slot);
            }
        }
        if (c->slot == NULL) {
            /* more objects than slots: cannot be (the pool's limit is
             * n_slots), and never a server's fault */
            memcached_pool_push(c->mc->pool, c->memc);
            c->memc = NULL;
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

/* May a call be made to server now (its breaker asked once)? */
static int gate_server(rp_mc_conn_t *c, int server, gate_t *g, int64_t now)
{
    g->server = server;
    g->probe = 0;
    g->open = c->mc->breakers == NULL || server < 0 || server >= c->mc->n
              || rp_breaker_allow(&c->mc->breakers[server], now, &g->probe);
    return g->open;
}

static int gate_open(rp_mc_conn_t *c, const char *key, size_t klen,
                     gate_t *g, int64_t now)
{
    g->server = -1;
    g->probe = 0;
    g->open = 0;
    if (conn_memc(c) == NULL) {
        return 0;                      /* nothing to talk with */
    }
    return gate_server(c, (int)memcached_generate_hash(c->memc, key, klen),
                       g, now);
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

/* --- the text protocol over this slot's sockets ----------------------- */

/* The largest value a get takes: an entry holds at most a 64 MB body,
 * its headers and its key. */
#define VALUE_MAX ((size_t)RP_ENTRY_MAX_BODY + (2u << 20))


typedef struct {
    int fd;
    int64_t deadline_us;
    size_t got;                    /* bytes of the reply read so far */
} io_t;

/* Until the deadline, for fd to be ready for events: 1, 0 past the
 * deadline, -1 on an error. */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
    for (;;) {
        struct pollfd pfd;
        int64_t left = deadline_us - mono_us();
        int rc;

        if (left <= 0) {
            return 0;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        rc = poll(&pfd, 1, (int)((left + 999) / 1000));
        if (rc > 0) {
            return 1;
        }
        if (rc < 0 && errno != EINTR) {
            return -1;
        }
    }
}

static long io_recv(void *baton, char *buf, size_t len)
{
    io_t *io = baton;

    for (;;) {
        ssize_t n = recv(io->fd, buf, len, MSG_DONTWAIT);
        int w;

        if (n >= 0) {
            io->got += (size_t)n;
            return (long)n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -1;
        }
        if ((w = wait_fd(io->fd, POLLIN, io->deadline_us)) <= 0) {
            return w == 0 ? -2 : -1;
        }
    }
}

/* All of iov[0..n) to fd before the deadline (iov is consumed). */
static rp_mct_rc_t send_all(int fd, struct iovec *iov, int n,
                            int64_t deadline_us)
{
    while (n > 0) {
        struct msghdr msg;
        ssize_t sent;

        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        sent = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            int w;
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return RP_MCT_IO;
            }
            if ((w = wait_fd(fd, POLLOUT, deadline_us)) <= 0) {
                return w == 0 ? RP_MCT_TIMEOUT : RP_MCT_IO;
            }
            continue;
        }
        while (n > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return RP_MCT_OK;
}

/* A connection to addr before the deadline: its socket, or -1 (*timed_out
 * says whether the deadline passed). */
static int open_addr(const struct sockaddr_storage *addr, socklen_t len,
                     int64_t deadline_us, int *timed_out)
{
    int fd, one = 1, err = 0, w;
    socklen_t elen = sizeof(err);

    fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)addr, len) == 0) {
        return fd;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        close(fd);
        return -1;
    }
    w = wait_fd(fd, POLLOUT, deadline_us);
    if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0
        || err != 0) {
        *timed_out = w == 0;
        close(fd);
        return -1;
    }
    return fd;
}

/* A new connection to server before the deadline: its addresses in
 * turn, from the one to try first; when all have failed, the next
 * attempt resolves the name again first. */
static int open_server(rp_mc_t *mc, int server, int64_t deadline_us,
                       int *timed_out)
{
    rp_mc_server_t *sv = mc->servers[server];
    rp_mc_addrs_t a;
    unsigned gen;
    int i, start, fd = -1;

    *timed_out = 0;
    pthread_mutex_lock(&sv->mu);
    if (!sv->numeric && (sv->addrs.n == 0 || sv->stale)) {
        int r = resolve_until(sv, deadline_us);
        if (r == 1) {
            pthread_mutex_unlock(&sv->mu);
            *timed_out = 1;            /* the resolver has not answered */
            return -1;
        }
        if (r < 0 && sv->addrs.n == 0) {
            resolve(sv, &sv->addrs);   /* no thread: at once */
        }
    }
    a = sv->addrs;
    start = sv->next < a.n ? sv->next : 0;
    gen = sv->gen;
    pthread_mutex_unlock(&sv->mu);
    for (i = start; i < a.n; i++) {
        fd = open_addr(&a.addr[i], a.len[i], deadline_us, timed_out);
        if (fd >= 0 || *timed_out) {
            break;
        }
    }
    pthread_mutex_lock(&sv->mu);
    if (sv->gen == gen) {              /* not resolved again meanwhile */
        if (fd >= 0) {
            sv->next = i;
        }
        else if (*timed_out && i + 1 < a.n) {
            sv->next = i + 1;          /* the next attempt goes on */
        }
        else {
            sv->next = 0;              /* every address failed */
            sv->stale = !sv->numeric;
        }
    }
    pthread_mutex_unlock(&sv->mu);
    return fd;
}

static void close_server(rp_mc_conn_t *c, int server)
{
    if (c->slot->fd[server] >= 0) {
        close(c->slot->fd[server]);
        c->slot->fd[server] = -1;
    }
}

typedef rp_mct_rc_t (*read_reply_fn)(rp_mct_reader_t *r, void *baton);

/* One command to server: iov sent, then the reply read by read_reply,
 * all within the timeout.  A connection kept from an earlier request
 * that turns out closed (the server restarted) before a byte of the
 * reply came is opened again, once.  The connection is kept only after
 * a reply read to its end. */
static rp_mct_rc_t command(rp_mc_conn_t *c, int server, struct iovec *iov,
                           int n_iov, apr_pool_t *vp, read_reply_fn read_reply,
                           void *baton)
{
    rp_mct_reader_t rd;
    char line[RP_MCT_LINE_MAX + 2];   /* a one-line reply's buffer */
    struct iovec saved[4];
    int64_t deadline = mono_us() + c->mc->timeout_us;
    int attempt;

    if (c->slot == NULL || server < 0 || server >= c->mc->n || n_iov > 4) {
        return RP_MCT_IO;
    }
    memcpy(saved, iov, sizeof(*iov) * (size_t)n_iov);
    for (attempt = 0; attempt < 2; attempt++) {
        int reused = c->slot->fd[server] >= 0;
        io_t io;
        rp_mct_rc_t rc;

        if (reused) {
            /* a kept connection holds nothing before a question is
             * asked: bytes there (a server that sent more, later, than
             * its last reply) would be read as this one's answer, and
             * each answer after as that of the question before; closed
             * (memcached restarted): a new one, before the command is
             * sent (an add sent twice would answer "not stored") */
            char b;
            ssize_t n = recv(c->slot->fd[server], &b, 1,
                             MSG_PEEK | MSG_DONTWAIT);
            if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK
                           && errno != EINTR)) {
                close_server(c, server);
                reused = 0;
            }
        }
        if (!reused) {
            int timed_out;
            c->slot->fd[server] = open_server(c->mc, server, deadline,
                                              &timed_out);
            if (c->slot->fd[server] < 0) {
                return timed_out ? RP_MCT_TIMEOUT : RP_MCT_IO;
            }
        }
        memcpy(iov, saved, sizeof(*iov) * (size_t)n_iov);
        io.fd = c->slot->fd[server];
        io.deadline_us = deadline;
        io.got = 0;
        rc = send_all(io.fd, iov, n_iov, deadline);
        if (rc == RP_MCT_OK) {
            if (vp != NULL) {          /* a get: values, into vp */
                char *buf;
                /* the spare is the connection's pool's, as long-lived as
                 * the handle; a get into another pool (a purge's, which
                 * may be gone by the next call) takes a buffer of its own */
                if (vp != c->p) {
                    buf = apr_palloc(vp, GET_REPLY_BUF);
                }
                else {
                    if (c->spare == NULL) {
                        c->spare = apr_palloc(c->p, GET_REPLY_BUF);
                    }
                    buf = c->spare;
                }
                rp_mct_reader_init(&rd, io_recv, &io, vp, buf, GET_REPLY_BUF,
                                   IN_PLACE_MIN);
            }
            else {
                rp_mct_reader_init(&rd, io_recv, &io, c->p, line,
                                   sizeof(line), 0);
            }
            rc = read_reply(&rd, baton);
            if (rd.pinned && vp == c->p) {
                c->spare = NULL;       /* a value lies in it */
            }
            if (rc != RP_MCT_IO && rc != RP_MCT_TIMEOUT
                && rc != RP_MCT_PROTOCOL && rc != RP_MCT_CLIENT_ERROR
                && !rp_mct_reader_pending(&rd)) {
                return rc;             /* a whole reply: the stream is in step */
            }
            if (rc == RP_MCT_OK || rc == RP_MCT_NOTFOUND
                || rc == RP_MCT_NOTSTORED || rc == RP_MCT_EXISTS) {
                rc = RP_MCT_PROTOCOL;  /* more than the reply: out of step */
            }
        }
        close_server(c, server);
        if (!(reused && rc == RP_MCT_IO && io.got == 0)) {
            return rc;
        }
    }
    return RP_MCT_IO;
}

/* As libmemcached would have said it, for map_rc() and the breaker. */
static memcached_return_t mct_rc(rp_mct_rc_t rc)
{
    switch (rc) {
    case RP_MCT_OK:           return MEMCACHED_SUCCESS;
    case RP_MCT_NOTFOUND:     return MEMCACHED_NOTFOUND;
    case RP_MCT_NOTSTORED:    return MEMCACHED_NOTSTORED;
    case RP_MCT_EXISTS:       return MEMCACHED_DATA_EXISTS;
    case RP_MCT_SERVER_ERROR: return MEMCACHED_SERVER_ERROR;
    case RP_MCT_CLIENT_ERROR: return MEMCACHED_CLIENT_ERROR;
    case RP_MCT_PROTOCOL:     return MEMCACHED_PROTOCOL_ERROR;
    case RP_MCT_TIMEOUT:      return MEMCACHED_TIMEOUT;
    case RP_MCT_IO:           break;
    }
    return MEMCACHED_CONNECTION_FAILURE;
}

/* The most keys one multi-get asks: a page's 64 tags with the URL's
 * generation and the tag epoch (rp_cache_store.c), and room to spare. */
#define MGET_MAX 128

typedef struct {
    apr_pool_t *p;
    rp_store_item_t *items;
    const size_t *idx;
    size_t m;
} values_t;

static rp_mct_rc_t read_values(rp_mct_reader_t *r, void *baton)
{
    values_t *v = baton;
    size_t k;

    for (k = 0; k < v->m; k++) {       /* a second attempt starts afresh */
        rp_store_item_t *it = &v->items[v->idx[k]];
        it->value = NULL;
        it->value_len = 0;
        it->rc = RP_ST_NOTFOUND;
    }
    return rp_mct_read_values(r, v->p, v->items, v->idx, v->m, VALUE_MAX);
}

/* One server's share of a multi-get: the keys idx[0..m) of items, all
 * held by server.  Returns that server's answer code. */
static memcached_return_t mget_one_server(rp_mc_conn_t *c, apr_pool_t *p,
                                          int server, rp_store_item_t *items,
                                          const size_t *idx, size_t m)
{
    const char *keys[MGET_MAX];
    size_t lens[MGET_MAX], len, k;
    /* "get" and, per key, a space and at most RP_MCT_KEY_MAX bytes */
    char *req;
    struct iovec iov;
    values_t v;

    for (k = 0; k < m; k++) {
        keys[k] = items[idx[k]].key;
        lens[k] = items[idx[k]].key_len;
    }
    req = apr_palloc(p, 5 + m * (RP_MCT_KEY_MAX + 1));
    len = rp_mct_get_request(req, 5 + m * (RP_MCT_KEY_MAX + 1), keys, lens,
                             m);
    if (len == 0) {
        return MEMCACHED_BAD_KEY_PROVIDED;
    }
    iov.iov_base = req;
    iov.iov_len = len;
    v.p = p;
    v.items = items;
    v.idx = idx;
    v.m = m;
    return mct_rc(command(c, server, &iov, 1, p, read_values, &v));
}

/* A multi-get asks each server for its keys in turn, one call each: the
 * server's breaker is asked once and told once per call, whatever the
 * number of keys (one timed-out call of three keys is one failure, not
 * the three that open the breaker), and a dead server among live ones
 * is seen as dead, not as "not found".  With one server (or all keys on
 * one) it is a single round trip. */
static rp_st_rc_t mc_mget(void *ctx, apr_pool_t *p, rp_store_item_t *items,
                          size_t n)
{
    rp_mc_conn_t *c = ctx;
    size_t group[MGET_MAX];
    int server_of[MGET_MAX];
    gate_t gates[MGET_MAX];            /* one per server, in first-seen order */
    size_t i, k, g, n_gates = 0;
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
        items[i].rc = RP_ST_NOTFOUND;
        server_of[i] = (int)memcached_generate_hash(c->memc, items[i].key,
                                                    items[i].key_len);
        for (k = 0; k < n_gates && gates[k].server != server_of[i]; k++) {
        }
        if (k == n_gates) {
            gate_server(c, server_of[i], &gates[n_gates++], now);
        }
    }
    for (k = 0; k < n_gates; k++) {
        gate_t *gt = &gates[k];

        if (gt->open && k > 0 && !within_budget(c, mono_us())) {
            /* one server's share after another: the run may be over */
            gt->open = 0;
            if (gt->probe) {
                /* the probe it took, handed back untried */
                gt->probe = 0;
                rp_breaker_set(&c->mc->breakers[gt->server], RP_BRK_DOWN,
                               now);
            }
        }
        g = 0;
        for (i = 0; i < n; i++) {
            if (server_of[i] == gt->server) {
                group[g++] = i;
            }
        }
        if (!gt->open) {
            for (i = 0; i < g; i++) {
                items[group[i]].rc = RP_ST_DOWN;
            }
            out = RP_ST_DOWN;
            continue;
        }
        rc = mget_one_server(c, p, gt->server, items, group, g);
        gate_close(c, gt, rc);
        if (rc == MEMCACHED_SUCCESS) {
            continue;
        }
        for (i = 0; i < g; i++) {
            if (items[group[i]].rc != RP_ST_OK) {
                items[group[i]].rc = map_rc(rc) == RP_ST_OK ? RP_ST_ERROR
                                                            : map_rc(rc);
            }
        }
        if (out == RP_ST_OK) {
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

static rp_mct_rc_t read_status(rp_mct_reader_t *r, void *baton)
{
    (void)baton;
    return rp_mct_read_status(r);
}

static rp_mct_rc_t read_incr(rp_mct_reader_t *r, void *baton)
{
    return rp_mct_read_incr(r, baton);
}

static rp_st_rc_t store_cmd(void *ctx, const char *key, size_t klen,
                            const char *val, size_t vlen, uint32_t ttl_s,
                            int add)
{
    rp_mc_conn_t *c = ctx;
    gate_t g;
    memcached_return_t rc;
    int64_t now = mono_us();
    char head[RP_MCT_KEY_MAX + 64];
    struct iovec iov[3];
    size_t hlen;

    if (!within_budget(c, now) || !gate_open(c, key, klen, &g, now)) {
        return RP_ST_DOWN;
    }
    hlen = rp_mct_store_header(head, sizeof(head), add, key, klen, ttl_s,
                               vlen);
    if (hlen == 0) {
        rc = MEMCACHED_BAD_KEY_PROVIDED;
    }
    else {
        iov[0].iov_base = head;
        iov[0].iov_len = hlen;
        iov[1].iov_base = (void *)val;
        iov[1].iov_len = vlen;
        iov[2].iov_base = (void *)"\r\n";
        iov[2].iov_len = 2;
        rc = mct_rc(command(c, g.server, iov, 3, NULL, read_status, NULL));
    }
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
    {
        char req[RP_MCT_KEY_MAX + 16];
        struct iovec iov;

        iov.iov_base = req;
        iov.iov_len = rp_mct_delete_request(req, sizeof(req), key, klen);
        rc = iov.iov_len == 0
             ? MEMCACHED_BAD_KEY_PROVIDED
             : mct_rc(command(c, g.server, &iov, 1, NULL, read_status, NULL));
    }
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
    {
        char req[RP_MCT_KEY_MAX + 32];
        struct iovec iov;

        iov.iov_base = req;
        iov.iov_len = rp_mct_incr_request(req, sizeof(req), key, klen, delta);
        rc = iov.iov_len == 0
             ? MEMCACHED_BAD_KEY_PROVIDED
             : mct_rc(command(c, g.server, &iov, 1, NULL, read_incr, newval));
    }
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
    memcached_pool_push(c->mc->pool, c->memc);
    c->memc = NULL;
    c->slot = NULL;
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
