/*
 * mod_reqperf_purge.c: purges, and what the client never sees of them.
 *
 *  - X-ReqPerf-Tags and X-ReqPerf-Purge from the backend are taken out of
 *    every response before its headers leave (the tags go to the store,
 *    the purges are made), and out of interim responses (103 Early
 *    Hints), which httpd writes past the request's filters, by the
 *    REQPERF_INTERIM connection filter;
 *  - a successful unsafe method (POST, PUT, DELETE, PATCH) where the
 *    cache is On purges the page it was sent to;
 *  - the reqperf-purge handler purges URLs and tags on request.
 *
 * A purge bumps a generation in memcached (cache/rp_cache.c): every
 * variant and host of a page goes at once, and the local tier with it.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_log.h"
#include "http_main.h"
#include "util_filter.h"
#include "http_connection.h"

#include "mod_reqperf_cache.h"
#include "cache/rp_mc.h"
#include "stats/rp_report.h"
#include "cache/rp_purge.h"
#include "cache/rp_pending.h"
#include "cache/rp_local.h"

APLOG_USE_MODULE(reqperf);

static ap_filter_rec_t *interim_filter_handle;

/* The REQPERF_INTERIM filter's state, one per connection. */
typedef struct {
    rp_interim_t st;
    apr_bucket_brigade *out;
} reqperf_interim_t;

/* ---------------------------------------------------------------- */
/* purges                                                            */

/* Virtual hosts whose configuration a purge asks (each is one lookup of
 * the URL's configuration, per URL purged). */
#define PURGE_VHOSTS_MAX 256

/* The resource a URL given to a purge names under the configuration of
 * server s (its <Location>s' ReqPerfCacheIgnoreQuery, its MergeSlashes),
 * added to out unless already there.  0 when it names none there. */
static int purge_target_in(request_rec *r, server_rec *s, const char *path,
                           const char *query, apr_array_header_t *out)
{
    server_rec *own = r->server;
    const char *norm, *res = NULL;
    request_rec *rr;
    int i;

    /* as a request to that vhost would be configured */
    r->server = s;
    norm = reqperf_cache_resource(r, path, NULL, reqperf_dconf(r));
    if (norm != NULL) {
        /* the configuration of the page, not of the purge location */
        rr = ap_sub_req_lookup_uri(norm, r, NULL);
        res = reqperf_cache_resource(r, path, query, reqperf_dconf(rr));
        ap_destroy_sub_req(rr);
    }
    r->server = own;
    if (res == NULL) {
        return 0;
    }
    for (i = 0; i < out->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(out, i, const char *), res) == 0) {
            return 1;
        }
    }
    APR_ARRAY_PUSH(out, const char *) = res;
    return 1;
}

/* The resources a URL given to a purge names (absolute or relative: the
 * host and scheme do not matter, a purge reaches every one), with the
 * ReqPerfCacheIgnoreQuery of the location it names: in this virtual host
 * first, then in every other one, since the page may be stored under
 * another's configuration (the purge handler on the main server, the
 * shop a name-based vhost that leaves "ref" out of its key).  NULL if it
 * names none (a path above the root, ...). */
static apr_array_header_t *purge_targets(request_rec *r, const char *given)
{
    const char *path, *query;
    apr_array_header_t *out;
    server_rec *s;
    int n = 0;

    if (rp_url_split(r->pool, given, NULL, NULL, NULL, &path, &query) != 0) {
        return NULL;
    }
    out = apr_array_make(r->pool, 2, sizeof(const char *));
    if (!purge_target_in(r, r->server, path, query, out)) {
        return NULL;
    }
    for (s = ap_server_conf; s != NULL && n < PURGE_VHOSTS_MAX;
         s = s->next, n++) {
        if (s != r->server) {
            (void)purge_target_in(r, s, path, query, out);
        }
    }
    return out;
}

typedef struct {
    apr_array_header_t *urls;          /* resources purged */
    apr_array_header_t *tags;
    apr_array_header_t *bad;           /* URLs that name no page */
    int failed;
} purge_result_t;

/* One purge made; or, when memcached did not take it (or could not be
 * asked: store NULL), this server's copies gone at once and the purge
 * queued, to be made as soon as memcached answers (rp_pending.h):
 * otherwise the same memcached, back with its data, would serve the page
 * again.  Counted under done, or as failed. */
