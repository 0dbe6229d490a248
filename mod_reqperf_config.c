/*
 * mod_reqperf_config.c: directive parsing, defaults and merging.
 *
 * Every field starts "unset" (REQPERF_UNSET or NULL) so that a value set
 * in a <VirtualHost> or <Location> overrides and everything else
 * inherits.  Defaults are applied here and nowhere else: the readers
 * below (reqperf_enabled ... reqperf_cache_dir, reqperf_cache_srv) hand
 * the rest of the module ready values, and no other file tests
 * REQPERF_UNSET.  A bad value is refused here with a message naming the
 * directive and the value, so `apachectl configtest` catches it.
 */
#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "http_core.h"
#include "http_config.h"

#include "mod_reqperf_cache.h"
#include "mod_reqperf_directives.h"
#include "stats/rp_route.h"

#define MERGE(field, unset) \
    conf->field = (add->field != (unset)) ? add->field : base->field

void *reqperf_create_dir_conf(apr_pool_t *p, char *dir)
{
    reqperf_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    (void)dir;
    d->enabled = REQPERF_UNSET;
    d->slow_threshold_us = REQPERF_UNSET;
    d->server_timing = REQPERF_UNSET;
    d->cache = REQPERF_UNSET;
    d->cache_ttl_s = REQPERF_UNSET;
    d->cache_grace_s = REQPERF_UNSET;
    d->cache_stale_if_error_s = REQPERF_UNSET;
    d->cache_lock = REQPERF_UNSET;
    d->cache_max_size = REQPERF_UNSET;
    d->app_timing = REQPERF_UNSET;
    d->app_timing_hide = REQPERF_UNSET;
    return d;
}

void *reqperf_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    reqperf_dir_conf_t *base = basev, *add = addv;
    reqperf_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    MERGE(enabled, REQPERF_UNSET);
    MERGE(slow_threshold_us, REQPERF_UNSET);
    MERGE(server_timing, REQPERF_UNSET);
    MERGE(cache, REQPERF_UNSET);
    MERGE(cache_ttl_s, REQPERF_UNSET);
    MERGE(cache_grace_s, REQPERF_UNSET);
    MERGE(cache_stale_if_error_s, REQPERF_UNSET);
    MERGE(cache_lock, REQPERF_UNSET);
    MERGE(cache_max_size, REQPERF_UNSET);
    MERGE(cache_vary, NULL);
    MERGE(cache_ignore_cookie, NULL);
    MERGE(cache_ignore_query, NULL);
    MERGE(app_timing, REQPERF_UNSET);
    MERGE(app_timing_hide, REQPERF_UNSET);
    return conf;
}

void *reqperf_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    reqperf_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->routes = apr_array_make(p, 4, sizeof(reqperf_route_rule_t));
    c->max_routes = REQPERF_UNSET;
    c->slow_log_size = REQPERF_UNSET;
    c->cache_timeout = REQPERF_UNSET;
    c->cache_quick = REQPERF_UNSET;
    c->cache_local_size = REQPERF_UNSET;
    c->cache_local_ttl = REQPERF_UNSET;
    c->app_max_names = REQPERF_UNSET;
    return c;
}

void *reqperf_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    reqperf_srv_conf_t *base = basev, *add = addv;
    reqperf_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    /* a virtual host's own routes are tried first, then the main ones */
    conf->routes = apr_array_append(p, add->routes, base->routes);
    MERGE(max_routes, REQPERF_UNSET);
    MERGE(slow_log_size, REQPERF_UNSET);
    MERGE(cache_servers, NULL);
    MERGE(cache_timeout, REQPERF_UNSET);
    MERGE(cache_quick, REQPERF_UNSET);
    MERGE(cache_local_size, REQPERF_UNSET);
    MERGE(cache_local_ttl, REQPERF_UNSET);
    MERGE(app_max_names, REQPERF_UNSET);
    return conf;
}

/* ---------------------------------------------------------------- */
/* resolved values: the one place defaults are applied               */

static apr_int64_t or_default(apr_int64_t v, apr_int64_t dflt)
{
    return v == REQPERF_UNSET ? dflt : v;
}

