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

/* The picture's size and the span of octaves it shows. */
#define HIST_W 760
#define HIST_H 200
#define HIST_LEFT 40
#define HIST_BOTTOM 30
#define HIST_RIGHT 10

typedef struct {
    int lo, hi;                            /* octaves shown */
    double bw;                             /* a bar's width */
} hist_axis_t;

static int hist_x(const hist_axis_t *ax, double octave)
{
    return (int)(HIST_LEFT + (octave - ax->lo) * ax->bw);
}

/* One bar per octave with requests; its title the count and bounds. */
static void hist_bars(rp_buf_t *b, const uint64_t *oct, uint64_t top,
                      const hist_axis_t *ax)
{
    int k;

    for (k = ax->lo; k <= ax->hi; k++) {
        double bh = top ? (double)oct[k] / (double)top
                          * (HIST_H - HIST_BOTTOM - 20) : 0;
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
                      HIST_LEFT + (k - ax->lo) * ax->bw + 1,
                      HIST_H - HIST_BOTTOM - bh, ax->bw - 2, bh,
                      (unsigned long long)oct[k],
                      (unsigned long long)(1ULL << k),
                      (unsigned long long)((2ULL << k) - 1));
    }
}

/* The time axis: 10µs, 100µs ... where they fall in the span. */
static void hist_ticks(rp_buf_t *b, const hist_axis_t *ax)
{
    static const struct { uint64_t us; const char *label; } ticks[] = {
        { 10, "10µs" }, { 100, "100µs" }, { 1000, "1ms" },
        { 10000, "10ms" }, { 100000, "100ms" }, { 1000000, "1s" },
        { 10000000, "10s" }, { 100000000, "100s" }
    };
    int k, x;

    for (k = 0; k < (int)(sizeof(ticks) / sizeof(ticks[0])); k++) {
        double l = log2_of(ticks[k].us);
        if (l < ax->lo || l > ax->hi + 1) {
            continue;
        }
        x = hist_x(ax, l);
        rp_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                      "stroke=\"#999\"/><text x=\"%d\" y=\"%d\" "
                      "font-size=\"11\" text-anchor=\"middle\" "
                      "fill=\"#333\">%s</text>", x, HIST_H - HIST_BOTTOM, x,
                      HIST_H - HIST_BOTTOM + 5, x, HIST_H - HIST_BOTTOM + 18,
                      ticks[k].label);
    }
}

/* Dashed lines at p50, p95 and p99, each with its value (data-v). */
static void hist_marks(rp_buf_t *b, const rp_dist_t *d,
                       const hist_axis_t *ax)
{
    const struct { uint64_t v; const char *name; const char *color; } marks[3] = {
        { d->p50, "p50", "#2ca02c" }, { d->p95, "p95", "#ff7f0e" },
        { d->p99, "p99", "#d62728" }
    };
    int k, x;

    for (k = 0; k < 3; k++) {
        x = hist_x(ax, log2_of(marks[k].v));
        rp_buf_printf(b, "<g class=\"mark\" data-mark=\"%s\" data-v=\"%llu\">"
                      "<line x1=\"%d\" y1=\"12\" x2=\"%d\" y2=\"%d\" "
                      "stroke=\"%s\" stroke-dasharray=\"4 3\"/>"
                      "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\"%s>"
                      "%s</text></g>", marks[k].name,
                      (unsigned long long)marks[k].v, x, x,
                      HIST_H - HIST_BOTTOM, marks[k].color,
                      x > HIST_W - 40 ? x - 3 : x + 3, 12 + 11 * k,
                      marks[k].color,
                      /* near the right edge, the label goes to the left */
                      x > HIST_W - 40 ? " text-anchor=\"end\"" : "",
                      marks[k].name);
    }
}

/* Any set of buckets, its p50/p95/p99 marked; each bar's title says
 * how many requests, between which bounds (the route page's JSON gives
 * the same octaves, "histogram"). */
void rp_rep_html_histogram(rp_buf_t *b, const uint64_t *buckets,
                           const rp_dist_t *d)
{
    uint64_t oct[48], top = 0;
    hist_axis_t ax = { 48, -1, 0 };
    int k;

    rp_rep_histogram_octaves(buckets, oct);
    for (k = 0; k < 48; k++) {
        if (oct[k]) {
            ax.lo = k < ax.lo ? k : ax.lo;
            ax.hi = k;
            top = oct[k] > top ? oct[k] : top;
        }
    }
    rp_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                  "aria-label=\"latency histogram\" class=\"hist\">",
                  HIST_W, HIST_H, HIST_W, HIST_H);
    rp_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                  "fill=\"#fafafa\"/>", HIST_W, HIST_H);
    if (ax.hi < 0) {
        rp_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"14\" "
                      "fill=\"#777\">no requests yet</text></svg>",
                      HIST_W / 2 - 50, HIST_H / 2);
        return;
    }
    /* show at least 1 µs .. 1 s so pictures are comparable */
    ax.lo = 0;
    ax.hi = ax.hi < 20 ? 20 : ax.hi;
    ax.bw = (HIST_W - HIST_LEFT - HIST_RIGHT) / (double)(ax.hi - ax.lo + 1);
    hist_bars(b, oct, top, &ax);
    hist_ticks(b, &ax);
    hist_marks(b, d, &ax);
    rp_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                  "stroke=\"#333\"/></svg>", HIST_LEFT, HIST_H - HIST_BOTTOM,
                  HIST_W - HIST_RIGHT, HIST_H - HIST_BOTTOM);
}
