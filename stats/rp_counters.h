/*
 * rp_counters.h: every figure of mod_reqperf's status outputs, declared
 * once: the global counters (RP_COUNTERS) and, beside them, the gauges
 * (RP_GAUGES: every other single figure, from the snapshot or from what
 * the cache knows).
 *
 * One row generates the JSON field (object and name), the Prometheus
 * metric (name and label), the ?auto key, the mod_status key and the row
 * of the HTML page (rp_figures.c lists them, every renderer walks that
 * list), so that a figure added here appears in every output and no two
 * outputs can disagree on it.  Counters also get their shared-memory
 * array index.
 *
 * The section says where a figure lives: TOP (the JSON root object, no
 * key prefix), TOTAL ("total", "total_"), CACHE ("cache", "cache_"),
 * LOCAL ("cache.local", "cache_local_"), PURGE ("cache.purges",
 * "cache_purge_"), APP ("app_timing", "app_timing_": reading the
 * backend's Server-Timing).  The ?auto key is the prefix and the JSON
 * name; the mod_status key is "ReqPerf" and the ?auto key in CamelCase
 * (cache_local_entries: ReqPerfCacheLocalEntries) unless status_key
 * names it (keys older than the table).
 *
 * X(id, section, json_name, prom_metric, prom_label, status_key, help)
 *   prom_metric NULL when the counter is only a sum of labelled series
 *               already exported (requests, by route)
 *   prom_label  label="value" inside the braces, or NULL
 */
#ifndef RP_COUNTERS_H
#define RP_COUNTERS_H

