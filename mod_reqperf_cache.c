/*
 * mod_reqperf_cache.c: the page cache's HTTP side.
 *
 * The decisions live elsewhere, one place each: whose page a request asks
 * for and what its key is in mod_reqperf_cache_key.c (the safety model is
 * written down there), what may be stored in cache/rp_rules.c, and hit,
 * stale, miss, locks and generations in cache/rp_cache.c.  This file turns
 * their answers into HTTP:
 *
 *  - the request as the client sent it is copied when it has been read
 *    (post_read_request, first of all modules);
 *  - the lookup, either in the handler phase (after access control, so
 *    Require and authentication still guard cached pages) or, with
 *    ReqPerfCacheQuick On, in the quick handler before everything else;
 *    only for the request the client sent, or an internal redirect of it
 *    that did not come from an error (ErrorDocument pages are never looked
 *    up under the failed request's key);
 *  - serving a hit: stored status and headers, Age, X-Cache, 304 for a
 *    conditional request, HEAD from the GET entry; straight to the
 *    protocol filters, since the stored body already went through the
 *    content filters once;
 *  - the REQPERF_CACHE output filter, which sees every response where
 *    memcached is configured: it strips X-ReqPerf-Tags and
 *    X-ReqPerf-Purge before the headers leave, carries out the purges and
 *    the invalidation of a successful unsafe method, and on a miss holds
 *    the response (up to ReqPerfCacheMaxSize) until the backend has sent
 *    all of it, stores it, lets go of the fill lock, and only then sends
 *    it on: a slow client never holds the lock;
 *  - the REQPERF_INTERIM connection filter, which strips the same two
 *    headers from interim responses (103 Early Hints), which httpd writes
 *    past the request's filters;
 *  - the reqperf-purge handler;
 *  - memcached connections (one pool per child) and the circuit breakers
 *    (shared memory), and what the status page shows of them.
 *
 * Every memcached call is bounded by ReqPerfCacheTimeout; a server that
 * keeps failing is skipped for a while, so the site stays up, uncached.
 */
#include "apr_strings.h"
#include "apr_shm.h"
#include "apr_lib.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "util_filter.h"
#include "http_connection.h"

#include "mod_reqperf_cache.h"
#include "stats/rp_report.h"
#include "cache/rp_mc.h"
#include "cache/rp_purge.h"
#include "cache/rp_local.h"

APLOG_USE_MODULE(reqperf);

#define LOCK_WAIT_US (5 * 1000 * 1000)
/* an orphaned lock (its holder was killed) blocks nobody for long */
#define LOCK_TTL_S 5

static ap_filter_rec_t *cache_filter_handle;
static ap_filter_rec_t *interim_filter_handle;
static ap_filter_rec_t *subreq_filter_handle;
static rp_breaker_t *breakers;         /* shared memory, one per server */
static rp_local_t *local_tier;         /* shared memory, or NULL */
static apr_interval_time_t local_ttl;
static rp_mc_t *child_mc;              /* this child's connections */
static const char **server_names;
static int n_servers;

/* The REQPERF_INTERIM filter's state, one per connection. */
typedef struct {
    rp_interim_t st;
    apr_bucket_brigade *out;
} reqperf_interim_t;

/* ---------------------------------------------------------------- */
/* small helpers                                                     */

static reqperf_dir_conf_t *dconf_of(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &reqperf_module);
}

static reqperf_srv_conf_t *sconf_of(server_rec *s)
{
    return ap_get_module_config(s->module_config, &reqperf_module);
}

static reqperf_cache_req_t *cache_req(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);

    return rs != NULL ? rs->cache : NULL;
}

static void count(rp_counter_t c)
{
    rp_stats_t *st = reqperf_stats();

    if (st != NULL) {
        rp_stats_count(st, c, 1);
    }
}

static int64_t clock_now(void *baton)
{
    (void)baton;
    return apr_time_now();
}

static void clock_sleep(void *baton, int64_t us)
{
    (void)baton;
    apr_sleep(us);
}

static const rp_clock_t wall_clock = { clock_now, clock_sleep, NULL };

static void note_result(request_rec *r, int result, const char *x_cache)
{
    reqperf_req_t *rs = reqperf_req(r);

    apr_table_setn(r->err_headers_out, "X-Cache", x_cache);
    if (rs != NULL) {
        rs->cache_result = result;
        rs->cache_note = x_cache;
    }
}

static void bypass(request_rec *r, rp_counter_t reason, const char *word)
{
    count(RP_CTR_CACHE_BYPASS);
    count(reason);
    note_result(r, RP_CACHE_BYPASS, apr_pstrcat(r->pool, "BYPASS ", word,
                                                NULL));
}

static rp_counter_t bypass_counter(rp_bypass_t why)
{
    switch (why) {
    case RP_BYPASS_COOKIE:
        return RP_CTR_CACHE_BYPASS_COOKIE;
    case RP_BYPASS_AUTHORIZATION:
        return RP_CTR_CACHE_BYPASS_AUTH;
    case RP_BYPASS_NO_CACHE:
        return RP_CTR_CACHE_BYPASS_NOCACHE;
    case RP_BYPASS_UNKEYED_HEADER:
        return RP_CTR_CACHE_BYPASS_UNKEYED;
    case RP_BYPASS_METHOD:
        return RP_CTR_CACHE_BYPASS_METHOD;
    case RP_BYPASS_RANGE:
        return RP_CTR_CACHE_BYPASS_RANGE;
    case RP_BYPASS_BODY:
        return RP_CTR_CACHE_BYPASS_BODY;
    case RP_BYPASS_HOST:
        return RP_CTR_CACHE_BYPASS_HOST;
    default:
        return RP_CTR_CACHE_BYPASS_OTHER;
    }
}

/* What this process last saw of memcached, to say it in the error log
 * once when it goes and once when it is back, not per request. */
static int mc_seen_down;
static apr_time_t mc_down_logged;

static void memcached_down(request_rec *r)
{
    apr_time_t now = apr_time_now();

    mc_seen_down = 1;
    if (now - mc_down_logged > apr_time_from_sec(60)) {
        mc_down_logged = now;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10522)
                      "mod_reqperf: memcached did not answer within "
                      "ReqPerfCacheTimeout; requests go to the backend "
                      "uncached (X-Cache: BYPASS down) until it is back");
    }
}

static void memcached_up(request_rec *r)
{
    if (mc_seen_down) {
        mc_seen_down = 0;
        mc_down_logged = 0;
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, APLOGNO(10523)
                      "mod_reqperf: memcached answers again");
    }
}

static int acquire_store(request_rec *r, rp_store_t *out)
{
    return child_mc != NULL && rp_mc_acquire(child_mc, r->pool, out) == 0;
}

static void count_local_evictions(reqperf_cache_req_t *cr)
{
    rp_stats_t *st = reqperf_stats();

    if (cr->lk.local_evictions && st != NULL) {
        rp_stats_count(st, RP_CTR_LOCAL_EVICTIONS, cr->lk.local_evictions);
    }
    cr->lk.local_evictions = 0;
}

static void interim_done(request_rec *r);
static apr_status_t release_at_end(void *data);

/* ---------------------------------------------------------------- */
/* serving a hit                                                     */

/* The stored status and headers become the response's. */
static void entry_to_response(request_rec *r, const rp_entry_t *e,
                              int64_t age_s)
{
    uint32_t i;

    r->status = e->status;
    r->status_line = NULL;
    apr_table_clear(r->headers_out);
    for (i = 0; i < e->n_headers; i++) {
        if (strcasecmp(e->headers[i].name, "Content-Type") == 0) {
            ap_set_content_type(r, e->headers[i].value);
        }
        else {
            apr_table_addn(r->headers_out, e->headers[i].name,
                           e->headers[i].value);
        }
    }
    apr_table_setn(r->headers_out, "Age",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, age_s));
}

