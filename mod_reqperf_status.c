/*
 * mod_reqperf_status.c: the reqperf-status handler and the mod_reqperf
 * section of mod_status's /server-status.
 *
 * All the work is in stats/ (rp_report.c the snapshot, then one file per
 * format: HTML, JSON, Prometheus, ?auto, a route's page, the mod_status
 * section); this file parses the query, sets the headers and writes the
 * bytes.  Requests to the page are not timed, so looking at
 * the statistics does not change them.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_log.h"
#include "mod_status.h"

#include "mod_reqperf.h"
#include "stats/rp_report.h"

APLOG_USE_MODULE(reqperf);

#define CSP_HTML "default-src 'none'; style-src 'unsafe-inline'; " \
                 "img-src data:; base-uri 'none'; form-action 'none'; " \
                 "frame-ancestors 'none'"

typedef enum { FMT_HTML, FMT_JSON, FMT_PROMETHEUS, FMT_AUTO, FMT_ROUTE_HTML,
               FMT_ROUTE_JSON, FMT_NONE } fmt_t;

/* One query parameter (raw, unescaped), or NULL. */
static const char *query_param(request_rec *r, const char *name)
{
    const char *args = r->args;
    size_t nlen = strlen(name);

    while (args && *args) {
        const char *end = strchr(args, '&');
        size_t len = end ? (size_t)(end - args) : strlen(args);
        if (len >= nlen && strncmp(args, name, nlen) == 0
            && (len == nlen || args[nlen] == '=')) {
            return len == nlen ? "" : apr_pstrndup(r->pool, args + nlen + 1,
                                                   len - nlen - 1);
        }
        args = end ? end + 1 : NULL;
    }
    return NULL;
}

/* A query parameter decoded (%XX and '+'), or NULL; *bad set when it
 * does not decode. */
static const char *query_value(request_rec *r, const char *name, int *bad)
{
    const char *raw = query_param(r, name);
    char *v;

    if (raw == NULL) {
        return NULL;
    }
    v = apr_pstrdup(r->pool, raw);
    if (ap_unescape_urlencoded(v) != OK) {
        *bad = 1;
        return NULL;
    }
    return v;
}

static void fill_opts(request_rec *r, rp_report_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->server_name = ap_get_server_name(r);
    o->self_path = r->uri;
    reqperf_cache_fill_report(r->pool, r->server, o);
}

static int reqperf_status_handler(request_rec *r)
{
    rp_stats_t *st = reqperf_stats();
    const char *v;
    fmt_t fmt = FMT_HTML;
    int sort = RP_SORT_TIME, refresh = 0, bad = 0;
    const char *route, *method;
    rp_route_view_t *view = NULL;
    rp_report_opts_t opts;
    rp_report_t *rep;
    rp_buf_t b;

    if (r->handler == NULL || strcmp(r->handler, "reqperf-status") != 0) {
        return DECLINED;
    }
    /* a request for the page (or redirected to it) is not counted; one
     * that includes it (mod_include's subrequest) is counted as ever */
    if (r->main == NULL) {
        reqperf_skip(r);
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if ((v = query_param(r, "format")) != NULL) {
        if (strcmp(v, "json") == 0) {
            fmt = FMT_JSON;
        }
        else if (strcmp(v, "prometheus") == 0) {
            fmt = FMT_PROMETHEUS;
        }
        else if (strcmp(v, "html") != 0) {
            return HTTP_BAD_REQUEST;
        }
    }
    if (query_param(r, "auto") != NULL) {
        fmt = FMT_AUTO;
    }
    if ((v = query_param(r, "sort")) != NULL
        && (sort = rp_sort_by_name(v)) < 0) {
        return HTTP_BAD_REQUEST;
    }
    if ((v = query_param(r, "refresh")) != NULL) {
        refresh = atoi(v);
        refresh = refresh < 1 ? 1 : refresh > 3600 ? 3600 : refresh;
    }
    /* one route's page: ?route=/invoices/{id}&method=GET */
    route = query_value(r, "route", &bad);
    method = query_value(r, "method", &bad);
    if (bad || (route == NULL && method != NULL)
        || (route != NULL && (fmt == FMT_PROMETHEUS || fmt == FMT_AUTO))) {
        return HTTP_BAD_REQUEST;
    }

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    if (st == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    fill_opts(r, &opts);
    opts.refresh_s = refresh;
    rep = rp_report_build(r->pool, st, sort, apr_time_now(), rp_now_us());
    rp_buf_init(&b, r->pool, 64 * 1024);
    if (route != NULL && (view = rp_report_route_find(rep, route,
                                                      method)) == NULL) {
        /* a page of its own, not Apache's error document: it says which
         * route was not found and links back */
        r->status = HTTP_NOT_FOUND;
        rp_render_route_unknown(&b, route, method, fmt == FMT_JSON, &opts);
        ap_set_content_type(r, fmt == FMT_JSON ? "application/json"
                                               : "text/html; charset=utf-8");
        fmt = FMT_NONE;
    }
    else if (view != NULL) {
        fmt = fmt == FMT_JSON ? FMT_ROUTE_JSON : FMT_ROUTE_HTML;
    }
    switch (fmt) {
    case FMT_NONE:
        break;
    case FMT_ROUTE_JSON:
        ap_set_content_type(r, "application/json");
        rp_render_route_json(&b, rep, st, view, &opts);
        break;
    case FMT_ROUTE_HTML:
        ap_set_content_type(r, "text/html; charset=utf-8");
        rp_render_route_html(&b, rep, st, view, &opts);
        break;
    case FMT_JSON:
        ap_set_content_type(r, "application/json");
        rp_render_json(&b, rep, &opts);
        break;
    case FMT_PROMETHEUS:
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
        rp_render_prometheus(&b, rep, &opts);
        break;
    case FMT_AUTO:
        ap_set_content_type(r, "text/plain; charset=utf-8");
        rp_render_auto(&b, rep, &opts);
        break;
    default:
        ap_set_content_type(r, "text/html; charset=utf-8");
        rp_render_html(&b, rep, &opts);
        break;
    }
    if (fmt != FMT_JSON && fmt != FMT_ROUTE_JSON && fmt != FMT_PROMETHEUS
        && fmt != FMT_AUTO) {
        apr_table_setn(r->headers_out, "Content-Security-Policy", CSP_HTML);
        apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    }
    ap_set_content_length(r, (apr_off_t)b.len);
    if (!r->header_only) {
        ap_rwrite(b.data, (int)b.len, r);
    }
    return OK;
}

/* The section in mod_status's /server-status: rp_report_status.c, from
 * the tables of figures. */
static int reqperf_server_status(request_rec *r, int flags)
{
    rp_stats_t *st = reqperf_stats();
    rp_report_opts_t opts;
    rp_report_t *rep;
    rp_buf_t b;

    if (st == NULL) {
        return OK;
    }
    fill_opts(r, &opts);
    rep = rp_report_build(r->pool, st, RP_SORT_TIME, apr_time_now(),
                          rp_now_us());
    rp_buf_init(&b, r->pool, 8 * 1024);
    if (flags & AP_STATUS_SHORT) {
        rp_render_status_auto(&b, rep, &opts);
    }
    else {
        rp_render_status_html(&b, rep, &opts);
    }
    ap_rwrite(b.data, (int)b.len, r);
    return OK;
}

void reqperf_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(reqperf_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, reqperf_server_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