#define RP_COUNTERS(X) \
    X(REQUESTS, TOP, "requests", NULL, NULL, NULL, \
      "Requests timed") \
    X(SLOW_REQUESTS, TOP, "slow_requests", NULL, NULL, NULL, \
      "Requests at or above ReqPerfSlowThreshold") \
    X(ROUTES_OVERFLOW, TOP, "routes_overflow", "reqperf_routes_overflow_total", NULL, NULL, \
      "Requests counted under __other__ because the route table was full") \
    X(SLOW_LOG_DROPPED, TOP, "slow_log_dropped", "reqperf_slow_log_dropped_total", NULL, NULL, \
      "Slow-log writes skipped because a slot was being written") \
    X(CACHE_HIT, CACHE, "hit", "reqperf_cache_requests_total", "result=\"hit\"", "ReqPerfCacheHits", \
      "Responses served from the cache") \
    X(CACHE_MISS, CACHE, "miss", "reqperf_cache_requests_total", "result=\"miss\"", "ReqPerfCacheMisses", \
      "Cache lookups that went to the backend") \
    X(CACHE_STALE, CACHE, "stale", "reqperf_cache_requests_total", "result=\"stale\"", NULL, \
      "Stale copies served (grace, a failed backend, a fill that did not come)") \
    X(CACHE_BYPASS, CACHE, "bypass", "reqperf_cache_requests_total", "result=\"bypass\"", NULL, \
      "Requests the cache did not consider (cookie, auth, method...)") \
    X(CACHE_STORE, CACHE, "store", "reqperf_cache_stores_total", "outcome=\"stored\"", NULL, \
      "Responses stored") \
    X(CACHE_STORE_SKIPPED, CACHE, "store_skipped", "reqperf_cache_stores_total", "outcome=\"skipped\"", NULL, \
      "Responses not stored (not cacheable, too large, incomplete)") \
    X(CACHE_ERRORS, CACHE, "errors", "reqperf_cache_errors_total", NULL, NULL, \
      "memcached calls that failed or timed out") \
    X(CACHE_BYPASS_COOKIE, CACHE, "bypass_cookie", "reqperf_cache_bypass_total", "reason=\"cookie\"", NULL, \
      "Bypassed: a cookie not listed in ReqPerfCacheIgnoreCookie") \
    X(CACHE_BYPASS_AUTH, CACHE, "bypass_authorization", "reqperf_cache_bypass_total", "reason=\"authorization\"", NULL, \
      "Bypassed (X-Cache: BYPASS auth): Authorization sent, or a user authenticated") \
    X(CACHE_BYPASS_NOCACHE, CACHE, "bypass_no_cache", "reqperf_cache_bypass_total", "reason=\"no-cache\"", NULL, \
      "Bypassed: client Cache-Control no-cache (entry refreshed)") \
    X(CACHE_BYPASS_UNKEYED, CACHE, "bypass_unkeyed_header", "reqperf_cache_bypass_total", "reason=\"unkeyed-header\"", NULL, \
      "Bypassed: override headers not in ReqPerfCacheVary, '_' in a header name, Connection naming a header") \
    X(CACHE_BYPASS_METHOD, CACHE, "bypass_method", "reqperf_cache_bypass_total", "reason=\"method\"", NULL, \
      "Bypassed: method other than GET/HEAD") \
    X(CACHE_BYPASS_RANGE, CACHE, "bypass_range", "reqperf_cache_bypass_total", "reason=\"range\"", NULL, \
      "Bypassed: Range request") \
    X(CACHE_BYPASS_BODY, CACHE, "bypass_body", "reqperf_cache_bypass_total", "reason=\"body\"", NULL, \
      "Bypassed: a GET or HEAD with a request body") \
    X(CACHE_BYPASS_HOST, CACHE, "bypass_host", "reqperf_cache_bypass_total", "reason=\"host\"", NULL, \
      "Bypassed: no Host, or a Host not in Apache's normalised form") \
    X(CACHE_BYPASS_DOWN, CACHE, "bypass_down", "reqperf_cache_bypass_total", "reason=\"down\"", NULL, \
      "Bypassed: memcached down, slow or connections exhausted") \
    X(CACHE_BYPASS_OTHER, CACHE, "bypass_other", "reqperf_cache_bypass_total", "reason=\"other\"", NULL, \
      "Bypassed: other reasons (URL too long, too many query parameters: X-Cache: BYPASS key)") \
    X(CACHE_STALE_ERROR, CACHE, "stale_error", "reqperf_cache_stale_on_error_total", NULL, NULL, \
      "Stale copies served because the application failed (5xx, unreachable, timeout)") \
    X(CACHE_LOCK_WAITS, CACHE, "lock_waits", "reqperf_cache_lock_waits_total", NULL, NULL, \
      "Requests that waited for another request to fill the entry") \
    X(CACHE_NOT_MODIFIED, CACHE, "not_modified", "reqperf_cache_not_modified_total", NULL, NULL, \
      "304 responses answered from a cached entry") \
    X(CACHE_INVALID, CACHE, "invalid_entries", "reqperf_cache_invalid_entries_total", NULL, NULL, \
      "Entries rejected on read (damaged, wrong key, wrong version)") \
    X(CACHE_STALE_GEN, CACHE, "stale_by_generation", "reqperf_cache_stale_by_generation_total", NULL, NULL, \
      "Entries found stale because their URL or a tag was purged") \
    X(CACHE_TAGS_DROPPED, CACHE, "tags_dropped", "reqperf_cache_tags_dropped_total", NULL, NULL, \
      "Tags that could not be kept (over 64, too long, bad bytes): their responses were not stored") \
    X(PURGE_URL, PURGE, "url", "reqperf_cache_purges_total", "kind=\"url\"", NULL, \
      "URL purges (purge handler and X-ReqPerf-Purge)") \
    X(PURGE_TAG, PURGE, "tag", "reqperf_cache_purges_total", "kind=\"tag\"", NULL, \
      "Tag purges (purge handler and X-ReqPerf-Purge)") \
    X(PURGE_UNSAFE, PURGE, "unsafe_method", "reqperf_cache_purges_total", "kind=\"unsafe_method\"", NULL, \
      "URLs purged by a successful POST/PUT/PATCH/DELETE") \
    X(PURGE_FAILED, PURGE, "failed", "reqperf_cache_purge_failures_total", NULL, NULL, \
      "Purges that could not reach memcached (each is queued and made when it answers)") \
    X(PURGE_LATE, PURGE, "late", "reqperf_cache_purges_late_total", NULL, NULL, \
      "Purges made late: queued while memcached could not be reached, made once it answered") \
    X(PURGE_DROPPED, PURGE, "dropped", "reqperf_cache_purges_dropped_total", NULL, NULL, \
      "Failed purges that could not be queued (64 waiting already, or a name over 2048 bytes)") \
    X(LOCAL_HIT, LOCAL, "hit", "reqperf_cache_local_requests_total", "tier=\"local\"", NULL, \
      "Hits served from the shared-memory tier") \
    X(LOCAL_MC_HIT, LOCAL, "memcached_hit", "reqperf_cache_local_requests_total", "tier=\"memcached\"", NULL, \
      "Hits served from memcached") \
    X(LOCAL_EVICTIONS, LOCAL, "evictions", "reqperf_cache_local_evictions_total", NULL, NULL, \
      "Entries evicted from the shared-memory tier") \
    X(LOCAL_REVALIDATIONS, LOCAL, "revalidations", "reqperf_cache_local_revalidations_total", NULL, NULL, \
      "Local copies checked again against memcached after ReqPerfCacheLocalTTL") \
    X(APP_RESPONSES, APP, "responses", "reqperf_app_timing_responses_total", NULL, NULL, \
      "Backend responses with at least one Server-Timing metric recorded") \
    X(APP_ENTRIES, APP, "entries", "reqperf_app_timing_entries_total", NULL, NULL, \
      "Server-Timing metrics recorded") \
    X(APP_MALFORMED, APP, "malformed", "reqperf_app_timing_malformed_total", NULL, NULL, \
      "Server-Timing list elements skipped as malformed (or past 1024 in a response)") \
    X(APP_NAMES_OVERFLOW, APP, "names_overflow", "reqperf_app_timing_names_overflow_total", NULL, NULL, \
      "Server-Timing metrics counted under __other__: the route had ReqPerfAppTimingMaxNames names")

