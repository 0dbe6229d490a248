/*
 * mod_reqperf_route.c: the route a request counts under.
 *
 * The path as requested (decoded and normalised, before DirectoryIndex
 * or a rewrite changes r->uri: mod_reqperf_timing.c keeps it at
 * translate_name) goes through the server's ReqPerfRoute rules, its own
 * first, then the main server's; a path no rule matches is grouped by
 * stats/rp_route.c (built-in grouping).  Computed once per
 * request, when first asked (the log hooks, the advisor).
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"

#include "mod_reqperf.h"
#include "stats/rp_route.h"

const char *reqperf_request_path(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);

    return (rs != NULL && rs->uri != NULL) ? rs->uri
                                           : reqperf_original_request(r)->uri;
}

static const char *compute_route(request_rec *r)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                  &reqperf_module);
    const char *path = reqperf_request_path(r);
    char *out = apr_palloc(r->pool, RP_ROUTE_MAX);
    int i;

    if (path == NULL || *path == '\0') {
        return "(unparsed)";
    }
    for (i = 0; i < sc->routes->nelts; i++) {
        reqperf_route_rule_t *rule = &((reqperf_route_rule_t *)
                                       sc->routes->elts)[i];
        ap_regmatch_t m[RP_ROUTE_MAX_GROUPS];
        rp_span_t spans[RP_ROUTE_MAX_GROUPS];
        int g;

        if (ap_regexec(rule->regex, path, RP_ROUTE_MAX_GROUPS, m, 0) != 0) {
            continue;
        }
        for (g = 0; g < RP_ROUTE_MAX_GROUPS; g++) {
            spans[g].so = m[g].rm_so;
            spans[g].eo = m[g].rm_eo;
        }
        rp_route_expand(rule->tmpl, path, spans, RP_ROUTE_MAX_GROUPS, out,
                        RP_ROUTE_MAX);
        return out;
    }
    rp_route_normalize(path, out, RP_ROUTE_MAX);
    return out;
}

const char *reqperf_route(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);
    request_rec *orig = reqperf_original_request(r);

    if (rs == NULL) {
        return compute_route(orig);
    }
    if (rs->route == NULL) {
        rs->route = compute_route(orig);
    }
    return rs->route;
}