static int purge_one(request_rec *r, rp_store_t *store,
                     rp_pending_kind_t kind, const char *name,
                     rp_counter_t done, purge_result_t *out)
{
    rp_local_t *local = reqperf_cache_child.local;
    rp_st_rc_t rc = RP_ST_DOWN;

    if (store == NULL) {
        if (local != NULL) {
            rp_local_record_purge(local, rp_local_hash(
                kind == RP_PENDING_URL ? "u:" : "t:", name));
        }
    }
    else if (kind == RP_PENDING_URL) {
        rc = rp_cache_purge_url(store, r->pool, local, name, apr_time_now());
    }
    else {
        rc = rp_cache_purge_tag(store, r->pool, local, name, apr_time_now());
    }
    if (rc != RP_ST_OK) {
        out->failed++;
        reqperf_count(RP_CTR_PURGE_FAILED);
        if (rp_pending_add(reqperf_cache_child.pending, kind, name) != 0) {
            reqperf_count(RP_CTR_PURGE_DROPPED);
        }
        return 0;
    }
    reqperf_count(done);
    return 1;
}

/* store NULL with check_only: the URLs' targets only (res->bad), nothing
 * purged; without: memcached could not be asked (purge_one). */
static void do_purges(request_rec *r, rp_store_t *store, int check_only,
                      const rp_purge_req_t *req, purge_result_t *out)
{
    int i;

    out->urls = apr_array_make(r->pool, 4, sizeof(char *));
    out->tags = apr_array_make(r->pool, 4, sizeof(char *));
    out->bad = apr_array_make(r->pool, 1, sizeof(char *));
    out->failed = 0;
    for (i = 0; req->urls && i < req->urls->nelts; i++) {
        const char *given = APR_ARRAY_IDX(req->urls, i, const char *);
        apr_array_header_t *urls = purge_targets(r, given);
        int k;

        if (urls == NULL) {
            APR_ARRAY_PUSH(out->bad, const char *) = given;
            continue;
        }
        for (k = 0; !check_only && k < urls->nelts; k++) {
            const char *url = APR_ARRAY_IDX(urls, k, const char *);

            if (purge_one(r, store, RP_PENDING_URL, url, RP_CTR_PURGE_URL,
                          out)) {
                APR_ARRAY_PUSH(out->urls, const char *) = url;
            }
        }
    }
    for (i = 0; !check_only && req->tags && i < req->tags->nelts; i++) {
        const char *tag = APR_ARRAY_IDX(req->tags, i, const char *);
        if (purge_one(r, store, RP_PENDING_TAG, tag, RP_CTR_PURGE_TAG, out)) {
            APR_ARRAY_PUSH(out->tags, const char *) = tag;
        }
    }
}

/* At most this many queued purges are made before one request's own
 * work: each is a few memcached round trips, each bounded. */
#define FLUSH_MAX 8

void reqperf_purges_flush(request_rec *r, rp_store_t *store)
{
    static apr_time_t last;
    rp_pending_t *q = reqperf_cache_child.pending;
    rp_pending_kind_t kind;
    char *name;
    int k, h, made = 0;
    apr_time_t start = apr_time_now();

    if (rp_pending_count(q) == 0) {
        return;
    }
    name = apr_palloc(r->pool, RP_PENDING_NAME_MAX + 1);
    for (k = 0; k < FLUSH_MAX; k++) {
        apr_time_t now = apr_time_now();
        rp_st_rc_t rc;

        /* a purge is made whole, but no more are begun once the flush has
         * taken ReqPerfCacheTimeout: a slow memcached costs one purge */
        if (k > 0 && now - start > reqperf_cache_srv(
                         reqperf_sconf(r->server)).timeout) {
            break;
        }

        if ((h = rp_pending_take(q, now, &kind, name)) < 0) {
            break;
        }
        rc = kind == RP_PENDING_URL
             ? rp_cache_purge_url(store, r->pool, reqperf_cache_child.local,
                                  name, now)
             : rp_cache_purge_tag(store, r->pool, reqperf_cache_child.local,
                                  name, now);
        if (rc != RP_ST_OK) {
            rp_pending_retry(q, h, now);
            break;
        }
        rp_pending_done(q, h);
        reqperf_count(RP_CTR_PURGE_LATE);
        made++;
    }
    if (made > 0 && reqperf_log_due(&last)) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, APLOGNO(10524)
                      "mod_reqperf: made %d purge(s) memcached could not "
                      "take when they were asked", made);
    }
}