/* Prometheus metric families fed by several rows above: one HELP each. */
#define RP_PROM_FAMILIES(X) \
    X("reqperf_cache_requests_total", "Page cache results, by result") \
    X("reqperf_cache_stores_total", "Responses stored or not, by outcome") \
    X("reqperf_cache_bypass_total", "Requests the cache did not consider, by reason") \
    X("reqperf_cache_purges_total", "Purges, by kind") \
    X("reqperf_cache_local_requests_total", "Cache hits, by the tier that served them")

typedef enum {
#define RP_CTR_ENUM(id, sec, json, prom, label, skey, help) RP_CTR_##id,
    RP_COUNTERS(RP_CTR_ENUM)
#undef RP_CTR_ENUM
    RP_CTR_COUNT
} rp_counter_t;

/* The gauges: every single figure that is not a counter.
 *
 * X(id, section, json_name, auto_key, status_key, prom_metric, shown,
 *   kind, value, help)
 *   auto_key    NULL: the section's prefix and json_name
 *   prom_metric NULL where Prometheus says it otherwise: the uptime is
 *               time() - reqperf_start_time_seconds, the percentiles
 *               come from the histograms (histogram_quantile), the
 *               servers from reqperf_memcached_up (count, sum)
 *   shown       ALWAYS, or LOCAL: only with a local tier
 *               (ReqPerfCacheLocal); JSON has every figure always, its
 *               "enabled" saying whether it means anything
 *   kind        U64, or BOOL (JSON true/false, elsewhere 1/0)
 *   value       an expression over the snapshot r (rp_report_t) and
 *               what the cache knows o (rp_report_opts_t), evaluated in
 *               rp_figures.c only
 */