/* On|Off fields: 1, 0, or unset (then dflt) */
static int flag_or(int v, int dflt)
{
    return v == REQPERF_UNSET ? dflt : v == 1;
}

int reqperf_enabled(const reqperf_dir_conf_t *d)
{
    return d == NULL || flag_or(d->enabled, 1);
}

apr_int64_t reqperf_slow_threshold_us(const reqperf_dir_conf_t *d)
{
    return d == NULL ? REQPERF_DEFAULT_SLOW_US
                     : or_default(d->slow_threshold_us,
                                  REQPERF_DEFAULT_SLOW_US);
}

int reqperf_server_timing(const reqperf_dir_conf_t *d)
{
    return d != NULL && flag_or(d->server_timing, 0);
}

int reqperf_srv_max_routes(const reqperf_srv_conf_t *s)
{
    return (int)or_default(s->max_routes, REQPERF_DEFAULT_MAX_ROUTES);
}

int reqperf_srv_slow_log_size(const reqperf_srv_conf_t *s)
{
    return (int)or_default(s->slow_log_size, REQPERF_DEFAULT_SLOW_LOG_SIZE);
}

int reqperf_app_timing(const reqperf_dir_conf_t *d)
{
    return d == NULL || flag_or(d->app_timing, 1);
}

int reqperf_app_timing_hide(const reqperf_dir_conf_t *d)
{
    return d != NULL && flag_or(d->app_timing_hide, 0);
}

int reqperf_srv_app_max_names(const reqperf_srv_conf_t *s)
{
    return (int)or_default(s->app_max_names, REQPERF_DEFAULT_APP_MAX_NAMES);
}

int reqperf_cache_mode(const reqperf_dir_conf_t *d)
{
    return d == NULL || d->cache == REQPERF_UNSET ? 0 : d->cache;
}

/* a waiter for another request's fill gives up after this */
#define CACHE_LOCK_WAIT_US (5 * 1000 * 1000)
/* an orphaned lock (its holder was killed) blocks nobody for long */
#define CACHE_LOCK_TTL_S 5

reqperf_cache_dir_t reqperf_cache_dir(const reqperf_dir_conf_t *d)
{
    reqperf_cache_dir_t out;

    memset(&out, 0, sizeof(out));
    out.lookup.default_ttl_s = or_default(d->cache_ttl_s,
                                          REQPERF_DEFAULT_CACHE_TTL_S);
    out.lookup.grace_s = or_default(d->cache_grace_s, 0);
    out.lookup.stale_if_error_s = or_default(d->cache_stale_if_error_s, 0);
    out.lookup.lock = flag_or(d->cache_lock, 1);
    out.lookup.lock_wait_us = CACHE_LOCK_WAIT_US;
    out.lookup.lock_ttl_s = CACHE_LOCK_TTL_S;
    out.max_size = (apr_size_t)or_default(d->cache_max_size,
                                          REQPERF_DEFAULT_CACHE_MAXSIZE);
    return out;
}

reqperf_cache_srv_t reqperf_cache_srv(const reqperf_srv_conf_t *s)
{
    reqperf_cache_srv_t out;

    out.timeout = or_default(s->cache_timeout, REQPERF_DEFAULT_CACHE_TIMEOUT);
    out.quick = flag_or(s->cache_quick, 0);
    out.local_size = (apr_size_t)or_default(s->cache_local_size,
                                            REQPERF_DEFAULT_LOCAL_SIZE);
    out.local_ttl = or_default(s->cache_local_ttl, REQPERF_DEFAULT_LOCAL_TTL);
    return out;
}

/* ---------------------------------------------------------------- */
/* value parsers shared by the directives                            */

/* A time: a non-negative decimal integer followed by nothing (seconds)
 * or exactly one of the units ms, s, min, h.  Parsed here rather than
 * with ap_timeout_parameter_parse, which reads "2sbanana" as 2s,
 * "100msec" as 100ms and "soon" as 0.  Returns NULL or an error naming
 * the directive and the value. */
