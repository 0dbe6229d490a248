/*
 * mod_reqperf_cache.c: the page cache's lookup, and serving a hit.
 *
 * The cache glue is split along a request's path, one owner per decision:
 *
 *   mod_reqperf_cache_key.c    the request as sent, whose page it asks for,
 *                              its key (the safety model is written there)
 *   mod_reqperf_cache.c        this file: the lookup and serving a hit
 *   mod_reqperf_cache_store.c  the REQPERF_CACHE filter: hold a miss's
 *                              answer, store it, or stand a stale copy in
 *   mod_reqperf_purge.c        X-ReqPerf-Tags/-Purge, unsafe methods, the
 *                              reqperf-purge handler, interim responses
 *   mod_reqperf_cache_child.c  memcached and shared memory in each child
 *
 * What may be stored is decided in cache/rp_rules.c; hit, stale, miss
 * and locks in cache/rp_cache.c (the local tier's part in
 * rp_cache_local.c, the store in rp_cache_store.c, generations in
 * rp_cache_gen.c).  This file turns their answers into HTTP:
 *
 *  - the request's cache state (reqperf_cache_req_t) is made when it has
 *    been read (post_read_request, first of all modules);
 *  - the lookup, either in the handler phase (after access control, so
 *    Require and authentication still guard cached pages) or, with
 *    ReqPerfCacheQuick On, in the quick handler before everything else;
 *    only for the request the client sent, or an internal redirect of it
 *    that did not come from an error (ErrorDocument pages are never looked
 *    up under the failed request's key);
 *  - serving a hit: stored status and headers, Age, X-Cache, 304 for a
 *    conditional request, HEAD from the GET entry; straight to the
 *    protocol filters, since the stored body already went through the
 *    content filters once.
 *
 * Every memcached call is bounded by ReqPerfCacheTimeout; a server that
 * keeps failing is skipped for a while, so the site stays up, uncached.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_log.h"
#include "util_filter.h"

#include "mod_reqperf_cache.h"
#include "cache/rp_mc.h"
#include "cache/rp_pending.h"

APLOG_USE_MODULE(reqperf);


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

void reqperf_cache_note(request_rec *r, rp_cache_result_t result,
                        const char *x_cache)
{
    reqperf_req_t *rs = reqperf_req(r);

    apr_table_setn(r->err_headers_out, "X-Cache", x_cache);
    if (rs != NULL) {
        rs->cache_outcome.result = result;
        rs->cache_outcome.x_cache = x_cache;
    }
}

void reqperf_cache_flag(request_rec *r, unsigned flag,
                        apr_int64_t lock_wait_us)
{
    reqperf_req_t *rs = reqperf_req(r);

    if (rs != NULL) {
        rs->cache_outcome.flags |= flag;
        if (flag & RP_CACHE_FLAG_LOCK_WAIT) {
            rs->cache_outcome.lock_wait_us = lock_wait_us > 0 ? lock_wait_us
                                                              : 1;
        }
    }
}

static void bypass(request_rec *r, rp_counter_t reason, const char *word)
{
    reqperf_count(RP_CTR_CACHE_BYPASS);
    reqperf_count(reason);
    reqperf_cache_note(r, RP_CACHE_BYPASS,
                       apr_pstrcat(r->pool, "BYPASS ", word, NULL));
}

/* memcached did not answer, or is known down: uncached, and said once */
static int bypass_down(request_rec *r)
{
    reqperf_memcached_down(r);
    bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
    return DECLINED;
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

void reqperf_count_local_evictions(reqperf_cache_req_t *cr)
{
    rp_stats_t *st = reqperf_stats();

    if (cr->lk.local_evictions && st != NULL) {
        rp_stats_count(st, RP_CTR_LOCAL_EVICTIONS, cr->lk.local_evictions);
    }
    cr->lk.local_evictions = 0;
}

/* ---------------------------------------------------------------- */
/* serving a hit                                                     */

/* The stored status and headers become the response's. */
void reqperf_cache_entry_to_response(request_rec *r, const rp_entry_t *e,
                                     int64_t age_s)
{
    uint32_t i;
    char *age = apr_palloc(r->pool, RP_FMT_UINT_MAX + 1);

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
    /* by hand: apr_psprintf's formatter was a visible cost of a hit */
    age[rp_fmt_uint(age, age_s > 0 ? (uint64_t)age_s : 0)] = '\0';
    apr_table_setn(r->headers_out, "Age", age);
}

static int serve_entry(request_rec *r, reqperf_cache_req_t *cr, int stale)
{
    const rp_entry_t *e = &cr->lk.entry;
    apr_bucket_brigade *bb;
    apr_status_t rv;
    int status;

    reqperf_phase_enter(r, RP_PHASE_HANDLER);
    reqperf_cache_entry_to_response(r, e, cr->lk.age_s);
    if (stale) {
        reqperf_count(RP_CTR_CACHE_STALE);
        if (cr->lk.stale_reason == RP_STALE_ERROR) {
            /* the fill it waited for failed: the copy stands in for that
             * failure, as the filler's own does */
            reqperf_count(RP_CTR_CACHE_STALE_ERROR);
            reqperf_cache_note(r, RP_CACHE_STALE, "STALE error");
            reqperf_cache_flag(r, RP_CACHE_FLAG_STALE_ERROR, 0);
        }
        else {
            reqperf_cache_note(r, RP_CACHE_STALE,
                               cr->lk.stale_reason == RP_STALE_TIMEOUT
                               ? "STALE timeout" : "STALE grace");
        }
    }
    else if (cr->lk.from_local) {
        reqperf_count(RP_CTR_CACHE_HIT);
        reqperf_count(RP_CTR_LOCAL_HIT);
        reqperf_cache_note(r, RP_CACHE_HIT, "HIT local");
    }
    else if (cr->lk.waited) {
        /* it was slow because it queued behind another request's fill:
         * the label says so (the wait is counted in cache_lookup) */
        reqperf_count(RP_CTR_CACHE_HIT);
        reqperf_count(RP_CTR_LOCAL_MC_HIT);
        reqperf_cache_note(r, RP_CACHE_HIT, "HIT wait");
    }
    else {
        reqperf_count(RP_CTR_CACHE_HIT);
        reqperf_count(RP_CTR_LOCAL_MC_HIT);
        reqperf_cache_note(r, RP_CACHE_HIT, "HIT memcached");
    }

    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    status = e->status == HTTP_OK ? ap_meets_conditions(r) : OK;
    if (status != OK) {
        /* 304 (or 412) from the stored validators */
        r->status = status;
        apr_table_unset(r->headers_out, "Content-Length");
        if (status == HTTP_NOT_MODIFIED) {
            reqperf_count(RP_CTR_CACHE_NOT_MODIFIED);
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
    reqperf_cache_interim_done(r);
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

/* First of all post_read_request hooks: mod_headers' early edits and
 * mod_remoteip come after, so this is the request as the client sent it. */
static int cache_post_read(request_rec *r)
{
    reqperf_req_t *rs;
    reqperf_cache_req_t *cr;

    if (r->main != NULL || r->prev != NULL) {
        return DECLINED;
    }
    /* until this request's final response starts, what reaches the
     * connection's filters is an interim response */
    reqperf_cache_interim_reset(r->connection);
    /* with ReqPerfCache Observe anywhere too, memcached or not: which
     * <Location> a request falls in is not known yet */
    if ((reqperf_cache_child.n_servers == 0
         && !reqperf_cache_observe_somewhere)
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

    if (r->main == NULL && r->prev == NULL
        && (cr = reqperf_cache_req(r)) != NULL) {
        reqperf_cache_snapshot_keyed(r, cr);
    }
    return DECLINED;
}

/* ---------------------------------------------------------------- */
/* lookup                                                            */

/* Conditional headers would let the backend answer 304, which cannot be
 * stored; a miss asks for the whole page (the client still gets a
 * correct, if complete, answer). */
static void drop_conditionals(request_rec *r)
{
    apr_table_unset(r->headers_in, "If-None-Match");
    apr_table_unset(r->headers_in, "If-Modified-Since");
    apr_table_unset(r->headers_in, "If-Range");
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
        if (p->status != HTTP_OK
            || reqperf_cache_mode(reqperf_dconf(p)) != mode) {
            return 0;
        }
    }
    return r->main == NULL;
}

static int chain_is_clean(request_rec *r)
{
    return reqperf_cache_chain_is_clean(r, REQPERF_CACHE_ON);
}

/* Whether the request's handler is mod_rewrite's per-directory internal
 * redirect: the page comes from the request it redirects to, after that
 * one's access control (Require on the target), so the lookup waits for
 * it.  A hit served here would skip that access control; what another
 * handler redirects to after a lookup is not stored (REQPERF_START_
 * REDIRECTED). */
int reqperf_cache_redirects(request_rec *r)
{
    return r->handler != NULL && strcmp(r->handler, "redirect-handler") == 0;
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
    if (reqperf_cache_htaccess_take(r, cr) != 0) {
        return REQPERF_DECIDED_UNKEYED;  /* an .htaccess we cannot read */
    }
    cr->env_key = reqperf_cache_env_key(r, cr);
    if (cr->sent.live != NULL
        && reqperf_cache_inputs_changed(r, cr, d, NULL)) {
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
    reqperf_cache_dir_t dc = reqperf_cache_dir(d);

    cr->conf = dc.lookup;
    cr->max = dc.max_size;
    /* the variant a request wants is keyed on what the backend is sent */
    rp_cache_lookup_init(&cr->lk, &cr->store, r->pool, &cr->conf,
                         &wall_clock, resource, full, reqperf_keyed_header,
                         cr);
    /* what Apache already varies on (mod_rewrite's RewriteCond on a
     * header; known here in the handler phase, not yet in the quick one) */
    cr->lk.extra_vary = reqperf_cache_server_vary(r);
}

/* The decisions before any store is asked: non-zero when the request
 * goes to the backend uncached (noted, counted, told to the advisor). */
static int lookup_bypassed(request_rec *r, const reqperf_dir_conf_t *d,
                           reqperf_cache_req_t *cr, reqperf_decision_t *dec)
{
    reqperf_decided_t decided = reqperf_cache_decide(r, d, cr, dec);

    if (decided == REQPERF_DECIDED_LOOKUP
        && rp_mc_all_down(reqperf_cache_child.mc)) {
        /* memcached is known down: cost the request nothing more */
        bypass_down(r);
        return 1;
    }
    reqperf_advice_decided(r, cr, d, REQPERF_CACHE_ON, decided, dec);
    switch (decided) {
    case REQPERF_DECIDED_BYPASS:
        bypass(r, bypass_counter(dec->why), rp_bypass_name(dec->why));
        return 1;
    case REQPERF_DECIDED_UNKEYED:
        bypass(r, RP_CTR_CACHE_BYPASS_UNKEYED, "unkeyed-header");
        return 1;
    case REQPERF_DECIDED_NO_KEY:
        bypass(r, RP_CTR_CACHE_BYPASS_OTHER, "key");
        return 1;
    default:
        return 0;
    }
}

/* What the lookup met on its way, for the counters and the slow log. */
static void count_lookup(request_rec *r, reqperf_cache_req_t *cr)
{
    if (cr->lk.invalid_entries) {
        reqperf_count(RP_CTR_CACHE_INVALID);
    }
    if (cr->lk.stale_by_generation) {
        reqperf_count(RP_CTR_CACHE_STALE_GEN);
    }
    if (cr->lk.waited) {
        reqperf_count(RP_CTR_CACHE_LOCK_WAITS);
        /* per route and in the slow log, at the log hook */
        reqperf_cache_flag(r, RP_CACHE_FLAG_LOCK_WAIT, cr->lk.waited_us);
    }
    if (cr->lk.local_revalidating) {
        reqperf_count(RP_CTR_LOCAL_REVALIDATIONS);
    }
    reqperf_count_local_evictions(cr);
}

/* A miss, and why: its X-Cache. */
static void note_miss(request_rec *r, reqperf_cache_req_t *cr, int refresh)
{
    if (refresh) {
        bypass(r, RP_CTR_CACHE_BYPASS_NOCACHE, "no-cache");
        return;
    }
    reqperf_count(RP_CTR_CACHE_MISS);
    if (cr->lk.waited) {
        /* queued behind another request's fill, which did not come (it
         * timed out, or the answer could not be stored): to the backend */
        reqperf_cache_note(r, RP_CACHE_MISS, "MISS wait");
    }
    else if (cr->lk.miss_reason == RP_MISS_PASS) {
        /* the last answer could not be stored: straight to the backend
         * without the lock, but what it answers now is stored if it may
         * be (Varnish's hit-for-miss), so one visitor's unstorable
         * answer (a first-visit Set-Cookie) does not make the page
         * uncacheable for the others */
        reqperf_cache_note(r, RP_CACHE_MISS, "MISS uncacheable");
    }
    else {
        reqperf_cache_note(r, RP_CACHE_MISS, "MISS");
    }
}

/* A miss goes to the backend with REQPERF_CACHE watching: a GET's answer
 * is held and stored; a HEAD's is not (it has no body), but a stale copy
 * may still stand in if it fails. */
static void send_miss_on(request_rec *r, reqperf_cache_req_t *cr)
{
    if (cr->lk.holds_lock) {
        reqperf_cache_release_at_end(r, cr);
    }
    if (!r->header_only && !cr->no_fill) {
        cr->capture = 1;
        drop_conditionals(r);
        reqperf_cache_add_filter(r, cr);
        reqperf_cache_add_vary_filter(r, cr);
    }
    else {
        rp_cache_release(&cr->lk);
        if (cr->lk.has_fallback) {
            drop_conditionals(r);
            reqperf_cache_add_filter(r, cr);    /* to stand in for a failure */
        }
    }
}

static int cache_lookup(request_rec *r, const reqperf_dir_conf_t *d,
                        reqperf_cache_req_t *cr)
{
    reqperf_decision_t dec;
    int result;

    reqperf_phase_enter(r, RP_PHASE_CACHE);
    if (lookup_bypassed(r, d, cr, &dec)) {
        return DECLINED;
    }
    if (!reqperf_cache_acquire_store(r, &cr->store)) {
        return bypass_down(r);
    }
    cr->have_store = 1;
    /* the lookup's calls, and the store's later, each a run bounded by
     * ReqPerfCacheTimeout in all (a slow memcached costs a request about
     * twice the timeout, not the timeout per call) */
    /* queued purges first, not held to the lookup's budget (a tag purge
     * is five calls: under the budget a memcached answering in a third of
     * the timeout never let a lookup make one); the flush stops itself
     * once it has taken the timeout */
    reqperf_purges_flush(r, &cr->store);    /* before any page is read */
    rp_mc_limit(&cr->store);
    reqperf_cache_setup(r, d, cr, dec.resource, dec.full);
    /* a HEAD's answer, or one to a query with an ignored parameter, is
     * not stored: it takes no fill lock, which would hold the others up
     * for nothing */
    cr->no_fill = reqperf_cache_query_ignored(cr, d)
                  | reqperf_cache_cookies_sent(r, d, cr);
    cr->lk.no_lock = r->header_only || cr->no_fill;
    cr->lk.refresh = dec.refresh;
    cr->lk.local = reqperf_cache_child.local;
    cr->lk.local_ttl_us = reqperf_cache_child.local_ttl;
    /* purges wait that this request could not make, or come to wait
     * before a copy stands in (a purge queued during the fetch): whatever
     * page they name, the copy memcached holds is not served.  Always
     * set: rp_pending_find() costs one load while the queue is empty */
    cr->lk.pending = reqperf_cache_child.pending;
    cr->lk.pending_changes = rp_pending_changes(reqperf_cache_child.pending);

    result = rp_cache_lookup(&cr->lk);
    /* not held while the backend works or the response is written: the
     * store borrows a connection again if it needs one */
    rp_mc_park(&cr->store);
    count_lookup(r, cr);
    if (rp_mc_over(&cr->store)) {
        reqperf_memcached_slow(r);
    }
    if (result == RP_LOOKUP_DOWN) {
        reqperf_count(RP_CTR_CACHE_ERRORS);
        if (rp_mc_over(&cr->store)) {
            bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
            return DECLINED;
        }
        return bypass_down(r);
    }
    if (!cr->lk.from_local) {
        reqperf_memcached_up(r);
    }
    switch (result) {
    case RP_LOOKUP_HIT:
        return serve_entry(r, cr, 0);
    case RP_LOOKUP_STALE:
        return serve_entry(r, cr, 1);
    default:
        break;
    }
    note_miss(r, cr, dec.refresh);
    send_miss_on(r, cr);
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

    if (r->main != NULL || reqperf_cache_child.mc == NULL
        || (cr = reqperf_cache_req(r)) == NULL) {
        return DECLINED;
    }
    d = reqperf_dconf(r);
    if (!cr->looked_up && reqperf_cache_mode(d) == REQPERF_CACHE_ON
        && chain_is_clean(r) && !reqperf_cache_redirects(r)) {
        /* here the headers the backend will get are known: a keyed one
         * the server changed since the request was read keys nothing */
        cr->sent.live = r;
        cr->lookup_req = r;
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
 * <Location> sections, and the <If> sections that apply with them, are
 * walked for our configuration only (an <If> is judged on what is known
 * here: the request's headers, address, URL), then the
 * request's configuration is put back as it was. */
static int cache_quick_handler(request_rec *r, int lookup_uri)
{
    reqperf_srv_conf_t *sc;
    reqperf_cache_req_t *cr;
    ap_conf_vector_t *saved;
    reqperf_dir_conf_t *d;
    int rv = DECLINED;

    if (lookup_uri || r->main != NULL || reqperf_cache_child.mc == NULL
        || (cr = reqperf_cache_req(r)) == NULL || cr->looked_up) {
        return DECLINED;
    }
    sc = reqperf_sconf(r->server);
    if (!reqperf_cache_srv(sc).quick) {
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
    /* and the <If> sections they hold, as httpd merges them after the
     * <Location> walk: a "ReqPerfCache Off" under an <If> on the client's
     * address (the cache for the office only) is honoured here too, or
     * the office's page would answer everyone else */
    if (ap_location_walk(r) != OK || ap_if_walk(r) != OK) {
        r->per_dir_config = saved;
        return DECLINED;
    }
    d = reqperf_dconf(r);
    if (reqperf_cache_mode(d) == REQPERF_CACHE_ON) {
        rv = cache_lookup(r, d, cr);
    }
    r->per_dir_config = saved;
    return rv;
}

void reqperf_cache_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* before every other module's: the request as the client sent it */
    ap_hook_post_read_request(cache_post_read, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_post_read_request(cache_post_read_late, NULL, NULL,
                              APR_HOOK_REALLY_LAST);
    ap_hook_quick_handler(cache_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    /* after the timing hook (REALLY_FIRST) has marked the handler start */
    ap_hook_handler(cache_handler, NULL, NULL, APR_HOOK_REALLY_FIRST + 1);
}
