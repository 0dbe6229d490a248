/*
 * mod_reqperf_cache_store.c: the REQPERF_CACHE output filter, which
 * stores a miss's answer.
 *
 * Every response where memcached is configured passes it (so X-ReqPerf-*
 * never reach a client and purges always happen: mod_reqperf_purge.c).
 * On a miss it holds the response (up to ReqPerfCacheMaxSize) until the
 * backend has sent all of it, stores it, lets go of the fill lock, and
 * only then sends it on: a slow client never holds the lock.  A response
 * made as it goes is sent on as it comes once held HOLD_MAX_US, and still
 * stored when whole.  When the backend fails and the lookup kept a copy
 * (stale-if-error), the copy stands in for the failed response here,
 * since every response, whatever made it, passes this filter.
 *
 * The facts of a response are read in one place (response_facts) and
 * judged by cache/rp_rules.c; what only the glue can see (where the
 * request ended up, an error document, a stream) is judged in
 * reqperf_cache_start_verdict, which Observe shares.
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

APLOG_USE_MODULE(reqperf);

static ap_filter_rec_t *cache_filter_handle;
static ap_filter_rec_t *subreq_filter_handle;
static ap_filter_rec_t *vary_filter_handle;

/* ---------------------------------------------------------------- */
/* the REQPERF_CACHE output filter                                   */

/* One REQPERF_CACHE filter per request_rec (an internal redirect gets
 * its own), all sharing the request's reqperf_cache_req_t. */
void reqperf_cache_add_filter(request_rec *r, reqperf_cache_req_t *cr)
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
const char *reqperf_all_of(request_rec *r, const char *name)
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

/* An encoded answer (Content-Encoding other than identity) was chosen by
 * the Accept-Encoding its request carried, whether or not its maker said
 * so in Vary (nginx's gzip_vary is off by default): it varies on it. */
static const char *encoding_vary(request_rec *r)
{
    const char *ce = reqperf_all_of(r, "Content-Encoding");

    return ce != NULL && *ce != '\0' && strcasecmp(ce, "identity") != 0
           ? "Accept-Encoding" : NULL;
}

static const char *vary_plus(apr_pool_t *p, const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a ? a : b;
    }
    return apr_pstrcat(p, a, ", ", b, NULL);
}

/* The one place a response's facts are read for the storage rules: from
 * the headers alone while it starts, with its body once it is whole. */
