/*
 * rp_timeline.h: the timeline of one request, as a small state machine.
 *
 * httpd runs most phases as "first module to return OK wins" hooks, so a
 * hook at the end of a phase may never run.  mod_reqperf therefore only
 * observes the *start* of each phase (APR_HOOK_REALLY_FIRST hooks) and
 * charges the time since the previous observation to the phase that was
 * running.  Durations accumulate, so a phase entered twice (an internal
 * redirect runs translate..handler again) is charged both times, and the
 * sum of the phases never exceeds the request's total.
 *
 * A request can also end before its log hooks run (rp_timeline_end):
 * mod_http2 runs a finished stream's log hooks when it releases the
 * stream, which on a busy connection can wait for another stream.  That
 * wait belongs to no phase and not to the total.
 *
 * All times are microseconds from CLOCK_MONOTONIC.  No allocation, no
 * locks: one timeline belongs to one request and one thread.
 */
#ifndef RP_TIMELINE_H
#define RP_TIMELINE_H

#include <stddef.h>
#include <stdint.h>
#include "rp_phase.h"

typedef struct {
    int64_t begin_us;            /* the request started arriving */
    int64_t current_start_us;    /* when `current` was entered */
    int current;                 /* phase being charged, or RP_PHASE_NONE */
    uint32_t ran;                /* bit (1 << phase) for each phase seen */
    int ended;                   /* rp_timeline_end'ed, no enter since */
    int64_t ended_us;            /* when */
    int64_t excluded_us;         /* from ends to the next enter */
    int64_t dur_us[RP_PHASE_COUNT];
} rp_timeline_t;

/* Monotonic clock in microseconds (vDSO: no system call on Linux). */
int64_t rp_now_us(void);

/* Start a timeline at begin_us, charging time to `first` (RP_PHASE_NONE
 * to charge nothing until the next rp_timeline_enter). */
void rp_timeline_begin(rp_timeline_t *tl, int64_t begin_us, int first);

/* Close the running phase at now_us and start charging `phase`
 * (RP_PHASE_NONE: a gap that belongs to no phase, such as the time the
 * core spends writing the response after the handler's last byte). */
void rp_timeline_enter(rp_timeline_t *tl, int phase, int64_t now_us);

/* The request is complete at now_us: the running phase ends, and until
 * the next rp_timeline_enter time counts neither in a phase nor in the
 * total.  A second end before that enter changes nothing. */
void rp_timeline_end(rp_timeline_t *tl, int64_t now_us);

/* The first body byte passed: ttfb = handler time charged so far. */
void rp_timeline_first_byte(rp_timeline_t *tl, int64_t now_us);

/* Whether a phase was seen, and its duration including a running one. */
int rp_timeline_ran(const rp_timeline_t *tl, int phase);
int64_t rp_timeline_phase_us(const rp_timeline_t *tl, int phase,
                             int64_t now_us);
int64_t rp_timeline_total_us(const rp_timeline_t *tl, int64_t now_us);

/* "read=12 post_read=3 ... ttfb=300120": every phase seen, in order.
 * Returns the length written (always NUL-terminated when outsz > 0);
 * RP_TIMELINE_NOTES_MAX bytes always hold all of it. */
#define RP_FMT_UINT_MAX 20                 /* digits of UINT64_MAX */
#define RP_TIMELINE_NOTES_MAX \
    (RP_PHASE_COUNT * (16 + 1 + RP_FMT_UINT_MAX + 1) + 1)
/* v in decimal into out (RP_FMT_UINT_MAX bytes of room, not
 * terminated); returns the number of digits. */
size_t rp_fmt_uint(char *out, uint64_t v);

/* Every phase's duration by now_us (rp_timeline_phase_us), -1 for the
 * phases that did not run. */
void rp_timeline_durations(const rp_timeline_t *tl, int64_t now_us,
                           int64_t *out);

size_t rp_timeline_format_notes(const rp_timeline_t *tl, int64_t now_us,
                                char *out, size_t outsz);

/* W3C Server-Timing value for the phases finished by now_us (the running
 * phase is left out), then "total": "read;dur=0.012, ..., total;dur=1.500". */
size_t rp_timeline_format_server_timing(const rp_timeline_t *tl,
                                        int64_t now_us,
                                        char *out, size_t outsz);

#endif
