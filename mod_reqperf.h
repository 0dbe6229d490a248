/*
 * mod_reqperf.h: what the glue files of mod_reqperf share.
 *
 * The module is split the way mod_cache and mod_md are: mod_reqperf.c
 * is the map (module struct, directive table, every hook and filter with
 * its position and why); the other
 * mod_reqperf_*.c files are thin glue between httpd and the pure cores
 * in stats/ and cache/, which know nothing of httpd.
 */
#ifndef MOD_REQPERF_H
#define MOD_REQPERF_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_regex.h"
#include "apr_tables.h"

#include "stats/rp_phase.h"
#include "stats/rp_timeline.h"
#include "stats/rp_stats.h"

/* The one symbol httpd looks up (LoadModule): everything else in the .so
 * is built with -fvisibility=hidden, so calls between its files are
 * direct, not through the PLT. */
extern module AP_MODULE_DECLARE_DATA __attribute__((visibility("default")))
    reqperf_module;

#define REQPERF_UNSET (-1)

/* Defaults, where SPEC.md fixes them. */
#define REQPERF_DEFAULT_SLOW_US        1000000
#define REQPERF_DEFAULT_MAX_ROUTES     500
#define REQPERF_DEFAULT_SLOW_LOG_SIZE  100
#define REQPERF_DEFAULT_CACHE_TTL_S    60
#define REQPERF_DEFAULT_CACHE_MAXSIZE  1000000
#define REQPERF_DEFAULT_CACHE_TIMEOUT  (50 * 1000)        /* µs */
#define REQPERF_DEFAULT_LOCAL_SIZE     (64 * 1024 * 1024)
#define REQPERF_DEFAULT_LOCAL_TTL      (1000 * 1000)      /* µs */
#define REQPERF_DEFAULT_APP_MAX_NAMES  8

/* ReqPerfCache values (reqperf_dir_conf_t.cache): Off is 0. */
#define REQPERF_CACHE_ON       1
#define REQPERF_CACHE_OBSERVE  2

/* Per-directory configuration (also what server and <VirtualHost> set,
 * through the server's lookup_defaults).  REQPERF_UNSET / NULL mean
 * "inherit", so merging is one line per field. */
typedef struct {
    int enabled;                       /* ReqPerf */
    apr_int64_t slow_threshold_us;     /* ReqPerfSlowThreshold */
    int server_timing;                 /* ReqPerfServerTiming */
    int cache;                         /* ReqPerfCache: 0, REQPERF_CACHE_* */
    apr_int64_t cache_ttl_s;           /* ReqPerfCacheTTL */
    apr_int64_t cache_grace_s;         /* ReqPerfCacheGrace */
    apr_int64_t cache_stale_if_error_s; /* ReqPerfCacheStaleIfError */
    int cache_lock;                    /* ReqPerfCacheLock */
    apr_int64_t cache_max_size;        /* ReqPerfCacheMaxSize */
    apr_array_header_t *cache_vary;            /* const char * */
    apr_array_header_t *cache_ignore_cookie;   /* const char * */
    apr_array_header_t *cache_ignore_query;    /* const char * */
    int app_timing;                    /* ReqPerfAppTiming */
    int app_timing_hide;               /* ReqPerfAppTimingHide */
} reqperf_dir_conf_t;

typedef struct {
    ap_regex_t *regex;
    const char *pattern;
    const char *tmpl;
} reqperf_route_rule_t;

/* What configuration reads of a request without naming it in Vary
 * (mod_reqperf_cache_key.c): from the tree at start-up, or from the
 * .htaccess files a request met. */
typedef struct {
    apr_array_header_t *headers;       /* request headers (mod_rewrite's
                                          %{HTTP:..}, ap_expr's req()) */
    apr_array_header_t *envs;          /* variables set from the request
                                          (SetEnvIf, BrowserMatch) */
    apr_array_header_t *echo;          /* Header echo patterns (ap_regex_t *):
                                          the request headers they name */
    int client;                        /* a response header built from who
                                          asks (%{REMOTE_ADDR}) */
    int unknown;                       /* a pattern that does not compile */
} reqperf_config_reads_t;