static void response_facts(request_rec *r, reqperf_cache_req_t *cr,
                           int whole, rp_cache_response_t *resp)
{
    const char *vary = reqperf_all_of(r, "Vary");

    memset(resp, 0, sizeof(*resp));
    resp->status = r->status;
    resp->cache_control = reqperf_all_of(r, "Cache-Control");
    resp->pragma = reqperf_all_of(r, "Pragma");
    /* two Expires disagree: read as junk, which means already expired */
    resp->expires = count_of(r, "Expires") > 1 ? "0" : either(r, "Expires");
    resp->date = apr_table_get(r->headers_out, "Date");
    resp->age = either(r, "Age");
    vary = vary_plus(r->pool, vary, cr->server_vary);
    vary = vary_plus(r->pool, vary, encoding_vary(r));
    resp->vary = vary;
    resp->has_set_cookie = either(r, "Set-Cookie") != NULL
                           || either(r, "Set-Cookie2") != NULL;
    /* (a 206 is judged by its status, in cache/rp_rules.c) */
    resp->has_content_range = either(r, "Content-Range") != NULL;
    resp->request_authenticated = reqperf_cache_request_authenticated(r);
    resp->input_changed = reqperf_cache_inputs_changed(r, cr, reqperf_dconf(r),
                                                       vary);
    resp->tags = cr->tags;
    if (whole) {
        const char *cl = apr_table_get(r->headers_out, "Content-Length");
        apr_off_t n;
        collect_t c;

        c.out = apr_array_make(r->pool, 16, sizeof(rp_header_t));
        c.connection = reqperf_all_of(r, "Connection");
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
        reqperf_count_local_evictions(cr);
    }
    else {
        rp_cache_release(&cr->lk);
    }
    rp_mc_park(&cr->store);
    reqperf_count(RP_CTR_CACHE_STORE_SKIPPED);
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
    if (reqperf_cache_mode(reqperf_dconf(r)) != mode) {
        /* the request ended up where the cache is off (an internal
         * redirect, a different mapping): nothing is stored for it */
        return REQPERF_START_ELSEWHERE;
    }
    if (!reqperf_cache_chain_is_clean(r, mode) || cr->died == r) {
        /* an error document, or Apache's own answer to a request it
         * ended early (ap_die: a Redirect, a RewriteRule [R], which drop
         * the Vary an <If> or a RewriteCond set): the request failed or
         * never reached its page (in the quick mode even its access
         * control may have), whatever the status */
        return REQPERF_START_ERROR_DOCUMENT;
    }
    if (cr->lookup_req != NULL && cr->lookup_req != r) {
        /* looked up in the handler phase of an earlier request of the
         * chain (an Action, a CGI's or the application's local
         * Location): a hit would be served there again, before this
         * request's own access control (Require on the target) ran */
        return REQPERF_START_REDIRECTED;
    }
    if (!same_key_conf(cr->lookup_conf, reqperf_dconf(r))) {
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
    case REQPERF_START_REDIRECTED:
        give_up(cr, r, RP_NOSTORE_NONE,
                "served by an internal redirect after the lookup");
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

/* A part that access control refused (what its lookup ends with when
 * the client may not see it: 401, 403, 407) keeps the page out. */
static void judge_part(reqperf_cache_req_t *cr, const request_rec *part)
{
    if ((part->status == HTTP_UNAUTHORIZED || part->status == HTTP_FORBIDDEN
         || part->status == HTTP_PROXY_AUTHENTICATION_REQUIRED)
        && cr->sub_nostore == RP_NOSTORE_NONE) {
        cr->sub_nostore = RP_NOSTORE_STATUS;
    }
}

/* A watched part destroyed before its page ends: judged now, and its
 * slot cleared (its request_rec goes with its pool). */
static apr_status_t forget_part(void *data)
{
    request_rec *part = data;
    reqperf_cache_req_t *cr = reqperf_cache_req(part);
    int i;

    if (cr == NULL || cr->parts == NULL) {
        return APR_SUCCESS;
    }
    judge_part(cr, part);
    for (i = 0; i < cr->parts->nelts; i++) {
        if (APR_ARRAY_IDX(cr->parts, i, request_rec *) == part) {
            APR_ARRAY_IDX(cr->parts, i, request_rec *) = NULL;
        }
    }
    return APR_SUCCESS;
}

/* The whole response's facts for the storage rules, with what its
 * included parts said folded in: RP_NOSTORE_NONE, or the reason a part
 * keeps the page from being stored (then *resp is not filled). */
rp_nostore_t reqperf_cache_whole_facts(request_rec *r,
                                       reqperf_cache_req_t *cr,
                                       rp_cache_response_t *resp)
{
    int i;

    for (i = 0; cr->parts != NULL && i < cr->parts->nelts; i++) {
        request_rec *part = APR_ARRAY_IDX(cr->parts, i, request_rec *);
        if (part != NULL) {
            judge_part(cr, part);
        }
    }
    reqperf_cache_ssi_judge(r, cr);
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

typedef struct {
    const char *needle;
    int found;
} find_t;

static int header_holds(void *baton, const char *name, const char *value)
{
    find_t *f = baton;

    (void)name;
    if (value != NULL && strstr(value, f->needle) != NULL) {
        f->found = 1;
        return 0;
    }
    return 1;
}

/* Whether the answer holds the value of a cookie the request carried
 * (ReqPerfCacheIgnoreCookie's, which the key leaves out and the backend
 * still gets): written into the page, it would reach every visitor. */
static int holds_a_cookie(request_rec *r, reqperf_cache_req_t *cr)
{
    const char *ce = either(r, "Content-Encoding");
    apr_array_header_t *needles;
    int i, over;

    /* the cookies as the backend got them (a RequestHeader in a directory
     * may have set one since a quick-mode lookup): one the key cannot
     * leave out keeps the answer out */
    if (reqperf_cache_cookies_sent(r, reqperf_dconf(r), cr)) {
        return 1;
    }
    if (cr->cookies_sent == NULL) {
        return 0;
    }
    /* what to look for: built here, on a miss being stored, not on the
     * hits that carry the same cookies */
    needles = reqperf_cache_cookie_needles(r, cr->cookies_sent, &over);
    if (needles == NULL) {
        return 0;
    }
    if (over || (ce != NULL && strcasecmp(ce, "identity") != 0)) {
        /* too many values to look for; or compressed (mod_deflate runs
         * before this filter, or the backend did it): the bytes cannot
         * be searched */
        return 1;
    }
    for (i = 0; i < needles->nelts; i++) {
        find_t f;

        f.needle = APR_ARRAY_IDX(needles, i, const char *);
        f.found = 0;
        if (cr->len > 0 && memmem(cr->buf, cr->len, f.needle,
                                  strlen(f.needle)) != NULL) {
            return 1;
        }
        apr_table_do(header_holds, &f, r->headers_out, NULL);
        if (!f.found) {
            apr_table_do(header_holds, &f, r->err_headers_out, NULL);
        }
        if (f.found) {
            return 1;
        }
    }
    return 0;
}

static void store_response(request_rec *r, reqperf_cache_req_t *cr)
{
    rp_cache_response_t resp;
    const char *why = NULL;
    int dropped = 0;
    rp_store_outcome_t out;

    if (reqperf_cache_whole_facts(r, cr, &resp) != RP_NOSTORE_NONE) {
        give_up(cr, r, cr->sub_nostore,
                cr->ssi_personal ? "its server-side includes read who asks"
                                 : "an included part");
        return;
    }
    if (holds_a_cookie(r, cr)) {
        /* this request's, not the page's: no pass marker */
        give_up(cr, r, RP_NOSTORE_NONE,
                "it holds the value of a cookie the request carried");
        return;
    }
    out = rp_cache_store(&cr->lk, &resp, &why, &dropped);
    reqperf_advice_stored(r, cr, out);
    if (rp_mc_over(&cr->store)) {
        reqperf_memcached_slow(r);
    }
    rp_mc_park(&cr->store);
    reqperf_count_local_evictions(cr);
    if (dropped > 0) {
        rp_stats_t *st = reqperf_stats();
        if (st != NULL) {
            rp_stats_count(st, RP_CTR_CACHE_TAGS_DROPPED, (uint64_t)dropped);
        }
    }
    switch (out) {
    case RP_STORE_STORED:
        reqperf_count(RP_CTR_CACHE_STORE);
        break;
    case RP_STORE_DOWN:
        reqperf_count(RP_CTR_CACHE_ERRORS);
        reqperf_count(RP_CTR_CACHE_STORE_SKIPPED);
        break;
    default:
        reqperf_count(RP_CTR_CACHE_STORE_SKIPPED);
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

    if (reqperf_log_due(&last)) {
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
    apr_bucket_brigade *out;
    int failed = r->status;

    cr->gave_up = 1;
    cr->capture = 0;
    cr->buf = NULL;
    cr->len = 0;
    cr->discarding = 1;
    /* the next request tries again; those waiting on the lock let
     * their copies stand in as this one does */
    rp_cache_release_failed(&cr->lk);
    rp_mc_park(&cr->store);
    apr_brigade_cleanup(bb);
    apr_table_clear(r->err_headers_out);
    reqperf_cache_entry_to_response(r, e, cr->lk.fallback_age_s);
    reqperf_count(RP_CTR_CACHE_STALE);
    reqperf_count(RP_CTR_CACHE_STALE_ERROR);
    reqperf_cache_note(r, RP_CACHE_STALE, "STALE error");
    reqperf_cache_flag(r, RP_CACHE_FLAG_STALE_ERROR, 0);
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

/* What came now is copied into the held body (and, held, taken out of
 * bb; streaming, left in it to go on); what cannot be stored gives up.
 * Returns whether the end of the response came. */
static int hold_body(ap_filter_t *f, reqperf_cache_req_t *cr,
                     apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    /* what came now: the held part start_streaming puts back in front of
     * it is in the copy already (copying it again doubled it) */
    apr_bucket *b = APR_BRIGADE_FIRST(bb);

    if (!cr->streaming && apr_time_now() - cr->held_since > HOLD_MAX_US) {
        start_streaming(f, cr, bb);
    }
    while (b != APR_BRIGADE_SENTINEL(bb)) {
        const char *data;
        apr_size_t len;
        apr_bucket *next;

        if (APR_BUCKET_IS_EOS(b)) {
            return 1;
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
    return 0;
}

/* Whether a stale copy stands in for this response: the request that
 * looked up failed (its status), where the cache is on.  Behind
 * ProxyErrorOverride the failure is answered by its ErrorDocument, an
 * internal redirect that may lie where the cache is off: the request
 * that failed decides. */
static int stands_in(request_rec *r, reqperf_cache_req_t *cr)
{
    request_rec *o = r;
    int fails = 0;

    while (o->prev != NULL) {
        o = o->prev;
    }
    if (o != r && ap_is_HTTP_ERROR(o->status)
        && rp_cache_fallback_applies(&cr->lk, o->status)
        && reqperf_cache_mode(reqperf_dconf(o)) == REQPERF_CACHE_ON) {
        fails = 1;
    }
    else {
        fails = rp_cache_fallback_applies(&cr->lk, r->status)
                && reqperf_cache_mode(reqperf_dconf(r)) == REQPERF_CACHE_ON;
    }
    /* a copy purged while the backend failed stands in for nothing */
    return fails && rp_cache_fallback_holds(&cr->lk);
}

static apr_status_t cache_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reqperf_cache_req_t *cr = f->ctx;
    int eos;

    if (cr != NULL && cr->discarding) {
        /* what is left of the failed response after a copy stood in */
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    if (cr == NULL || !cr->headers_done) {
        reqperf_cache_interim_done(r);
        if (cr != NULL && stands_in(r, cr)) {
            return serve_fallback(f, cr, bb);
        }
        reqperf_cache_response_headers(r, cr);
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
    eos = hold_body(f, cr, bb);
    if (cr->gave_up) {
        unhold(f, cr, bb);
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }
    if (!eos) {
        /* held; or, streaming, on its way (it was lost here: the client
         * got a 200 with no body once the response ran past the hold) */
        apr_status_t rv;

        if (!cr->streaming) {
            return APR_SUCCESS;
        }
        rv = ap_pass_brigade(f->next, bb);
        if (rv != APR_SUCCESS || f->c->aborted) {
            /* the client went away: mod_proxy stops reading the backend
             * and Apache ends the response with an EOS all the same, so
             * what would be stored is the page cut short */
            give_up(cr, r, RP_NOSTORE_NONE, "the client went away");
        }
        return rv;
    }
    if (f->c->aborted) {
        give_up(cr, r, RP_NOSTORE_NONE, "the client went away");
        unhold(f, cr, bb);
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }
    store_response(r, cr);              /* and the lock is released */
    cr->gave_up = 1;                    /* done either way */
    unhold(f, cr, bb);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* REQPERF_VARY, just before mod_headers' output filter: what the handler
 * (the backend) said the page varies on is kept for the key, whatever
 * "Header unset Vary" or "Header edit Vary" leave for the client. */
static apr_status_t vary_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reqperf_cache_req_t *cr = f->ctx;
    const char *v;

    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    v = vary_plus(r->pool, reqperf_all_of(r, "Vary"), encoding_vary(r));
    if (cr != NULL && v != NULL) {
        cr->server_vary = vary_plus(r->pool, cr->server_vary, v);
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void reqperf_cache_add_vary_filter(request_rec *r, reqperf_cache_req_t *cr)
{
    ap_filter_t *f;

    for (f = r->output_filters; f != NULL; f = f->next) {
        if (f->frec == vary_filter_handle && f->r == r) {
            f->ctx = cr;
            return;
        }
    }
    ap_add_output_filter_handle(vary_filter_handle, cr, r, r->connection);
}

/* Every response where memcached is configured passes REQPERF_CACHE, so
 * X-ReqPerf-* never reach a client and purges always happen; error
 * responses Apache generates itself (ap_die: a proxy that cannot reach its
 * backend, a handler that returns 500) start from the protocol filters
 * again, so it is added back there, where a stale copy may stand in. */
static void cache_insert_filter(request_rec *r)
{
    reqperf_cache_req_t *cr;

    if (r->main == NULL && reqperf_cache_child.n_servers > 0) {
        cr = reqperf_cache_req(r);
        reqperf_cache_add_filter(r, cr);
        if (cr != NULL && (cr->capture || cr->observing) && !cr->gave_up) {
            /* (an internal redirect of a miss: its own request_rec) */
            reqperf_cache_add_vary_filter(r, cr);
        }
        if (reqperf_cache_mode(reqperf_dconf(r)) != 0) {
            reqperf_cache_ssi_add_filter(r);
        }
    }
    else if (r->main != NULL && (cr = reqperf_cache_req(r)) != NULL
             && (cr->capture || cr->observing) && !cr->gave_up) {
        /* a part of a page being stored (mod_include, mod_lua) */
        ap_add_output_filter_handle(subreq_filter_handle, cr, r,
                                    r->connection);
        reqperf_cache_ssi_add_filter(r);
    }
}

static void cache_insert_error_filter(request_rec *r)
{
    reqperf_cache_req_t *cr = reqperf_cache_req(r);

    if (r->main == NULL && cr != NULL) {
        cr->died = r;                  /* Apache answers it, not its page */
    }
    cache_insert_filter(r);
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
    const char *vary = reqperf_all_of(r, "Vary");

    if (!cr->observing) {
        /* (under Observe as under Off: what a part sends is its own) */
        reqperf_cache_response_headers(r, cr); /* tags, purges, stripped */
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

/* Every subrequest made while a page is being stored (its parts; not the
 * lookups mod_dir or mod_negotiation make before the handler), to be
 * looked at when the page is complete: a part that access control
 * refused at its lookup is never run (mod_include writes its error text
 * in its place), so REQPERF_SUBREQ never sees it, and what the page says
 * there is the refused client's, not the page's. */
static int watch_subrequest(request_rec *r)
{
    reqperf_cache_req_t *cr;

    if (r->main == NULL || (cr = reqperf_cache_req(r)) == NULL
        || !(cr->capture || cr->observing) || cr->gave_up) {
        return DECLINED;
    }
    if (cr->parts == NULL) {
        cr->parts = apr_array_make(cr->lk.pool, 4, sizeof(request_rec *));
    }
    /* mod_include keeps its subrequests until the page's own end (their
     * pools hold variables the page may use); a module that destroys one
     * before unregisters it */
    APR_ARRAY_PUSH(cr->parts, request_rec *) = r;
    apr_pool_cleanup_register(r->pool, r, forget_part, apr_pool_cleanup_null);
    return DECLINED;
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

void reqperf_cache_release_at_end(request_rec *r, reqperf_cache_req_t *cr)
{
    apr_pool_cleanup_register(r->pool, cr, release_at_end,
                              apr_pool_cleanup_null);
}

void reqperf_cache_store_register_hooks(apr_pool_t *p)
{
    (void)p;
    cache_filter_handle = ap_register_output_filter(
        "REQPERF_CACHE", cache_out_filter, NULL, AP_FTYPE_CONTENT_SET + 8);
    subreq_filter_handle = ap_register_output_filter(
        "REQPERF_SUBREQ", subreq_filter, NULL, AP_FTYPE_CONTENT_SET + 8);
    /* mod_headers' FIXUP_HEADERS_OUT is AP_FTYPE_CONTENT_SET: before it */
    vary_filter_handle = ap_register_output_filter(
        "REQPERF_VARY", vary_filter, NULL, AP_FTYPE_CONTENT_SET - 1);
    ap_hook_insert_filter(cache_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    reqperf_cache_ssi_register_hooks(p);
    ap_hook_create_request(watch_subrequest, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(cache_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
}
