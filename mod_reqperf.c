/*
 * mod_reqperf.c: the map of mod_reqperf.
 *
 * mod_reqperf shows why a site is slow and makes it fast: it times every
 * phase of every request into shared-memory statistics shown at
 * /reqperf-status, and it can serve idempotent pages from memcached.
 * This file holds only the module structure, the directive table and
 * the hook registration; each part lives in its own mod_reqperf_*.c
 * file, and the logic that needs no httpd lives in stats/ and cache/.
 */
#include "httpd.h"
#include "http_config.h"

#include "mod_reqperf_cache.h"

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
