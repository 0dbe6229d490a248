/*
 * mod_reqperf.c: the map of mod_reqperf.
 *
 * mod_reqperf shows why a site is slow and makes it fast: it times every
 * phase of every request into shared-memory statistics shown at
 * /reqperf-status, and it can serve idempotent pages from memcached.
 * This file holds the module structure, the directive table and the
 * order in which each part registers its hooks; the logic that needs no
 * httpd lives in stats/ and cache/.
 *
 * The files, along a request's path:
 *
 *   mod_reqperf_config.c       directives, merging, and the one place
 *                              defaults are applied (reqperf_cache_dir ...)
 *   mod_reqperf_stats.c        the shared-memory statistics segment
 *   mod_reqperf_timing.c       per-phase timing, notes, Server-Timing
 *   mod_reqperf_route.c        the route a request counts under
 *   mod_reqperf_app.c          the backend's own Server-Timing
 *   mod_reqperf_cache_key.c    the request as sent: whose page, its key
 *   mod_reqperf_cache.c        the cache lookup, serving a hit
 *   mod_reqperf_cache_store.c  holding and storing a miss's answer,
 *                              a stale copy standing in for a failure
 *   mod_reqperf_cache_ssi.c    what a stored page's SSI reads
 *   mod_reqperf_purge.c        X-ReqPerf-Tags/-Purge, unsafe methods,
 *                              the reqperf-purge handler, the purges
 *                              memcached missed made when it answers
 *   mod_reqperf_cache_child.c  memcached and shared memory per process
 *   mod_reqperf_advice.c       ReqPerfCache Observe, the advisor
 *   mod_reqperf_status.c       /reqperf-status, the mod_status section
 *
 * Every hook and filter, where it sits and why (the positions are
 * relative: each only makes sense against its neighbours):
 *
 *  hook / filter            position              file: why there
 *  pre_config               MIDDLE                config: forget the last
 *                                                 read's "cache somewhere"
 *  post_config              MIDDLE                stats: the segment; child:
 *                                                 breakers, local tier (2nd
 *                                                 pass only)
 *  pre_mpm                  MIDDLE                stats: reset on start and a
 *                                                 full restart, not graceful
 *  monitor                  MIDDLE                stats: the parent rotates
 *                                                 the recent windows
 *  child_init               MIDDLE                child: memcached connections
 *  pre_connection           REALLY_FIRST          timing: REQPERF_IN before
 *                                                 any byte is read
 *  pre_connection           MIDDLE                purge: REQPERF_INTERIM
 *  create_request           REALLY_FIRST          timing: the request's state
 *  post_read_request        REALLY_FIRST          timing: read ends; cache:
 *                                                 the request as the client
 *                                                 sent it, before mod_headers'
 *                                                 early edits, mod_remoteip
 *  post_read_request        REALLY_LAST           cache: what the key holds
 *                                                 after every early edit
 *  quick_handler            FIRST                 cache: ReqPerfCacheQuick,
 *                                                 the lookup before mapping
 *                                                 and access control
 *  every phase start        REALLY_FIRST          timing: a phase starts when
 *  (translate ... fixups)                         its first hook runs
 *  handler                  REALLY_FIRST          timing: the handler starts
 *  handler                  REALLY_FIRST + 1      cache: the lookup, after the
 *                                                 timing hook marked the
 *                                                 handler's start (its time is
 *                                                 "cache", then "handler")
 *  handler                  REALLY_FIRST + 2      advice: Observe's lookup,
 *                                                 where the cache's would be
 *  handler                  MIDDLE                purge, status: ordinary
 *                                                 handlers of their own name
 *  insert_filter            REALLY_FIRST          timing: REQPERF_OUT
 *  insert_(error_)filter    MIDDLE                store: REQPERF_CACHE on
 *                                                 every response, error
 *                                                 pages included
 *  protocol_switch          REALLY_FIRST          timing: an h2c Upgrade
 *  log_transaction          REALLY_FIRST          timing: close the phases,
 *                                                 set the notes for mod_log
 *  log_transaction          MIDDLE                advice: the sample, between
 *  log_transaction          REALLY_LAST           timing: into the statistics
 *  status_hook (optional)   MIDDLE                status: mod_status section
 *
 *  REQPERF_IN        AP_FTYPE_CONNECTION    when a request's bytes arrive
 *  REQPERF_SSI       AP_FTYPE_RESOURCE-1    before every resource filter,
 *                                           so right before mod_include's
 *                                           INCLUDES (added by mod_mime
 *                                           before insert_filter): the
 *                                           source it is given
 *  REQPERF_OUT       AP_FTYPE_RESOURCE      first byte and end of the
 *                                           handler's output, right after
 *                                           the handler (as mod_logio's
 *                                           %^FB)
 *  REQPERF_CACHE     AP_FTYPE_CONTENT_SET+8 after every content filter
 *  REQPERF_SUBREQ    AP_FTYPE_CONTENT_SET+8 httpd ships (mod_headers' at
 *                                           +0, DEFLATE and BROTLI at +1):
 *                                           what is stored is the body the
 *                                           client gets, compressed, with
 *                                           its Vary; a hit goes straight
 *                                           to the protocol filters
 *                                           (AP_FTYPE_PROTOCOL = +10), which
 *                                           stay per connection (ranges,
 *                                           chunking, HTTP_HEADER)
 *  REQPERF_OBSERVE   AP_FTYPE_CONTENT_SET+9 after REQPERF_CACHE, which
 *                                           strips X-ReqPerf-* and keeps
 *                                           the tags Observe judges
 *  REQPERF_INTERIM   AP_FTYPE_CONNECTION    X-ReqPerf-* out of 103s, which
 *                                           httpd writes past the request's
 *                                           filters
 *  REQPERF_H2_END    AP_FTYPE_CONNECTION    an HTTP/2 stream's EOR: the
 *                                           request's end
 *
 * Where two of our hooks share a position (post_config, post_read_request
 * REALLY_FIRST) neither depends on the other.
 */
