/*
 * rp_report_int.h: the pieces the renderers share (rp_report_json.c,
 * rp_html*.c), so every page and format formats, escapes, links and draws
 * the same way.  Not for the glue: it uses rp_report.h.
 */
#ifndef RP_REPORT_INT_H
#define RP_REPORT_INT_H

#include "rp_report.h"
#include "rp_figures.h"

void rp_rep_json_str(rp_buf_t *b, const char *s);
void rp_rep_iso_time(char *out, size_t outsz, int64_t wall_us);
/* A route's JSON fields, "route" ... "recent", without the braces. */
void rp_rep_json_route_fields(rp_buf_t *b, const rp_route_view_t *v);
void rp_rep_json_slow_entry(rp_buf_t *b, const rp_slow_entry_t *e);
/* {"read":12,...}: the phases with a value (>= 0). */
void rp_rep_json_phases(rp_buf_t *b, const int64_t *us);

void rp_rep_html_head(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *title);
void rp_rep_html_text(rp_buf_t *b, const char *s);
/* Escaped, breakable only after '/', '?' and '&'. */
void rp_rep_html_text_wrap(rp_buf_t *b, const char *s);
void rp_rep_url_component(rp_buf_t *b, const char *s);
void rp_rep_html_us(rp_buf_t *b, uint64_t us);
/* <td class="n">duration</td> for each of n durations. */
void rp_rep_html_us_cells(rp_buf_t *b, const uint64_t *us, int n);
/* <a href="<status page>?query"> */
void rp_rep_html_link(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *query);
/* <a href="...?route=..&amp;method=..">route</a>: a route's own page. */
void rp_rep_html_route_link(rp_buf_t *b, const rp_report_opts_t *o,
                            const char *route, const char *method);
/* data-k (a JSON Pointer: prefix, then name as one token, then leaf)
 * and data-v attributes of a figure. */
void rp_rep_html_key(rp_buf_t *b, const char *prefix, const char *name,
                     const char *leaf, uint64_t value);
void rp_rep_html_cell_k(rp_buf_t *b, const char *prefix, const char *name,
                        const char *leaf, uint64_t value, int is_us);
/* oct[48]: the buckets folded into powers of two. */
void rp_rep_histogram_octaves(const uint64_t *buckets, uint64_t *oct);
void rp_rep_html_histogram(rp_buf_t *b, const uint64_t *buckets,
                           const rp_dist_t *d);
void rp_rep_html_phase_bar(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v);
const char *rp_rep_phase_color(int phase);
/* An application metric's colour, by its rank over all routes. */
const char *rp_rep_app_color(const rp_report_t *r, const char *name);
void rp_rep_html_route_app(rp_buf_t *b, const rp_report_t *r,
                           const rp_route_view_t *v,
                           const rp_report_opts_t *o);
/* The slow log; only != NULL: that route's entries. */
void rp_rep_html_slow_table(rp_buf_t *b, const rp_report_t *r,
                            const rp_report_opts_t *o,
                            const rp_route_view_t *only);

/* The rows of one section's figures (<tr><th>key</th><td data-k..>). */
void rp_rep_html_figure_rows(rp_buf_t *b, const rp_figure_t *figs,
                             rp_counter_section_t sec);
/* <p class="muted">server &middot; as of <time> &middot; (left open). */
void rp_rep_html_as_of(rp_buf_t *b, const rp_report_t *r,
                       const rp_report_opts_t *o);
/* "key: value" per figure shown: ?auto keys, or (status_keys set)
 * mod_status's. */
void rp_rep_figure_lines(rp_buf_t *b, const rp_report_t *r,
                         const rp_report_opts_t *o, int status_keys);

#endif
