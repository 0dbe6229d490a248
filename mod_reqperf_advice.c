/*
 * mod_reqperf_advice.c: ReqPerfCache Observe, and the cache advisor's ear.
 *
 * Under `ReqPerfCache Observe` a request goes through every decision the
 * cache would take with On, and through nothing else: the same functions,
 * called from here instead of from the lookup (mod_reqperf_cache.c):
 *
 *  - in the handler phase (where the default lookup happens, after access
 *    control), reqperf_cache_decide(): whose page it is
 *    (reqperf_cache_whose(), rp_request_verdict()) and its key
 *    (reqperf_cache_key()), on the request as the client sent it;
 *  - the REQPERF_OBSERVE output filter, which only looks: it reads the
 *    response's headers as they start (reqperf_cache_start_verdict(), the
 *    checks a store makes then), counts the body's bytes as they pass (no
 *    bucket is held, kept or changed; one of unknown length is read, as the
 *    core would), and at the end of the response judges it whole
 *    (reqperf_cache_whole_facts() then rp_cache_judge(), what
 *    rp_cache_store() acts on): storable or why not, for how long, and the
 *    full key its Vary makes;
 *  - when the request is logged, one sample for stats/rp_advice.c, which
 *    counts it on its route and asks its record of recently seen keys
 *    whether a cache would have answered it.
 *
 * Nothing of this reaches the client: no X-Cache, no header, no byte held,
 * no phase of its own in Server-Timing (its few microseconds count as
 * handler); and nothing reaches memcached.  The request as sent is copied
 * (cache_post_read in mod_reqperf_cache.c) wherever Observe appears in the
 * configuration, whether ReqPerfCacheServers is set or not.
 *
 * Under `ReqPerfCache On` the cache tells the advisor what it did
 * (reqperf_advice_decided(), _refused(), _stored()), so that a route that
 * never hits says why on the status page too.
 *
 * What Observe cannot see as On would: a conditional request is not made
 * whole (On asks the backend for the full page on a miss; Observe must
 * leave the request alone), so a 304 is not judged; requests that arrive
 * while the first response of a key is being made count as misses (On
 * would make them wait for it, with ReqPerfCacheLock); stale copies
 * (grace) are not counted as hits.
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
#include "cache/rp_glob.h"
#include "stats/rp_advice.h"
#include "stats/rp_route.h"

APLOG_USE_MODULE(reqperf);

static ap_filter_rec_t *observe_filter_handle;

typedef struct reqperf_advice_req_t {
    rp_advice_sample_t s;
    reqperf_cache_req_t *cr;
    const char *base_full;             /* the key before any Vary */
    const char *reduced_full;          /* ... with the tracking query
                                          parameters ignored, or NULL */
    int started;                       /* Observe: the headers were read */
    reqperf_start_t start;
    rp_nostore_t start_why;
    int failed;                        /* an error or metadata bucket */
    int too_large;
    int judged;
    int conditional;                   /* If-None-Match, If-Modified-Since */
    apr_bucket_brigade *rest;          /* the filter's, while it passes on
                                          what came before a wait */
} reqperf_advice_req_t;

/* ---------------------------------------------------------------- */
/* the cache's words, in the advisor's                               */

static int bypass_reason(rp_bypass_t why)
{
    switch (why) {
    case RP_BYPASS_METHOD:         return RP_ADV_R_METHOD;
    case RP_BYPASS_AUTHORIZATION:  return RP_ADV_R_AUTHORIZATION;
    case RP_BYPASS_COOKIE:         return RP_ADV_R_COOKIE;
    case RP_BYPASS_NO_CACHE:       return RP_ADV_R_CLIENT_NO_CACHE;
    case RP_BYPASS_UNKEYED_HEADER: return RP_ADV_R_UNKEYED_HEADER;
    case RP_BYPASS_RANGE:          return RP_ADV_R_RANGE;
    case RP_BYPASS_BODY:           return RP_ADV_R_BODY;
    case RP_BYPASS_HOST:           return RP_ADV_R_HOST;
    default:                       return RP_ADV_R_OTHER;
    }
}

