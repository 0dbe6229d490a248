/*
 * rp_html_css.c: the head of every HTML page: title, reload, and the one
 * stylesheet the pages share
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"

/* The page's head: title, optional reload, and the one stylesheet both
 * pages use.  Sized for a 1366-pixel laptop screen: tables wrap long
 * routes and URIs only at '/', '?' and '&' (<wbr>), never inside a word;
 * numbers never wrap; printed, it drops the colours of links and fits
 * the tables to the paper. */
void rp_rep_html_head(rp_buf_t *b, const rp_report_opts_t *o,
                      const char *title)
{
    rp_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                "<meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\">");
    if (o->refresh_s > 0) {
        rp_buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">",
                      o->refresh_s);
    }
    rp_buf_puts(b, "<title>");
    if (title != NULL) {
        rp_rep_html_text(b, title);
        rp_buf_puts(b, " - ");
    }
    rp_buf_puts(b, "mod_reqperf status");
    if (o->server_name) {
        rp_buf_puts(b, " - ");
        rp_rep_html_text(b, o->server_name);
    }
    rp_buf_puts(b, "</title><style>"
        "body{font:14px/1.4 system-ui,sans-serif;margin:1em 1.2em;"
        "color:#222}"
        ".warn{color:#a40}"
        "h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;"
        "margin:1.4em 0 .5em;border-bottom:1px solid #ddd}"
        "table{border-collapse:collapse;font-size:13px}"
        "th,td{padding:3px 6px;border-bottom:1px solid #eee;"
        "text-align:left;vertical-align:top;overflow-wrap:normal;"
        "word-break:normal}"
        "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
        "td.n{white-space:nowrap}"
        "th a{color:#225;text-decoration:none}th.sorted{background:#e8eef8}"
        "code{font-size:12px}h1 code{font-size:1em}"
        "td.u{min-width:11em}"
        "a.route{color:#225}"
        ".bar{display:flex;width:130px;height:12px;background:#f2f2f2}"
        ".bar span{display:block;height:12px}"
        ".legend span{display:inline-block;margin-right:10px}"
        ".legend i{display:inline-block;width:10px;height:10px;"
        "margin-right:3px}"
        ".summary td{padding-right:20px}.help{color:#777}"
        ".up{color:#2a7}.down{color:#c33}.retrying{color:#c80}"
        ".muted{color:#777}"
        "h3{font-size:1em;margin:1.2em 0 .3em}"
        "svg.hist{max-width:100%;height:auto}"
        ".cols{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
        "td.t,td.when{white-space:nowrap}"
        "@media print{body{margin:0;font-size:10pt;color:#000}"
        "table{font-size:8pt}th,td{padding:2px 3px}code{font-size:7.5pt}"
        ".bar{width:70px}svg.hist{width:100%}"
        "td.u{min-width:6em}td.t{white-space:normal}"
        "a,a.route,th a{color:#000;text-decoration:none}"
        "th.sorted{background:none}h2{break-after:avoid}"
        "tr,svg,h3{break-inside:avoid}.noprint{display:none}"
        "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}"
        "@page{margin:12mm}"
        "</style></head><body>\n");
}
