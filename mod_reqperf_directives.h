/*
 * mod_reqperf_directives.h: what the map (mod_reqperf.c) takes from
 * mod_reqperf_config.c to fill the module struct and the directive
 * table: the per-directory and per-server config constructors and
 * mergers, and the directive handlers, with the signatures httpd gives
 * them (hence their void pointers: the config structs they stand for are
 * mod_reqperf.h's reqperf_dir_conf_t and reqperf_srv_conf_t).  No other
 * file includes it.
 */
#ifndef MOD_REQPERF_DIRECTIVES_H
#define MOD_REQPERF_DIRECTIVES_H

#include "mod_reqperf.h"

void *reqperf_create_dir_conf(apr_pool_t *p, char *dir);
void *reqperf_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *reqperf_create_srv_conf(apr_pool_t *p, server_rec *s);
void *reqperf_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
const char *reqperf_parse_time(cmd_parms *cmd, const char *arg,
                               apr_interval_time_t *out);
const char *reqperf_parse_number(cmd_parms *cmd, const char *arg,
                                 apr_int64_t min, apr_int64_t max,
                                 int units, apr_int64_t *out);
const char *reqperf_cmd_cache(cmd_parms *cmd, void *dconf, const char *arg);
/* directive handlers (the table is in mod_reqperf.c) */
const char *reqperf_cmd_dir_flag(cmd_parms *cmd, void *dconf,
                                 const char *arg);
const char *reqperf_cmd_srv_flag(cmd_parms *cmd, void *dconf,
                                 const char *arg);
const char *reqperf_cmd_slow_threshold(cmd_parms *cmd, void *dconf,
                                       const char *arg);
const char *reqperf_cmd_route(cmd_parms *cmd, void *dconf, const char *re,
                              const char *tmpl);
/* cmd_data of the server-wide number and time directives */
typedef struct {
    apr_size_t offset;                 /* in reqperf_srv_conf_t */
    apr_int64_t min, max;              /* time directives: in µs */
    int units;                         /* K/M/G suffixes allowed */
    int wide;                          /* apr_int64_t field (else int) */
    apr_int64_t min_nonzero;           /* 0, or at least this */
} reqperf_srv_spec_t;
extern const reqperf_srv_spec_t reqperf_spec_max_routes;
extern const reqperf_srv_spec_t reqperf_spec_slow_log_size;
extern const reqperf_srv_spec_t reqperf_spec_cache_local;
extern const reqperf_srv_spec_t reqperf_spec_cache_timeout;
extern const reqperf_srv_spec_t reqperf_spec_cache_local_ttl;
extern const reqperf_srv_spec_t reqperf_spec_app_max_names;
const char *reqperf_cmd_srv_number(cmd_parms *cmd, void *dconf,
                                   const char *arg);
const char *reqperf_cmd_srv_time(cmd_parms *cmd, void *dconf,
                                 const char *arg);
const char *reqperf_cmd_cache_servers(cmd_parms *cmd, void *dconf,
                                      const char *arg);
const char *reqperf_cmd_dir_seconds(cmd_parms *cmd, void *dconf,
                                    const char *arg);
const char *reqperf_cmd_cache_max_size(cmd_parms *cmd, void *dconf,
                                       const char *arg);
const char *reqperf_cmd_dir_list(cmd_parms *cmd, void *dconf,
                                 const char *arg);

#endif