static int serve_entry(request_rec *r, reqperf_cache_req_t *cr, int stale)
{
    const rp_entry_t *e = &cr->lk.entry;
    apr_bucket_brigade *bb;
    apr_status_t rv;
    int status;

    reqperf_phase_enter(r, RP_PHASE_HANDLER);
    entry_to_response(r, e, cr->lk.age_s);
    if (stale) {
        count(RP_CTR_CACHE_STALE);
        note_result(r, RP_CACHE_STALE,
                    cr->lk.stale_reason == RP_STALE_TIMEOUT ? "STALE timeout"
                                                            : "STALE grace");
    }
    else if (cr->lk.from_local) {
        count(RP_CTR_CACHE_HIT);
        count(RP_CTR_LOCAL_HIT);
        note_result(r, RP_CACHE_HIT, "HIT local");
    }
    else if (cr->lk.waited) {
        /* it was slow because it queued behind another request's fill:
         * the label says so (the wait is counted in cache_lookup) */
        count(RP_CTR_CACHE_HIT);
        count(RP_CTR_LOCAL_MC_HIT);
        note_result(r, RP_CACHE_HIT, "HIT wait");
    }
    else {
        count(RP_CTR_CACHE_HIT);
        count(RP_CTR_LOCAL_MC_HIT);
        note_result(r, RP_CACHE_HIT, "HIT memcached");
    }

    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    status = e->status == HTTP_OK ? ap_meets_conditions(r) : OK;
    if (status != OK) {
        /* 304 (or 412) from the stored validators */
        r->status = status;
        apr_table_unset(r->headers_out, "Content-Length");
        if (status == HTTP_NOT_MODIFIED) {
            count(RP_CTR_CACHE_NOT_MODIFIED);
        }
    }
    else {
        ap_set_content_length(r, (apr_off_t)e->body_len);
        if (!r->header_only && e->body_len > 0) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(
                e->body, e->body_len, r->pool, r->connection->bucket_alloc));
        }
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
        r->connection->bucket_alloc));
    interim_done(r);
    reqperf_response_start(r);
    rv = ap_pass_brigade(r->proto_output_filters, bb);
    reqperf_response_end(r);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, APLOGNO(10510)
                      "mod_reqperf: client went away while a cached page "
                      "was sent");
    }
    return OK;
}

/* ---------------------------------------------------------------- */
/* the request as sent, and interim responses                        */

static reqperf_interim_t *interim_of(conn_rec *c)
{
    ap_filter_t *f;

    for (f = c->output_filters; f != NULL; f = f->next) {
        if (f->frec == interim_filter_handle) {
            return f->ctx;
        }
    }
    return NULL;
}

static int cache_pre_connection(conn_rec *c, void *csd)
{
    reqperf_interim_t *ic;

    (void)csd;
    if (c->outgoing) {
        return DECLINED;
    }
    ic = apr_pcalloc(c->pool, sizeof(*ic));
    ic->st.mode = RP_INTERIM_PASS;
    ic->out = apr_brigade_create(c->pool, c->bucket_alloc);
    ap_add_output_filter_handle(interim_filter_handle, ic, NULL, c);
    return DECLINED;
}

/* First of all post_read_request hooks: mod_headers' early edits and
 * mod_remoteip come after, so this is the request as the client sent it. */
static int cache_post_read(request_rec *r)
{
    reqperf_req_t *rs;
    reqperf_cache_req_t *cr;
    reqperf_interim_t *ic;

    if (r->main != NULL || r->prev != NULL) {
        return DECLINED;
    }
    /* until this request's final response starts, what reaches the
     * connection's filters is an interim response */
    if ((ic = interim_of(r->connection)) != NULL) {
        rp_interim_reset(&ic->st);
    }
    /* with ReqPerfCache Observe anywhere too, memcached or not: which
     * <Location> a request falls in is not known yet */
    if ((n_servers == 0 && !reqperf_cache_observe_somewhere)
        || (rs = reqperf_req(r)) == NULL || rs->cache != NULL) {
        return DECLINED;
    }
    cr = apr_pcalloc(r->pool, sizeof(*cr));
    reqperf_cache_snapshot(r, cr);
    rs->cache = cr;
    return DECLINED;
}

/* Last of all post_read_request hooks: what the key holds of headers. */
static int cache_post_read_late(request_rec *r)
{
    reqperf_cache_req_t *cr;

    if (r->main == NULL && r->prev == NULL && (cr = cache_req(r)) != NULL) {
        reqperf_cache_snapshot_keyed(r, cr);
    }
    return DECLINED;
}

static void interim_emit(void *baton, const char *data, size_t len)
{
    apr_brigade_write(baton, NULL, NULL, data, len);
}

static apr_status_t interim_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    reqperf_interim_t *ic = f->ctx;
    apr_status_t rv;

    if (ic->st.mode == RP_INTERIM_PASS) {
        return ap_pass_brigade(f->next, bb);
    }
    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket *b = APR_BRIGADE_FIRST(bb);
        const char *data;
        apr_size_t len, used;

        if (ic->st.mode == RP_INTERIM_PASS) {
            APR_BRIGADE_CONCAT(ic->out, bb);
            break;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ic->out, b);
            continue;
        }
        rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(ic->out);
            return rv;
        }
        used = rp_interim_feed(&ic->st, data, len, interim_emit, ic->out);
        if (used < len) {
            /* the rest is not an interim head: on as it is */
            apr_bucket_split(b, used);
            apr_bucket_delete(b);
            continue;
        }
        apr_bucket_delete(b);
    }
    rv = ap_pass_brigade(f->next, ic->out);
    apr_brigade_cleanup(ic->out);
    return rv;
}

/* The final response starts: nothing after this is an interim head. */
static void interim_done(request_rec *r)
{
    reqperf_interim_t *ic = interim_of(r->connection);

    if (ic != NULL) {
        ic->st.mode = RP_INTERIM_PASS;
        ic->st.held = 0;
    }
}

/* ---------------------------------------------------------------- */
/* lookup                                                            */

/* One REQPERF_CACHE filter per request_rec (an internal redirect gets
 * its own), all sharing the request's reqperf_cache_req_t. */
static void add_cache_filter(request_rec *r, reqperf_cache_req_t *cr)
{
    ap_filter_t *f;

    for (f = r->output_filters; f != NULL; f = f->next) {
        if (f->frec == cache_filter_handle && f->r == r) {
            f->ctx = cr;
            return;
        }
    }
    ap_add_output_filter_handle(cache_filter_handle, cr, r, r->connection);
}

/* Conditional headers would let the backend answer 304, which cannot be
 * stored; a miss asks for the whole page (the client still gets a
 * correct, if complete, answer). */
static void drop_conditionals(request_rec *r)
{
    apr_table_unset(r->headers_in, "If-None-Match");
    apr_table_unset(r->headers_in, "If-Modified-Since");
    apr_table_unset(r->headers_in, "If-Range");
}

