/*
 * rp_rules.h: what may be stored and what may be served (an RFC 9111 subset).
 *
 * Pure functions over header values, so every rule of SPEC.md's "Page cache"
 * section has a unit test and a fuzz harness without a running httpd. The glue
 * reads headers through rp_header_get_fn, so these rules never see request_rec.
 * When a header is malformed the rules lean towards not caching: a needless
 * backend request is cheap, a private page served to the wrong user is not.
 */
#ifndef RP_RULES_H
#define RP_RULES_H

#include <stdint.h>
#include <apr_pools.h>

#include "rp_entry.h"   /* RP_ENTRY_MAX_TAGS, RP_ENTRY_MAX_TAG_LEN */

/* Longest freshness we believe: ten years (365-day years), in seconds. */
#define RP_MAX_FRESHNESS_S   (10LL * 365 * 24 * 3600)
/* Cache-Control directives looked at; the rest are ignored. */
#define RP_CC_MAX_DIRECTIVES 64
/* Distinct names a response Vary may list and still be cached. */
#define RP_VARY_MAX_NAMES    16
/* Cookie pieces examined; a longer Cookie header counts as personal. */
#define RP_COOKIE_MAX_PIECES 200

typedef struct {
    unsigned no_store:1, no_cache:1, private_:1, public_:1, must_revalidate:1;
    int64_t max_age;    /* seconds, -1 = absent */
    int64_t s_maxage;   /* seconds, -1 = absent */
} rp_cc_t;

/*
 * Parses a Cache-Control (or Pragma) value; NULL is fine. Comma-separated
 * directives, case-insensitive names, optional "=value" where the value may be a
 * quoted string (commas inside quotes do not split). no-cache="x" and
 * private="x" count as plain no-cache / private. An invalid or negative max-age
 * or s-maxage counts as 0; a repeated one keeps the smallest value; huge values
 * clamp to RP_MAX_FRESHNESS_S. Stops after RP_CC_MAX_DIRECTIVES directives.
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

/*
 * Freshness lifetime in seconds: s-maxage, else max-age, else Expires minus Date
 * (minus now when Date is missing or invalid; an invalid Expires such as "0"
 * means already expired), else default_ttl_s. Never negative, never above
 * RP_MAX_FRESHNESS_S. cc may be NULL.
 */
int64_t rp_freshness_s(const rp_cc_t *cc, const char *expires, const char *date,
                       int64_t now_s, int64_t default_ttl_s);

typedef enum {
    RP_NOSTORE_NONE = 0,
    RP_NOSTORE_STATUS,
    RP_NOSTORE_SET_COOKIE,
    RP_NOSTORE_PRIVATE,
    RP_NOSTORE_NO_STORE,
    RP_NOSTORE_NO_CACHE,
    RP_NOSTORE_VARY_STAR,
    RP_NOSTORE_VARY_PRIVATE,
    RP_NOSTORE_PARTIAL,
    RP_NOSTORE_EXPIRED
} rp_nostore_t;

typedef struct {
    int status;
    const char *cache_control;      /* all Cache-Control lines joined with ", "; NULL if none */
    const char *vary;               /* all Vary lines joined with ", "; NULL if none */
    int has_set_cookie;
    int has_content_range;
    const char *expires;
    const char *date;
    /*
     * Addition to the brief: ReqPerfCacheGrace in seconds (0 = none). It is what
     * "no grace possible" means: an entry with no freshness left is still worth
     * storing when a stale copy may be served during grace, unless the response
     * forbids serving it stale (must-revalidate, or s-maxage which implies
     * proxy-revalidate). Zero-initialised callers get "no grace".
     */
    int64_t grace_s;
} rp_response_info_t;

/*
 * Decides whether a backend response may be stored; RP_NOSTORE_NONE when it may.
 * Checked in this order: partial content (206 or any Content-Range), status (only
 * 200 203 300 301 404 410), Set-Cookie, Cache-Control private, no-store, no-cache,
 * Vary "*" (also a Vary that cannot be parsed or names more than
 * RP_VARY_MAX_NAMES headers: we could not key on it), Vary naming Cookie or
 * Authorization, then freshness: *fresh_s (if not NULL) gets rp_freshness_s()
 * whenever the checks reach it (0 otherwise), and 0 with no grace possible
 * gives RP_NOSTORE_EXPIRED.
 */