const char *reqperf_parse_time(cmd_parms *cmd, const char *arg,
                               apr_interval_time_t *out)
{
    static const struct {
        const char *name;
        apr_int64_t usec;
    } units[] = {
        { "", APR_USEC_PER_SEC },
        { "ms", 1000 },
        { "s", APR_USEC_PER_SEC },
        { "min", 60 * APR_USEC_PER_SEC },
        { "h", 3600 * APR_USEC_PER_SEC },
    };
    const char *p = arg;
    apr_int64_t v = 0;
    apr_size_t i;

    while (*p >= '0' && *p <= '9') {
        if (v > (APR_INT64_MAX - 9) / 10) {
            return apr_psprintf(cmd->pool, "%s: '%s' is too large",
                                cmd->cmd->name, arg);
        }
        v = v * 10 + (*p++ - '0');
    }
    if (p != arg) {
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strcmp(p, units[i].name) != 0) {
                continue;
            }
            if (v > APR_INT64_MAX / units[i].usec) {
                return apr_psprintf(cmd->pool, "%s: '%s' is too large",
                                    cmd->cmd->name, arg);
            }
            *out = v * units[i].usec;
            return NULL;
        }
    }
    return apr_psprintf(cmd->pool, "%s: '%s' is not a time; use a whole "
                        "number of seconds or one with a unit (ms, s, min, "
                        "h), e.g. 500ms, 2s, 2", cmd->cmd->name, arg);
}

/* A whole number in [min, max] with an optional K/M/G suffix when
 * `units` is set; NULL or an error naming the directive and the value. */
const char *reqperf_parse_number(cmd_parms *cmd, const char *arg,
                                 apr_int64_t min, apr_int64_t max,
                                 int units, apr_int64_t *out)
{
    char *end = NULL;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno == 0 && end != arg && units && *end) {
        apr_int64_t mult = 0;
        switch (apr_toupper(*end)) {
        case 'K':
            mult = 1024;
            break;
        case 'M':
            mult = 1024 * 1024;
            break;
        case 'G':
            mult = 1024 * 1024 * 1024;
            break;
        }
        if (mult && (end[1] == '\0'
                     || ((end[1] == 'B' || end[1] == 'b') && end[2] == '\0'))
            && v <= max / mult) {
            v *= mult;
            end += end[1] ? 2 : 1;
        }
    }
    if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not %s between %"
                            APR_INT64_T_FMT " and %" APR_INT64_T_FMT,
                            cmd->cmd->name, arg,
                            units ? "a size (bytes, or with K, M, G)"
                                  : "a whole number",
                            min, max);
    }
    *out = v;
    return NULL;
}

/* ---------------------------------------------------------------- */
/* timing directives                                                 */

/* On|Off for an int field of the directory configuration whose offset is
 * the directive's cmd_data; TAKE1 rather than FLAG so that the error can
 * name the value given. */
const char *reqperf_cmd_dir_flag(cmd_parms *cmd, void *dconf, const char *arg)
{
    int *field = (int *)((char *)dconf + (apr_size_t)cmd->info);

    if (strcasecmp(arg, "on") == 0) {
        *field = 1;
    }
    else if (strcasecmp(arg, "off") == 0) {
        *field = 0;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s' is not On or Off",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

/* Set when any ReqPerfCache On was read in this configuration, in any
 * context (server, vhost, <Location>, <Directory>...), so that post_config
 * can warn when there is no ReqPerfCacheServers: walking each server's
 * lookup_defaults sees only the server and vhost levels.  Reset before
 * each read of the configuration (start, restart). */
int reqperf_cache_on_somewhere = 0;
int reqperf_cache_observe_somewhere = 0;

static int reqperf_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                     apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    reqperf_cache_on_somewhere = 0;
    reqperf_cache_observe_somewhere = 0;
    return OK;
}

void reqperf_config_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(reqperf_config_pre_config, NULL, NULL,
                       APR_HOOK_MIDDLE);
}

/* ReqPerfCache On|Off|Observe, recording where the cache is on or
 * observed somewhere (see reqperf_cache_on_somewhere). */