static int same_list(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int n = a ? a->nelts : 0, m = b ? b->nelts : 0, i;

    if (n != m) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(APR_ARRAY_IDX(a, i, const char *),
                   APR_ARRAY_IDX(b, i, const char *)) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Whether two configurations build the same key and the same verdict. */
static int same_key_conf(const reqperf_dir_conf_t *a,
                         const reqperf_dir_conf_t *b)
{
    return a == b || a == NULL
           || (same_list(a->cache_vary, b->cache_vary)
               && same_list(a->cache_ignore_query, b->cache_ignore_query)
               && same_list(a->cache_ignore_cookie, b->cache_ignore_cookie));
}

/* The request the client sent, or an internal redirect of it that came
 * from a rewrite and not from an error (every request before it ended
 * 200), with ReqPerfCache On (or Observe: mode) all along: an
 * ErrorDocument page is never looked up under the key of the request that
 * failed (a 403 would otherwise be answered with the page it denied). */
int reqperf_cache_chain_is_clean(request_rec *r, int mode)
{
    request_rec *p;

    for (p = r->prev; p != NULL; p = p->prev) {
        if (p->status != HTTP_OK || dconf_of(p)->cache != mode) {
            return 0;
        }
    }
    return r->main == NULL;
}

static int chain_is_clean(request_rec *r)
{
    return reqperf_cache_chain_is_clean(r, REQPERF_CACHE_ON);
}

/* Whose page, then its key, from the request as sent: the decisions a
 * lookup takes before it asks any store, the same for On and Observe. */
reqperf_decided_t reqperf_cache_decide(request_rec *r,
                                       const reqperf_dir_conf_t *d,
                                       reqperf_cache_req_t *cr,
                                       reqperf_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    cr->looked_up = 1;
    cr->lookup_conf = d;
    out->why = reqperf_cache_whose(r, cr, d, &out->refresh);
    if (out->why != RP_BYPASS_NONE
        && !(out->why == RP_BYPASS_NO_CACHE && out->refresh)) {
        return REQPERF_DECIDED_BYPASS;
    }
    cr->env_key = reqperf_cache_env_key(r);
    if (cr->sent.live != NULL && reqperf_cache_inputs_changed(r, cr, d, NULL)) {
        /* a ReqPerfCacheVary header the server changed on the way: the
         * backend would be asked for something the key cannot hold */
        return REQPERF_DECIDED_UNKEYED;
    }
    if (reqperf_cache_key(r, cr, d, &out->resource, &out->full) != 0) {
        return REQPERF_DECIDED_NO_KEY;
    }
    return REQPERF_DECIDED_LOOKUP;
}

/* The lookup's settings from d, and its keys (the store is not asked). */
void reqperf_cache_setup(request_rec *r, const reqperf_dir_conf_t *d,
                         reqperf_cache_req_t *cr, const char *resource,
                         const char *full)
{
    cr->conf.default_ttl_s = d->cache_ttl_s == REQPERF_UNSET
                             ? REQPERF_DEFAULT_CACHE_TTL_S : d->cache_ttl_s;
    cr->conf.grace_s = d->cache_grace_s == REQPERF_UNSET ? 0
                                                         : d->cache_grace_s;
    cr->conf.stale_if_error_s = d->cache_stale_if_error_s == REQPERF_UNSET
                                ? 0 : d->cache_stale_if_error_s;
    cr->conf.lock = d->cache_lock != 0;
    cr->conf.lock_wait_us = LOCK_WAIT_US;
    cr->conf.lock_ttl_s = LOCK_TTL_S;
    cr->max = (apr_size_t)(d->cache_max_size == REQPERF_UNSET
                           ? REQPERF_DEFAULT_CACHE_MAXSIZE
                           : d->cache_max_size);
    /* the variant a request wants is keyed on what the backend is sent */
    rp_cache_lookup_init(&cr->lk, &cr->store, r->pool, &cr->conf,
                         &wall_clock, resource, full, reqperf_keyed_header,
                         cr);
    /* what Apache already varies on (mod_rewrite's RewriteCond on a
     * header; known here in the handler phase, not yet in the quick one) */
    cr->lk.extra_vary = reqperf_cache_server_vary(r);
}

static int cache_lookup(request_rec *r, const reqperf_dir_conf_t *d,
                        reqperf_cache_req_t *cr)
{
    reqperf_decision_t dec;
    reqperf_decided_t decided;
    int result;

    reqperf_phase_enter(r, RP_PHASE_CACHE);
    decided = reqperf_cache_decide(r, d, cr, &dec);
    if (decided == REQPERF_DECIDED_LOOKUP && rp_mc_all_down(child_mc)) {
        /* memcached is known down: cost the request nothing more */
        memcached_down(r);
        bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
        return DECLINED;
    }
    reqperf_advice_decided(r, cr, d, REQPERF_CACHE_ON, decided, &dec);
    switch (decided) {
    case REQPERF_DECIDED_BYPASS:
        bypass(r, bypass_counter(dec.why), rp_bypass_name(dec.why));
        return DECLINED;
    case REQPERF_DECIDED_UNKEYED:
        bypass(r, RP_CTR_CACHE_BYPASS_UNKEYED, "unkeyed-header");
        return DECLINED;
    case REQPERF_DECIDED_NO_KEY:
        bypass(r, RP_CTR_CACHE_BYPASS_OTHER, "key");
        return DECLINED;
    default:
        break;
    }
    if (!acquire_store(r, &cr->store)) {
        memcached_down(r);
        bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
        return DECLINED;
    }
    cr->have_store = 1;
    reqperf_cache_setup(r, d, cr, dec.resource, dec.full);
    cr->lk.no_lock = r->header_only;
    cr->lk.refresh = dec.refresh;
    cr->lk.local = local_tier;
    cr->lk.local_ttl_us = local_ttl;

    result = rp_cache_lookup(&cr->lk);
    /* not held while the backend works or the response is written: the
     * store borrows a connection again if it needs one */
    rp_mc_park(&cr->store);
    if (cr->lk.invalid_entries) {
        count(RP_CTR_CACHE_INVALID);
    }
    if (cr->lk.stale_by_generation) {
        count(RP_CTR_CACHE_STALE_GEN);
    }
    if (cr->lk.waited) {
        reqperf_req_t *rs = reqperf_req(r);
        count(RP_CTR_CACHE_LOCK_WAITS);
        if (rs != NULL) {
            /* per route and in the slow log, at the log hook */
            rs->cache_flags |= RP_CACHE_FLAG_LOCK_WAIT;
            rs->cache_lock_wait_us = cr->lk.waited_us > 0 ? cr->lk.waited_us
                                                           : 1;
        }
    }
    if (cr->lk.local_revalidating) {
        count(RP_CTR_LOCAL_REVALIDATIONS);
    }
    count_local_evictions(cr);
    if (result == RP_LOOKUP_DOWN) {
        count(RP_CTR_CACHE_ERRORS);
        memcached_down(r);
        bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
        return DECLINED;
    }
    if (!cr->lk.from_local) {
        memcached_up(r);
    }
    switch (result) {
    case RP_LOOKUP_HIT:
        return serve_entry(r, cr, 0);
    case RP_LOOKUP_STALE:
        return serve_entry(r, cr, 1);
    default:
        break;
    }
    if (dec.refresh) {
        bypass(r, RP_CTR_CACHE_BYPASS_NOCACHE, "no-cache");
    }
    else if (cr->lk.waited) {
        /* queued behind another request's fill, which did not come (it
         * timed out, or the answer could not be stored): to the backend */
        count(RP_CTR_CACHE_MISS);
        note_result(r, RP_CACHE_MISS, "MISS wait");
    }
    else if (cr->lk.miss_reason == RP_MISS_PASS) {
        /* the last answer could not be stored: straight to the backend
         * without the lock, but what it answers now is stored if it may
         * be (Varnish's hit-for-miss), so one visitor's unstorable
         * answer (a first-visit Set-Cookie) does not make the page
         * uncacheable for the others */
        count(RP_CTR_CACHE_MISS);
        note_result(r, RP_CACHE_MISS, "MISS uncacheable");
    }
    else {
        count(RP_CTR_CACHE_MISS);
        note_result(r, RP_CACHE_MISS, "MISS");
    }
    if (cr->lk.holds_lock) {
        apr_pool_cleanup_register(r->pool, cr, release_at_end,
                                  apr_pool_cleanup_null);
    }
    if (!r->header_only) {
        cr->capture = 1;
        drop_conditionals(r);
        add_cache_filter(r, cr);
    }
    else {
        rp_cache_release(&cr->lk);
        if (cr->lk.has_fallback) {
            drop_conditionals(r);
            add_cache_filter(r, cr);    /* to stand in for a failure */
        }
    }
    return DECLINED;
}

/* The Vary Apache set on the way to the handler (mod_rewrite's), which a
 * proxied response would replace: kept for the storage rules. */
void reqperf_cache_keep_server_vary(request_rec *r, reqperf_cache_req_t *cr)
{
    const char *v = reqperf_cache_server_vary(r);

    if (v != NULL) {
        cr->server_vary = cr->server_vary
                          ? apr_pstrcat(r->pool, cr->server_vary, ", ", v,
                                        NULL)
                          : v;
    }
}

static int cache_handler(request_rec *r)
{
    reqperf_cache_req_t *cr;
    reqperf_dir_conf_t *d;
    int rv;

    if (r->main != NULL || child_mc == NULL
        || (cr = cache_req(r)) == NULL) {
        return DECLINED;
    }
    d = dconf_of(r);
    if (!cr->looked_up && d->cache == 1 && chain_is_clean(r)) {
        /* here the headers the backend will get are known: a keyed one
         * the server changed since the request was read keys nothing */
        cr->sent.live = r;
        rv = cache_lookup(r, d, cr);
        if (rv != DECLINED) {
            return rv;
        }
        /* the real handler's time is handler time again */
        reqperf_phase_enter(r, RP_PHASE_HANDLER);
    }
    if (cr->capture) {
        reqperf_cache_keep_server_vary(r, cr);
        if (!chain_is_clean(r)) {
            /* an error document: whatever it says is not the page's */
            cr->lk.no_pass = 1;
        }
    }
    return DECLINED;
}

/* Whether the path as sent is already in the form httpd will match
 * <Location> against: no escapes, no dot segments, no double slashes.
 * Only such requests are looked up before httpd has mapped them. */
static int path_is_plain(const char *u)
{
    size_t n = strcspn(u, "?#");

    if (*u != '/' || memchr(u, '%', n) != NULL) {
        return 0;
    }
    for (; n > 0; u++, n--) {
        if (u[0] == '/' && n > 1
            && (u[1] == '/'
                || (u[1] == '.' && (n == 2 || u[2] == '/'
                                    || (u[2] == '.'
                                        && (n == 3 || u[3] == '/')))))) {
            return 0;
        }
    }
    return 1;
}

/* ReqPerfCacheQuick On: before translation and access control.  The
 * <Location> sections are walked for our configuration only, then the
 * request's configuration is put back as it was. */
static int cache_quick_handler(request_rec *r, int lookup_uri)
{
    reqperf_srv_conf_t *sc;
    reqperf_cache_req_t *cr;
    ap_conf_vector_t *saved;
    reqperf_dir_conf_t *d;
    int rv = DECLINED;

    if (lookup_uri || r->main != NULL || child_mc == NULL
        || (cr = cache_req(r)) == NULL || cr->looked_up) {
        return DECLINED;
    }
    sc = sconf_of(r->server);
    if (sc->cache_quick != 1) {
        return DECLINED;
    }
    /* <Location> is matched below on the path as sent; another spelling
     * of it (%61dmin, /./, //) could slip past a ReqPerfCache Off there.
     * Such a request is looked up later, after httpd has mapped it. */
    if (r->unparsed_uri == NULL || !path_is_plain(r->unparsed_uri)) {
        return DECLINED;
    }
    /* An Upgrade (h2c) is answered on the new protocol by a request that
     * looks the page up itself; the HTTP/1.1 one must not take the fill
     * lock for it.  If the upgrade is refused, the lookup happens in the
     * handler phase, which the switch comes before. */
    if (r->connection->master == NULL
        && apr_table_get(r->headers_in, "Upgrade") != NULL) {
        return DECLINED;
    }
    saved = r->per_dir_config;
    ap_location_walk(r);
    d = dconf_of(r);
    if (d->cache == 1) {
        rv = cache_lookup(r, d, cr);
    }
    r->per_dir_config = saved;
    return rv;
}

/* ---------------------------------------------------------------- */
/* purges                                                            */

/* The resource a URL given to a purge names (absolute or relative: the
 * host and scheme do not matter, a purge reaches every one), with the
 * ReqPerfCacheIgnoreQuery of the location it names.  NULL if it names
 * none (a path above the root, ...). */
static const char *purge_target(request_rec *r, const char *given)
{
    const char *path, *query, *norm, *out;
    request_rec *rr;

    if (rp_url_split(r->pool, given, NULL, NULL, NULL, &path, &query) != 0
        || (norm = reqperf_cache_resource(r, path, NULL, dconf_of(r))) == NULL) {
        return NULL;
    }
    /* the configuration of the page, not of the purge location */
    rr = ap_sub_req_lookup_uri(norm, r, NULL);
    out = reqperf_cache_resource(r, path, query, dconf_of(rr));
    ap_destroy_sub_req(rr);
    return out;
}

typedef struct {
    apr_array_header_t *urls;          /* resources purged */
    apr_array_header_t *tags;
    apr_array_header_t *bad;           /* URLs that name no page */
    int failed;
} purge_result_t;

static void do_purges(request_rec *r, rp_store_t *store,
                      const rp_purge_req_t *req, purge_result_t *out)
{
    int i;

    out->urls = apr_array_make(r->pool, 4, sizeof(char *));
    out->tags = apr_array_make(r->pool, 4, sizeof(char *));
    out->bad = apr_array_make(r->pool, 1, sizeof(char *));
    out->failed = 0;
    for (i = 0; req->urls && i < req->urls->nelts; i++) {
        const char *given = APR_ARRAY_IDX(req->urls, i, const char *);
        const char *url = purge_target(r, given);
        if (url == NULL) {
            APR_ARRAY_PUSH(out->bad, const char *) = given;
            continue;
        }
        if (store == NULL) {
            continue;
        }
        if (rp_cache_purge_url(store, r->pool, local_tier, url,
                               apr_time_now())
            != RP_ST_OK) {
            out->failed++;
            count(RP_CTR_PURGE_FAILED);
            continue;
        }
        count(RP_CTR_PURGE_URL);
        APR_ARRAY_PUSH(out->urls, const char *) = url;
    }
    for (i = 0; store != NULL && req->tags && i < req->tags->nelts; i++) {
        const char *tag = APR_ARRAY_IDX(req->tags, i, const char *);
        if (rp_cache_purge_tag(store, r->pool, local_tier, tag,
                               apr_time_now())
            != RP_ST_OK) {
            out->failed++;
            count(RP_CTR_PURGE_FAILED);
            continue;
        }
        count(RP_CTR_PURGE_TAG);
        APR_ARRAY_PUSH(out->tags, const char *) = tag;
    }
}

/* Once per cause and minute, not per request in a storm. */
static void log_purge_failure(request_rec *r, const char *what)
{
    static apr_time_t last;
    apr_time_t now = apr_time_now();

    if (now - last > apr_time_from_sec(60)) {
        last = now;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10511)
                      "mod_reqperf: %s could not reach memcached; the "
                      "pages it names may be served until they expire",
                      what);
    }
}

