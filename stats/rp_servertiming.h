/*
 * rp_servertiming.h: reading a backend's W3C Server-Timing header.
 *
 * Frameworks say where their time went in a standard header
 * (`db;dur=53.2, tpl;dur=12;desc="templates"`): a comma-separated list of
 * metrics, each a token name with optional `;param=value` parts, of which
 * `dur` (milliseconds, a decimal number) and `desc` are defined.  This
 * file turns one header field value into metrics, one at a time, so the
 * caller records them without allocating.
 *
 * The rules, strict where the statistics could be poisoned and lenient
 * where browsers are:
 *  - a name is an RFC 9110 token, lower-cased and cut to RP_ST_NAME_MAX
 *    bytes (Rails sends start_processing.action_controller, 34), so only
 *    ASCII letters, digits and !#$%&'*+-.^_`|~ ever reach the status
 *    page;
 *  - `dur` is digits with an optional fraction (`12`, `12.5`, `.5`),
 *    plain or quoted, at most RP_ST_DUR_MAX_MS, rounded to microseconds;
 *    the first `dur` wins, as in browsers; a metric without one is an
 *    occurrence of 0 us (the statistics count it);
 *  - `desc` and unknown parameters are skipped (their syntax is checked:
 *    a quoted string must end);
 *  - anything else (`;;;`, `db;dur=abc`, `dur=-5`, `1e400`,
 *    a NUL or a byte outside the grammar) makes that one list
 *    element malformed: it is skipped up to the next comma outside a
 *    quoted string and counted, and the rest of the list is still read.
 *    Empty elements (`a, , b`) are allowed by the list syntax and ignored.
 *
 * Pure C, no httpd, no allocation; linear in the input.
 */
#ifndef RP_SERVERTIMING_H
#define RP_SERVERTIMING_H

#include <stddef.h>
#include <stdint.h>

#define RP_ST_NAME_MAX 32                          /* bytes, SPEC */
#define RP_ST_DUR_MAX_MS 1000000000ULL             /* 11.6 days */

typedef struct {
    char name[RP_ST_NAME_MAX + 1];                 /* lower-case, NUL-ended */
    size_t name_len;
    int has_dur;
    uint64_t dur_us;                               /* 0 when !has_dur */
} rp_st_metric_t;

typedef struct {
    const char *p;
    const char *end;
} rp_st_cursor_t;

void rp_st_init(rp_st_cursor_t *c, const char *value, size_t len);

/* The next well-formed metric into *m: 1, or 0 at the end of the value.
 * Each malformed element skipped on the way adds one to *malformed. */
int rp_st_next(rp_st_cursor_t *c, rp_st_metric_t *m, uint32_t *malformed);

/* Whether s (len bytes) is a metric name as rp_st_next returns them. */
int rp_st_valid_name(const char *s, size_t len);

#endif
