/*
 * rp_http.h: the header grammars the cache reads (RFC 9110, 9111, 6265).
 *
 * Pure parsers: each turns a header value into facts (Cache-Control
 * directives, a date, Vary names, cookie names, tags) and decides nothing
 * about caching; rp_rules.h does, from these facts. When a value does not
 * follow the grammar the parser says so (invalid, -1), so the rules can lean
 * towards not caching. No allocation per input byte, every scan bounded by
 * the value's length.
 */
#ifndef RP_HTTP_H
#define RP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#include "rp_entry.h"   /* RP_ENTRY_MAX_TAGS, RP_ENTRY_MAX_TAG_LEN */

/* Longest freshness we believe: ten years (365-day years), in seconds. */
#define RP_MAX_FRESHNESS_S   (10LL * 365 * 24 * 3600)
/* Cache-Control directives read; a longer header is invalid (not storable). */
#define RP_CC_MAX_DIRECTIVES 64
/* Distinct names a response Vary may list and still be cached. */
#define RP_VARY_MAX_NAMES    16
/* Cookie pieces examined; a longer Cookie header counts as personal. */
#define RP_COOKIE_MAX_PIECES 200

/* A piece of a header value: a name, a tag (not NUL-terminated). Not
 * stats/'s rp_span_t, which is a regex group's offsets. */
typedef struct {
    const char *s;
    size_t len;
} rp_substr_t;

typedef struct {
    unsigned no_store:1, no_cache:1, private_:1, public_:1, must_revalidate:1;
    unsigned invalid:1; /* not the grammar, or too long: read as "do not store" */
    int64_t max_age;    /* seconds, -1 = absent */
    int64_t s_maxage;   /* seconds, -1 = absent */
    int64_t stale_while_revalidate;     /* seconds, -1 = absent (RFC 5861) */
    int64_t stale_if_error;             /* seconds, -1 = absent (RFC 5861) */
} rp_cc_t;

/*
 * Parses a Cache-Control (or Pragma) value; NULL is fine. Comma-separated
 * directives, case-insensitive names, optional "=value" where the value may be a
 * quoted string (commas inside quotes do not split). no-cache="x" and
 * private="x" count as plain no-cache / private. An invalid or negative max-age
 * or s-maxage counts as 0; a repeated one keeps the smallest value; huge values
 * clamp to RP_MAX_FRESHNESS_S.
 * Fails closed: a directive name that is not a token, an unterminated quoted
 * string, anything but spaces between a directive and the next comma, or more
 * than RP_CC_MAX_DIRECTIVES directives set cc->invalid, and every directive is
 * still read (so "private" is never lost behind junk or a long list).
 */
void rp_cc_parse(const char *value, rp_cc_t *cc);

/*
 * IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850
 * ("Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years 70..99 are 19xx, 00..69
 * 20xx) and asctime ("Sun Nov  6 08:49:37 1994") to seconds since the epoch.
 * Leading and trailing spaces and tabs are allowed. -1 when invalid (wrong
 * shape, unknown day or month name, impossible date or time). A valid date
 * before 1970 gives 0: it is in the past, which is all a cache needs to know.
 */
int64_t rp_http_date_parse(const char *s);

/* An Age value (RFC 9111 5.1: delta-seconds) in seconds, clamped to
 * RP_MAX_FRESHNESS_S; 0 for NULL or anything that is not digits. */
int64_t rp_age_parse(const char *value);

/*
 * Response Vary value to lowercased, deduplicated, sorted names, stored in
 * *names as a NULL-terminated array from p (NULL when the count is 0). Returns
 * the count (0 for NULL or an empty list), -1 for "*", for an item that is not a
 * token, or for more than RP_VARY_MAX_NAMES distinct names: do not cache.
 */
int rp_vary_parse(apr_pool_t *p, const char *vary, const char ***names);