/* X-ReqPerf-Purge from the backend, and a successful unsafe method. */
static void response_purges(request_rec *r, const char *purge_header)
{
    reqperf_dir_conf_t *d = dconf_of(r);
    reqperf_cache_req_t *cr = cache_req(r);
    rp_purge_req_t req;
    purge_result_t res;
    rp_store_t store;
    const char *err = NULL;
    int unsafe = (r->method_number == M_POST || r->method_number == M_PUT
                  || r->method_number == M_DELETE
                  || r->method_number == M_PATCH)
                 && r->status < 400 && d->cache == 1;

    if ((purge_header == NULL && !unsafe) || n_servers == 0) {
        return;
    }
    memset(&req, 0, sizeof(req));
    if (purge_header != NULL
        && rp_purge_parse_header(r->pool, purge_header, &req, &err) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10512)
                      "mod_reqperf: ignoring X-ReqPerf-Purge from the "
                      "backend: %s", err ? err : "malformed");
        memset(&req, 0, sizeof(req));
    }
    if (!acquire_store(r, &store)) {
        log_purge_failure(r, "a purge");
        count(RP_CTR_PURGE_FAILED);
        return;
    }
    do_purges(r, &store, &req, &res);
    if (res.bad->nelts > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10520)
                      "mod_reqperf: X-ReqPerf-Purge from the backend names "
                      "no page: url=%s",
                      APR_ARRAY_IDX(res.bad, 0, const char *));
    }
    if (unsafe && cr != NULL) {
        const char *url = reqperf_cache_request_resource(r, cr, d);
        if (url != NULL
            && rp_cache_purge_url(&store, r->pool, local_tier, url,
                                  apr_time_now()) == RP_ST_OK) {
            count(RP_CTR_PURGE_UNSAFE);
        }
        else if (url != NULL) {
            res.failed++;
            count(RP_CTR_PURGE_FAILED);
        }
    }
    rp_mc_release(&store);
    if (res.failed) {
        log_purge_failure(r, "a purge");
    }
}

/* ---------------------------------------------------------------- */
/* the REQPERF_CACHE output filter                                   */