const char *reqperf_cmd_cache(cmd_parms *cmd, void *dconf, const char *arg)
{
    reqperf_dir_conf_t *d = dconf;

    if (strcasecmp(arg, "on") == 0) {
        d->cache = REQPERF_CACHE_ON;
        reqperf_cache_on_somewhere = 1;
    }
    else if (strcasecmp(arg, "off") == 0) {
        d->cache = 0;
    }
    else if (strcasecmp(arg, "observe") == 0) {
        d->cache = REQPERF_CACHE_OBSERVE;
        reqperf_cache_observe_somewhere = 1;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s' is not On, Off or Observe",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

/* The same for a field of the server configuration. */
const char *reqperf_cmd_srv_flag(cmd_parms *cmd, void *dconf, const char *arg)
{
    void *sc = ap_get_module_config(cmd->server->module_config,
                                    &reqperf_module);

    (void)dconf;
    return reqperf_cmd_dir_flag(cmd, sc, arg);
}

const char *reqperf_cmd_slow_threshold(cmd_parms *cmd, void *dconf,
                                      const char *arg)
{
    apr_interval_time_t t;
    const char *err = reqperf_parse_time(cmd, arg, &t);

    if (err == NULL) {
        ((reqperf_dir_conf_t *)dconf)->slow_threshold_us = t;
    }
    return err;
}

const char *reqperf_cmd_route(cmd_parms *cmd, void *dconf, const char *re,
                             const char *tmpl)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                  &reqperf_module);
    reqperf_route_rule_t *rule;
    ap_regex_t *regex;
    char err[160];

    (void)dconf;
    regex = ap_pregcomp(cmd->pool, re, AP_REG_EXTENDED);
    if (regex == NULL) {
        return apr_psprintf(cmd->pool, "ReqPerfRoute: regex '%s' does not "
                            "compile", re);
    }
    if (rp_route_template_check(tmpl, (int)regex->re_nsub, err,
                                sizeof(err)) != 0) {
        return apr_psprintf(cmd->pool, "ReqPerfRoute: template '%s' for "
                            "regex '%s': %s", tmpl, re, err);
    }
    if (regex->re_nsub >= RP_ROUTE_MAX_GROUPS) {
        return apr_psprintf(cmd->pool, "ReqPerfRoute: regex '%s' has %d "
                            "groups; at most %d can be used", re,
                            (int)regex->re_nsub, RP_ROUTE_MAX_GROUPS - 1);
    }
    rule = apr_array_push(sc->routes);
    rule->regex = regex;
    rule->pattern = re;
    rule->tmpl = tmpl;
    return NULL;
}



/* Server-wide numbers and times (ReqPerfMaxRoutes, ReqPerfCacheTimeout,
 * ...): the directive's cmd_data is a reqperf_srv_spec_t saying where the
 * value goes and what range is allowed. */
const reqperf_srv_spec_t reqperf_spec_max_routes = {
    APR_OFFSETOF(reqperf_srv_conf_t, max_routes), 1, 100000, 0, 0, 0
};
const reqperf_srv_spec_t reqperf_spec_slow_log_size = {
    APR_OFFSETOF(reqperf_srv_conf_t, slow_log_size), 0, 100000, 0, 0, 0
};
const reqperf_srv_spec_t reqperf_spec_cache_local = {
    APR_OFFSETOF(reqperf_srv_conf_t, cache_local_size),
    0, 64LL * 1024 * 1024 * 1024, 1, 1, 1024 * 1024
};
const reqperf_srv_spec_t reqperf_spec_cache_timeout = {
    APR_OFFSETOF(reqperf_srv_conf_t, cache_timeout),
    1000, 10 * APR_USEC_PER_SEC, 0, 1, 0
};
const reqperf_srv_spec_t reqperf_spec_cache_local_ttl = {
    APR_OFFSETOF(reqperf_srv_conf_t, cache_local_ttl),
    0, 3600 * APR_USEC_PER_SEC, 0, 1, 0
};
const reqperf_srv_spec_t reqperf_spec_app_max_names = {
    APR_OFFSETOF(reqperf_srv_conf_t, app_max_names), 1, RP_APP_NAMES_MAX,
    0, 0, 0
};