/* Vary naming Cookie, or Authorization (the rule is one: "vary-private";
 * the advice says which). */
static int vary_private_reason(request_rec *r)
{
    const char *a = apr_table_getm(r->pool, r->headers_out, "Vary");
    const char *b = apr_table_getm(r->pool, r->err_headers_out, "Vary");

    return (a && ap_find_token(r->pool, a, "Cookie"))
           || (b && ap_find_token(r->pool, b, "Cookie"))
           ? RP_ADV_R_VARY_COOKIE : RP_ADV_R_VARY_AUTHORIZATION;
}

static int nostore_reason(request_rec *r, rp_nostore_t why)
{
    switch (why) {
    case RP_NOSTORE_STATUS:        return RP_ADV_R_STATUS;
    case RP_NOSTORE_SET_COOKIE:    return RP_ADV_R_SET_COOKIE;
    case RP_NOSTORE_PRIVATE:       return RP_ADV_R_PRIVATE;
    case RP_NOSTORE_NO_STORE:      return RP_ADV_R_NO_STORE;
    case RP_NOSTORE_NO_CACHE:      return RP_ADV_R_NO_CACHE;
    case RP_NOSTORE_VARY_STAR:     return RP_ADV_R_VARY_STAR;
    case RP_NOSTORE_VARY_PRIVATE:  return vary_private_reason(r);
    case RP_NOSTORE_PARTIAL:       return RP_ADV_R_PARTIAL;
    case RP_NOSTORE_EXPIRED:       return RP_ADV_R_EXPIRED;
    case RP_NOSTORE_CC_INVALID:    return RP_ADV_R_CACHE_CONTROL;
    case RP_NOSTORE_AUTH:          return RP_ADV_R_AUTHORIZATION;
    case RP_NOSTORE_INPUT_CHANGED: return RP_ADV_R_INPUT_CHANGED;
    case RP_NOSTORE_INCOMPLETE:    return RP_ADV_R_INCOMPLETE;
    case RP_NOSTORE_TOO_LARGE:     return RP_ADV_R_TOO_LARGE;
    case RP_NOSTORE_TAGS:          return RP_ADV_R_TAGS;
    case RP_NOSTORE_STREAM:        return RP_ADV_R_STREAM;
    default:                       return RP_ADV_R_OTHER;
    }
}

static int set_cookie_name(void *baton, const char *key, const char *value)
{
    rp_advice_sample_t *s = baton;
    const char *name;
    size_t len;

    (void)key;
    rp_advice_set_cookie_name(value, &name, &len);
    rp_advice_sample_name(s, RP_ADV_R_SET_COOKIE, name, len);
    return 1;
}

/* A response-side reason, with the cookies it sets when that is why. */
static void store_reason(request_rec *r, reqperf_advice_req_t *a, int reason)
{
    a->s.store_reason = reason;
    if (reason == RP_ADV_R_SET_COOKIE) {
        apr_table_do(set_cookie_name, &a->s, r->headers_out, "Set-Cookie",
                     "Set-Cookie2", NULL);
        apr_table_do(set_cookie_name, &a->s, r->err_headers_out, "Set-Cookie",
                     "Set-Cookie2", NULL);
    }
}

static int query_ignored(const reqperf_dir_conf_t *d, const char *name,
                         size_t len)
{
    int i;

    for (i = 0; d->cache_ignore_query && i < d->cache_ignore_query->nelts;
         i++) {
        if (rp_glob_match(APR_ARRAY_IDX(d->cache_ignore_query, i,
                                        const char *), name, len)) {
            return 1;
        }
    }
    return 0;
}

/* The key this request would have with the tracking and cache-busting
 * parameters ignored too (what ReqPerfCacheIgnoreQuery utm_* would give):
 * the first such parameter not ignored yet is named in the sample. */