static const char *const never_stored[] = {
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
    "TE", "Trailer", "Trailers", "Transfer-Encoding", "Upgrade",
    "Content-Length", "Date", "Server", "Age", "X-Cache", "Server-Timing",
    "Set-Cookie", "Set-Cookie2", "X-ReqPerf-Tags", "X-ReqPerf-Purge", NULL
};

typedef struct {
    apr_array_header_t *out;           /* rp_header_t */
    const char *connection;            /* names listed there are hop-by-hop */
} collect_t;

static int collect_header(void *baton, const char *name, const char *value)
{
    collect_t *c = baton;
    rp_header_t *h;
    int i;

    for (i = 0; never_stored[i]; i++) {
        if (strcasecmp(name, never_stored[i]) == 0) {
            return 1;
        }
    }
    if (c->connection && ap_find_token(c->out->pool, c->connection, name)) {
        return 1;
    }
    h = apr_array_push(c->out);
    h->name = name;
    h->value = value;
    return 1;
}

static const char *either(request_rec *r, const char *name)
{
    const char *v = apr_table_get(r->headers_out, name);

    return v ? v : apr_table_get(r->err_headers_out, name);
}

/* Every value of a list header in both tables, comma-joined: a backend
 * may send "Cache-Control: public" and "Cache-Control: private" on two
 * lines, and the second must count as much as the first. */
static const char *all_of(request_rec *r, const char *name)
{
    const char *a = apr_table_getm(r->pool, r->headers_out, name);
    const char *b = apr_table_getm(r->pool, r->err_headers_out, name);

    if (a != NULL && b != NULL) {
        return apr_pstrcat(r->pool, a, ", ", b, NULL);
    }
    return a ? a : b;
}

static int count_of(request_rec *r, const char *name)
{
    const apr_array_header_t *a[2];
    int n = 0, t, i;

    a[0] = apr_table_elts(r->headers_out);
    a[1] = apr_table_elts(r->err_headers_out);
    for (t = 0; t < 2; t++) {
        const apr_table_entry_t *e = (const apr_table_entry_t *)a[t]->elts;
        for (i = 0; i < a[t]->nelts; i++) {
            n += e[i].key != NULL && strcasecmp(e[i].key, name) == 0;
        }
    }
    return n;
}

/* Before the headers leave: what the client must not see, and what the
 * backend asked us to do. */
static void handle_response_headers(request_rec *r, reqperf_cache_req_t *cr)
{
    const char *tags = all_of(r, "X-ReqPerf-Tags");
    const char *purge = all_of(r, "X-ReqPerf-Purge");

    apr_table_unset(r->headers_out, "X-ReqPerf-Tags");
    apr_table_unset(r->err_headers_out, "X-ReqPerf-Tags");
    apr_table_unset(r->headers_out, "X-ReqPerf-Purge");
    apr_table_unset(r->err_headers_out, "X-ReqPerf-Purge");
    if (cr != NULL && tags != NULL) {
        /* (after any an included part brought) */
        cr->tags = cr->tags ? apr_pstrcat(r->pool, cr->tags, " ", tags, NULL)
                            : tags;
    }
    response_purges(r, purge);
}

/* The one place a response's facts are read for the storage rules: from
 * the headers alone while it starts, with its body once it is whole. */
static void response_facts(request_rec *r, reqperf_cache_req_t *cr,
                           int whole, rp_cache_response_t *resp)
{
    const char *vary = all_of(r, "Vary");

    memset(resp, 0, sizeof(*resp));
    resp->status = r->status;
    resp->cache_control = all_of(r, "Cache-Control");
    resp->pragma = all_of(r, "Pragma");
    /* two Expires disagree: read as junk, which means already expired */
    resp->expires = count_of(r, "Expires") > 1 ? "0" : either(r, "Expires");
    resp->date = apr_table_get(r->headers_out, "Date");
    resp->age = either(r, "Age");
    if (cr->server_vary != NULL) {
        vary = vary ? apr_pstrcat(r->pool, vary, ", ", cr->server_vary, NULL)
                    : cr->server_vary;
    }
    resp->vary = vary;
    resp->has_set_cookie = either(r, "Set-Cookie") != NULL
                           || either(r, "Set-Cookie2") != NULL;
    resp->has_content_range = either(r, "Content-Range") != NULL
                              || r->status == HTTP_PARTIAL_CONTENT;
    resp->request_authenticated = reqperf_cache_request_authenticated(r);
    resp->input_changed = reqperf_cache_inputs_changed(r, cr, dconf_of(r),
                                                       vary);
    resp->tags = cr->tags;
    if (whole) {
        const char *cl = apr_table_get(r->headers_out, "Content-Length");
        apr_off_t n;
        collect_t c;

        c.out = apr_array_make(r->pool, 16, sizeof(rp_header_t));
        c.connection = all_of(r, "Connection");
        apr_table_do(collect_header, &c, r->headers_out, NULL);
        apr_table_do(collect_header, &c, r->err_headers_out, NULL);
        if (r->content_type
            && !apr_table_get(r->headers_out, "Content-Type")) {
            rp_header_t *h = apr_array_push(c.out);
            h->name = "Content-Type";
            h->value = r->content_type;
        }
        resp->headers = (const rp_header_t *)c.out->elts;
        resp->n_headers = c.out->nelts;
        resp->body = cr->buf ? cr->buf : "";
        resp->body_len = cr->len;
        /* a body cut short (or padded) by a failing backend */
        resp->incomplete = cl != NULL
                           && (apr_strtoff(&n, cl, NULL, 10) != APR_SUCCESS
                               || n != (apr_off_t)cr->len);
    }
}

/* The answer will not be stored: the lock goes, and a pass marker stays
 * when why says something about the page for everyone (RP_NOSTORE_NONE:
 * a reason of this request alone). */
static void give_up(reqperf_cache_req_t *cr, request_rec *r,
                    rp_nostore_t why, const char *what)
{
    if (cr->gave_up) {
        return;
    }
    cr->gave_up = 1;
    reqperf_advice_refused(r, why);
    if (why != RP_NOSTORE_NONE) {
        rp_cache_refuse(&cr->lk, why, r->status);
        count_local_evictions(cr);
    }
    else {
        rp_cache_release(&cr->lk);
    }
    rp_mc_park(&cr->store);
    count(RP_CTR_CACHE_STORE_SKIPPED);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "mod_reqperf: not storing %s: %s", r->uri,
                  what ? what : rp_nostore_name(why));
}

/* While the response starts: what its headers already rule out, for a
 * request looked up with ReqPerfCache On (mode) or Observe. */
reqperf_start_t reqperf_cache_start_verdict(request_rec *r,
                                            reqperf_cache_req_t *cr,
                                            int mode, rp_nostore_t *why)
{
    rp_cache_response_t resp;
    rp_response_info_t ri;
    const char *cl;
    apr_off_t n;

    *why = RP_NOSTORE_NONE;
    if (dconf_of(r)->cache != mode) {
        /* the request ended up where the cache is off (an internal
         * redirect, a different mapping): nothing is stored for it */
        return REQPERF_START_ELSEWHERE;
    }
    if (!reqperf_cache_chain_is_clean(r, mode)) {
        /* an error document: the request failed (in the quick mode even
         * its access control may have), so what answers it is not the
         * page, whatever its status */
        return REQPERF_START_ERROR_DOCUMENT;
    }
    if (!same_key_conf(cr->lookup_conf, dconf_of(r))) {
        /* the quick handler saw only <Location>: a <Directory>, <Proxy>
         * or <Files> section says otherwise of the key */
        return REQPERF_START_KEY_CONF;
    }
    response_facts(r, cr, 0, &resp);
    rp_cache_response_info(&cr->lk, &resp, &ri);
    *why = rp_response_storable(&ri, apr_time_sec(apr_time_now()),
                                cr->conf.default_ttl_s, NULL);
    if (*why == RP_NOSTORE_NONE && r->content_type != NULL
        && strncasecmp(r->content_type, "text/event-stream", 17) == 0) {
        *why = RP_NOSTORE_STREAM;       /* never complete, never a page */
    }
    cl = apr_table_get(r->headers_out, "Content-Length");
    if (*why == RP_NOSTORE_NONE && cl != NULL
        && apr_strtoff(&n, cl, NULL, 10) == APR_SUCCESS
        && n > (apr_off_t)cr->max) {
        *why = RP_NOSTORE_TOO_LARGE;
    }
    return *why != RP_NOSTORE_NONE ? REQPERF_START_NOSTORE : REQPERF_START_OK;
}