rp_nostore_t rp_response_storable(const rp_response_info_t *ri, int64_t now_s,
                                  int64_t default_ttl_s, int64_t *fresh_s);

/* "status", "set-cookie", "private", "no-store", "no-cache", "vary-star",
 * "vary-private", "partial", "expired"; "none" for RP_NOSTORE_NONE. */
const char *rp_nostore_name(rp_nostore_t why);

/*
 * Response Vary value to lowercased, deduplicated, sorted names, stored in
 * *names as a NULL-terminated array from p (NULL when the count is 0). Returns
 * the count (0 for NULL or an empty list), -1 for "*", for an item that is not a
 * token, or for more than RP_VARY_MAX_NAMES distinct names: do not cache.
 */
int rp_vary_parse(apr_pool_t *p, const char *vary, const char ***names);

/* Case-insensitive header lookup supplied by the caller; NULL if absent. */
typedef const char *(*rp_header_get_fn)(void *baton, const char *name);

typedef enum {
    RP_BYPASS_NONE = 0,
    RP_BYPASS_METHOD,
    RP_BYPASS_AUTHORIZATION,
    RP_BYPASS_COOKIE,
    RP_BYPASS_NO_CACHE,
    RP_BYPASS_UNKEYED_HEADER,
    RP_BYPASS_RANGE
} rp_bypass_t;

typedef struct {
    const char *const *ignore_cookie;   /* ReqPerfCacheIgnoreCookie patterns */
    int n_ignore_cookie;
    const char *const *vary;            /* ReqPerfCacheVary header names */
    int n_vary;
} rp_request_rules_t;

/* Whether a request header name is one of the unkeyed headers spelled
 * with '_' for '-' (X_Forwarded_Host): some backends fold the two, so such
 * a request is treated like one carrying the header itself. */
int rp_unkeyed_spelling(const char *name);

/*
 * Whether a request must bypass the cache, checked in this order: method not
 * GET or HEAD (case-sensitive; NULL counts as other) -> METHOD; Authorization ->
 * AUTHORIZATION; X-Forwarded-Host, X-Forwarded-Proto, Forwarded, X-Original-URL
 * or X-Rewrite-URL present and not in rules->vary -> UNKEYED_HEADER; a personal
 * Cookie (rp_cookie_is_personal) -> COOKIE; Cache-Control: no-cache or
 * Pragma: no-cache -> NO_CACHE with *refresh = 1 (the caller fetches from the
 * backend and refreshes the entry); Range -> RANGE. *refresh (may be NULL) is 0
 * otherwise. rules may be NULL (no ignored cookies, no extra vary headers).
 */
rp_bypass_t rp_request_check(const char *method, rp_header_get_fn get, void *baton,
                             const rp_request_rules_t *rules, int *refresh);

/* "method", "authorization", "cookie", "no-cache", "unkeyed-header", "range";
 * "none" for RP_BYPASS_NONE. */
const char *rp_bypass_name(rp_bypass_t why);

/*
 * 1 when a Cookie header makes the request personal: any cookie whose name no
 * ignore pattern matches, any malformed piece (no '=', empty name), or more than
 * RP_COOKIE_MAX_PIECES non-empty pieces. Pieces are separated by ';' or ',' with
 * optional spaces and tabs; empty pieces are skipped. NULL or empty header -> 0.
 */
int rp_cookie_is_personal(const char *cookie_header, const char *const *ignore, int n_ignore);

/*
 * X-ReqPerf-Tags value to tags: separated by spaces, tabs and/or commas. Keeps at
 * most RP_ENTRY_MAX_TAGS distinct tags of 1..RP_ENTRY_MAX_TAG_LEN bytes in
 * 0x21..0x7e, in order of first appearance, as a NULL-terminated array from p in
 * *tags (NULL when none is kept). A repeated tag is kept once and is not counted
 * as dropped; every other tag not kept (bad byte, too long, beyond the limit) adds
 * one to *dropped (may be NULL). Never fails; returns the number kept.
 */
int rp_tags_parse(apr_pool_t *p, const char *header, const char ***tags, int *dropped);

#endif /* RP_RULES_H */
