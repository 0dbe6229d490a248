/*
 * mod_reqperf_cache.h: what the page cache's glue files share.
 *
 * mod_reqperf_cache.c serves and stores; mod_reqperf_cache_key.c decides
 * whose page a request asks for and what its key is, from the request as
 * the client sent it.  Both work on one reqperf_cache_req_t per request,
 * made when the request has been read.
 */
#ifndef MOD_REQPERF_CACHE_H
#define MOD_REQPERF_CACHE_H

#include "mod_reqperf.h"
#include "cache/rp_cache.h"
#include "cache/rp_interim.h"
#include "cache/rp_mc.h"
#include "cache/rp_local.h"

/* The cache's settings where a request is, defaults applied
 * (mod_reqperf_config.c, the only place that applies them). */
typedef struct {
    rp_cache_conf_t lookup;            /* TTL, grace, stale-if-error, lock */
    apr_size_t max_size;               /* ReqPerfCacheMaxSize */
} reqperf_cache_dir_t;
reqperf_cache_dir_t reqperf_cache_dir(const reqperf_dir_conf_t *d);

/* The server's, likewise. */
typedef struct {
    apr_interval_time_t timeout;       /* ReqPerfCacheTimeout */
    int quick;                         /* ReqPerfCacheQuick */
    apr_size_t local_size;             /* ReqPerfCacheLocal; 0: off */
    apr_interval_time_t local_ttl;     /* ReqPerfCacheLocalTTL */
} reqperf_cache_srv_t;
reqperf_cache_srv_t reqperf_cache_srv(const reqperf_srv_conf_t *s);

/* The request as the client sent it, taken at post_read_request before any
 * other module could change it (mod_headers' "early" edits, mod_remoteip,
 * mod_rewrite, mod_setenvif all come later). */
typedef struct {
    const char *method;
    const char *unparsed_uri;          /* the request-target */
    const char *args;                  /* its query, NULL when none */
    const char *hostname;              /* Apache's normalised Host */
    unsigned host_port;                /* the port the Host named, 0 if none */
    const char *scheme;                /* "http" or "https" */
    apr_table_t *headers;              /* a copy of headers_in */
    apr_pool_t *pool;
    /* headers_in again once every post_read_request hook ran (mod_headers'
     * "early" edits, which the backend sees, and so does the key) */
    apr_table_t *keyed;
    const char *client;                /* r->useragent_ip then (after
                                          mod_remoteip): what mod_proxy
                                          appends to X-Forwarded-For */
    request_rec *live;                 /* set while the lookup may compare */
} reqperf_sent_t;

/* What the .htaccess files Apache applied read of the request. */
typedef struct {
    const struct htaccess_result *seen;  /* r->htaccess when they were read */
    reqperf_config_reads_t reads;      /* what they read (headers, envs) */
    int unreadable;                    /* one could not be read again, or
                                          reads what is keyed only from the
                                          tree (Header echo, the client) */
} reqperf_htaccess_reads_t;

typedef struct reqperf_cache_req_t {
    reqperf_sent_t sent;
    int looked_up;                     /* the lookup ran (or bypassed) */
    const reqperf_dir_conf_t *lookup_conf;  /* the configuration it ran with */
    request_rec *lookup_req;           /* the request that looked it up in
                                          the handler phase, after its
                                          access control (NULL: quick) */
    rp_lookup_t lk;
    rp_store_t store;
    int have_store;
    rp_cache_conf_t conf;
    int capture;                       /* a miss whose answer we may store */
    int gave_up;
    int headers_done;
    int discarding;                    /* a stale copy stood in: drop the rest */
    const char *tags;                  /* X-ReqPerf-Tags of the response */
    const char *server_vary;           /* Vary set in Apache before the
                                          handler (mod_rewrite's), by
                                          included parts, and the
                                          handler's own (REQPERF_VARY) */
    const char *env_key;               /* the environment the key holds */
    reqperf_htaccess_reads_t ht;       /* ... and the lookup's .htaccess */
    rp_nostore_t sub_nostore;          /* an included part says: not stored */
    const request_rec *died;           /* answered by ap_die (an error, a
                                          Redirect), not by its handler */
    const char *cookies_sent;          /* the (ignored) cookies the backend
                                          is sent: an answer holding one
                                          is not stored */
    int no_fill;                       /* served from the key's entry, never
                                          stored under it: an ignored query
                                          parameter came, or a cookie set
                                          since the request was read */
    int ssi_read;                      /* REQPERF_SSI read the page's SSI */
    int ssi_personal;                  /* ... and it reads who is asking */
    apr_array_header_t *parts;         /* subrequests made while stored
                                          (request_rec *; NULL: gone) */
    int64_t sub_max_fresh_s;           /* ... or fresh only this long; -1 */
    char *buf;                         /* the body, held until it is whole */
    apr_size_t len, cap, max;
    apr_size_t sent_len;               /* bytes of buf already sent on */
    int streaming;                     /* held too long: sent as it comes */
    apr_time_t held_since;
    int observing;                     /* ReqPerfCache Observe: judged, never
                                          held, stored or served; len counts
                                          the body, buf stays NULL */
} reqperf_cache_req_t;