static void reduced_key(request_rec *r, reqperf_advice_req_t *a,
                        const reqperf_dir_conf_t *d, const char *full)
{
    const char *q = a->cr->sent.args, *name, *res, *reduced;
    const char *const *extra;
    reqperf_dir_conf_t d2;
    size_t len;
    int n, i;

    for (;;) {
        rp_advice_busting_param(q, &name, &len);
        if (len == 0) {
            return;
        }
        if (!query_ignored(d, name, len)) {
            break;
        }
        q = name + len;
    }
    d2 = *d;
    extra = rp_advice_busting_patterns(&n);
    d2.cache_ignore_query = d->cache_ignore_query
                            ? apr_array_copy(r->pool, d->cache_ignore_query)
                            : apr_array_make(r->pool, n, sizeof(char *));
    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(d2.cache_ignore_query, const char *) = extra[i];
    }
    if (reqperf_cache_key(r, a->cr, &d2, &res, &reduced) == 0
        && strcmp(reduced, full) != 0) {
        a->reduced_full = reduced;
        rp_advice_sample_name(&a->s, RP_ADV_R_QUERY_BUSTING, name, len);
    }
}

/* The key a full key of the base names, for the same request with the
 * reduced base: the variant's part ("\n*" and the Vary values) carried
 * over. */
static uint64_t reduced_hash(request_rec *r, reqperf_advice_req_t *a,
                             const char *full)
{
    size_t bl = strlen(a->base_full);
    const char *k = a->reduced_full;

    if (k == NULL) {
        return 0;
    }
    if (full != NULL && strncmp(full, a->base_full, bl) == 0) {
        k = apr_pstrcat(r->pool, k, full + bl, NULL);
    }
    return rp_advice_key_hash(k, strlen(k));
}

/* ---------------------------------------------------------------- */
/* what the cache decided (On), or would have (Observe)              */

void reqperf_advice_decided(request_rec *r, reqperf_cache_req_t *cr,
                            const reqperf_dir_conf_t *d, int mode,
                            reqperf_decided_t decided,
                            const reqperf_decision_t *dec)
{
    reqperf_req_t *rs = reqperf_req(r);
    reqperf_advice_req_t *a;
    rp_substr_t names[RP_ADVICE_SAMPLE_NAMES];
    const char *name_s[RP_ADVICE_SAMPLE_NAMES];
    size_t name_len[RP_ADVICE_SAMPLE_NAMES];
    int n, i;

    /* GET and HEAD: the requests a cache is for */
    if (rs == NULL || rs->advice != NULL || r->method_number != M_GET) {
        return;
    }
    a = apr_pcalloc(r->pool, sizeof(*a));
    rp_advice_sample_init(&a->s, mode == REQPERF_CACHE_ON
                                 ? RP_ADVICE_MODE_ON : RP_ADVICE_MODE_OBSERVE);
    a->cr = cr;
    a->s.lookup_s = apr_time_sec(apr_time_now());
    rs->advice = a;
    switch (decided) {
    case REQPERF_DECIDED_BYPASS:
        a->s.lookup_reason = bypass_reason(dec->why);
        if (dec->why == RP_BYPASS_COOKIE) {
            /* which cookies: "Cookie: _ga" says what would help */
            n = rp_cookie_personal_names(
                reqperf_sent_header(cr, "Cookie"),
                d->cache_ignore_cookie
                ? (const char *const *)d->cache_ignore_cookie->elts : NULL,
                d->cache_ignore_cookie ? d->cache_ignore_cookie->nelts : 0,
                names, RP_ADVICE_SAMPLE_NAMES);
            for (i = 0; i < n && i < RP_ADVICE_SAMPLE_NAMES; i++) {
                name_s[i] = names[i].s;
                name_len[i] = names[i].len;
            }
            rp_advice_sample_cookies(&a->s, name_s, name_len, i);
        }
        return;
    case REQPERF_DECIDED_UNKEYED:
        a->s.lookup_reason = RP_ADV_R_UNKEYED_HEADER;
        return;
    case REQPERF_DECIDED_NO_KEY:
        a->s.lookup_reason = RP_ADV_R_KEY;
        return;
    default:
        break;
    }
    if (dec->refresh) {
        /* the client's reload: not looked up, its answer stored */
        a->s.lookup_reason = RP_ADV_R_CLIENT_NO_CACHE;
    }
    else {
        a->s.looked_up = 1;
    }
    a->base_full = dec->full;
    if (cr->sent.args != NULL) {
        reduced_key(r, a, d, dec->full);
    }
}

