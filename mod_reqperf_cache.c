/*
 * mod_reqperf_cache.c: the page cache's HTTP side.
 *
 * The decisions live in cache/ (rp_rules.c: what may be stored or served,
 * rp_cache.c: hit, stale, miss, locks, generations).  This file turns a
 * request_rec into their inputs and their answers into HTTP:
 *
 *  - the lookup, either in the handler phase (after access control, so
 *    Require and authentication still guard cached pages) or, with
 *    ReqPerfCacheQuick On, in the quick handler before everything else;
 *  - serving a hit: stored status and headers, Age, X-Cache, 304 for a
 *    conditional request, HEAD from the GET entry; straight to the
 *    protocol filters, since the stored body already went through the
 *    content filters once;
 *  - the REQPERF_CACHE output filter, which sees every response where
 *    memcached is configured: it strips X-ReqPerf-Tags and
 *    X-ReqPerf-Purge before the headers leave, carries out the purges and
 *    the invalidation of a successful unsafe method, and on a miss
 *    captures the body as it streams by (chunked responses too) and
 *    stores it after the end of stream;
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

#include "mod_reqperf.h"
#include "stats/rp_report.h"
#include "cache/rp_cache.h"
#include "cache/rp_mc.h"
#include "cache/rp_purge.h"
#include "cache/rp_local.h"

APLOG_USE_MODULE(reqperf);

#define LOCK_WAIT_US (5 * 1000 * 1000)
#define LOCK_TTL_S 30

static ap_filter_rec_t *cache_filter_handle;
static rp_breaker_t *breakers;         /* shared memory, one per server */
static rp_local_t *local_tier;         /* shared memory, or NULL */
static apr_interval_time_t local_ttl;
static rp_mc_t *child_mc;              /* this child's connections */
static const char **server_names;
static int n_servers;

typedef struct {
    rp_lookup_t lk;
    rp_store_t store;
    int have_store;
    rp_cache_conf_t conf;
    int capture;                       /* a miss we may store */
    int gave_up;
    int headers_done;
    const char *tags;                  /* X-ReqPerf-Tags of the response */
    char *buf;
    apr_size_t len, cap, max;
} reqperf_cache_req_t;

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

static const char *request_header(void *baton, const char *name)
{
    return apr_table_get(((request_rec *)baton)->headers_in, name);
}

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
    default:
        return RP_CTR_CACHE_BYPASS_OTHER;
    }
}

static const char **list_of(const apr_array_header_t *a, int *n)
{
    *n = a ? a->nelts : 0;
    return a ? (const char **)a->elts : NULL;
}

/* The request's path for the key: from the request line as the client
 * sent it (the quick handler runs before httpd has parsed it further),
 * normalised the way httpd normalises it before mapping a request: dot
 * segments resolved, unreserved characters decoded, slashes merged unless
 * MergeSlashes Off, and the remaining escapes in upper case.  So every
 * spelling of one resource has one key, and a purge or an unsafe method
 * names them all.  NULL if the path is unusable (above the root). */
static const char *normalised_path(request_rec *r, const char *u,
                                   apr_size_t len)
{
    core_server_config *core;
    unsigned flags = AP_NORMALIZE_NOT_ABOVE_ROOT
                     | AP_NORMALIZE_DECODE_UNRESERVED;
    char *path = apr_pstrmemdup(r->pool, u, len), *q;

    if (*path != '/') {
        return NULL;
    }
    core = ap_get_core_module_config(r->server->module_config);
    if (core->merge_slashes != AP_CORE_CONFIG_OFF) {
        flags |= AP_NORMALIZE_MERGE_SLASHES;
    }
    if (!ap_normalize_path(path, flags)) {
        return NULL;
    }
    for (q = path; (q = strchr(q, '%')) != NULL; q++) {
        if (apr_isxdigit(q[1]) && apr_isxdigit(q[2])) {
            q[1] = (char)apr_toupper(q[1]);
            q[2] = (char)apr_toupper(q[2]);
        }
    }
    return path;
}