static void check_response_start(request_rec *r, reqperf_cache_req_t *cr)
{
    rp_nostore_t why;

    cr->held_since = apr_time_now();
    switch (reqperf_cache_start_verdict(r, cr, REQPERF_CACHE_ON, &why)) {
    case REQPERF_START_ELSEWHERE:
        give_up(cr, r, RP_NOSTORE_NONE,
                "ReqPerfCache Off where the request was served");
        break;
    case REQPERF_START_ERROR_DOCUMENT:
        give_up(cr, r, RP_NOSTORE_NONE, "an error document");
        break;
    case REQPERF_START_KEY_CONF:
        give_up(cr, r, RP_NOSTORE_NONE,
                "the key's configuration differs where the request was "
                "served");
        break;
    case REQPERF_START_NOSTORE:
        give_up(cr, r, why, NULL);
        break;
    default:
        break;
    }
}

static int append(reqperf_cache_req_t *cr, request_rec *r, const char *data,
                  apr_size_t len)
{
    if (cr->len + len > cr->max) {
        give_up(cr, r, RP_NOSTORE_TOO_LARGE, NULL);
        return 0;
    }
    if (cr->len + len > cr->cap) {
        apr_size_t cap = cr->cap ? cr->cap * 2 : 16384;
        char *n;
        while (cap < cr->len + len) {
            cap *= 2;
        }
        if (cap > cr->max) {
            cap = cr->max;
        }
        n = apr_palloc(r->pool, cap);
        if (cr->len) {
            memcpy(n, cr->buf, cr->len);
        }
        cr->buf = n;
        cr->cap = cap;
    }
    memcpy(cr->buf + cr->len, data, len);
    cr->len += len;
    return 1;
}

/* What was held back and not sent yet goes out first, ahead of what is
 * left in bb. */
static void unhold(ap_filter_t *f, reqperf_cache_req_t *cr,
                   apr_bucket_brigade *bb)
{
    if (cr->len > cr->sent_len) {
        APR_BRIGADE_INSERT_HEAD(bb, apr_bucket_pool_create(
            cr->buf + cr->sent_len, cr->len - cr->sent_len, f->r->pool,
            f->c->bucket_alloc));
    }
    cr->sent_len = cr->len;
}

/* A response made as it goes (a progress page, a slow CGI) reaches its
 * client as it comes once it has been held this long; the fill lock goes
 * then, since the client sets the pace from there.  The copy goes on, and
 * is stored when the response is complete. */
#define HOLD_MAX_US (500 * 1000)

static void start_streaming(ap_filter_t *f, reqperf_cache_req_t *cr,
                            apr_bucket_brigade *bb)
{
    cr->streaming = 1;
    unhold(f, cr, bb);
    rp_cache_release(&cr->lk);
    rp_mc_park(&cr->store);
}

/* The whole response's facts for the storage rules, with what its
 * included parts said folded in: RP_NOSTORE_NONE, or the reason a part
 * keeps the page from being stored (then *resp is not filled). */
rp_nostore_t reqperf_cache_whole_facts(request_rec *r,
                                       reqperf_cache_req_t *cr,
                                       rp_cache_response_t *resp)
{
    if (cr->sub_nostore != RP_NOSTORE_NONE) {
        return cr->sub_nostore;
    }
    response_facts(r, cr, 1, resp);
    if (cr->sub_max_fresh_s > 0) {
        resp->has_max_fresh = 1;
        resp->max_fresh_s = cr->sub_max_fresh_s - 1;
    }
    return RP_NOSTORE_NONE;
}

static void store_response(request_rec *r, reqperf_cache_req_t *cr)
{
    rp_cache_response_t resp;
    const char *why = NULL;
    int dropped = 0;
    rp_store_outcome_t out;

    if (reqperf_cache_whole_facts(r, cr, &resp) != RP_NOSTORE_NONE) {
        give_up(cr, r, cr->sub_nostore, "an included part");
        return;
    }
    out = rp_cache_store(&cr->lk, &resp, &why, &dropped);
    reqperf_advice_stored(r, cr, out);
    rp_mc_park(&cr->store);
    count_local_evictions(cr);
    if (dropped > 0) {
        rp_stats_t *st = reqperf_stats();
        if (st != NULL) {
            rp_stats_count(st, RP_CTR_CACHE_TAGS_DROPPED, (uint64_t)dropped);
        }
    }
    switch (out) {
    case RP_STORE_STORED:
        count(RP_CTR_CACHE_STORE);
        break;
    case RP_STORE_DOWN:
        count(RP_CTR_CACHE_ERRORS);
        count(RP_CTR_CACHE_STORE_SKIPPED);
        break;
    default:
        count(RP_CTR_CACHE_STORE_SKIPPED);
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "mod_reqperf: not storing %s: %s", r->uri,
                      why ? why : "?");
        break;
    }
}

/* Once per cause and minute: the backend failed and a copy stood in. */
static void log_stood_in(request_rec *r, int status)
{
    static apr_time_t last;
    apr_time_t now = apr_time_now();

    if (now - last > apr_time_from_sec(60)) {
        last = now;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10521)
                      "mod_reqperf: the backend answered %d for %s; a stale "
                      "copy was served instead (ReqPerfCacheStaleIfError, "
                      "stale-if-error); further ones are counted, not logged, "
                      "for a minute", status, r->uri);
    }
}

/* The backend failed (a 5xx of its own, or mod_proxy's 502/503/504 when it
 * could not be reached in time): the copy the lookup kept stands in.  The
 * failed response is dropped here, whatever produced it (mod_proxy, an
 * in-process application, CGI, an ErrorDocument), since it must pass this
 * filter to reach the client. */
static apr_status_t serve_fallback(ap_filter_t *f, reqperf_cache_req_t *cr,
                                   apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    const rp_entry_t *e = &cr->lk.fallback;
    reqperf_req_t *rs = reqperf_req(r);
    apr_bucket_brigade *out;
    int failed = r->status;

    cr->gave_up = 1;
    cr->capture = 0;
    cr->buf = NULL;
    cr->len = 0;
    cr->discarding = 1;
    rp_cache_release(&cr->lk);          /* the next request tries again */
    rp_mc_park(&cr->store);
    apr_brigade_cleanup(bb);
    apr_table_clear(r->err_headers_out);
    entry_to_response(r, e, cr->lk.fallback_age_s);
    count(RP_CTR_CACHE_STALE);
    count(RP_CTR_CACHE_STALE_ERROR);
    note_result(r, RP_CACHE_STALE, "STALE error");
    if (rs != NULL) {
        rs->cache_flags |= RP_CACHE_FLAG_STALE_ERROR;
    }
    log_stood_in(r, failed);
    out = apr_brigade_create(r->pool, f->c->bucket_alloc);
    ap_set_content_length(r, (apr_off_t)e->body_len);
    if (!r->header_only && e->body_len > 0) {
        APR_BRIGADE_INSERT_TAIL(out, apr_bucket_pool_create(
            e->body, e->body_len, r->pool, f->c->bucket_alloc));
    }
    APR_BRIGADE_INSERT_TAIL(out, apr_bucket_eos_create(f->c->bucket_alloc));
    return ap_pass_brigade(f->next, out);
}