/*
 * The same reading in steps, for a key that grows from several lists (the
 * response's Vary, then the server's and the index's): reading "a, b" then
 * "c" is reading "a, b, c". Start with rp_vary_init(); rp_vary_read() adds a
 * value's names (NULL adds none) and stops for good at the first "*", item
 * that is not a token, or name beyond RP_VARY_MAX_NAMES, saying which in rc.
 * The names point into the values read, which must outlive v.
 */
typedef enum {
    RP_VARY_OK = 0,
    RP_VARY_STAR,                       /* "*": varies on everything */
    RP_VARY_INVALID,                    /* an item that is not a token */
    RP_VARY_TOO_MANY                    /* more than RP_VARY_MAX_NAMES names */
} rp_vary_rc_t;

typedef struct {
    rp_substr_t names[RP_VARY_MAX_NAMES];   /* distinct, as spelled first */
    int n;
    int has_private;                    /* Cookie or Authorization named before any stop */
    rp_vary_rc_t rc;
} rp_vary_t;

void rp_vary_init(rp_vary_t *v);
void rp_vary_read(rp_vary_t *v, const char *vary);

/* What rp_vary_parse() returns for the values read into v. */
int rp_vary_names(apr_pool_t *p, const rp_vary_t *v, const char ***names);

/*
 * Whether a Connection value names a header: any token but the options a
 * proxy consumes itself (close, keep-alive, upgrade, te, http2-settings),
 * case-insensitively. A proxy drops the headers named before the backend sees
 * them. NULL -> 0.
 */
int rp_connection_names_a_header(const char *value);

/*
 * 1 when a Cookie header makes the request personal: any cookie whose name no
 * ignore pattern matches, or anything that is not RFC 6265's cookie-string,
 * since every framework reads the rest its own way (Python's SimpleCookie
 * finds "session" in "_ga=1 session=x", others split on ','): a piece without
 * '=', a name that is not a token, a value holding a space, a tab, '"' (but
 * around the whole value), ',', ';' or '\\', a byte outside 0x21..0x7e; or more
 * than RP_COOKIE_MAX_PIECES pieces. Pieces are separated by ';' with optional
 * spaces and tabs around it; empty pieces are skipped. NULL or empty -> 0.
 */
int rp_cookie_is_personal(const char *cookie_header, const char *const *ignore, int n_ignore);

/*
 * The same reading as rp_cookie_is_personal(), saying which cookies make the
 * request personal (for the advisor: "Cookie: _ga"): the count of cookies no
 * ignore pattern matches, their names stored (as spans into the header) in
 * names[0..max-1]; -1 when the header is not RFC 6265's cookie-string or has
 * more than RP_COOKIE_MAX_PIECES pieces (personal as a whole, no name). With
 * names NULL or max 0 it stops at the first such cookie. Personal exactly when
 * it returns anything but 0.
 */
int rp_cookie_personal_names(const char *cookie_header, const char *const *ignore,
                             int n_ignore, rp_substr_t *names, int max);

/*
 * The values of the cookies in a Cookie header (quotes around one taken
 * off), at most max of them, in order, into vals (pointing into the
 * header); pieces without '=' are skipped.  Returns how many.
 */
int rp_cookie_values(const char *cookie_header, rp_substr_t *vals, int max);

/*
 * X-ReqPerf-Tags value to tags: separated by spaces, tabs and/or commas. Keeps at
 * most RP_ENTRY_MAX_TAGS distinct tags of 1..RP_ENTRY_MAX_TAG_LEN bytes in
 * 0x21..0x7e, in order of first appearance, as a NULL-terminated array from p in
 * *tags (NULL when none is kept). A repeated tag is kept once and is not counted
 * as dropped; every other tag not kept (bad byte, too long, beyond the limit) adds
 * one to *dropped (may be NULL). Never fails; returns the number kept.
 */
int rp_tags_parse(apr_pool_t *p, const char *header, const char ***tags, int *dropped);

/* What a tag may be, wherever one is given (X-ReqPerf-Tags, a purge): 1 to
 * RP_ENTRY_MAX_TAG_LEN bytes of 0x21..0x7e but ','. */
int rp_tag_ok(const char *tag, size_t len);

#endif /* RP_HTTP_H */
