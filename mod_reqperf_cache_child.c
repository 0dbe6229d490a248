/*
 * mod_reqperf_cache_child.c: the cache's life in each process.
 *
 * post_config makes what every child shares: the memcached circuit
 * breakers and the local tier (shared memory, made afresh with each
 * configuration), and once for the parent's life the queue of purges
 * that wait for memcached; child_init gives each child its own memcached
 * connections (one per thread, and one spare).  What the status page
 * shows of them is read here too.  The rest of the cache glue sees this
 * through reqperf_cache_child (mod_reqperf_cache.h).
 */
#include "apr_strings.h"
#include "apr_shm.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"

#include "mod_reqperf_cache.h"
#include "stats/rp_report.h"
#include "cache/rp_mc.h"
#include "cache/rp_local.h"
#include "cache/rp_pending.h"

APLOG_USE_MODULE(reqperf);

/* what post_config made (the same in every child) and child_init
 * connected: mod_reqperf_cache.h */
reqperf_cache_child_t reqperf_cache_child;

/* The queue of purges to make once memcached answers (cache/rp_pending.h):
 * one for the life of the parent process, found again after a restart in
 * the process pool's userdata (a restart reloads this module, statics
 * and all). */
#define PENDING_KEY "reqperf_pending_purges"

/* What this process said of memcached in the error log: 'down' at most
 * once a minute, and 'answers again' only after a 'down' it said, at most
 * once a minute too.  Requests that meet a dead server and a live one in
 * turn (one server of several gone, or a breaker flapping under load)
 * would otherwise say both on every request. */
static int mc_down_said;
static apr_time_t mc_down_logged, mc_up_logged;

void reqperf_memcached_down(request_rec *r)
{
    if (reqperf_log_due(&mc_down_logged)) {
        mc_down_said = 1;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10522)
                      "mod_reqperf: memcached did not answer within "
                      "ReqPerfCacheTimeout; requests go to the backend "
                      "uncached (X-Cache: BYPASS down) until it is back");
    }
}

/* A request's memcached calls were cut short: each answered, but together
 * they took longer than the timeout (rp_mc_limit). */
void reqperf_memcached_slow(request_rec *r)
{
    static apr_time_t last;

    if (reqperf_log_due(&last)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10525)
                      "mod_reqperf: memcached is slow: a request's calls "
                      "to it took longer than ReqPerfCacheTimeout in all, "
                      "and it made no more (the lookup goes to the "
                      "backend, the store is dropped)");
    }
}

void reqperf_memcached_up(request_rec *r)
{
    if (mc_down_said && reqperf_log_due(&mc_up_logged)) {
        mc_down_said = 0;
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, APLOGNO(10523)
                      "mod_reqperf: memcached answers again");
    }
}

int reqperf_cache_acquire_store(request_rec *r, rp_store_t *out)
{
    return reqperf_cache_child.mc != NULL
           && rp_mc_acquire(reqperf_cache_child.mc, r->pool, out) == 0;
}

/* ---------------------------------------------------------------- */
/* life: shared breakers, per-child connections                     */