static apr_status_t cache_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reqperf_cache_req_t *cr = f->ctx;
    apr_bucket *b;
    int eos = 0;

    if (cr != NULL && cr->discarding) {
        /* what is left of the failed response after a copy stood in */
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    if (cr == NULL || !cr->headers_done) {
        interim_done(r);
        if (cr != NULL && cr->lk.has_fallback && r->status >= 500
            && dconf_of(r)->cache == 1) {
            return serve_fallback(f, cr, bb);
        }
        handle_response_headers(r, cr);
        if (cr != NULL) {
            cr->headers_done = 1;
            if (cr->capture && !cr->gave_up) {
                check_response_start(r, cr);
            }
        }
    }
    if (cr == NULL || !cr->capture || cr->gave_up) {
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }
    /* a miss we may store: hold the body until the backend has sent all
     * of it, so that neither the store nor the fill lock waits for the
     * client to read */
    /* what came now: the held part start_streaming puts back in front of
     * it is in the copy already (copying it again doubled it) */
    b = APR_BRIGADE_FIRST(bb);
    if (!cr->streaming && apr_time_now() - cr->held_since > HOLD_MAX_US) {
        start_streaming(f, cr, bb);
    }
    while (b != APR_BRIGADE_SENTINEL(bb)) {
        const char *data;
        apr_size_t len;
        apr_bucket *next;

        if (APR_BUCKET_IS_EOS(b)) {
            eos = 1;
            break;
        }
        if (AP_BUCKET_IS_ERROR(b)) {
            give_up(cr, r, RP_NOSTORE_NONE, "error in the response");
            break;
        }
        if (APR_BUCKET_IS_FLUSH(b)) {
            next = APR_BUCKET_NEXT(b);
            if (!cr->streaming) {
                apr_bucket_delete(b);   /* nothing is sent yet to flush */
            }
            b = next;
            continue;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            give_up(cr, r, RP_NOSTORE_NONE, "metadata in the response");
            break;
        }
        if (b->length != (apr_size_t)-1 && cr->len + b->length > cr->max) {
            give_up(cr, r, RP_NOSTORE_TOO_LARGE, NULL);
            break;
        }
        if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
            give_up(cr, r, RP_NOSTORE_NONE, "unreadable body");
            break;
        }
        if (!append(cr, r, data, len)) {
            break;
        }
        /* after the read: a file or pipe bucket splits itself then */
        next = APR_BUCKET_NEXT(b);
        if (cr->streaming) {
            cr->sent_len = cr->len;     /* it goes on as it is */
        }
        else {
            apr_bucket_delete(b);
        }
        b = next;
    }
    if (cr->gave_up) {
        unhold(f, cr, bb);
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }
    if (!eos) {
        /* held; or, streaming, on its way (it was lost here: the client
         * got a 200 with no body once the response ran past the hold) */
        return cr->streaming ? ap_pass_brigade(f->next, bb) : APR_SUCCESS;
    }
    store_response(r, cr);              /* and the lock is released */
    cr->gave_up = 1;                    /* done either way */
    unhold(f, cr, bb);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* Every response where memcached is configured passes REQPERF_CACHE, so
 * X-ReqPerf-* never reach a client and purges always happen; error
 * responses Apache generates itself (ap_die: a proxy that cannot reach its
 * backend, a handler that returns 500) start from the protocol filters
 * again, so it is added back there, where a stale copy may stand in. */
static void cache_insert_filter(request_rec *r)
{
    reqperf_cache_req_t *cr;

    if (r->main == NULL && n_servers > 0) {
        add_cache_filter(r, cache_req(r));
    }
    else if (r->main != NULL && (cr = cache_req(r)) != NULL
             && (cr->capture || cr->observing) && !cr->gave_up) {
        /* a part of a page being stored (mod_include, mod_lua) */
        ap_add_output_filter_handle(subreq_filter_handle, cr, r,
                                    r->connection);
    }
}

/* An included part (a subrequest of a page being stored) makes the page
 * what it is as much as the page's own answer: its Vary becomes the
 * page's, its tags tag the page, its purges are made, and what keeps it
 * from being stored (private, Set-Cookie, a failure) keeps the page from
 * being stored; the page is fresh no longer than its part. */
static apr_status_t subreq_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reqperf_cache_req_t *cr = f->ctx;
    rp_cache_response_t resp;
    rp_response_info_t ri;
    rp_nostore_t why;
    int64_t fresh = 0;
    const char *vary = all_of(r, "Vary");

    if (!cr->observing) {
        /* (under Observe as under Off: what a part sends is its own) */
        handle_response_headers(r, cr); /* tags, purges, stripped */
    }
    response_facts(r, cr, 0, &resp);
    rp_cache_response_info(&cr->lk, &resp, &ri);
    ri.grace_s = ri.stale_if_error_s = 0;
    why = rp_response_storable(&ri, apr_time_sec(apr_time_now()),
                               cr->conf.default_ttl_s, &fresh);
    if (why != RP_NOSTORE_NONE && why != RP_NOSTORE_EXPIRED
        && cr->sub_nostore == RP_NOSTORE_NONE) {
        cr->sub_nostore = why;
    }
    if (why == RP_NOSTORE_NONE || why == RP_NOSTORE_EXPIRED) {
        if (cr->sub_max_fresh_s == 0 || fresh < cr->sub_max_fresh_s - 1) {
            cr->sub_max_fresh_s = fresh + 1;    /* (0 means "none yet") */
        }
    }
    if (vary != NULL) {
        cr->server_vary = cr->server_vary
                          ? apr_pstrcat(cr->lk.pool, cr->server_vary, ", ",
                                        vary, NULL)
                          : apr_pstrdup(cr->lk.pool, vary);
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* Without cache servers nothing is tagged or purged, but X-ReqPerf-Tags
 * and X-ReqPerf-Purge still never reach a client: the timing filter,
 * which every response passes, calls this as the headers leave (cheaper
 * than a filter of its own on every request). */
void reqperf_cache_strip(request_rec *r)
{
    /* the final response starts here: nothing after it on this
     * connection is an interim head, and REQPERF_INTERIM need not read
     * the status line to learn it */
    reqperf_cache_req_t *cr;
    const char *tags;

    interim_done(r);
    if (n_servers == 0) {
        /* what ReqPerfCache Observe judges: the tags a store would keep */
        if ((cr = cache_req(r)) != NULL && cr->observing
            && (tags = all_of(r, "X-ReqPerf-Tags")) != NULL) {
            cr->tags = cr->tags ? apr_pstrcat(r->pool, cr->tags, " ", tags,
                                              NULL)
                                : tags;
        }
        apr_table_unset(r->headers_out, "X-ReqPerf-Tags");
        apr_table_unset(r->err_headers_out, "X-ReqPerf-Tags");
        apr_table_unset(r->headers_out, "X-ReqPerf-Purge");
        apr_table_unset(r->err_headers_out, "X-ReqPerf-Purge");
    }
}

/* A request that ends without its response passing REQPERF_CACHE (an
 * aborted connection, a module writing past the filters) still lets go
 * of the fill lock, rather than after the lock's own expiry. */
static apr_status_t release_at_end(void *data)
{
    reqperf_cache_req_t *cr = data;

    if (cr->lk.holds_lock) {
        rp_cache_release(&cr->lk);
        rp_mc_park(&cr->store);
    }
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------- */
/* reqperf-purge                                                     */

static void json_list(apr_pool_t *p, rp_buf_t *b, apr_array_header_t *a)
{
    int i;

    (void)p;
    rp_buf_puts(b, "[");
    for (i = 0; a && i < a->nelts; i++) {
        const char *s = APR_ARRAY_IDX(a, i, const char *);
        if (i) {
            rp_buf_puts(b, ",");
        }
        rp_buf_json_str(b, s, strlen(s));
    }
    rp_buf_puts(b, "]");
}

static int send_json(request_rec *r, int status, rp_buf_t *b)
{
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_length(r, (apr_off_t)b->len);
    if (!r->header_only) {
        ap_rwrite(b->data, (int)b->len, r);
    }
    return OK;
}

static int json_error(request_rec *r, int status, const char *msg)
{
    rp_buf_t b;

    rp_buf_init(&b, r->pool, 256);
    rp_buf_puts(&b, "{\"error\":");
    rp_buf_json_str(&b, msg, strlen(msg));
    rp_buf_puts(&b, "}\n");
    return send_json(r, status, &b);
}

static int purge_handler(request_rec *r)
{
    apr_bucket_brigade *bb;
    char *body;
    apr_size_t len = 0;
    apr_off_t clen = 0;
    const char *cl, *err = NULL;
    int seen_eos = 0, rv;
    rp_purge_req_t req;
    purge_result_t res;
    rp_store_t store;
    rp_buf_t b;

    if (r->handler == NULL || strcmp(r->handler, "reqperf-purge") != 0) {
        return DECLINED;
    }
    r->allowed = AP_METHOD_BIT << M_POST;
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return json_error(r, HTTP_METHOD_NOT_ALLOWED, "use POST");
    }
    cl = apr_table_get(r->headers_in, "Content-Length");
    if (cl != NULL && (apr_strtoff(&clen, cl, NULL, 10) != APR_SUCCESS
                       || clen > RP_PURGE_MAX_BODY)) {
        return json_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "body too large");
    }
    /* read at most RP_PURGE_MAX_BODY + 1 bytes, whatever the framing */
    body = apr_palloc(r->pool, RP_PURGE_MAX_BODY + 1);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_bucket *e;
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, 8192);
        if (rv != APR_SUCCESS) {
            return json_error(r, HTTP_BAD_REQUEST, "cannot read the body");
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t n;
            if (APR_BUCKET_IS_EOS(e)) {
                seen_eos = 1;
                break;
            }
            if (apr_bucket_read(e, &data, &n, APR_BLOCK_READ)
                != APR_SUCCESS) {
                return json_error(r, HTTP_BAD_REQUEST,
                                  "cannot read the body");
            }
            if (len + n > RP_PURGE_MAX_BODY) {
                return json_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body too large");
            }
            memcpy(body + len, data, n);
            len += n;
        }
        apr_brigade_cleanup(bb);
    }
    body[len] = '\0';
    memset(&req, 0, sizeof(req));
    if (rp_purge_parse_form(r->pool, body, len, &req, &err) < 0) {
        return json_error(r, HTTP_BAD_REQUEST, err ? err : "malformed body");
    }
    /* all or nothing: a URL that names no page is an error, not a
     * purge that quietly matched nothing */
    do_purges(r, NULL, &req, &res);
    if (res.bad->nelts > 0) {
        const char *u = APR_ARRAY_IDX(res.bad, 0, const char *);
        return json_error(r, HTTP_BAD_REQUEST,
                          apr_psprintf(r->pool, "url names no page: %.200s",
                                       u));
    }
    if (!acquire_store(r, &store)) {
        count(RP_CTR_PURGE_FAILED);
        return json_error(r, HTTP_SERVICE_UNAVAILABLE,
                          "memcached is not reachable; nothing was purged");
    }
    do_purges(r, &store, &req, &res);
    rp_mc_release(&store);

    rp_buf_init(&b, r->pool, 512);
    if (res.failed) {
        log_purge_failure(r, "the purge handler");
        rp_buf_printf(&b, "{\"error\":\"memcached did not take %d of the "
                      "purges\",\"purged\":{\"url\":", res.failed);
    }
    else {
        rp_buf_puts(&b, "{\"purged\":{\"url\":");
    }
    json_list(r->pool, &b, res.urls);
    rp_buf_puts(&b, ",\"tag\":");
    json_list(r->pool, &b, res.tags);
    rp_buf_puts(&b, "}}\n");
    return send_json(r, res.failed ? HTTP_SERVICE_UNAVAILABLE : HTTP_OK, &b);
}