static const char *srv_value(cmd_parms *cmd, const char *arg, int is_time)
{
    const reqperf_srv_spec_t *spec = cmd->info;
    char *sc = ap_get_module_config(cmd->server->module_config,
                                    &reqperf_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t v;

    if (err != NULL) {
        return err;
    }
    if (is_time) {
        apr_interval_time_t t;
        if ((err = reqperf_parse_time(cmd, arg, &t)) != NULL) {
            return err;
        }
        if (t < spec->min || t > spec->max) {
            return apr_psprintf(cmd->pool, "%s: '%s' must be between %"
                                APR_INT64_T_FMT "ms and %" APR_INT64_T_FMT
                                "s", cmd->cmd->name, arg, spec->min / 1000,
                                spec->max / APR_USEC_PER_SEC);
        }
        v = t;
    }
    else if ((err = reqperf_parse_number(cmd, arg, spec->min, spec->max,
                                         spec->units, &v)) != NULL) {
        return err;
    }
    if (v != 0 && v < spec->min_nonzero) {
        return apr_psprintf(cmd->pool, "%s: '%s' is too small; use 0 (off) "
                            "or at least %" APR_INT64_T_FMT " bytes",
                            cmd->cmd->name, arg, spec->min_nonzero);
    }
    if (spec->wide) {
        *(apr_int64_t *)(sc + spec->offset) = v;
    }
    else {
        *(int *)(sc + spec->offset) = (int)v;
    }
    return NULL;
}

const char *reqperf_cmd_srv_number(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    (void)dconf;
    return srv_value(cmd, arg, 0);
}

const char *reqperf_cmd_srv_time(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    (void)dconf;
    return srv_value(cmd, arg, 1);
}

/* ---------------------------------------------------------------- */
/* cache directives                                                  */

#include "cache/rp_mc.h"

const char *reqperf_cmd_cache_servers(cmd_parms *cmd, void *dconf,
                                      const char *arg)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                  &reqperf_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *host, *other_host;
    unsigned port, other_port;
    int i;

    (void)dconf;
    if (err != NULL) {
        return err;
    }
    if (rp_mc_parse_server(cmd->pool, arg, &host, &port) != 0) {
        return apr_psprintf(cmd->pool, "ReqPerfCacheServers: '%s' is not "
                            "host:port (a host without spaces, a port of "
                            "1-65535 in digits; for example "
                            "127.0.0.1:11211)", arg);
    }
    if (sc->cache_servers == NULL) {
        sc->cache_servers = apr_array_make(cmd->pool, 4, sizeof(char *));
    }
    /* the same server twice would get twice its share of the keys */
    for (i = 0; i < sc->cache_servers->nelts; i++) {
        const char *other = ((const char **)sc->cache_servers->elts)[i];
        if (rp_mc_parse_server(cmd->temp_pool, other, &other_host,
                               &other_port) == 0
            && other_port == port && strcasecmp(other_host, host) == 0) {
            return apr_psprintf(cmd->pool, "ReqPerfCacheServers: '%s' is "
                                "listed twice (as '%s')", arg, other);
        }
    }
    if (sc->cache_servers->nelts >= 32) {
        return "ReqPerfCacheServers: at most 32 servers";
    }
    *(const char **)apr_array_push(sc->cache_servers) = arg;
    return NULL;
}

/* ReqPerfCacheTTL / ReqPerfCacheGrace / ReqPerfCacheStaleIfError: whole seconds (units allowed,
 * "2min" or "3000ms", but not "500ms"). */
const char *reqperf_cmd_dir_seconds(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    apr_int64_t *field = (apr_int64_t *)((char *)dconf
                                         + (apr_size_t)cmd->info);
    apr_interval_time_t t;
    const char *err = reqperf_parse_time(cmd, arg, &t);

    if (err != NULL) {
        return err;
    }
    if (t > apr_time_from_sec(10LL * 365 * 24 * 3600)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is more than ten years",
                            cmd->cmd->name, arg);
    }
    /* the field holds seconds: "500ms" must not quietly become 0 */
    if (t % APR_USEC_PER_SEC != 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number of "
                            "seconds", cmd->cmd->name, arg);
    }
    *field = apr_time_sec(t);
    return NULL;
}