/* Per-server configuration. */
typedef struct {
    apr_array_header_t *routes;        /* reqperf_route_rule_t, own first */
    int max_routes;                    /* main server only */
    int slow_log_size;                 /* main server only */
    apr_array_header_t *cache_servers; /* const char * host:port */
    apr_interval_time_t cache_timeout; /* µs */
    int cache_quick;
    apr_int64_t cache_local_size;      /* bytes, 0 = off */
    apr_interval_time_t cache_local_ttl;
    /* what this server's configuration reads of a request without naming
     * it in Vary (post_config, from the configuration tree); keyed */
    reqperf_config_reads_t reads;
    const char *vhost_id;              /* the key's name of the virtual
                                          host vhost_id_of (post_config) */
    const server_rec *vhost_id_of;
    int app_max_names;                 /* main server only */
} reqperf_srv_conf_t;

struct reqperf_cache_req_t;            /* mod_reqperf_cache.h */
struct reqperf_advice_req_t;           /* mod_reqperf_advice.c */

/* What the cache made of a request, for the notes, the statistics and the
 * slow log; written by mod_reqperf_cache.c alone (reqperf_cache_note,
 * reqperf_cache_flag).  The result is set when the lookup decides, and
 * again only when a stale copy stands in for a failed backend (a MISS
 * becomes "STALE error"). */
typedef struct {
    rp_cache_result_t result;          /* RP_CACHE_NONE: not looked up */
    unsigned flags;                    /* RP_CACHE_FLAG_* */
    apr_int64_t lock_wait_us;          /* RP_CACHE_FLAG_LOCK_WAIT: how long */
    const char *x_cache;               /* "HIT local", "BYPASS cookie" ... */
} reqperf_cache_outcome_t;

/* State of one request (the original one; internal redirects and the
 * subrequests fold into it), allocated from r->pool. */
typedef struct {
    rp_timeline_t tl;
    int begun;
    int skip;                          /* untimed: ReqPerf Off, status page */
    int first_byte;
    int headers_sent;
    int eos;
    reqperf_cache_outcome_t cache_outcome;
    const char *uri;                   /* as requested (decoded path) */
    /* the cache's state, made at post_read_request where a cache server
     * or ReqPerfCache Observe is configured; NULL elsewhere */
    struct reqperf_cache_req_t *cache;
    const char *route;
    apr_array_header_t *app_values;    /* the backend's Server-Timing
                                          values (mod_reqperf_app.c) */
    struct reqperf_advice_req_t *advice;    /* the advisor's sample */
} reqperf_req_t;

/* State of one connection: when the bytes of its next request arrived.
 * An HTTP/2 stream runs on a secondary connection of its own (mod_http2's
 * c2, c->master set), whose state says when a worker took the stream up
 * and which request is on it; the main connection's state holds the
 * timeline an h2c Upgrade hands to stream 1. */
typedef struct {
    int awaiting;                      /* a request was created, no byte yet */
    apr_int64_t read_start_us;
    reqperf_req_t *stream_req;         /* c2: its request, while it lives */
    int upgrade_pending;               /* c1: upgrade_tl waits (atomic) */
    rp_timeline_t upgrade_tl;          /* c1: the upgraded request's */
} reqperf_conn_t;

/* Whether a log line of one cause is due: once a minute, not per request
 * in a storm.  *last is the cause's (a static of its caller's). */
