/*
 * rp_report_auto.c: the status page as `key: value` lines, like mod_status's
 * ?auto
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"
#include "rp_advice_report.h"

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

void rp_rep_figure_lines(rp_buf_t *b, const rp_report_t *r,
                         const rp_report_opts_t *o, int status_keys)
{
    rp_figure_t figs[RP_FIGURE_COUNT];
    int k;

    rp_figures(r, o, figs);
    for (k = 0; k < RP_FIGURE_COUNT; k++) {
        if (figs[k].shown) {
            rp_buf_printf(b, "%s: %llu\n", status_keys ? figs[k].status_key
                                                       : figs[k].auto_key,
                          (unsigned long long)figs[k].value);
        }
    }
}

/* Every figure shown (rp_figures.h), then the phases, the application
 * metrics, each memcached server and the advisor's totals. */
void rp_render_auto(rp_buf_t *b, const rp_report_t *r,
                    const rp_report_opts_t *o)
{
    int k;

    rp_rep_figure_lines(b, r, o, 0);
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
