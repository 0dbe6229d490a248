/*
 * rp_timeline.c: see rp_timeline.h.  Kept free of httpd headers so the
 * accounting rules are unit-tested on their own.
 */
#include <stdint.h>
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
    if (tl->ended) {
        if (now_us > tl->ended_us) {
            tl->excluded_us += now_us - tl->ended_us;
        }
        tl->ended = 0;
    }
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

void rp_timeline_end(rp_timeline_t *tl, int64_t now_us)
{
    if (tl->ended) {
        return;
    }
    rp_timeline_enter(tl, RP_PHASE_NONE, now_us);
    /* never before the last time seen, so the gap is never negative */
    tl->ended = 1;
    tl->ended_us = tl->current_start_us;
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
    int64_t t;

    if (tl->ended && now_us > tl->ended_us) {
        now_us = tl->ended_us;
    }
    t = now_us - tl->begin_us - tl->excluded_us;
    return t > 0 ? t : 0;
}

/* Text into a moving window, never past out[outsz - 1], always
 * terminated; the new position.  These run for every request (the notes
 * and Server-Timing), where snprintf cost more than the timing itself. */
static size_t put_str(char *out, size_t outsz, size_t pos, const char *s)
{
    while (*s != '\0' && pos + 1 < outsz) {
        out[pos++] = *s++;
    }
    out[pos] = '\0';
    return pos;
}

/* v in decimal, at least min_digits digits (zero-padded); v >= 0 */
static size_t put_uint(char *out, size_t outsz, size_t pos, int64_t v,
                       int min_digits)
{
    char tmp[24];
    uint64_t u = v > 0 ? (uint64_t)v : 0;
    int n = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0 || n < min_digits);
    while (n > 0 && pos + 1 < outsz) {
        out[pos++] = tmp[--n];
    }
    out[pos] = '\0';
    return pos;
}

/* ", name;dur=ms.uuu" (without the comma first) */
static size_t put_timing(char *out, size_t outsz, size_t pos,
                         const char *name, int64_t us)
{
    if (us < 0) {
        us = 0;
    }
    if (pos > 0) {
        pos = put_str(out, outsz, pos, ", ");
    }
    pos = put_str(out, outsz, pos, name);
    pos = put_str(out, outsz, pos, ";dur=");
    pos = put_uint(out, outsz, pos, us / 1000, 1);
    pos = put_str(out, outsz, pos, ".");
    return put_uint(out, outsz, pos, us % 1000, 3);
}

/* The phase names with their lengths, for the notes: they are written
 * for every request, so every byte counts. */
static const struct {
    char s[16];                        /* padded: copied 16 bytes at once */
    size_t len;
} note_names[RP_PHASE_COUNT] = {
#define RP_PHASE_NOTE(id, name) { name, sizeof(name) - 1 },
    RP_PHASES(RP_PHASE_NOTE)
#undef RP_PHASE_NOTE
};

#define RP_PHASE_CHECK(id, name) \
    _Static_assert(sizeof(name) <= 17, "phase name longer than NOTES_MAX allows");
RP_PHASES(RP_PHASE_CHECK)
#undef RP_PHASE_CHECK

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

size_t rp_fmt_uint(char *out, uint64_t v)
{
    uint64_t t = v;
    size_t n = 1, i;

    while (t >= 10) {
        t /= 10;
        n++;
    }
    /* from the end, two digits at a time */
    i = n;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        out[--i] = digit_pairs[d + 1];
        out[--i] = digit_pairs[d];
    }
    if (v >= 10) {
        out[--i] = digit_pairs[v * 2 + 1];
        out[--i] = digit_pairs[v * 2];
    }
    else {
        out[--i] = (char)('0' + v);
    }
    return n;
}

void rp_timeline_durations(const rp_timeline_t *tl, int64_t now_us,
                           int64_t *out)
{
    int i;

    for (i = 0; i < RP_PHASE_COUNT; i++) {
        out[i] = (tl->ran & (1u << i)) ? tl->dur_us[i] : -1;
    }
    if (tl->current >= 0 && tl->current < RP_PHASE_COUNT
        && now_us > tl->current_start_us) {
        out[tl->current] += now_us - tl->current_start_us;
    }
}

size_t rp_timeline_format_notes(const rp_timeline_t *tl, int64_t now_us,
                                char *out, size_t outsz)
{
    char buf[RP_TIMELINE_NOTES_MAX];
    size_t pos = 0;
    uint32_t ran = tl->ran;
    int i;

    if (outsz == 0) {
        return 0;
    }
    /* into a buffer that always has room, then one bounded copy out */
    for (i = 0; ran != 0 && i < RP_PHASE_COUNT; i++) {
        int64_t d;
        if (!(ran & (1u << i))) {
            continue;
        }
        ran &= ~(1u << i);
        d = tl->dur_us[i];
        if (tl->current == i && now_us > tl->current_start_us) {
            d += now_us - tl->current_start_us;
        }
        if (pos > 0) {
            buf[pos++] = ' ';
        }
        /* the whole padded name (the buffer has room for it, see
         * RP_TIMELINE_NOTES_MAX): a fixed-size copy, no call */
        memcpy(buf + pos, note_names[i].s, sizeof(note_names[i].s));
        pos += note_names[i].len;
        buf[pos++] = '=';
        pos += rp_fmt_uint(buf + pos, d > 0 ? (uint64_t)d : 0);
    }
    if (pos >= outsz) {
        pos = outsz - 1;
    }
    memcpy(out, buf, pos);
    out[pos] = '\0';
    return pos;
}

size_t rp_timeline_format_server_timing(const rp_timeline_t *tl,
                                        int64_t now_us,
                                        char *out, size_t outsz)
{
    size_t pos = 0;
    int i;

    if (outsz == 0) {
        return 0;
    }
    out[0] = '\0';
    for (i = 0; i < RP_PHASE_COUNT; i++) {
        if (!rp_timeline_ran(tl, i) || i == tl->current) {
            continue;
        }
        pos = put_timing(out, outsz, pos, rp_phase_name(i),
                         rp_timeline_phase_us(tl, i, now_us));
    }
    pos = put_timing(out, outsz, pos, "total",
                     rp_timeline_total_us(tl, now_us));
    return pos;
}