#define RP_GAUGES(X) \
    X(UPTIME, TOP, "uptime_s", NULL, NULL, NULL, ALWAYS, U64, \
      r->uptime_s, \
      "Seconds since the statistics started") \
    X(START_TIME, TOP, "start_time_unix", NULL, NULL, \
      "reqperf_start_time_seconds", ALWAYS, U64, \
      r->start_wall_us / 1000000, \
      "When the statistics started (Unix time)") \
    X(ROUTES_TRACKED, TOP, "routes_tracked", "routes", NULL, \
      "reqperf_routes_tracked", ALWAYS, U64, r->n_routes, \
      "Routes (route and method) with a record, __other__ included") \
    X(MAX_ROUTES, TOP, "max_routes", NULL, NULL, "reqperf_routes_max", \
      ALWAYS, U64, r->max_routes, \
      "ReqPerfMaxRoutes: routes tracked before __other__ takes the rest") \
    X(TOTAL_COUNT, TOTAL, "count", NULL, NULL, NULL, ALWAYS, U64, \
      r->total.count, \
      "Requests timed (read to end of logging)") \
    X(TOTAL_AVG, TOTAL, "avg_us", NULL, NULL, NULL, ALWAYS, U64, \
      r->total.avg, \
      "Average request duration, microseconds") \
    X(TOTAL_P50, TOTAL, "p50_us", NULL, NULL, NULL, ALWAYS, U64, \
      r->total.p50, \
      "Median request duration, microseconds") \
    X(TOTAL_P95, TOTAL, "p95_us", NULL, "ReqPerfP95Us", NULL, ALWAYS, U64, \
      r->total.p95, \
      "95th percentile of the request duration, microseconds") \
    X(TOTAL_P99, TOTAL, "p99_us", NULL, "ReqPerfP99Us", NULL, ALWAYS, U64, \
      r->total.p99, \
      "99th percentile of the request duration, microseconds") \
    X(TOTAL_MAX, TOTAL, "max_us", NULL, NULL, NULL, ALWAYS, U64, \
      r->total.max, \
      "Longest request, microseconds") \
    X(CACHE_ENABLED, CACHE, "enabled", NULL, NULL, "reqperf_cache_enabled", \
      ALWAYS, BOOL, o->cache_configured, \
      "1 when the page cache has memcached servers (ReqPerfCacheServers)") \
    X(CACHE_SERVERS, CACHE, "servers_configured", NULL, NULL, NULL, ALWAYS, \
      U64, o->n_servers, \
      "memcached servers configured") \
    X(CACHE_SERVERS_UP, CACHE, "servers_up", NULL, NULL, NULL, ALWAYS, U64, \
      rp_figures_servers_up(o), \
      "memcached servers in use (the others skipped after failures)") \
    X(LOCAL_ENABLED, LOCAL, "enabled", NULL, NULL, \
      "reqperf_cache_local_enabled", ALWAYS, BOOL, o->local_configured, \
      "1 when the shared-memory tier is on (ReqPerfCacheLocal)") \
    X(LOCAL_BYTES_USED, LOCAL, "bytes_used", NULL, NULL, \
      "reqperf_cache_local_bytes", LOCAL, U64, o->local_bytes_used, \
      "Bytes of cached entries in the shared-memory tier") \
    X(LOCAL_BYTES_TOTAL, LOCAL, "bytes_total", NULL, NULL, \
      "reqperf_cache_local_size_bytes", LOCAL, U64, o->local_bytes_total, \
      "Bytes the shared-memory tier holds at most") \
    X(LOCAL_ENTRIES, LOCAL, "entries", NULL, NULL, \
      "reqperf_cache_local_entries", LOCAL, U64, o->local_entries, \
      "Entries in the shared-memory tier") \
    X(APP_MAX_NAMES, APP, "max_names", NULL, NULL, \
      "reqperf_app_timing_max_names", ALWAYS, U64, r->app_names, \
      "ReqPerfAppTimingMaxNames: metric names kept per route")

typedef enum {
#define RP_GAUGE_ENUM(id, sec, json, akey, skey, prom, shown, kind, value, \
                      help) RP_GAUGE_##id,
    RP_GAUGES(RP_GAUGE_ENUM)
#undef RP_GAUGE_ENUM
    RP_GAUGE_COUNT
} rp_gauge_t;

/* In the order every output lists them. */
typedef enum {
    RP_SEC_TOP,
    RP_SEC_TOTAL,
    RP_SEC_CACHE,
    RP_SEC_PURGE,
    RP_SEC_LOCAL,
    RP_SEC_APP,
    RP_SEC_COUNT
} rp_counter_section_t;

typedef struct {
    rp_counter_section_t section;
    const char *json_name;
    const char *prom_metric;
    const char *prom_label;
    const char *status_key;                /* NULL: derived */
    const char *help;
} rp_counter_info_t;

extern const rp_counter_info_t rp_counter_info[RP_CTR_COUNT];

typedef enum { RP_SHOWN_ALWAYS, RP_SHOWN_LOCAL } rp_gauge_shown_t;
typedef enum { RP_KIND_U64, RP_KIND_BOOL } rp_gauge_kind_t;

typedef struct {
    rp_counter_section_t section;
    const char *json_name;
    const char *auto_key;                  /* NULL: derived */
    const char *status_key;                /* NULL: derived */
    const char *prom_metric;               /* NULL: not in Prometheus */
    rp_gauge_shown_t shown;
    rp_gauge_kind_t kind;
    const char *help;
} rp_gauge_info_t;

