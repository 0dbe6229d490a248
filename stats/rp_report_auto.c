/*
 * rp_report_auto.c: the status page as `key: value` lines, like mod_status's
 * ?auto
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"
#include "rp_advice_report.h"

const char *rp_rep_section_prefix(rp_counter_section_t s)
{
    switch (s) {
    case RP_SEC_CACHE:
        return "cache_";
    case RP_SEC_LOCAL:
        return "cache_local_";
    case RP_SEC_PURGE:
        return "cache_purge_";
    case RP_SEC_APP:
        return "app_timing_";
    default:
        return "";
    }
}

/* <prefix><name>_count, _avg_us, _p95_us, _p99_us */
static void auto_dist(rp_buf_t *b, const char *prefix, const char *n,
                      const rp_dist_t *d)
{
    rp_buf_printf(b, "%s%s_count: %llu\n%s%s_avg_us: %llu\n"
                  "%s%s_p95_us: %llu\n%s%s_p99_us: %llu\n",
                  prefix, n, (unsigned long long)d->count, prefix, n,
                  (unsigned long long)d->avg, prefix, n,
                  (unsigned long long)d->p95, prefix, n,
                  (unsigned long long)d->p99);
}

void rp_render_auto(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    int k;

    rp_buf_printf(b, "uptime_s: %llu\n", (unsigned long long)r->uptime_s);
    for (k = 0; k < RP_CTR_COUNT; k++) {
        rp_buf_printf(b, "%s%s: %llu\n",
                      rp_rep_section_prefix(rp_counter_info[k].section),
                      rp_counter_info[k].json_name,
                      (unsigned long long)r->counters[k]);
    }
    rp_buf_printf(b, "routes: %llu\n", (unsigned long long)r->n_routes);
    rp_buf_printf(b, "total_avg_us: %llu\ntotal_p50_us: %llu\n"
                  "total_p95_us: %llu\ntotal_p99_us: %llu\n"
                  "total_max_us: %llu\n",
                  (unsigned long long)r->total.avg,
                  (unsigned long long)r->total.p50,
                  (unsigned long long)r->total.p95,
                  (unsigned long long)r->total.p99,
                  (unsigned long long)r->total.max);
    for (k = 0; k < RP_PHASE_COUNT; k++) {
        auto_dist(b, "phase_", rp_phase_name(k), &r->phases[k]);
    }
    for (k = 0; k < r->n_app; k++) {
        auto_dist(b, "app_", r->app[k].name, &r->app[k].d);
    }
    for (k = 0; k < o->n_servers; k++) {
        rp_buf_printf(b, "memcached_%d: %s %s\n", k, o->servers[k].address,
                      o->servers[k].state);
    }
    rp_advice_auto(b, r);
}

