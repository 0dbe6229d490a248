/*
 * rp_html_hist.c: the latency histogram drawn as an SVG picture (no
 * script, no external asset), one bar per power of two
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_report_int.h"

static double log2_of(uint64_t v)
{
    double x = (double)(v ? v : 1), l = 0;

    while (x >= 2) {
        x /= 2;
        l += 1;
    }
    return l + (x - 1);                /* piecewise linear: good enough */
}

/* Log-linear buckets folded into powers of two: oct[k] counts the
 * values in [2^k, 2^(k+1)) (oct[0] also 0). */
void rp_rep_histogram_octaves(const uint64_t *buckets, uint64_t *oct)
{
    int k;

    memset(oct, 0, 48 * sizeof(*oct));
    for (k = 0; k < RP_HIST_BUCKETS; k++) {
        uint64_t lowv = rp_hist_bucket_low(k);
        int o = lowv ? 63 - __builtin_clzll(lowv) : 0;
        oct[o] += buckets[k];
    }
}

/* Any set of buckets, its p50/p95/p99 marked; each bar's title says
 * how many requests, between which bounds (the route page's JSON gives
 * the same octaves, "histogram"). */
void rp_rep_html_histogram(rp_buf_t *b, const uint64_t *buckets,
                              const rp_dist_t *d)
{
    uint64_t oct[48], top = 0;
    int lo = 48, hi = -1, k, x;
    const int w = 760, h = 200, left = 40, bottom = 30, right = 10;
    double span, bw;
    static const struct { uint64_t us; const char *label; } ticks[] = {
        { 10, "10µs" }, { 100, "100µs" }, { 1000, "1ms" },
        { 10000, "10ms" }, { 100000, "100ms" }, { 1000000, "1s" },
        { 10000000, "10s" }, { 100000000, "100s" }
    };
    struct { uint64_t v; const char *name; const char *color; } marks[3];

    rp_rep_histogram_octaves(buckets, oct);
    for (k = 0; k < 48; k++) {
        if (oct[k]) {
            if (k < lo) {
                lo = k;
            }
            hi = k;
            if (oct[k] > top) {
                top = oct[k];
            }
        }
    }
    rp_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                  "aria-label=\"latency histogram\" class=\"hist\">",
                  w, h, w, h);
    rp_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                  "fill=\"#fafafa\"/>", w, h);
    if (hi < 0) {
        rp_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"14\" "
                      "fill=\"#777\">no requests yet</text></svg>",
                      w / 2 - 50, h / 2);
        return;
    }
    /* show at least 1 µs .. 1 s so pictures are comparable */
    if (lo > 0) {
        lo = 0;
    }
    if (hi < 20) {
        hi = 20;
    }
    span = hi - lo + 1;
    bw = (w - left - right) / span;
    for (k = lo; k <= hi; k++) {
        double bh = top ? (double)oct[k] / (double)top * (h - bottom - 20) : 0;
        if (oct[k] == 0) {
            continue;
        }
        if (bh < 1) {
            bh = 1;
        }
        rp_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                      "height=\"%.1f\" fill=\"#4a7ab7\" class=\"bin\">"
                      "<title>%llu requests between %llu and %llu µs</title>"
                      "</rect>",
                      left + (k - lo) * bw + 1, h - bottom - bh, bw - 2, bh,
                      (unsigned long long)oct[k],
                      (unsigned long long)(1ULL << k),
                      (unsigned long long)((2ULL << k) - 1));
    }
    for (k = 0; k < (int)(sizeof(ticks) / sizeof(ticks[0])); k++) {
        double l = log2_of(ticks[k].us);
        if (l < lo || l > hi + 1) {
            continue;
        }
        x = (int)(left + (l - lo) * bw);
        rp_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                      "stroke=\"#999\"/><text x=\"%d\" y=\"%d\" "
                      "font-size=\"11\" text-anchor=\"middle\" "
                      "fill=\"#333\">%s</text>", x, h - bottom, x,
                      h - bottom + 5, x, h - bottom + 18, ticks[k].label);
    }
    marks[0].v = d->p50;
    marks[0].name = "p50";
    marks[0].color = "#2ca02c";
    marks[1].v = d->p95;
    marks[1].name = "p95";
    marks[1].color = "#ff7f0e";
    marks[2].v = d->p99;
    marks[2].name = "p99";
    marks[2].color = "#d62728";
    for (k = 0; k < 3; k++) {
        x = (int)(left + (log2_of(marks[k].v) - lo) * bw);
        rp_buf_printf(b, "<g class=\"mark\" data-mark=\"%s\" data-v=\"%llu\">"
                      "<line x1=\"%d\" y1=\"12\" x2=\"%d\" y2=\"%d\" "
                      "stroke=\"%s\" stroke-dasharray=\"4 3\"/>"
                      "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\"%s>"
                      "%s</text></g>", marks[k].name,
                      (unsigned long long)marks[k].v, x, x, h - bottom,
                      marks[k].color, x > w - 40 ? x - 3 : x + 3, 12 + 11 * k,
                      marks[k].color,
                      /* near the right edge, the label goes to the left */
                      x > w - 40 ? " text-anchor=\"end\"" : "",
                      marks[k].name);
    }
    rp_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                  "stroke=\"#333\"/></svg>", left, h - bottom, w - right,
                  h - bottom);
}