/* What a lookup decided before asking any store (reqperf_cache_decide). */
typedef enum {
    REQPERF_DECIDED_LOOKUP = 0,        /* look up (or refresh: .refresh) */
    REQPERF_DECIDED_BYPASS,            /* .why: personal, a method ... */
    REQPERF_DECIDED_UNKEYED,           /* a keyed header changed on the way */
    REQPERF_DECIDED_NO_KEY             /* the URL cannot be keyed */
} reqperf_decided_t;

typedef struct {
    rp_bypass_t why;
    int refresh;                       /* client no-cache: fetch and store */
    const char *resource, *full;       /* LOOKUP: the keys */
} reqperf_decision_t;

/* What the start of a response rules out (reqperf_cache_start_verdict). */
typedef enum {
    REQPERF_START_OK = 0,
    REQPERF_START_NOSTORE,             /* *why */
    REQPERF_START_ELSEWHERE,           /* served where the mode differs */
    REQPERF_START_ERROR_DOCUMENT,
    REQPERF_START_KEY_CONF,            /* quick mode: another key config */
    REQPERF_START_REDIRECTED           /* served by an internal redirect of
                                          the request that looked it up */
} reqperf_start_t;

/* mod_reqperf_cache.c: the decisions, one place each, that On and Observe
 * share (mode: REQPERF_CACHE_ON or REQPERF_CACHE_OBSERVE). */
int reqperf_cache_chain_is_clean(request_rec *r, int mode);
reqperf_decided_t reqperf_cache_decide(request_rec *r,
                                       const reqperf_dir_conf_t *d,
                                       reqperf_cache_req_t *cr,
                                       reqperf_decision_t *out);
/* Whether the request's query holds a ReqPerfCacheIgnoreQuery parameter:
 * its key leaves it out, the backend does not, so its answer is served
 * from the key's entry but never stored (an application that writes its
 * URL into the page would write the parameter there for everyone). */
int reqperf_cache_query_ignored(const reqperf_cache_req_t *cr,
                                const reqperf_dir_conf_t *d);

/* A request the cache handles carries only cookies ReqPerfCacheIgnoreCookie
 * lists (any other is BYPASS cookie), and the backend gets them: the
 * Cookie header it is sent is kept in cr->cookies_sent, and an answer
 * that holds one of their values is not stored, since the key does not
 * hold them.  Non-zero when the header now holds a cookie that is not
 * listed (the configuration set it since the request was read): then the
 * answer is not stored at all. */
int reqperf_cache_cookies_sent(request_rec *r, const reqperf_dir_conf_t *d,
                               reqperf_cache_req_t *cr);

/* What an answer to a request sent these cookies must not hold: each
 * value (3 bytes or more) as sent, percent-decoded and HTML-escaped, and
 * its runs of 6 or more letters and digits; NULL when it sent none.  *over
 * when there are more than 64 (the answer is then not searched: not
 * stored). */
apr_array_header_t *reqperf_cache_cookie_needles(request_rec *r,
                                                 const char *cookies,
                                                 int *over);

void reqperf_cache_setup(request_rec *r, const reqperf_dir_conf_t *d,
                         reqperf_cache_req_t *cr, const char *resource,
                         const char *full);
void reqperf_cache_keep_server_vary(request_rec *r, reqperf_cache_req_t *cr);
reqperf_start_t reqperf_cache_start_verdict(request_rec *r,
                                            reqperf_cache_req_t *cr,
                                            int mode, rp_nostore_t *why);
rp_nostore_t reqperf_cache_whole_facts(request_rec *r,
                                       reqperf_cache_req_t *cr,
                                       rp_cache_response_t *resp);

/* mod_reqperf_advice.c: what the cache (On) tells the advisor. */
void reqperf_advice_decided(request_rec *r, reqperf_cache_req_t *cr,
                            const reqperf_dir_conf_t *d, int mode,
                            reqperf_decided_t decided,
                            const reqperf_decision_t *dec);
void reqperf_advice_refused(request_rec *r, rp_nostore_t why);
void reqperf_advice_stored(request_rec *r, reqperf_cache_req_t *cr,
                           rp_store_outcome_t out);

/* mod_reqperf_cache_key.c */
void reqperf_cache_snapshot(request_rec *r, reqperf_cache_req_t *cr);
void reqperf_cache_snapshot_keyed(request_rec *r, reqperf_cache_req_t *cr);
const char *reqperf_sent_header(const reqperf_cache_req_t *cr,
                                const char *name);
/* the value the key holds for a header (the core calls it back, with the
 * reqperf_cache_req_t as its baton) */
extern const rp_header_get_fn reqperf_keyed_header;
rp_bypass_t reqperf_cache_whose(request_rec *r, const reqperf_cache_req_t *cr,
                                const reqperf_dir_conf_t *d, int *refresh);
