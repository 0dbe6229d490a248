/*
 * rp_figures.h: the counters and gauges of rp_counters.h as one list, in
 * the order every output shows them, each with its name in every format
 * and its value in one snapshot.  Every renderer (JSON, Prometheus,
 * ?auto, HTML, the mod_status section) walks this list instead of naming
 * figures, so a row added to a table appears in all five.
 */
#ifndef RP_FIGURES_H
#define RP_FIGURES_H

#include "rp_report.h"

#define RP_FIGURE_COUNT (RP_CTR_COUNT + RP_GAUGE_COUNT)

typedef struct {
    rp_counter_section_t section;
    int is_gauge;
    int is_bool;                           /* JSON true/false */
    int shown;                             /* 0: only JSON has it now */
    uint64_t value;
    const char *json_name;                 /* inside its section's object */
    const char *prom_metric;               /* NULL: not in Prometheus */
    const char *prom_label;                /* label="value", or NULL */
    const char *help;
    char json_pointer[64];                 /* "/cache/local/entries" */
    char auto_key[64];                     /* "cache_local_entries" */
    char status_key[80];                   /* "ReqPerfCacheLocalEntries" */
} rp_figure_t;

/* Every figure, section by section (counters, then gauges), into
 * out[RP_FIGURE_COUNT]. */
void rp_figures(const rp_report_t *r, const rp_report_opts_t *o,
                rp_figure_t *out);

/* The ?auto key prefix ("cache_local_") and JSON Pointer ("/cache/local")
 * of a section. */
const char *rp_figures_auto_prefix(rp_counter_section_t s);
const char *rp_figures_json_path(rp_counter_section_t s);

/* memcached servers "up" (a gauge's value). */
uint64_t rp_figures_servers_up(const rp_report_opts_t *o);

#endif