static int cache_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    reqperf_cache_child_t *cc = &reqperf_cache_child;
    reqperf_srv_conf_t *sc = reqperf_sconf(s);
    reqperf_cache_srv_t scc = reqperf_cache_srv(sc);
    apr_shm_t *shm;
    apr_status_t rv;
    server_rec *vs;

    (void)plog;
    (void)ptemp;
    cc->n_servers = 0;
    cc->breakers = NULL;
    cc->pending = NULL;
    reqperf_cache_config_reads(pconf, s);
    reqperf_cache_ssi_config(pconf);
    if (sc->cache_servers == NULL || sc->cache_servers->nelts == 0) {
        for (vs = s; vs; vs = vs->next) {
            reqperf_dir_conf_t *d = ap_get_module_config(vs->lookup_defaults,
                                                         &reqperf_module);
            if (reqperf_cache_mode(d) == REQPERF_CACHE_ON
                || reqperf_cache_on_somewhere) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10513)
                             "mod_reqperf: ReqPerfCache On without "
                             "ReqPerfCacheServers: nothing will be cached");
                break;
            }
        }
        return OK;
    }
    cc->n_servers = sc->cache_servers->nelts;
    cc->server_names = (const char **)sc->cache_servers->elts;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    rv = apr_shm_create(&shm, sizeof(rp_breaker_t) * (apr_size_t)cc->n_servers,
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10514)
                     "mod_reqperf: cannot create shared memory for the "
                     "memcached circuit breakers");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    cc->breakers = apr_shm_baseaddr_get(shm);
    memset(cc->breakers, 0, sizeof(rp_breaker_t) * (apr_size_t)cc->n_servers);
    /* the purges that wait for memcached outlive a graceful restart (a
     * reload in the middle of an incident must not lose them): made
     * once, in the process pool, which every generation shares */
    {
        void *kept = NULL;

        apr_pool_userdata_get(&kept, PENDING_KEY, s->process->pool);
        if (kept == NULL) {
            rv = apr_shm_create(&shm, rp_pending_size(), NULL,
                                s->process->pool);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10514)
                             "mod_reqperf: cannot create shared memory for "
                             "the purges that wait for memcached");
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            kept = rp_pending_init(apr_shm_baseaddr_get(shm));
            apr_pool_userdata_set(kept, PENDING_KEY, apr_pool_cleanup_null,
                                  s->process->pool);
        }
        cc->pending = kept;
    }

    cc->local = NULL;
    cc->local_ttl = scc.local_ttl;
    if (scc.local_size != 0) {
        apr_size_t size = scc.local_size;
        /* made afresh with each configuration: a copy is only a copy */
        rv = apr_shm_create(&shm, size, NULL, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10516)
                         "mod_reqperf: cannot create %" APR_SIZE_T_FMT
                         " bytes of shared memory for ReqPerfCacheLocal; "
                         "the local tier is off", size);
        }
        else {
            cc->local = rp_local_init(apr_shm_baseaddr_get(shm), size);
        }
    }
    return OK;
}

static void cache_child_init(apr_pool_t *p, server_rec *s)
{
    reqperf_cache_child_t *cc = &reqperf_cache_child;
    reqperf_srv_conf_t *sc = reqperf_sconf(s);
    int threads = 1;
    const char *err = NULL;

    if (cc->n_servers == 0) {
        return;
    }
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
        || threads < 1) {
        threads = 1;
    }
    cc->mc = rp_mc_create(p, cc->server_names, cc->n_servers,
                          reqperf_cache_srv(sc).timeout,
                          threads + 1, cc->breakers, &err);
    if (cc->mc == NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(10515)
                     "mod_reqperf: memcached client not created (%s); "
                     "the cache is off in this process", err);
    }
}

void reqperf_cache_fill_report(apr_pool_t *p, server_rec *s,
                               struct rp_report_opts_t *o)
{
    reqperf_cache_child_t *cc = &reqperf_cache_child;
    rp_report_server_t *list;
    int i;

    (void)s;
    o->cache_configured = cc->n_servers > 0;
    if (cc->n_servers == 0) {
        return;
    }
    list = apr_pcalloc(p, sizeof(*list) * (apr_size_t)cc->n_servers);
    for (i = 0; i < cc->n_servers; i++) {
        list[i].address = cc->server_names[i];
        list[i].state = cc->breakers
                        ? rp_breaker_state_name(
                              rp_breaker_state(&cc->breakers[i]))
                        : "up";
    }
    o->servers = list;
    o->n_servers = cc->n_servers;
    if (cc->local != NULL) {
        o->local_configured = 1;
        rp_local_usage(cc->local, &o->local_bytes_used,
                       &o->local_bytes_total, &o->local_entries);
    }
}

void reqperf_cache_child_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(cache_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