#include "httpd.h"
#include "http_config.h"

#include "mod_reqperf_cache.h"
#include "mod_reqperf_directives.h"

static const command_rec reqperf_cmds[] = {
    /* timing */
    AP_INIT_TAKE1("ReqPerf", reqperf_cmd_dir_flag,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, enabled),
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: time requests here and feed the statistics "
                  "(default On)"),
    AP_INIT_TAKE1("ReqPerfSlowThreshold", reqperf_cmd_slow_threshold, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "a request at least this long is slow (default 1s; "
                  "500ms, 2s, 2, 1min)"),
    AP_INIT_TAKE1("ReqPerfServerTiming", reqperf_cmd_dir_flag,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, server_timing),
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: add a Server-Timing header (default Off)"),
    AP_INIT_TAKE2("ReqPerfRoute", reqperf_cmd_route, NULL, RSRC_CONF,
                  "<regex> <template>: group matching paths into one route"),
    AP_INIT_TAKE1("ReqPerfMaxRoutes", reqperf_cmd_srv_number,
                  (void *)&reqperf_spec_max_routes,
                  RSRC_CONF, "routes tracked in shared memory (default 500)"),
    AP_INIT_TAKE1("ReqPerfSlowLogSize", reqperf_cmd_srv_number,
                  (void *)&reqperf_spec_slow_log_size,
                  RSRC_CONF, "recent slow requests kept (default 100)"),

    /* application timing: the backend's own Server-Timing */
    AP_INIT_TAKE1("ReqPerfAppTiming", reqperf_cmd_dir_flag,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, app_timing),
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: read the backend's Server-Timing into the "
                  "route's statistics (default On)"),
    AP_INIT_TAKE1("ReqPerfAppTimingHide", reqperf_cmd_dir_flag,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, app_timing_hide),
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: remove the backend's Server-Timing before the "
                  "response leaves (default Off)"),
    AP_INIT_TAKE1("ReqPerfAppTimingMaxNames", reqperf_cmd_srv_number,
                  (void *)&reqperf_spec_app_max_names,
                  RSRC_CONF, "Server-Timing metric names kept per route; "
                  "the rest count under __other__ (default 8)"),

    /* page cache */
    AP_INIT_ITERATE("ReqPerfCacheServers", reqperf_cmd_cache_servers, NULL,
                    RSRC_CONF, "host:port ...: the memcached servers"),
    AP_INIT_TAKE1("ReqPerfCache", reqperf_cmd_cache,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, cache),
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off|Observe: serve GET/HEAD here from the cache; "
                  "Observe: decide as On would, serve and store nothing, "
                  "report what caching would save (default Off)"),
    AP_INIT_TAKE1("ReqPerfCacheTTL", reqperf_cmd_dir_seconds,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, cache_ttl_s),
                  RSRC_CONF | ACCESS_CONF,
                  "freshness when the response gives none (default 60)"),
    AP_INIT_TAKE1("ReqPerfCacheGrace", reqperf_cmd_dir_seconds,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, cache_grace_s),
                  RSRC_CONF | ACCESS_CONF,
                  "serve a stale copy this long while one request refreshes "
                  "it (default 0)"),
    AP_INIT_TAKE1("ReqPerfCacheStaleIfError", reqperf_cmd_dir_seconds,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t,
                                       cache_stale_if_error_s),
                  RSRC_CONF | ACCESS_CONF,
                  "serve an expired copy this long after expiry when the "
                  "backend fails (default 0)"),
    AP_INIT_TAKE1("ReqPerfCacheLock", reqperf_cmd_dir_flag,
                  (void *)APR_OFFSETOF(reqperf_dir_conf_t, cache_lock),
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: one request per key goes to the backend on a miss "
                  "(default On)"),
    AP_INIT_TAKE1("ReqPerfCacheMaxSize", reqperf_cmd_cache_max_size, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "larger responses are not stored (default 1000000)"),
    AP_INIT_ITERATE("ReqPerfCacheVary", reqperf_cmd_dir_list,
                    (void *)APR_OFFSETOF(reqperf_dir_conf_t, cache_vary),
                    RSRC_CONF | ACCESS_CONF,
                    "request headers to key on, besides the response's Vary"),
    AP_INIT_ITERATE("ReqPerfCacheIgnoreCookie", reqperf_cmd_dir_list,
                    (void *)APR_OFFSETOF(reqperf_dir_conf_t,
                                         cache_ignore_cookie),
                    RSRC_CONF | ACCESS_CONF,
                    "cookies that do not make a request personal (_ga*)"),
    AP_INIT_ITERATE("ReqPerfCacheIgnoreQuery", reqperf_cmd_dir_list,
                    (void *)APR_OFFSETOF(reqperf_dir_conf_t,
                                         cache_ignore_query),
                    RSRC_CONF | ACCESS_CONF,
                    "query parameters left out of the key (utm_*)"),
    AP_INIT_TAKE1("ReqPerfCacheTimeout", reqperf_cmd_srv_time,
                  (void *)&reqperf_spec_cache_timeout,
                  RSRC_CONF, "memcached connect/read limit (default 50ms)"),
    AP_INIT_TAKE1("ReqPerfCacheQuick", reqperf_cmd_srv_flag,
                  (void *)APR_OFFSETOF(reqperf_srv_conf_t, cache_quick),
                  RSRC_CONF,
                  "On|Off: look up before access control (default Off)"),
    AP_INIT_TAKE1("ReqPerfCacheLocal", reqperf_cmd_srv_number,
                  (void *)&reqperf_spec_cache_local,
                  RSRC_CONF,
                  "size of the shared-memory tier in front of memcached "
                  "(64M; 0 = off)"),
    AP_INIT_TAKE1("ReqPerfCacheLocalTTL", reqperf_cmd_srv_time,
                  (void *)&reqperf_spec_cache_local_ttl,
                  RSRC_CONF,
                  "revalidate a local copy against memcached after this "
                  "long (default 1s)"),
    { NULL }
};

static void reqperf_register_hooks(apr_pool_t *p)
{
    reqperf_config_register_hooks(p);
    reqperf_stats_register_hooks(p);
    reqperf_timing_register_hooks(p);
    reqperf_status_register_hooks(p);
    reqperf_cache_register_hooks(p);
    reqperf_cache_store_register_hooks(p);
    reqperf_purge_register_hooks(p);
    reqperf_cache_child_register_hooks(p);
    reqperf_advice_register_hooks(p);
}

AP_DECLARE_MODULE(reqperf) = {
    STANDARD20_MODULE_STUFF,
    reqperf_create_dir_conf,
    reqperf_merge_dir_conf,
    reqperf_create_srv_conf,
    reqperf_merge_srv_conf,
    reqperf_cmds,
    reqperf_register_hooks
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    , AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
