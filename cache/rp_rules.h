/*
 * rp_rules.h: what may be stored and what may be served (an RFC 9111 subset).
 *
 * Pure functions over what rp_http.h's grammars read of the headers, so every
 * rule of SPEC.md's "Page cache" section has a unit test and a fuzz harness
 * without a running httpd; each decision is made here once. The glue
 * reads headers through rp_header_get_fn, so these rules never see request_rec.
 * When a header is malformed the rules lean towards not caching: a needless
 * backend request is cheap, a private page served to the wrong user is not.
 */
#ifndef RP_RULES_H
#define RP_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#include "rp_http.h"    /* the grammars the rules read: rp_cc_t, Vary, cookies */

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
    RP_NOSTORE_EXPIRED,
    RP_NOSTORE_CC_INVALID,          /* a Cache-Control we cannot read whole */
    RP_NOSTORE_AUTH,                /* the request was authenticated */
    RP_NOSTORE_INPUT_CHANGED,       /* the server changed a header the key names */
    RP_NOSTORE_INCOMPLETE,          /* the body is shorter or longer than announced */
    RP_NOSTORE_TOO_LARGE,           /* over ReqPerfCacheMaxSize (decided by the glue) */
    RP_NOSTORE_TAGS,                /* a tag that could not be kept: its purge would miss */
    RP_NOSTORE_STREAM               /* an event stream (decided by the glue) */
} rp_nostore_t;

typedef struct {
    int status;
    const char *cache_control;      /* all Cache-Control lines joined with ", "; NULL if none */
    const char *vary;               /* all Vary lines joined with ", "; NULL if none */
    int has_set_cookie;
    int has_content_range;
    const char *expires;
    const char *date;
    const char *pragma;             /* response Pragma: no-cache there counts too */
    int64_t age_s;                  /* the response's Age (an upstream cache held it) */
    /* Facts about the request that produced the response, from the glue. */
    int request_authenticated;      /* r->user was set, or a client certificate */
    int input_changed;              /* a keyed request header differs from what the client sent */
    int incomplete;                 /* Content-Length disagrees with the body */
    /*
     * Addition to the brief: ReqPerfCacheGrace in seconds (0 = none). It is what
     * "no grace possible" means: an entry with no freshness left is still worth
     * storing when a stale copy may be served during grace, unless the response
     * forbids serving it stale (must-revalidate, or s-maxage which implies
     * proxy-revalidate). Zero-initialised callers get "no grace".
     */
    int64_t grace_s;
    /* ReqPerfCacheStaleIfError in seconds (0 = none): like grace_s, a
     * response without freshness is still worth storing as a stand-in for
     * a failed backend. */
    int64_t stale_if_error_s;
} rp_response_info_t;

/*
 * How long after expiry a stored response may be served, from its own
 * Cache-Control and the configuration (RFC 5861): *grace_s from
 * stale-while-revalidate, else the configured grace; *sie_s from
 * stale-if-error, else the configured one. must-revalidate,
 * proxy-revalidate and s-maxage forbid serving it stale, except where the
 * response itself names stale-if-error (which RFC 5861 lets stand
 * "regardless of other freshness information"). Both clamp to
 * RP_MAX_FRESHNESS_S.
 */
void rp_stale_windows(const rp_cc_t *cc, int64_t conf_grace_s, int64_t conf_sie_s,
                      int64_t *grace_s, int64_t *sie_s);

/* What rp_response_verdict() read of a response, so that no caller reads
 * its headers again (the store filter needs Vary for the key and the stale
 * windows for the entry). */
typedef struct {
    rp_cc_t cc;                         /* its Cache-Control */
    rp_vary_t vary;                     /* its Vary (ri->vary), read whole */
    int64_t fresh_s;                    /* freshness left after its Age; 0 when
                                         * the checks stop before freshness */
    int64_t grace_s;                    /* rp_stale_windows() of cc and the */
    int64_t stale_if_error_s;           /* configured windows in ri */
} rp_response_facts_t;

/*
 * THE decision of whether a backend response may be stored; RP_NOSTORE_NONE when
 * it may. Checked in this order: the request was authenticated, a keyed request
 * header was changed on the way to the backend, partial content (206 or any
 * Content-Range), status (only 200 203 300 301 404 410), Set-Cookie,
 * Cache-Control private, no-store, no-cache (Pragma: no-cache too), an
 * unreadable Cache-Control, Vary "*", Vary naming Cookie or Authorization, a
 * Vary that cannot be parsed or names more than RP_VARY_MAX_NAMES headers (we
 * could not key on it: "vary-star" too), an incomplete body, then freshness:
 * what is left of rp_freshness_s() after the response's Age, where 0 with no
 * stale window (grace, stale-if-error) gives RP_NOSTORE_EXPIRED.
 * *facts (not NULL) gets every header's reading whatever the verdict, and
 * fresh_s whenever the checks reach freshness (0 otherwise). ri NULL counts
 * as "status".
 */
rp_nostore_t rp_response_verdict(const rp_response_info_t *ri, int64_t now_s,
                                 int64_t default_ttl_s, rp_response_facts_t *facts);

