/*
 * rp_figures.c: the list of rp_figures.h, read from the two tables of
 * rp_counters.h; the gauges' value expressions are expanded here only.
 */
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include "rp_figures.h"

static const struct {
    const char *auto_prefix;
    const char *json_path;
} sections[RP_SEC_COUNT] = {
    [RP_SEC_TOP] = { "", "" },
    [RP_SEC_TOTAL] = { "total_", "/total" },
    [RP_SEC_CACHE] = { "cache_", "/cache" },
    [RP_SEC_PURGE] = { "cache_purge_", "/cache/purges" },
    [RP_SEC_LOCAL] = { "cache_local_", "/cache/local" },
    [RP_SEC_APP] = { "app_timing_", "/app_timing" },
};

const char *rp_figures_auto_prefix(rp_counter_section_t s)
{
    return s < RP_SEC_COUNT ? sections[s].auto_prefix : "";
}

const char *rp_figures_json_path(rp_counter_section_t s)
{
    return s < RP_SEC_COUNT ? sections[s].json_path : "";
}

uint64_t rp_figures_servers_up(const rp_report_opts_t *o)
{
    uint64_t up = 0;
    int k;

    for (k = 0; k < o->n_servers; k++) {
        up += strcmp(o->servers[k].state, "up") == 0;
    }
    return up;
}

static uint64_t gauge_value(const rp_report_t *r, const rp_report_opts_t *o,
                            rp_gauge_t g)
{
    switch (g) {
#define RP_GAUGE_VALUE(id, sec, json, akey, skey, prom, shown, kind, value, \
                       help) \
    case RP_GAUGE_##id: \
        return (uint64_t)(value);
    RP_GAUGES(RP_GAUGE_VALUE)
#undef RP_GAUGE_VALUE
    default:
        return 0;
    }
}

/* "ReqPerf" and the ?auto key in CamelCase: cache_local_entries ->
 * ReqPerfCacheLocalEntries. */
static void status_key_of(char *out, size_t outsz, const char *auto_key)
{
    size_t n = (size_t)snprintf(out, outsz, "ReqPerf");
    int upper = 1;

    for (; *auto_key && n + 1 < outsz; auto_key++) {
        if (*auto_key == '_') {
            upper = 1;
            continue;
        }
        out[n++] = upper ? (char)toupper((unsigned char)*auto_key)
                         : *auto_key;
        upper = 0;
    }
    out[n] = '\0';
}

/* The names every format derives from a section and a JSON name. */
static void names_of(rp_figure_t *f, const char *auto_key,
                     const char *status_key)
{
    snprintf(f->json_pointer, sizeof(f->json_pointer), "%s/%s",
             rp_figures_json_path(f->section), f->json_name);
    if (auto_key != NULL) {
        snprintf(f->auto_key, sizeof(f->auto_key), "%s", auto_key);
    }
    else {
        snprintf(f->auto_key, sizeof(f->auto_key), "%s%s",
                 rp_figures_auto_prefix(f->section), f->json_name);
    }
    if (status_key != NULL) {
        snprintf(f->status_key, sizeof(f->status_key), "%s", status_key);
    }
    else {
        status_key_of(f->status_key, sizeof(f->status_key), f->auto_key);
    }
}

static void counter_figure(const rp_report_t *r, int k, rp_figure_t *f)
{
    const rp_counter_info_t *ci = &rp_counter_info[k];

    memset(f, 0, sizeof(*f));
    f->section = ci->section;
    f->shown = 1;
    f->value = r->counters[k];
    f->json_name = ci->json_name;
    f->prom_metric = ci->prom_metric;
    f->prom_label = ci->prom_label;
    f->help = ci->help;
    names_of(f, NULL, ci->status_key);
}

static void gauge_figure(const rp_report_t *r, const rp_report_opts_t *o,
                         int k, rp_figure_t *f)
{
    const rp_gauge_info_t *gi = &rp_gauge_info[k];

    memset(f, 0, sizeof(*f));
    f->section = gi->section;
    f->is_gauge = 1;
    f->is_bool = gi->kind == RP_KIND_BOOL;
    f->shown = gi->shown == RP_SHOWN_ALWAYS || o->local_configured;
    f->value = gauge_value(r, o, (rp_gauge_t)k);
    if (f->is_bool) {
        f->value = f->value != 0;
    }
    f->json_name = gi->json_name;
    f->prom_metric = gi->prom_metric;
    f->help = gi->help;
    names_of(f, gi->auto_key, gi->status_key);
}

void rp_figures(const rp_report_t *r, const rp_report_opts_t *o,
                rp_figure_t *out)
{
    int s, k, n = 0;

    for (s = 0; s < RP_SEC_COUNT; s++) {
        for (k = 0; k < RP_CTR_COUNT; k++) {
            if ((int)rp_counter_info[k].section == s) {
                counter_figure(r, k, &out[n++]);
            }
        }
        for (k = 0; k < RP_GAUGE_COUNT; k++) {
            if ((int)rp_gauge_info[k].section == s) {
                gauge_figure(r, o, k, &out[n++]);
            }
        }
    }
}