/* (Under On, only requests the advisor heard of at the lookup.) */
void reqperf_advice_refused(request_rec *r, rp_nostore_t why)
{
    reqperf_req_t *rs = reqperf_req(r);
    reqperf_advice_req_t *a = rs != NULL ? rs->advice : NULL;

    if (a != NULL && a->s.mode == RP_ADVICE_MODE_ON && !a->s.examined) {
        a->s.examined = 1;
        store_reason(r, a, nostore_reason(r, why));
    }
}

void reqperf_advice_stored(request_rec *r, reqperf_cache_req_t *cr,
                           rp_store_outcome_t out)
{
    reqperf_req_t *rs = reqperf_req(r);
    reqperf_advice_req_t *a = rs != NULL ? rs->advice : NULL;

    if (a == NULL || a->s.mode != RP_ADVICE_MODE_ON || a->s.examined) {
        return;
    }
    a->s.examined = 1;
    a->s.judged_s = apr_time_sec(apr_time_now());
    switch (out) {
    case RP_STORE_STORED:
        a->s.fresh_s = cr->lk.stored_fresh_s;
        a->s.key = rp_advice_key_hash(cr->lk.stored_full,
                                      strlen(cr->lk.stored_full));
        a->s.reduced_key = reduced_hash(r, a, cr->lk.stored_full);
        break;
    case RP_STORE_NOT_CACHEABLE:
        store_reason(r, a, nostore_reason(r, cr->lk.refused));
        break;
    default:
        /* storable; memcached, or a purge meanwhile, kept it out */
        break;
    }
}

/* ---------------------------------------------------------------- */
/* Observe                                                           */

static int advice_handler(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);
    reqperf_cache_req_t *cr = rs != NULL ? rs->cache : NULL;
    reqperf_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                                 &reqperf_module);
    reqperf_advice_req_t *a;
    reqperf_decision_t dec;
    reqperf_decided_t decided;

    if (r->main != NULL || cr == NULL || rs->advice != NULL
        || cr->looked_up || reqperf_cache_mode(d) != REQPERF_CACHE_OBSERVE
        || r->method_number != M_GET || reqperf_cache_redirects(r)
        || !reqperf_cache_chain_is_clean(r, REQPERF_CACHE_OBSERVE)) {
        return DECLINED;
    }
    /* as cache_handler: the headers the backend will get are known here */
    cr->sent.live = r;
    cr->lookup_req = r;
    decided = reqperf_cache_decide(r, d, cr, &dec);
    reqperf_advice_decided(r, cr, d, REQPERF_CACHE_OBSERVE, decided, &dec);
    if (decided != REQPERF_DECIDED_LOOKUP || (a = rs->advice) == NULL) {
        return DECLINED;
    }
    cr->observing = 1;
    reqperf_cache_setup(r, d, cr, dec.resource, dec.full);
    reqperf_cache_keep_server_vary(r, cr);
    a->conditional = apr_table_get(r->headers_in, "If-None-Match") != NULL
                     || apr_table_get(r->headers_in, "If-Modified-Since")
                        != NULL;
    ap_add_output_filter_handle(observe_filter_handle, a, r, r->connection);
    reqperf_cache_add_vary_filter(r, cr);
    return DECLINED;
}

