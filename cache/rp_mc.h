/*
 * rp_mc.h: the store interface (rp_store.h) over memcached.
 *
 * One rp_mc_t per child process (created in child_init) holds a
 * libmemcached memcached_pool of connection objects sized to the child's
 * threads; a request borrows one at its first memcached operation,
 * without waiting (an exhausted pool means "down", so the request goes to
 * the backend instead of queueing), and gives it back as soon as its
 * memcached calls are done (rp_mc_park), or at the latest when it ends.
 * A request answered from the local tier never borrows one.  libmemcached
 * spreads the keys with consistent hashing (ketama); each connection
 * object owns one socket per server, over which the commands go in the
 * text protocol (rp_mc_text.h), each call, from connecting to the last
 * byte of its answer, bounded by the configured timeout.  Each call first
 * asks the shared circuit breaker of the server that holds the key
 * (rp_breaker.h): a server known to be down is not called at all.
 */
#ifndef RP_MC_H
#define RP_MC_H

#include <stdint.h>
#include <apr_pools.h>
#include "rp_store.h"
#include "rp_breaker.h"

typedef struct rp_mc_t rp_mc_t;

/* servers: "host:port" strings.  breakers: shared memory with at least
 * n entries (NULL: no breaker).  Returns NULL with *err set on failure. */
rp_mc_t *rp_mc_create(apr_pool_t *p, const char *const *servers, int n,
                      int64_t timeout_us, int max_connections,
                      rp_breaker_t *breakers, const char **err);

/* A store over this child's connections; the connection itself is
 * borrowed at the first operation (which reports RP_ST_DOWN when none is
 * free).  Returns 0. */
int rp_mc_acquire(rp_mc_t *mc, apr_pool_t *p, rp_store_t *out);
/* Give the connection back between operations: the store stays usable
 * and the next operation borrows one again.  A request parks it while the
 * backend works and while its response is written, so that a connection
 * is only out during memcached calls (the event MPM finishes writing a
 * response after its worker thread has moved on to another request). */
void rp_mc_park(rp_store_t *s);
/* Hold the calls of s to the timeout per run: calls made back to back
 * (from the first after this, a park or a rest, to the next park or
 * rest) stop once the run has lasted the timeout; a later call is not
 * made and reports RP_ST_DOWN without counting against the server's
 * breaker.  A delete is always made (it gives back a lock).  For a
 * request's lookup and store; purges are not limited. */
void rp_mc_limit(rp_store_t *s);
/* Whether a call of s was not made for the limit. */
int rp_mc_over(const rp_store_t *s);
/* Give it back for good (also done by a cleanup of the pool given to
 * acquire). */
void rp_mc_release(rp_store_t *s);

/* Every server is known down and not yet due for a probe: a request
 * need not build keys or borrow a connection at all. */
int rp_mc_all_down(const rp_mc_t *mc);

int rp_mc_nservers(const rp_mc_t *mc);
const char *rp_mc_server_name(const rp_mc_t *mc, int i);

/* Parse "host:port"; 0 or -1. */
int rp_mc_parse_server(apr_pool_t *p, const char *s, const char **host,
                       unsigned *port);

#endif