extern const rp_gauge_info_t rp_gauge_info[RP_GAUGE_COUNT];

/* Cache results as counted per route and in the slow log. */
typedef enum {
    RP_CACHE_NONE = 0,
    RP_CACHE_HIT,
    RP_CACHE_MISS,
    RP_CACHE_STALE,
    RP_CACHE_BYPASS,
    RP_CACHE_RESULTS
} rp_cache_result_t;

const char *rp_cache_result_name(int result);   /* "hit", ... "" for NONE */

/* What more a request's cache result says (rp_sample_t.cache_flags). */
#define RP_CACHE_FLAG_STALE_ERROR 1u       /* a stale copy stood in for a failed backend */
#define RP_CACHE_FLAG_LOCK_WAIT 2u         /* waited on another request's fill
                                              (rp_sample_t.lock_wait_us long) */

/* Every X-Cache value the cache sends, declared once: the per-route
 * counts (rp_route_rec_t.xcache), the slow log, JSON ("x_cache", keyed by
 * the header's value itself), and the route page all come from this
 * table, so the page counts exactly the words visitors and the access
 * log (the reqperf-cache note) saw.
 *
 * X(id, result, value, help) */
#define RP_XCACHE_VALUES(X) \
    X(HIT_LOCAL, HIT, "HIT local", \
      "served from this server's shared-memory tier") \
    X(HIT_MEMCACHED, HIT, "HIT memcached", \
      "served from memcached") \
    X(HIT_WAIT, HIT, "HIT wait", \
      "waited for another request to fill the entry, then served it") \
    X(STALE_GRACE, STALE, "STALE grace", \
      "expired, within grace: served while one request refreshes it") \
    X(STALE_ERROR, STALE, "STALE error", \
      "the application failed: an expired copy stood in") \
    X(STALE_TIMEOUT, STALE, "STALE timeout", \
      "waited for another request's fill in vain: an expired copy stood in") \
    X(MISS, MISS, "MISS", \
      "went to the backend") \
    X(MISS_UNCACHEABLE, MISS, "MISS uncacheable", \
      "the last answer could not be stored: straight to the backend") \
    X(MISS_WAIT, MISS, "MISS wait", \
      "waited for another request's fill, which did not come: went to the backend") \
    X(BYPASS_AUTH, BYPASS, "BYPASS auth", \
      "personal: Authorization, or a user authenticated") \
    X(BYPASS_COOKIE, BYPASS, "BYPASS cookie", \
      "personal: a cookie not in ReqPerfCacheIgnoreCookie") \
    X(BYPASS_BODY, BYPASS, "BYPASS body", \
      "a GET or HEAD with a request body") \
    X(BYPASS_HOST, BYPASS, "BYPASS host", \
      "no Host, or not in Apache's normalised form") \
    X(BYPASS_UNKEYED, BYPASS, "BYPASS unkeyed-header", \
      "an override header not in ReqPerfCacheVary") \
    X(BYPASS_RANGE, BYPASS, "BYPASS range", \
      "a Range request") \
    X(BYPASS_NOCACHE, BYPASS, "BYPASS no-cache", \
      "the client asked for a fresh copy (the entry is refreshed)") \
    X(BYPASS_METHOD, BYPASS, "BYPASS method", \
      "a method other than GET and HEAD, or an Upgrade") \
    X(BYPASS_DOWN, BYPASS, "BYPASS down", \
      "memcached down, slow or out of connections") \
    X(BYPASS_KEY, BYPASS, "BYPASS key", \
      "no key could be made (a URL too long, above the root)") \
    X(OTHER, NONE, "other", \
      "a value not in this list")

typedef enum {
#define RP_XC_ENUM(id, result, value, help) RP_XC_##id,
    RP_XCACHE_VALUES(RP_XC_ENUM)
#undef RP_XC_ENUM
    RP_XCACHE_COUNT
} rp_xcache_t;

typedef struct {
    int result;                            /* rp_cache_result_t */
    const char *value;                     /* the X-Cache header's value */
    const char *help;
} rp_xcache_info_t;

extern const rp_xcache_info_t rp_xcache_info[RP_XCACHE_COUNT];

/* The entry of an X-Cache value; RP_XC_OTHER for one not in the table,
 * -1 for none (NULL or "": the cache was not considered). */
int rp_xcache_of(const char *value);

#endif