/* The whole response, judged as rp_cache_store() would judge it. */
static void observe_judge(request_rec *r, reqperf_advice_req_t *a)
{
    reqperf_cache_req_t *cr = a->cr;
    rp_cache_response_t resp;
    rp_judgement_t j;
    rp_nostore_t part;
    const char *full = a->base_full;
    int reason = RP_ADV_R_NONE;

    a->judged = 1;
    a->s.judged_s = apr_time_sec(apr_time_now());
    memset(&j, 0, sizeof(j));
    j.why = part = reqperf_cache_whole_facts(r, cr, &resp);
    if (part == RP_NOSTORE_NONE) {
        resp.body = NULL;              /* counted, not kept */
        resp.body_len = 0;
        rp_cache_judge(&cr->lk, &resp, apr_time_now(), &j);
        if (j.full != NULL) {
            full = j.full;
        }
    }
    /* in the order a store meets them: the start, the body, the end */
    switch (a->start) {
    case REQPERF_START_NOSTORE:
        reason = nostore_reason(r, a->start_why);
        break;
    case REQPERF_START_ERROR_DOCUMENT:
        reason = RP_ADV_R_ERROR_DOCUMENT;
        break;
    case REQPERF_START_ELSEWHERE:
    case REQPERF_START_KEY_CONF:
    case REQPERF_START_REDIRECTED:
        reason = RP_ADV_R_OTHER;
        break;
    default:
        if (a->failed) {
            reason = RP_ADV_R_OTHER;
        }
        else if (a->too_large) {
            reason = RP_ADV_R_TOO_LARGE;
        }
        else if (j.why != RP_NOSTORE_NONE) {
            reason = nostore_reason(r, j.why);
        }
        else if (j.full == NULL) {
            reason = RP_ADV_R_KEY;     /* a Vary value that cannot be keyed */
        }
        break;
    }
    a->s.key = rp_advice_key_hash(full, strlen(full));
    a->s.reduced_key = reduced_hash(r, a, full);
    /* On stores no HEAD, and a 304 says nothing of the page */
    if (r->header_only || (a->conditional && r->status == HTTP_NOT_MODIFIED)) {
        return;
    }
    a->s.examined = 1;
    if (reason != RP_ADV_R_NONE) {
        store_reason(r, a, reason);
    }
    else {
        a->s.fresh_s = j.fresh_s;
    }
}

/* What came before b goes on now, with a flush, as the core would send it
 * before it waits for b (ap_content_length_filter does the same): a
 * response made in parts reaches the client part by part. */
static apr_status_t observe_pass_before(ap_filter_t *f,
                                        reqperf_advice_req_t *a,
                                        apr_bucket_brigade *bb, apr_bucket *b)
{
    apr_status_t rv;

    if (b == APR_BRIGADE_FIRST(bb)) {
        return APR_SUCCESS;
    }
    a->rest = apr_brigade_split_ex(bb, b, a->rest);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
        f->c->bucket_alloc));
    rv = ap_pass_brigade(f->next, bb);
    apr_brigade_cleanup(bb);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(a->rest);
        return rv;
    }
    APR_BRIGADE_CONCAT(bb, a->rest);
    return APR_SUCCESS;
}