/* ---------------------------------------------------------------- */
/* life: shared breakers, per-child connections                      */

static int cache_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    reqperf_srv_conf_t *sc = sconf_of(s);
    apr_shm_t *shm;
    apr_status_t rv;
    server_rec *vs;

    (void)plog;
    (void)ptemp;
    n_servers = 0;
    breakers = NULL;
    reqperf_cache_config_reads(pconf, s);
    if (sc->cache_servers == NULL || sc->cache_servers->nelts == 0) {
        for (vs = s; vs; vs = vs->next) {
            reqperf_dir_conf_t *d = ap_get_module_config(vs->lookup_defaults,
                                                         &reqperf_module);
            if (d->cache == 1 || reqperf_cache_on_somewhere) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, APLOGNO(10513)
                             "mod_reqperf: ReqPerfCache On without "
                             "ReqPerfCacheServers: nothing will be cached");
                break;
            }
        }
        return OK;
    }
    n_servers = sc->cache_servers->nelts;
    server_names = (const char **)sc->cache_servers->elts;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    rv = apr_shm_create(&shm, sizeof(rp_breaker_t) * (apr_size_t)n_servers,
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10514)
                     "mod_reqperf: cannot create shared memory for the "
                     "memcached circuit breakers");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    breakers = apr_shm_baseaddr_get(shm);
    memset(breakers, 0, sizeof(rp_breaker_t) * (apr_size_t)n_servers);

    local_tier = NULL;
    local_ttl = sc->cache_local_ttl == REQPERF_UNSET
                ? REQPERF_DEFAULT_LOCAL_TTL : sc->cache_local_ttl;
    if (sc->cache_local_size != 0) {
        apr_size_t size = (apr_size_t)(sc->cache_local_size == REQPERF_UNSET
                                       ? REQPERF_DEFAULT_LOCAL_SIZE
                                       : sc->cache_local_size);
        /* made afresh with each configuration: a copy is only a copy */
        rv = apr_shm_create(&shm, size, NULL, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, APLOGNO(10516)
                         "mod_reqperf: cannot create %" APR_SIZE_T_FMT
                         " bytes of shared memory for ReqPerfCacheLocal; "
                         "the local tier is off", size);
        }
        else {
            local_tier = rp_local_init(apr_shm_baseaddr_get(shm), size);
        }
    }
    return OK;
}

static void cache_child_init(apr_pool_t *p, server_rec *s)
{
    reqperf_srv_conf_t *sc = sconf_of(s);
    int threads = 1;
    const char *err = NULL;

    if (n_servers == 0) {
        return;
    }
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
        || threads < 1) {
        threads = 1;
    }
    child_mc = rp_mc_create(p, server_names, n_servers,
                            sc->cache_timeout == REQPERF_UNSET
                            ? REQPERF_DEFAULT_CACHE_TIMEOUT
                            : sc->cache_timeout,
                            threads + 1, breakers, &err);
    if (child_mc == NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(10515)
                     "mod_reqperf: memcached client not created (%s); "
                     "the cache is off in this process", err);
    }
}

void reqperf_cache_fill_report(apr_pool_t *p, server_rec *s,
                               struct rp_report_opts_t *o)
{
    rp_report_server_t *list;
    int i;

    (void)s;
    o->cache_configured = n_servers > 0;
    if (n_servers == 0) {
        return;
    }
    list = apr_pcalloc(p, sizeof(*list) * (apr_size_t)n_servers);
    for (i = 0; i < n_servers; i++) {
        list[i].address = server_names[i];
        list[i].state = breakers
                        ? rp_breaker_state_name(rp_breaker_state(&breakers[i]))
                        : "up";
    }
    o->servers = list;
    o->n_servers = n_servers;
    if (local_tier != NULL) {
        o->local_configured = 1;
        rp_local_usage(local_tier, &o->local_bytes_used, &o->local_bytes_total,
                       &o->local_entries);
    }
}

void reqperf_cache_register_hooks(apr_pool_t *p)
{
    (void)p;
    cache_filter_handle = ap_register_output_filter(
        "REQPERF_CACHE", cache_out_filter, NULL, AP_FTYPE_CONTENT_SET + 8);
    interim_filter_handle = ap_register_output_filter(
        "REQPERF_INTERIM", interim_out, NULL, AP_FTYPE_CONNECTION);
    subreq_filter_handle = ap_register_output_filter(
        "REQPERF_SUBREQ", subreq_filter, NULL, AP_FTYPE_CONTENT_SET + 8);
    ap_hook_pre_connection(cache_pre_connection, NULL, NULL, APR_HOOK_MIDDLE);
    /* before every other module's: the request as the client sent it */
    ap_hook_post_read_request(cache_post_read, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_post_read_request(cache_post_read_late, NULL, NULL,
                              APR_HOOK_REALLY_LAST);
    ap_hook_post_config(cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(cache_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(cache_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    /* after the timing hook (REALLY_FIRST) has marked the handler start */
    ap_hook_handler(cache_handler, NULL, NULL, APR_HOOK_REALLY_FIRST + 1);
    ap_hook_handler(purge_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_filter(cache_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(cache_insert_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
}