static const char *key_path(request_rec *r)
{
    const char *u = r->unparsed_uri, *end;

    if (u == NULL) {
        return NULL;
    }
    if (*u != '/') {
        /* absolute-form: the path starts where the authority ends, and
         * is "/" when it ends at the query (http://host?a=/b) */
        const char *p = ap_strstr_c(u, "://");
        if (p == NULL) {
            return NULL;
        }
        p += 3;
        p += strcspn(p, "/?#");
        u = *p == '/' ? p : "/";
    }
    end = u + strcspn(u, "?#");
    return normalised_path(r, u, (apr_size_t)(end - u));
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

/* The canonical URL of (scheme, host, port, path, query) under the
 * ReqPerfCacheIgnoreQuery of d: the key of a page and of its generation. */
static const char *canonical_url(apr_pool_t *p, const char *scheme,
                                 const char *host, unsigned port,
                                 const char *path, const char *query,
                                 const reqperf_dir_conf_t *d)
{
    rp_url_t u;

    u.scheme = scheme;
    u.host = host;
    u.port = port;
    u.path = path;
    u.query = query;
    u.ignore_query = list_of(d->cache_ignore_query, &u.n_ignore_query);
    return rp_key_url(p, &u);
}

/* With UseCanonicalName On the key holds the server's own name, whatever
 * Host the client sent; the backend still sees that Host (or
 * X-Forwarded-Host) and may build another page for it.  So such a request
 * is keyed only when its Host is one of the virtual host's own names
 * (ServerName, ServerAlias): "Host: evil.example" is never cached.  With
 * UseCanonicalName Off the key holds the Host itself. */
static int host_is_named(request_rec *r)
{
    server_rec *s = r->server;
    const char *h = r->hostname;
    int i;

    if (h == NULL || strcasecmp(h, ap_get_server_name(r)) == 0
        || (s->server_hostname && strcasecmp(h, s->server_hostname) == 0)) {
        return 1;
    }
    for (i = 0; s->names && i < s->names->nelts; i++) {
        if (strcasecmp(h, APR_ARRAY_IDX(s->names, i, const char *)) == 0) {
            return 1;
        }
    }
    for (i = 0; s->wild_names && i < s->wild_names->nelts; i++) {
        if (ap_strcasecmp_match(h, APR_ARRAY_IDX(s->wild_names, i,
                                                 const char *)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The host Apache chose the virtual host by, as it would put it in a
 * self-referential URL (UseCanonicalName decides); never a forwarded
 * header. */
static const char *request_url(request_rec *r, const reqperf_dir_conf_t *d)
{
    const char *path = key_path(r);

    if (path == NULL) {
        return NULL;
    }
    return canonical_url(r->pool, ap_run_http_scheme(r),
                         ap_get_server_name_for_url(r),
                         ap_get_server_port(r), path, r->args, d);
}

static const char *base_full_key(request_rec *r, const reqperf_dir_conf_t *d,
                                 const char *url)
{
    int n, i;
    const char **names = list_of(d->cache_vary, &n);
    rp_header_t *h;

    if (n == 0) {
        return rp_key_full(r->pool, url, NULL, 0);
    }
    h = apr_palloc(r->pool, sizeof(*h) * (apr_size_t)n);
    for (i = 0; i < n; i++) {
        h[i].name = names[i];
        h[i].value = apr_table_get(r->headers_in, names[i]);
    }
    rp_key_sort_headers(h, n);
    return rp_key_full(r->pool, url, h, n);
}

static int acquire_store(request_rec *r, rp_store_t *out)
{
    return child_mc != NULL && rp_mc_acquire(child_mc, r->pool, out) == 0;
}

/* ---------------------------------------------------------------- */
/* serving a hit                                                     */

static int serve_entry(request_rec *r, reqperf_cache_req_t *cr, int stale)
{
    const rp_entry_t *e = &cr->lk.entry;
    apr_bucket_brigade *bb;
    apr_status_t rv;
    int status;
    uint32_t i;

    reqperf_phase_enter(r, RP_PHASE_HANDLER);
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
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, cr->lk.age_s));
    if (stale) {
        count(RP_CTR_CACHE_STALE);
        note_result(r, RP_CACHE_STALE, "STALE");
    }
    else if (cr->lk.from_local) {
        count(RP_CTR_CACHE_HIT);
        count(RP_CTR_LOCAL_HIT);
        note_result(r, RP_CACHE_HIT, "HIT local");
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
/* lookup                                                            */

/* One REQPERF_CACHE filter per request_rec (an internal redirect gets
 * its own); a later call only hands it the lookup's state. */
static void add_cache_filter(request_rec *r, reqperf_cache_req_t *cr)
{
    reqperf_req_t *rs = reqperf_req(r);
    ap_filter_t *f;

    if (rs != NULL && rs->cache_filter != NULL
        && ((ap_filter_t *)rs->cache_filter)->r == r) {
        f = rs->cache_filter;
        if (cr != NULL) {
            f->ctx = cr;
        }
        return;
    }
    f = ap_add_output_filter_handle(cache_filter_handle, cr, r,
                                    r->connection);
    if (rs != NULL) {
        rs->cache_filter = f;
    }
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

static void count_local_evictions(reqperf_cache_req_t *cr)
{
    rp_stats_t *st = reqperf_stats();

    if (cr->lk.local_evictions && st != NULL) {
        rp_stats_count(st, RP_CTR_LOCAL_EVICTIONS, cr->lk.local_evictions);
    }
    cr->lk.local_evictions = 0;
}

static int no_unkeyed_spelling(void *baton, const char *name,
                               const char *value)
{
    (void)baton;
    (void)value;
    return !rp_unkeyed_spelling(name);
}

static int cache_lookup(request_rec *r, const reqperf_dir_conf_t *d)
{
    reqperf_req_t *rs = reqperf_req(r);
    reqperf_cache_req_t *cr;
    rp_request_rules_t rules;
    rp_bypass_t why;
    int refresh = 0, result;
    const char *url, *base;

    if (rs == NULL || rs->cache != NULL) {
        return DECLINED;               /* looked up already (quick) */
    }
    cr = apr_pcalloc(r->pool, sizeof(*cr));
    rs->cache = cr;
    reqperf_phase_enter(r, RP_PHASE_CACHE);

    rules.ignore_cookie = list_of(d->cache_ignore_cookie,
                                  &rules.n_ignore_cookie);
    rules.vary = list_of(d->cache_vary, &rules.n_vary);
    why = rp_request_check(r->method, request_header, r, &rules, &refresh);
    if (why == RP_BYPASS_NONE || why == RP_BYPASS_NO_CACHE) {
        /* X_Forwarded_Host and the like: some backends read them as the
         * real header (rules->vary cannot list them: keys are exact) */
        if (!apr_table_do(no_unkeyed_spelling, NULL, r->headers_in, NULL)) {
            why = RP_BYPASS_UNKEYED_HEADER;
        }
    }
    if (why != RP_BYPASS_NONE && why != RP_BYPASS_NO_CACHE) {
        bypass(r, bypass_counter(why), rp_bypass_name(why));
        return DECLINED;
    }
    if (!host_is_named(r)) {
        bypass(r, RP_CTR_CACHE_BYPASS_OTHER, "host");
        return DECLINED;
    }
    if (rp_mc_all_down(child_mc)) {
        /* memcached is known down: cost the request nothing more */
        bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
        return DECLINED;
    }
    if ((url = request_url(r, d)) == NULL
        || (base = base_full_key(r, d, url)) == NULL) {
        bypass(r, RP_CTR_CACHE_BYPASS_OTHER, "key");
        return DECLINED;
    }
    if (!acquire_store(r, &cr->store)) {
        bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
        return DECLINED;
    }
    cr->have_store = 1;
    cr->conf.default_ttl_s = d->cache_ttl_s == REQPERF_UNSET
                             ? REQPERF_DEFAULT_CACHE_TTL_S : d->cache_ttl_s;
    cr->conf.grace_s = d->cache_grace_s == REQPERF_UNSET ? 0
                                                         : d->cache_grace_s;
    cr->conf.lock = d->cache_lock != 0;
    cr->conf.lock_wait_us = LOCK_WAIT_US;
    cr->conf.lock_ttl_s = LOCK_TTL_S;
    cr->max = (apr_size_t)(d->cache_max_size == REQPERF_UNSET
                           ? REQPERF_DEFAULT_CACHE_MAXSIZE
                           : d->cache_max_size);
    rp_cache_lookup_init(&cr->lk, &cr->store, r->pool, &cr->conf,
                         &wall_clock, url, base, request_header, r);
    cr->lk.no_lock = r->header_only;
    cr->lk.refresh = refresh;
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
        count(RP_CTR_CACHE_LOCK_WAITS);
    }
    if (cr->lk.local_revalidating) {
        count(RP_CTR_LOCAL_REVALIDATIONS);
    }
    count_local_evictions(cr);
    switch (result) {
    case RP_LOOKUP_HIT:
        return serve_entry(r, cr, 0);
    case RP_LOOKUP_STALE:
        return serve_entry(r, cr, 1);
    case RP_LOOKUP_DOWN:
        count(RP_CTR_CACHE_ERRORS);
        bypass(r, RP_CTR_CACHE_BYPASS_DOWN, "down");
        return DECLINED;
    default:
        break;
    }
    if (refresh) {
        bypass(r, RP_CTR_CACHE_BYPASS_NOCACHE, "no-cache");
        rs->cache_result = RP_CACHE_BYPASS;
    }
    else if (cr->lk.miss_reason == RP_MISS_PASS) {
        /* known not to be cacheable for now: straight to the backend,
         * nothing to capture (Varnish's hit-for-pass) */
        count(RP_CTR_CACHE_MISS);
        note_result(r, RP_CACHE_MISS, "MISS uncacheable");
        return DECLINED;
    }
    else {
        count(RP_CTR_CACHE_MISS);
        note_result(r, RP_CACHE_MISS, "MISS");
    }
    if (!r->header_only) {
        cr->capture = 1;
        drop_conditionals(r);
        add_cache_filter(r, cr);
    }
    return DECLINED;
}

static int cache_handler(request_rec *r)
{
    reqperf_dir_conf_t *d;
    int rv;

    if (r->main != NULL || child_mc == NULL) {
        return DECLINED;
    }
    d = dconf_of(r);
    if (d->cache != 1) {
        return DECLINED;
    }
    rv = cache_lookup(r, d);
    if (rv == DECLINED) {
        /* the real handler's time is handler time again */
        reqperf_phase_enter(r, RP_PHASE_HANDLER);
    }
    return rv;
}

/* ReqPerfCacheQuick On: before translation and access control.  The
 * <Location> sections are walked for our configuration only, then the
 * request's configuration is put back as it was. */
static int cache_quick_handler(request_rec *r, int lookup_uri)
{
    reqperf_srv_conf_t *sc;
    ap_conf_vector_t *saved;
    reqperf_dir_conf_t *d;
    int rv = DECLINED;

    if (lookup_uri || r->main != NULL || child_mc == NULL) {
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
    r->per_dir_config = saved;
    if (d->cache == 1) {
        rv = cache_lookup(r, d);
    }
    return rv;
}

/* ---------------------------------------------------------------- */
/* purges                                                            */

/* A URL given to a purge (absolute or relative) in canonical form, with
 * the ReqPerfCacheIgnoreQuery of the location it names. */
static const char *purge_target(request_rec *r, const char *given)
{
    const char *scheme, *host, *path, *query;
    unsigned port;
    request_rec *rr;
    const char *url;

    if (rp_url_split(r->pool, given, &scheme, &host, &port, &path, &query)
        != 0) {
        return NULL;
    }
    if (host == NULL) {
        scheme = ap_run_http_scheme(r);
        host = ap_get_server_name_for_url(r);
        port = ap_get_server_port(r);
    }
    else if (port == 0) {
        port = strcmp(scheme, "https") == 0 ? 443 : 80;
    }
    if ((path = normalised_path(r, path, strlen(path))) == NULL) {
        return NULL;
    }
    /* the configuration of the page, not of the purge location */
    rr = ap_sub_req_lookup_uri(path, r, NULL);
    url = canonical_url(r->pool, scheme, host, port, path, query,
                        dconf_of(rr));
    ap_destroy_sub_req(rr);
    return url;
}

typedef struct {
    apr_array_header_t *urls;          /* canonical URLs purged */
    apr_array_header_t *tags;
    int failed;
} purge_result_t;

static void do_purges(request_rec *r, rp_store_t *store,
                      const rp_purge_req_t *req, purge_result_t *out)
{
    int i;

    out->urls = apr_array_make(r->pool, 4, sizeof(char *));
    out->tags = apr_array_make(r->pool, 4, sizeof(char *));
    out->failed = 0;
    for (i = 0; req->urls && i < req->urls->nelts; i++) {
        const char *given = APR_ARRAY_IDX(req->urls, i, const char *);
        const char *url = purge_target(r, given);
        if (url == NULL) {
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
    for (i = 0; req->tags && i < req->tags->nelts; i++) {
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
    rp_purge_req_t req;
    purge_result_t res;
    rp_store_t store;
    const char *err = NULL;
    int unsafe = (r->method_number == M_POST || r->method_number == M_PUT
                  || r->method_number == M_DELETE
                  || r->method_number == M_PATCH)
                 && r->status < 400 && d->cache == 1;

    if (purge_header == NULL && !unsafe) {
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
    if (unsafe) {
        const char *url = request_url(r, d);
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
    if (cr != NULL) {
        cr->tags = tags;
    }
    response_purges(r, purge);
}

static void give_up(reqperf_cache_req_t *cr, const char *why, request_rec *r,
                    int pass)
{
    if (cr->gave_up) {
        return;
    }
    cr->gave_up = 1;
    cr->buf = NULL;
    if (pass) {
        rp_cache_mark_pass(&cr->lk, r->status);
        count_local_evictions(cr);
    }
    else {
        rp_cache_release(&cr->lk);
    }
    rp_mc_park(&cr->store);
    count(RP_CTR_CACHE_STORE_SKIPPED);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "mod_reqperf: not storing %s: %s", r->uri, why);
}

static int append(reqperf_cache_req_t *cr, request_rec *r, const char *data,
                  apr_size_t len)
{
    if (cr->len + len > cr->max) {
        give_up(cr, "larger than ReqPerfCacheMaxSize", r, 1);
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

static void store_response(request_rec *r, reqperf_cache_req_t *cr)
{
    rp_cache_response_t resp;
    collect_t c;
    const char *why = NULL;
    int dropped = 0;
    rp_store_outcome_t out;

    memset(&resp, 0, sizeof(resp));
    c.out = apr_array_make(r->pool, 16, sizeof(rp_header_t));
    c.connection = all_of(r, "Connection");
    apr_table_do(collect_header, &c, r->headers_out, NULL);
    apr_table_do(collect_header, &c, r->err_headers_out, NULL);
    if (r->content_type && !apr_table_get(r->headers_out, "Content-Type")) {
        rp_header_t *h = apr_array_push(c.out);
        h->name = "Content-Type";
        h->value = r->content_type;
    }
    resp.status = r->status;
    resp.headers = (const rp_header_t *)c.out->elts;
    resp.n_headers = c.out->nelts;
    resp.cache_control = all_of(r, "Cache-Control");
    /* two Expires disagree: read as junk, which means already expired */
    resp.expires = count_of(r, "Expires") > 1 ? "0" : either(r, "Expires");
    resp.date = apr_table_get(r->headers_out, "Date");
    resp.vary = all_of(r, "Vary");
    resp.has_set_cookie = either(r, "Set-Cookie") != NULL
                          || either(r, "Set-Cookie2") != NULL;
    resp.has_content_range = either(r, "Content-Range") != NULL
                             || r->status == HTTP_PARTIAL_CONTENT;
    resp.tags = cr->tags;
    resp.body = cr->buf ? cr->buf : "";
    resp.body_len = cr->len;
    out = rp_cache_store(&cr->lk, &resp, &why, &dropped);
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

static int storable_status(int status)
{
    return status == 200 || status == 203 || status == 300 || status == 301
           || status == 404 || status == 410;
}

static apr_status_t cache_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reqperf_cache_req_t *cr = f->ctx;
    apr_bucket *b;
    apr_status_t rv;
    int eos = 0;

    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    if (cr == NULL || !cr->headers_done) {
        if (cr != NULL) {
            cr->headers_done = 1;
        }
        handle_response_headers(r, cr);
        if (cr != NULL && cr->capture && dconf_of(r)->cache != 1) {
            /* the request ended up where the cache is off (an internal
             * redirect, a different mapping): nothing is stored for it */
            give_up(cr, "ReqPerfCache Off where the request was served",
                    r, 0);
        }
        else if (cr != NULL && cr->capture
                 && (r->status == HTTP_NOT_MODIFIED
                     || r->status == HTTP_PRECONDITION_FAILED)) {
            /* an answer to this client's own preconditions (If-Match, ...)
             * says nothing of the page: no hit-for-pass for everyone */
            give_up(cr, "an answer to the request's preconditions", r, 0);
        }
        else if (cr != NULL && cr->capture
                 && (!storable_status(r->status)
                     || either(r, "Set-Cookie") != NULL)) {
            give_up(cr, "status or Set-Cookie", r, 1);
        }
        if (cr == NULL || !cr->capture) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
    }
    if (cr->gave_up) {
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, bb);
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(b)) {
            eos = 1;
            break;
        }
        if (AP_BUCKET_IS_ERROR(b)) {
            give_up(cr, "error in the response", r, 0);
            break;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            continue;
        }
        if (b->length != (apr_size_t)-1 && cr->len + b->length > cr->max) {
            give_up(cr, "larger than ReqPerfCacheMaxSize", r, 1);
            break;
        }
        rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            give_up(cr, "unreadable body", r, 0);
            break;
        }
        if (!append(cr, r, data, len)) {
            break;
        }
    }
    rv = ap_pass_brigade(f->next, bb);
    if (eos && !cr->gave_up) {
        if (r->connection->aborted && rv != APR_SUCCESS) {
            give_up(cr, "client went away", r, 0);
        }
        else {
            /* after the pass: the header filter has settled headers_out */
            store_response(r, cr);
        }
        cr->gave_up = 1;               /* done either way */
    }
    return rv;
}

/* Every response where memcached is configured passes REQPERF_CACHE, so
 * X-ReqPerf-* never reach a client and purges always happen. */
static void cache_insert_filter(request_rec *r)
{
    if (r->main == NULL && n_servers > 0) {
        reqperf_req_t *rs = reqperf_req(r);
        add_cache_filter(r, rs ? rs->cache : NULL);
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
    ap_hook_post_config(cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(cache_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(cache_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    /* after the timing hook (REALLY_FIRST) has marked the handler start */
    ap_hook_handler(cache_handler, NULL, NULL, APR_HOOK_REALLY_FIRST + 1);
    ap_hook_handler(purge_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_filter(cache_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
