/*
 * mod_reqperf_app.c: the backend's own Server-Timing header.
 *
 * Frameworks (Rails, Laravel, Django and Express middlewares, Go
 * handlers) say where their time went in a W3C Server-Timing header.
 * REQPERF_OUT calls reqperf_app_read() once per response, as the headers
 * are about to leave and before ReqPerfServerTiming adds the module's own
 * metrics; whatever produced the response (mod_proxy, mod_wsgi, CGI,
 * FastCGI) has put the backend's header lines in r->headers_out (or
 * err_headers_out) by then.  The values are only kept here (pointers into
 * r->pool, no copy); they are parsed and counted with the rest of the
 * request when it is logged (stats/rp_stats.c, rp_servertiming.c).
 *
 * What is never application time: a page cache hit (mod_reqperf's own
 * hits and stale copies never pass REQPERF_OUT, and never carry a stored
 * Server-Timing; mod_cache's hits are recognised by its cache-hit note).
 *
 * Cost on a response without the header: two table lookups.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_request.h"

#include "mod_reqperf.h"

APLOG_USE_MODULE(reqperf);

#define SERVER_TIMING "Server-Timing"

static int collect(void *baton, const char *key, const char *value)
{
    apr_array_header_t *values = baton;

    (void)key;
    if (value != NULL && *value != '\0') {
        *(const char **)apr_array_push(values) = value;
    }
    return 1;
}

void reqperf_app_read(request_rec *r, reqperf_req_t *rs)
{
    reqperf_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                                  &reqperf_module);
    int hide = reqperf_app_timing_hide(d);
    int read = reqperf_enabled(d) && reqperf_app_timing(d) && !rs->skip;

    if ((!read && !hide)
        || (apr_table_get(r->headers_out, SERVER_TIMING) == NULL
            && apr_table_get(r->err_headers_out, SERVER_TIMING) == NULL)) {
        return;
    }
    /* mod_cache (CacheQuickHandler Off) replays a stored Server-Timing:
     * the application did not run */
    if (read && apr_table_get(r->subprocess_env, "cache-hit") == NULL) {
        if (rs->app_values == NULL) {
            rs->app_values = apr_array_make(r->pool, 2, sizeof(char *));
        }
        apr_table_do(collect, rs->app_values, r->headers_out, SERVER_TIMING,
                     NULL);
        apr_table_do(collect, rs->app_values, r->err_headers_out,
                     SERVER_TIMING, NULL);
    }
    if (hide) {
        /* the values stay in r->pool: the log phase still reads them */
        apr_table_unset(r->headers_out, SERVER_TIMING);
        apr_table_unset(r->err_headers_out, SERVER_TIMING);
    }
}
