/*
 * rp_timeline.c: see rp_timeline.h.  Kept free of httpd headers so the
 * accounting rules are unit-tested on their own.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "rp_timeline.h"

int64_t rp_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void rp_timeline_begin(rp_timeline_t *tl, int64_t begin_us, int first)
{
    memset(tl, 0, sizeof(*tl));
    tl->begin_us = begin_us;
    tl->current = RP_PHASE_NONE;
    tl->current_start_us = begin_us;
    if (first >= 0 && first < RP_PHASE_COUNT) {
        tl->current = first;
        tl->ran |= 1u << first;
    }
}

void rp_timeline_enter(rp_timeline_t *tl, int phase, int64_t now_us)
{
    if (tl->current >= 0 && now_us > tl->current_start_us) {
        tl->dur_us[tl->current] += now_us - tl->current_start_us;
    }
    if (now_us > tl->current_start_us) {
        tl->current_start_us = now_us;
    }
    if (phase >= 0 && phase < RP_PHASE_COUNT) {
        tl->current = phase;
        tl->ran |= 1u << phase;
    }
    else {
        tl->current = RP_PHASE_NONE;
    }
}

void rp_timeline_first_byte(rp_timeline_t *tl, int64_t now_us)
{
    if (tl->ran & (1u << RP_PHASE_TTFB)) {
        return;
    }
    tl->dur_us[RP_PHASE_TTFB] = rp_timeline_phase_us(tl, RP_PHASE_HANDLER,
                                                     now_us);
    tl->ran |= 1u << RP_PHASE_TTFB;
}

int rp_timeline_ran(const rp_timeline_t *tl, int phase)
{
    return phase >= 0 && phase < RP_PHASE_COUNT && (tl->ran & (1u << phase));
}

int64_t rp_timeline_phase_us(const rp_timeline_t *tl, int phase,
                             int64_t now_us)
{
    int64_t d;

    if (phase < 0 || phase >= RP_PHASE_COUNT) {
        return 0;
    }
    d = tl->dur_us[phase];
    if (tl->current == phase && now_us > tl->current_start_us) {
        d += now_us - tl->current_start_us;
    }
    return d;
}

int64_t rp_timeline_total_us(const rp_timeline_t *tl, int64_t now_us)
{
    return now_us > tl->begin_us ? now_us - tl->begin_us : 0;
}

/* snprintf into a moving window, never past the end. */
static size_t append(char *out, size_t outsz, size_t pos, const char *fmt,
                     const char *name, long long a, long long b)
{
    int n;

    if (pos >= outsz) {
        return pos;
    }
    n = snprintf(out + pos, outsz - pos, fmt, name, a, b);
    if (n < 0) {
        return pos;
    }
    if ((size_t)n >= outsz - pos) {
        return outsz - 1;
    }
    return pos + (size_t)n;
}

size_t rp_timeline_format_notes(const rp_timeline_t *tl, int64_t now_us,
                                char *out, size_t outsz)
{
    size_t pos = 0;
    int i;

    if (outsz == 0) {
        return 0;
    }
    out[0] = '\0';
    for (i = 0; i < RP_PHASE_COUNT; i++) {
        if (!rp_timeline_ran(tl, i)) {
            continue;
        }
        pos = append(out, outsz, pos, pos ? " %s=%lld" : "%s=%lld",
                     rp_phase_name(i),
                     (long long)rp_timeline_phase_us(tl, i, now_us), 0);
    }
    return pos;
}

size_t rp_timeline_format_server_timing(const rp_timeline_t *tl,
                                        int64_t now_us,
                                        char *out, size_t outsz)
{
    size_t pos = 0;
    int64_t us;
    int i;

    if (outsz == 0) {
        return 0;
    }
    out[0] = '\0';
    for (i = 0; i < RP_PHASE_COUNT; i++) {
        if (!rp_timeline_ran(tl, i) || i == tl->current) {
            continue;
        }
        us = rp_timeline_phase_us(tl, i, now_us);
        pos = append(out, outsz, pos, pos ? ", %s;dur=%lld.%03lld"
                                          : "%s;dur=%lld.%03lld",
                     rp_phase_name(i), (long long)(us / 1000),
                     (long long)(us % 1000));
    }
    us = rp_timeline_total_us(tl, now_us);
    pos = append(out, outsz, pos, pos ? ", %s;dur=%lld.%03lld"
                                      : "%s;dur=%lld.%03lld",
                 "total", (long long)(us / 1000), (long long)(us % 1000));
    return pos;
}