/* The same verdict, for callers that need only the freshness left (*fresh_s,
 * if not NULL; 0 when the checks stop before freshness). */
rp_nostore_t rp_response_storable(const rp_response_info_t *ri, int64_t now_s,
                                  int64_t default_ttl_s, int64_t *fresh_s);

/* "status", "set-cookie", "private", "no-store", "no-cache", "vary-star",
 * "vary-private", "partial", "expired", "cache-control", "auth",
 * "input-changed", "incomplete", "too-large", "tags", "stream"; "none" for RP_NOSTORE_NONE. */
const char *rp_nostore_name(rp_nostore_t why);

/*
 * Whether a response that may not be stored says something about the page for
 * everyone (so a short "pass" marker may spare the next visitors the fill
 * lock), rather than about this one request: never for an answer to the
 * client's own request (304, and every 4xx but 404 and 410: 401, 403, 412,
 * 416, 429 ...), nor when the request was authenticated or its inputs were
 * changed by the server. A visitor must never be able to make a page
 * uncacheable for everyone else.
 */
int rp_nostore_is_about_the_page(rp_nostore_t why, int status);

/* Case-insensitive header lookup supplied by the caller; NULL if absent. */
typedef const char *(*rp_header_get_fn)(void *baton, const char *name);

typedef enum {
    RP_BYPASS_NONE = 0,
    RP_BYPASS_METHOD,
    RP_BYPASS_AUTHORIZATION,            /* "auth": personal by authentication */
    RP_BYPASS_COOKIE,
    RP_BYPASS_NO_CACHE,
    RP_BYPASS_UNKEYED_HEADER,
    RP_BYPASS_RANGE,
    RP_BYPASS_BODY,
    RP_BYPASS_HOST
} rp_bypass_t;

typedef struct {
    const char *const *ignore_cookie;   /* ReqPerfCacheIgnoreCookie patterns */
    int n_ignore_cookie;
    const char *const *vary;            /* ReqPerfCacheVary header names */
    int n_vary;
} rp_request_rules_t;

/* Whether a request header name is one of the override headers below
 * spelled with '_' for '-' (X_Forwarded_Host). */
int rp_unkeyed_spelling(const char *name);

/* Whether name is one of the headers that tell a backend to build another
 * page without being part of the key (X-Forwarded-Host, X-Original-URL,
 * X-HTTP-Method-Override ...): rp_request_verdict() bypasses on them. */
int rp_override_header(const char *name);

/*
 * A request as the client sent it: its headers before any module (mod_headers,
 * mod_rewrite, mod_remoteip) changed them, plus what Apache decided of it.
 */
typedef struct {
    const char *method;
    rp_header_get_fn get;               /* the client's headers, by name */
    void *baton;
    const char *const *names;           /* every header name it carried, or NULL
                                           (then get() is asked for each one the
                                           rules look for) */
    int n_names;
    int authenticated;                  /* r->user set by any module, or a verified client certificate */
    const char *hostname;               /* Apache's normalised host (r->hostname); NULL when none */
    unsigned host_port;                 /* the port the Host named, 0 when none */
    unsigned default_port;              /* 80 for http, 443 for https */
} rp_request_t;

/*
 * WHOSE PAGE IT IS, and whether the cache may answer it: THE decision on a
 * request, checked in this order (the first that applies wins):
 *   METHOD            not GET or HEAD (case-sensitive; NULL counts as other),
 *                     or a GET asking to Upgrade (WebSocket, h2c): a tunnel;
 *   AUTHORIZATION     personal: Authorization or Proxy-Authorization sent, or
 *                     rq->authenticated;
 *   COOKIE            personal: a Cookie that rp_cookie_is_personal() says is;
 *   BODY              a GET or HEAD with a body (Content-Length other than 0,
 *                     or Transfer-Encoding): the backend reads it, the key
 *                     cannot;
 *   HOST              no Host, or a Host that is not exactly Apache's
 *                     normalised form of it (case, a trailing dot, a port
 *                     spelled otherwise, the scheme's default port named):
 *                     the backend sees the raw Host, so two spellings would
 *                     share an entry built for one of them;
 *   UNKEYED_HEADER    an override header (rp_override_header()) not listed in
 *                     rules->vary; any header name holding '_' (backends fold
 *                     X_Lang into X-Lang, CGI and WSGI into HTTP_X_LANG);
 *                     Connection naming a header (a proxy drops those, the
 *                     key would keep them);
 *   RANGE             Range or If-Range;
 *   NO_CACHE          Cache-Control or Pragma no-cache: *refresh = 1 (the
 *                     caller fetches and replaces the entry); also an
 *                     unreadable request Cache-Control, with *refresh = 0.
 * *refresh (may be NULL) is 0 otherwise. rules may be NULL.
 */
rp_bypass_t rp_request_verdict(const rp_request_t *rq, const rp_request_rules_t *rules,
                               int *refresh);

/* "method", "auth", "cookie", "no-cache", "unkeyed-header", "range", "body",
 * "host"; "none" for RP_BYPASS_NONE: the word after BYPASS in X-Cache. */
const char *rp_bypass_name(rp_bypass_t why);

#endif /* RP_RULES_H */
