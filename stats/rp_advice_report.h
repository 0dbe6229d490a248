/*
 * rp_advice_report.h: what the status page shows of the cache advisor
 * (stats/rp_advice.h): a route's "advice" in JSON, the Prometheus counters
 * reqperf_cache_advice_total{route,outcome} and
 * reqperf_cache_saved_seconds_total{route}, `?auto` totals and the HTML
 * section "What caching would save".  rp_report.c calls these from its
 * four renderers; the figures come from the one table of outcomes and
 * reasons in rp_advice.h, so the outputs name and count the same things.
 */
#ifndef RP_ADVICE_REPORT_H
#define RP_ADVICE_REPORT_H

#include "rp_report.h"
#include "rp_advice.h"

/* The view of one route's advice for the page; NULL when the advisor has
 * seen no request of it. */
rp_advice_view_t *rp_advice_report_view(apr_pool_t *p, rp_stats_t *st,
                                        rp_route_rec_t *rec, int64_t now_s);

/* ,"advice":{...} inside a route's JSON object (nothing when v is NULL). */
void rp_advice_json(rp_buf_t *b, const rp_advice_view_t *v);
void rp_advice_prometheus(rp_buf_t *b, const rp_report_t *r);
void rp_advice_auto(rp_buf_t *b, const rp_report_t *r);
/* The section "What caching would save": routes by time saved. */
void rp_advice_html(rp_buf_t *b, const rp_report_t *r);
/* One route's advice, its row of that table (for the route's own page,
 * each count marked with its JSON Pointer). */
void rp_advice_html_route(rp_buf_t *b, const rp_route_view_t *v);

#endif
