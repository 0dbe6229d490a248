/*
 * mod_reqperf_stats.c: the life of the shared-memory statistics segment.
 *
 * The segment (layout in stats/rp_stats.h) is created by the parent in
 * post_config, on the real pass only (httpd runs a dry pass first), and
 * inherited by every child through fork.  Its handle is kept in
 * ap_retained_data so that a graceful restart reuses the same memory:
 * the statistics survive `apachectl graceful`.  A full restart must
 * start afresh; the MPMs run the pre_mpm hook exactly on start and on a
 * non-graceful restart (that is when they recreate the scoreboard), so
 * the segment is reset there.  When ReqPerfMaxRoutes, ReqPerfSlowLogSize
 * or ReqPerfAppTimingMaxNames change, the layout no longer fits and a new segment
 * is made (children of the old generation keep their mapping until
 * they exit).
 *
 * The parent's monitor hook (about every ten seconds) advances the
 * "recent" window; it is the only writer of that rotation.
 */
#include <unistd.h>
#include "apr_shm.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "http_core.h"
#include "mpm_common.h"
#include "scoreboard.h"

#include "mod_reqperf.h"

APLOG_USE_MODULE(reqperf);

#define RETAINED_KEY "mod_reqperf_stats_retained"

typedef struct {
    apr_shm_t *shm;
    rp_stats_params_t params;
} reqperf_retained_t;

static rp_stats_t *stats;

/* One shard of the counters per CPU (up to RP_STATS_SHARDS_MAX), so that
 * requests on different CPUs do not write the same cache lines. */
static uint32_t reqperf_stats_shards(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);

    return n < 1 ? 1 : n > RP_STATS_SHARDS_MAX ? RP_STATS_SHARDS_MAX
                                               : (uint32_t)n;
}

rp_stats_t *reqperf_stats(void)
{
    return stats;
}

static int reqperf_stats_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                     apr_pool_t *ptemp, server_rec *s)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(s->module_config,
                                                  &reqperf_module);
    reqperf_retained_t *ret;
    rp_stats_params_t params;
    apr_size_t size;
    apr_status_t rv;

    (void)pconf;
    (void)plog;
    (void)ptemp;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    params.max_routes = (uint32_t)reqperf_srv_max_routes(sc);
    params.slow_size = (uint32_t)reqperf_srv_slow_log_size(sc);
    params.app_names = (uint32_t)reqperf_srv_app_max_names(sc);
    params.shards = reqperf_stats_shards();
    size = rp_stats_size(&params);

    ret = ap_retained_data_get(RETAINED_KEY);
    if (ret == NULL) {
        ret = ap_retained_data_create(RETAINED_KEY, sizeof(*ret));
    }
    if (ret->shm != NULL) {
        stats = rp_stats_attach(apr_shm_baseaddr_get(ret->shm),
                                apr_shm_size_get(ret->shm), &params);
        if (stats != NULL) {
            return OK;                 /* graceful restart: keep counting */
        }
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, APLOGNO(10501)
                     "mod_reqperf: statistics layout changed "
                     "(ReqPerfMaxRoutes/ReqPerfSlowLogSize/"
                     "ReqPerfAppTimingMaxNames); starting afresh");
        /* children of the old generation keep their own mapping */
        apr_shm_destroy(ret->shm);
        ret->shm = NULL;
    }
    rv = apr_shm_create(&ret->shm, size, NULL, s->process->pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10502)
                     "mod_reqperf: cannot create %" APR_SIZE_T_FMT
                     " bytes of shared memory for statistics", size);
        stats = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ret->params = params;
    stats = rp_stats_init(apr_shm_baseaddr_get(ret->shm),
                          apr_shm_size_get(ret->shm), &params,
                          apr_time_now(), rp_now_us());
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, APLOGNO(10503)
                 "mod_reqperf: %" APR_SIZE_T_FMT " bytes of statistics for "
                 "%u routes, %u slow requests and %u application metric "
                 "names per route", size, params.max_routes,
                 params.slow_size, params.app_names);
    return OK;
}

/* Start and non-graceful restart only: the statistics start afresh. */
static int reqperf_stats_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type)
{
    (void)p;
    (void)sb_type;
    if (stats != NULL) {
        rp_stats_reset(stats, apr_time_now(), rp_now_us());
    }
    return OK;
}

static int reqperf_stats_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    (void)s;
    if (stats != NULL) {
        rp_stats_rotate(stats, rp_now_us());
    }
    return DECLINED;
}

void reqperf_stats_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(reqperf_stats_post_config, NULL, NULL,
                        APR_HOOK_MIDDLE);
    ap_hook_pre_mpm(reqperf_stats_pre_mpm, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(reqperf_stats_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}