/* Once per cause and minute, not per request in a storm. */
static void log_purge_failure(request_rec *r, const char *what)
{
    static apr_time_t last;

    if (reqperf_log_due(&last)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10511)
                      "mod_reqperf: %s could not reach memcached; "
                      "this server's copies are gone, and the purge is "
                      "made as soon as memcached answers again",
                      what);
    }
}

/* X-ReqPerf-Purge from the backend, and a successful unsafe method. */
static void response_purges(request_rec *r, const char *purge_header)
{
    reqperf_dir_conf_t *d = reqperf_dconf(r);
    reqperf_cache_req_t *cr = reqperf_cache_req(r);
    rp_purge_req_t req;
    purge_result_t res;
    rp_store_t store;
    const char *err = NULL, *url;
    int bad = 0;
    int unsafe = (r->method_number == M_POST || r->method_number == M_PUT
                  || r->method_number == M_DELETE
                  || r->method_number == M_PATCH)
                 && r->status < 400
                 && reqperf_cache_mode(d) == REQPERF_CACHE_ON;

    if ((purge_header == NULL && !unsafe)
        || reqperf_cache_child.n_servers == 0) {
        return;
    }
    memset(&req, 0, sizeof(req));
    /* item by item: one the application got wrong (a fragment, a tag
     * no entry can carry) names no stored page, and must not cost the
     * others their purge (their pages would be served for a whole TTL) */
    if (purge_header != NULL
        && (rp_purge_parse_header_each(r->pool, purge_header, &req, &err,
                                       &bad) < 0 || bad > 0)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10512)
                      "mod_reqperf: X-ReqPerf-Purge from the backend: %d "
                      "item(s) skipped, the others made: %s", bad,
                      err ? err : "malformed");
    }
    if (!reqperf_cache_acquire_store(r, &store)) {
        log_purge_failure(r, "a purge");
        do_purges(r, NULL, 0, &req, &res);     /* queued, all of them */
        if (unsafe && cr != NULL
            && (url = reqperf_cache_request_resource(r, cr, d)) != NULL) {
            purge_one(r, NULL, RP_PENDING_URL, url, RP_CTR_PURGE_UNSAFE,
                      &res);
        }
        return;
    }
    reqperf_purges_flush(r, &store);
    do_purges(r, &store, 0, &req, &res);
    if (res.bad->nelts > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10520)
                      "mod_reqperf: X-ReqPerf-Purge from the backend names "
                      "no page: url=%s",
                      APR_ARRAY_IDX(res.bad, 0, const char *));
    }
    if (unsafe && cr != NULL
        && (url = reqperf_cache_request_resource(r, cr, d)) != NULL) {
        purge_one(r, &store, RP_PENDING_URL, url, RP_CTR_PURGE_UNSAFE, &res);
    }
    rp_mc_release(&store);
    if (res.failed) {
        log_purge_failure(r, "a purge");
    }
}

/* Before the headers leave: what the client must not see, and what the
 * backend asked us to do. */