const char *reqperf_cmd_cache_max_size(cmd_parms *cmd, void *dconf,
                                       const char *arg)
{
    reqperf_dir_conf_t *d = dconf;
    apr_int64_t v;
    const char *err = reqperf_parse_number(cmd, arg, 0, 64LL * 1024 * 1024,
                                           1, &v);

    if (err == NULL) {
        d->cache_max_size = v;
    }
    return err;
}

/* An RFC 9110 token (header field names; RFC 6265 cookie names too). */
static int is_token(const char *s)
{
    static const char seps[] = "()<>@,;:\\\"/[]?={} \t";

    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127
            || strchr(seps, *s)) {
            return 0;
        }
    }
    return 1;
}

/* A query parameter name or glob: anything but what ends or splits a
 * parameter ('&', '=', ';'), a fragment ('#'), whitespace and control
 * bytes, none of which can appear in a parameter name as the key sees
 * it. */
static int is_query_name(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if ((unsigned char)*s <= 32 || (unsigned char)*s == 127
            || strchr("#&=;", *s)) {
            return 0;
        }
    }
    return 1;
}

/* Whether the directive's line holds "None" together with other words:
 * ITERATE hands us one word at a time, so look at the whole line. */
static int none_not_alone(cmd_parms *cmd)
{
    const char *line, *word;
    int words = 0, none = 0;

    if (cmd->directive == NULL || cmd->directive->args == NULL) {
        return 0;
    }
    line = cmd->directive->args;
    while (*line) {
        word = ap_getword_conf(cmd->temp_pool, &line);
        if (*word == '\0') {
            break;
        }
        words++;
        none |= strcasecmp(word, "none") == 0;
    }
    return none && words > 1;
}

/* ReqPerfCacheVary / IgnoreCookie / IgnoreQuery: lists.  A list set in a
 * section replaces the inherited one; "None", alone on its line, empties
 * it.  A word starting with '#' is refused in every list: Apache has no
 * comments after a directive, so "ReqPerfCacheVary X-A  # note" would
 * otherwise key on headers named "#" and "note". */
const char *reqperf_cmd_dir_list(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    apr_array_header_t **field = (apr_array_header_t **)((char *)dconf
                                                         + (apr_size_t)cmd->info);
    int header = strcmp(cmd->cmd->name, "ReqPerfCacheVary") == 0;
    int cookie = strcmp(cmd->cmd->name, "ReqPerfCacheIgnoreCookie") == 0;
    int ok;

    if (none_not_alone(cmd)) {
        return apr_psprintf(cmd->pool, "%s: None must stand alone on its "
                            "line (it clears the list): '%s'",
                            cmd->cmd->name, cmd->directive->args);
    }
    if (strcasecmp(arg, "none") == 0) {
        *field = apr_array_make(cmd->pool, 4, sizeof(char *));
        return NULL;
    }
    if (*arg == '#') {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid name; "
                            "Apache has no comments after a directive, put "
                            "the comment on a line of its own",
                            cmd->cmd->name, arg);
    }
    ok = (header || cookie) ? is_token(arg) : is_query_name(arg);
    if (!ok) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid %s",
                            cmd->cmd->name, arg,
                            header ? "header name (an RFC 9110 token)"
                            : cookie ? "cookie name (an RFC 9110 token; "
                                       "'*' wildcards)"
                            : "query parameter name (no whitespace, control "
                              "bytes, '#', '&', '=' or ';'; '*' wildcards)");
    }
    if (*field == NULL) {
        *field = apr_array_make(cmd->pool, 4, sizeof(char *));
    }
    if ((*field)->nelts >= 64) {
        return apr_psprintf(cmd->pool, "%s: at most 64 entries",
                            cmd->cmd->name);
    }
    *(const char **)apr_array_push(*field) = arg;
    return NULL;
}