static inline int reqperf_log_due(apr_time_t *last)
{
    apr_time_t now = apr_time_now();
    apr_time_t seen = __atomic_load_n(last, __ATOMIC_RELAXED);

    /* one thread of the process wins the minute */
    return now - seen > apr_time_from_sec(60)
           && __atomic_compare_exchange_n(last, &seen, now, 0,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* mod_reqperf_config.c (its directive handlers and config merging, which
 * only the map uses: mod_reqperf_directives.h) */
/* Non-zero when this configuration has ReqPerfCache On in any context,
 * <Location> and <Directory> included; reset before each config read. */
extern int reqperf_cache_on_somewhere;
/* The same for ReqPerfCache Observe: the request is then copied as sent
 * (mod_reqperf_cache.c) even without ReqPerfCacheServers. */
extern int reqperf_cache_observe_somewhere;
void reqperf_config_register_hooks(apr_pool_t *p);

/* Resolved values (defaults applied: only mod_reqperf_config.c reads
 * REQPERF_UNSET). */
int reqperf_enabled(const reqperf_dir_conf_t *d);
apr_int64_t reqperf_slow_threshold_us(const reqperf_dir_conf_t *d);
int reqperf_server_timing(const reqperf_dir_conf_t *d);
int reqperf_srv_max_routes(const reqperf_srv_conf_t *s);
int reqperf_srv_slow_log_size(const reqperf_srv_conf_t *s);
int reqperf_app_timing(const reqperf_dir_conf_t *d);
int reqperf_app_timing_hide(const reqperf_dir_conf_t *d);
int reqperf_srv_app_max_names(const reqperf_srv_conf_t *s);
/* ReqPerfCache: 0 (Off), REQPERF_CACHE_ON or REQPERF_CACHE_OBSERVE; the
 * cache's other settings: reqperf_cache_dir (mod_reqperf_cache.h). */
int reqperf_cache_mode(const reqperf_dir_conf_t *d);

/* mod_reqperf_timing.c */
void reqperf_timing_register_hooks(apr_pool_t *p);
reqperf_req_t *reqperf_req(request_rec *r);
/* Charge time from now on to `phase` (the cache uses it for "cache"). */
void reqperf_phase_enter(request_rec *r, int phase);
/* Do not time this request (the status page itself). */
void reqperf_skip(request_rec *r);
/* For responses sent past REQPERF_OUT (cache hits). */
void reqperf_response_start(request_rec *r);
void reqperf_response_end(request_rec *r);
/* The request the client sent, of any internal redirect or subrequest. */
request_rec *reqperf_original_request(request_rec *r);

/* mod_reqperf_route.c: the route this request counts under (computed
 * once), and the path it was requested with. */
const char *reqperf_route(request_rec *r);
const char *reqperf_request_path(request_rec *r);

/* mod_reqperf_app.c: the backend's own Server-Timing.  Called by
 * REQPERF_OUT as the response headers are about to leave, before the
 * module adds its own Server-Timing: keeps the backend's values for the
 * statistics and, with ReqPerfAppTimingHide On, removes them. */
void reqperf_app_read(request_rec *r, reqperf_req_t *rs);

/* mod_reqperf_stats.c: the shared-memory segment. */
void reqperf_stats_register_hooks(apr_pool_t *p);
rp_stats_t *reqperf_stats(void);

/* mod_reqperf_status.c */
void reqperf_status_register_hooks(apr_pool_t *p);

/* The page cache (mod_reqperf_cache*.c, mod_reqperf_purge.c; what they
 * share is in mod_reqperf_cache.h).  What the rest of the module calls: */
/* mod_reqperf_purge.c: the final response's head is about to leave
 * (REQPERF_OUT calls it): the interim-response editor stands down, and
 * X-ReqPerf-* leave the response when no cache server is configured. */
void reqperf_cache_strip(request_rec *r);
/* mod_reqperf_cache_child.c: what the status page shows of the cache. */
struct rp_report_opts_t;
void reqperf_cache_fill_report(apr_pool_t *p, server_rec *s,
                               struct rp_report_opts_t *o);
/* mod_reqperf_advice.c: ReqPerfCache Observe and the advisor */
void reqperf_advice_register_hooks(apr_pool_t *p);

#endif