int reqperf_cache_request_authenticated(request_rec *r);
int reqperf_cache_key(request_rec *r, const reqperf_cache_req_t *cr,
                      const reqperf_dir_conf_t *d, const char **resource,
                      const char **full);
const char *reqperf_cache_request_resource(request_rec *r,
                                           const reqperf_cache_req_t *cr,
                                           const reqperf_dir_conf_t *d);
const char *reqperf_cache_resource(request_rec *r, const char *path,
                                   const char *query,
                                   const reqperf_dir_conf_t *d);
const char *reqperf_cache_server_vary(request_rec *r);
void reqperf_cache_config_reads(apr_pool_t *p, server_rec *s);
const char *reqperf_cache_env_key(request_rec *r,
                                  const reqperf_cache_req_t *cr);
int reqperf_cache_htaccess_take(request_rec *r, reqperf_cache_req_t *cr);

/* mod_reqperf_cache_ssi.c: what a stored page's SSI reads of the request */
void reqperf_cache_ssi_config(apr_pool_t *p);
void reqperf_cache_ssi_add_filter(request_rec *r);
void reqperf_cache_ssi_judge(request_rec *r, reqperf_cache_req_t *cr);
void reqperf_cache_ssi_register_hooks(apr_pool_t *p);
int reqperf_cache_inputs_changed(request_rec *r,
                                 const reqperf_cache_req_t *cr,
                                 const reqperf_dir_conf_t *d,
                                 const char *vary);

/* ---------------------------------------------------------------- */
/* shared by the cache glue files                                    */

static inline reqperf_dir_conf_t *reqperf_dconf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &reqperf_module);
}

static inline reqperf_srv_conf_t *reqperf_sconf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &reqperf_module);
}

int reqperf_cache_redirects(request_rec *r);

static inline reqperf_cache_req_t *reqperf_cache_req(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);

    return rs != NULL ? rs->cache : NULL;
}

static inline void reqperf_count(rp_counter_t c)
{
    rp_stats_t *st = reqperf_stats();

    if (st != NULL) {
        rp_stats_count(st, c, 1);
    }
}

/* mod_reqperf_cache.c */
void reqperf_cache_register_hooks(apr_pool_t *p);
/* The request's cache result (X-Cache, the notes, the statistics), and
 * what more it says (RP_CACHE_FLAG_*): reqperf_cache_outcome_t. */
void reqperf_cache_note(request_rec *r, rp_cache_result_t result,
                        const char *x_cache);
void reqperf_cache_flag(request_rec *r, unsigned flag,
                        apr_int64_t lock_wait_us);
void reqperf_count_local_evictions(reqperf_cache_req_t *cr);
/* The stored status and headers become the response's. */
void reqperf_cache_entry_to_response(request_rec *r, const rp_entry_t *e,
                                     int64_t age_s);

/* mod_reqperf_cache_store.c */
void reqperf_cache_store_register_hooks(apr_pool_t *p);
void reqperf_cache_add_filter(request_rec *r, reqperf_cache_req_t *cr);
/* REQPERF_VARY: the Vary (and Content-Encoding) of the response as its
 * handler made it, before mod_headers' output edits ("Header unset
 * Vary" hides from the client what the page still varies on). */
void reqperf_cache_add_vary_filter(request_rec *r, reqperf_cache_req_t *cr);
const char *reqperf_all_of(request_rec *r, const char *name);
/* The fill lock the lookup took goes at the latest with the request. */
void reqperf_cache_release_at_end(request_rec *r, reqperf_cache_req_t *cr);

/* mod_reqperf_purge.c */
void reqperf_purge_register_hooks(apr_pool_t *p);
void reqperf_cache_response_headers(request_rec *r, reqperf_cache_req_t *cr);
void reqperf_cache_interim_reset(conn_rec *c);
void reqperf_cache_interim_done(request_rec *r);
/* Make the purges memcached did not take when they were asked
 * (cache/rp_pending.h), a few at a time, before this request's own
 * lookup or purges: one atomic load when none waits. */
void reqperf_purges_flush(request_rec *r, rp_store_t *store);

/* mod_reqperf_cache_child.c: what post_config made (the same in every
 * child) and child_init connected. */
typedef struct {
    int n_servers;                     /* ReqPerfCacheServers; 0: none */
    const char **server_names;
    rp_breaker_t *breakers;            /* shared memory, one per server */
    struct rp_pending_t *pending;      /* purges to make once memcached
                                          answers (shared, with them) */
    rp_local_t *local;                 /* the local tier, or NULL */
    apr_interval_time_t local_ttl;
    rp_mc_t *mc;                       /* this child's connections */
} reqperf_cache_child_t;
extern reqperf_cache_child_t reqperf_cache_child;
void reqperf_cache_child_register_hooks(apr_pool_t *p);
void reqperf_memcached_down(request_rec *r);
void reqperf_memcached_up(request_rec *r);
void reqperf_memcached_slow(request_rec *r);
int reqperf_cache_acquire_store(request_rec *r, rp_store_t *out);

#endif