static apr_status_t observe_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    reqperf_advice_req_t *a = f->ctx;
    reqperf_cache_req_t *cr = a->cr;
    request_rec *r = f->r;
    apr_read_type_e block = APR_NONBLOCK_READ;
    apr_bucket *b;
    apr_status_t rv;

    if (APR_BRIGADE_EMPTY(bb) || a->judged) {
        return ap_pass_brigade(f->next, bb);
    }
    if (!a->started) {
        a->started = 1;
        a->start = reqperf_cache_start_verdict(r, cr, REQPERF_CACHE_OBSERVE,
                                               &a->start_why);
    }
    b = APR_BRIGADE_FIRST(bb);
    while (b != APR_BRIGADE_SENTINEL(bb)) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(b)) {
            observe_judge(r, a);
            break;
        }
        if (AP_BUCKET_IS_ERROR(b)
            || (APR_BUCKET_IS_METADATA(b) && !APR_BUCKET_IS_FLUSH(b))) {
            a->failed = 1;             /* On gives up on these too */
        }
        else if (!APR_BUCKET_IS_METADATA(b) && !a->too_large && !a->failed) {
            len = b->length;
            if (len == (apr_size_t)-1) {
                /* a pipe (CGI) or a socket: read as the core reads it,
                 * without holding what came before while it waits */
                rv = apr_bucket_read(b, &data, &len, block);
                if (APR_STATUS_IS_EAGAIN(rv)) {
                    if ((rv = observe_pass_before(f, a, bb, b))
                        != APR_SUCCESS) {
                        return rv;
                    }
                    block = APR_BLOCK_READ;
                    b = APR_BRIGADE_FIRST(bb);
                    continue;
                }
                block = APR_NONBLOCK_READ;
                if (rv != APR_SUCCESS) {
                    a->failed = 1;
                    len = 0;
                }
            }
            cr->len += len;
            if (cr->len > cr->max) {
                a->too_large = 1;      /* the count stops here */
            }
        }
        b = APR_BUCKET_NEXT(b);
    }
    return ap_pass_brigade(f->next, bb);
}

/* ---------------------------------------------------------------- */
/* the sample, when the request is logged                            */

static int advice_log(request_rec *r)
{
    reqperf_req_t *rs;
    reqperf_advice_req_t *a;
    rp_stats_t *st = reqperf_stats();
    int32_t rec, keys_rec;
    rp_advice_pool_t pool;
    const char *route, *method;

    if (r->main != NULL || st == NULL || (rs = reqperf_req(r)) == NULL
        || (a = rs->advice) == NULL || rs->skip || !rs->begun) {
        return DECLINED;
    }
    if (a->s.mode == RP_ADVICE_MODE_ON) {
        if (a->s.looked_up && rs->cache_outcome.result == RP_CACHE_BYPASS) {
            return DECLINED;           /* memcached down: not the page's */
        }
        a->s.served = rs->cache_outcome.result == RP_CACHE_HIT
                      || rs->cache_outcome.result == RP_CACHE_STALE;
    }
    else if (a->s.looked_up && !a->judged && a->base_full != NULL) {
        /* no end of the response seen (the client went away) */
        a->s.key = rp_advice_key_hash(a->base_full, strlen(a->base_full));
        a->s.reduced_key = reduced_hash(r, a, NULL);
    }
    if (rp_timeline_ran(&rs->tl, RP_PHASE_HANDLER)) {
        int64_t us = rp_timeline_phase_us(&rs->tl, RP_PHASE_HANDLER,
                                          rp_now_us());
        a->s.backend_us = us > 0 ? (uint64_t)us : 0;
    }
    route = reqperf_route(r);
    method = rp_route_method(r->method);
    rec = rp_stats_route(st, route, method);
    /* a HEAD is answered from the GET's entry: the GET's keys */
    keys_rec = r->header_only ? rp_stats_route(st, route, "GET") : rec;
    if (rec < 0 || keys_rec < 0) {
        return DECLINED;
    }
    rp_stats_advice_pool(st, &pool);
    rp_advice_record(&pool, rp_stats_advice(st, rec),
                     rp_stats_advice(st, keys_rec), &a->s);
    return DECLINED;
}

void reqperf_advice_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* after REQPERF_CACHE (CONTENT_SET + 8), which strips X-ReqPerf-* and
     * keeps the tags the judgement needs */
    observe_filter_handle = ap_register_output_filter(
        "REQPERF_OBSERVE", observe_filter, NULL, AP_FTYPE_CONTENT_SET + 9);
    /* after the timing hook (REALLY_FIRST) marked the handler's start,
     * where cache_handler looks up under On */
    ap_hook_handler(advice_handler, NULL, NULL, APR_HOOK_REALLY_FIRST + 2);
    /* between the timing's first (which closes the phases) and last */
    ap_hook_log_transaction(advice_log, NULL, NULL, APR_HOOK_MIDDLE);
}