void reqperf_cache_response_headers(request_rec *r, reqperf_cache_req_t *cr)
{
    const char *tags = reqperf_all_of(r, "X-ReqPerf-Tags");
    const char *purge = reqperf_all_of(r, "X-ReqPerf-Purge");

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

    reqperf_cache_interim_done(r);
    if (reqperf_cache_child.n_servers == 0) {
        /* what ReqPerfCache Observe judges: the tags a store would keep */
        if ((cr = reqperf_cache_req(r)) != NULL && cr->observing
            && (tags = reqperf_all_of(r, "X-ReqPerf-Tags")) != NULL) {
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

/* ---------------------------------------------------------------- */
/* interim responses                                                 */

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

/* A request was read: until its final response starts, what reaches the
 * connection's filters is an interim response. */
void reqperf_cache_interim_reset(conn_rec *c)
{
    reqperf_interim_t *ic = interim_of(c);

    if (ic != NULL) {
        rp_interim_reset(&ic->st);
    }
}

/* The final response starts: nothing after this is an interim head. */
void reqperf_cache_interim_done(request_rec *r)
{
    reqperf_interim_t *ic = interim_of(r->connection);

    if (ic != NULL) {
        ic->st.mode = RP_INTERIM_PASS;
        ic->st.held = 0;
    }
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

/* The request's body into *body: NULL, or what is wrong with it
 * (*status: 413 or 400). */
static const char *read_purge_body(request_rec *r, char **body,
                                   apr_size_t *len, int *status)
{
    apr_bucket_brigade *bb;
    apr_off_t clen = 0;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    char *buf;
    int seen_eos = 0;

    *len = 0;
    *status = HTTP_REQUEST_ENTITY_TOO_LARGE;
    if (cl != NULL && (apr_strtoff(&clen, cl, NULL, 10) != APR_SUCCESS
                       || clen > RP_PURGE_MAX_BODY)) {
        return "body too large";
    }
    /* read at most RP_PURGE_MAX_BODY + 1 bytes, whatever the framing */
    buf = apr_palloc(r->pool, RP_PURGE_MAX_BODY + 1);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        apr_bucket *e;
        if (ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                           APR_BLOCK_READ, 8192) != APR_SUCCESS) {
            *status = HTTP_BAD_REQUEST;
            return "cannot read the body";
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
                *status = HTTP_BAD_REQUEST;
                return "cannot read the body";
            }
            if (*len + n > RP_PURGE_MAX_BODY) {
                return "body too large";
            }
            memcpy(buf + *len, data, n);
            *len += n;
        }
        apr_brigade_cleanup(bb);
    }
    buf[*len] = '\0';
    *body = buf;
    return NULL;
}

/* {"purged":{"url":[...],"tag":[...]}}, with an "error" when memcached
 * did not take some of them (503). */
static int purge_reply(request_rec *r, const purge_result_t *res)
{
    rp_buf_t b;

    rp_buf_init(&b, r->pool, 512);
    if (res->failed) {
        log_purge_failure(r, "the purge handler");
        rp_buf_printf(&b, "{\"error\":\"memcached did not take %d of the "
                      "purges\",\"purged\":{\"url\":", res->failed);
    }
    else {
        rp_buf_puts(&b, "{\"purged\":{\"url\":");
    }
    json_list(r->pool, &b, res->urls);
    rp_buf_puts(&b, ",\"tag\":");
    json_list(r->pool, &b, res->tags);
    rp_buf_puts(&b, "}}\n");
    return send_json(r, res->failed ? HTTP_SERVICE_UNAVAILABLE : HTTP_OK, &b);
}

static int purge_handler(request_rec *r)
{
    char *body = NULL;
    apr_size_t len;
    const char *err = NULL;
    int status;
    rp_purge_req_t req;
    purge_result_t res;
    rp_store_t store;

    if (r->handler == NULL || strcmp(r->handler, "reqperf-purge") != 0) {
        return DECLINED;
    }
    r->allowed = AP_METHOD_BIT << M_POST;
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return json_error(r, HTTP_METHOD_NOT_ALLOWED, "use POST");
    }
    if ((err = read_purge_body(r, &body, &len, &status)) != NULL) {
        return json_error(r, status, err);
    }
    memset(&req, 0, sizeof(req));
    if (rp_purge_parse_form(r->pool, body, len, &req, &err) < 0) {
        return json_error(r, HTTP_BAD_REQUEST, err ? err : "malformed body");
    }
    /* all or nothing: a URL that names no page is an error, not a
     * purge that quietly matched nothing */
    do_purges(r, NULL, 1, &req, &res);
    if (res.bad->nelts > 0) {
        const char *u = APR_ARRAY_IDX(res.bad, 0, const char *);
        return json_error(r, HTTP_BAD_REQUEST,
                          apr_psprintf(r->pool, "url names no page: %.200s",
                                       u));
    }
    if (!reqperf_cache_acquire_store(r, &store)) {
        do_purges(r, NULL, 0, &req, &res);     /* queued, all of them */
        return json_error(r, HTTP_SERVICE_UNAVAILABLE,
                          "memcached is not reachable; nothing was purged "
                          "yet (the purge is made when it answers again)");
    }
    reqperf_purges_flush(r, &store);
    do_purges(r, &store, 0, &req, &res);
    rp_mc_release(&store);
    return purge_reply(r, &res);
}

void reqperf_purge_register_hooks(apr_pool_t *p)
{
    (void)p;
    interim_filter_handle = ap_register_output_filter(
        "REQPERF_INTERIM", interim_out, NULL, AP_FTYPE_CONNECTION);
    ap_hook_pre_connection(cache_pre_connection, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(purge_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
