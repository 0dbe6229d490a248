/*
 * rp_advice.h: the cache advisor's core: what caching would save, per route,
 * and what stands in the way.
 *
 * Under `ReqPerfCache Observe` the glue takes every decision the cache would
 * take with On (whose page it is, the key, whether the response may be
 * stored and for how long) and serves and stores nothing; under On it takes
 * them for real.  Either way it hands one rp_advice_sample_t per GET or HEAD
 * request to rp_advice_record(), which counts per route, by the tables
 * below:
 *
 *   requests   the GET and HEAD requests the cache considered;
 *   observed   of those, the ones it would look up (On: looked up);
 *   examined   backend responses judged for storing (Observe: every
 *              observed GET; On: the misses);
 *   storable   of those, the ones that could be stored;
 *   would_hit  lookups a cache would have answered (On: did answer);
 *   saved_us   the backend time those would-be hits cost (Observe: their
 *              own handler time; On: the route's average miss so far);
 *   reasons    what prevented a lookup, a store or a hit, by reason, with
 *              the cookie or parameter names that did it, bounded.
 *
 * Would-be hits come from a small record of recently seen keys per route: a
 * table of RP_ADVICE_KEYS 64-bit words (16 KiB), RP_ADVICE_WAYS-way set
 * associative, each word a 31-bit fingerprint of the key's hash, a "used"
 * bit and the second (Unix time) until which it is fresh.  A lookup is a
 * would-be hit when its key's word is there and fresh (and marks it used);
 * a storable response of a miss writes its word.  Room is made CLOCK-like:
 * an empty or expired word first, else the fresh one expiring soonest among
 * those not used since they were written (so a page in use outlives a
 * flood of URLs seen once), else the one expiring soonest (the others lose
 * their mark); pushing out a fresh key counts in evicted_fresh.  Its error:
 * a false hit needs two keys of one set with equal fingerprints, at most
 * RP_ADVICE_WAYS in 2^31 per lookup; a fresh key pushed out costs at most
 * one would-be hit (its next request misses, and writes it again), so
 * would_hit is within evicted_fresh of what an unbounded record counts.
 * Tables come from a fixed pool (rp_advice_pool_t, at most
 * RP_ADVICE_TABLES_MAX), claimed by a route on its first lookup; a route
 * that finds the pool empty has no would-be hits (its state says so).
 *
 * Nothing here knows httpd; the shared memory is handed in by rp_stats.c.
 *
 * Writer patterns: every counter is a relaxed __atomic add from any request
 * thread of any child.  A name slot is claimed FREE -> CLAIMING -> READY by
 * compare-and-swap (the claimer writes the name before publishing it); a key
 * table is claimed the same way by the route's state word, then zeroed and
 * published, and a thread that finds it CLAIMING passes by (no would-be
 * hit for that request).  Key words are replaced whole by compare-and-swap,
 * so a reader never sees half of one.
 */
#ifndef RP_ADVICE_H
#define RP_ADVICE_H

#include <stddef.h>
#include <stdint.h>

#define RP_ADVICE_WAYS 8
#define RP_ADVICE_SETS 256
#define RP_ADVICE_KEYS (RP_ADVICE_WAYS * RP_ADVICE_SETS)   /* 2048 */
#define RP_ADVICE_TABLES_MAX 256           /* 4 MiB of key tables at most */
#define RP_ADVICE_NAMES 8                  /* blocking names kept per route */
#define RP_ADVICE_NAME_MAX 32              /* bytes of a name kept */
#define RP_ADVICE_SAMPLE_NAMES 4           /* names one request may bring */

/* What one request can add, in the order of the counters (n[] below). */
#define RP_ADVICE_OUTCOMES(X) \
    X(REQUESTS, "requests", "GET and HEAD requests the cache considered") \
    X(OBSERVED, "observed", "requests the cache would look up (On: looked up)") \
    X(EXAMINED, "examined", "backend responses judged for storing") \
    X(STORABLE, "storable", "responses that could be stored") \
    X(WOULD_HIT, "would_hit", "lookups a cache would answer (On: answered)")

/*
 * X(id, json_name, side, phrase, with_name)
 *   side       REQ: about the request (shown as a share of the requests);
 *              RESP: about the backend's response (of the examined ones)
 *   phrase     plain words, for the status page
 *   with_name  the same with the name the reason was found with ("%s")
 */
#define RP_ADVICE_REASONS(X) \
    X(COOKIE, "cookie", REQ, "a cookie that makes the request personal", "Cookie: %s") \
    X(AUTHORIZATION, "authorization", REQ, "Authorization, or a signed-in user", NULL) \
    X(QUERY_BUSTING, "query-busting", REQ, "a tracking or cache-busting query parameter", "%s in the query") \
    X(CLIENT_NO_CACHE, "client-no-cache", REQ, "the client asked for a fresh copy (Cache-Control: no-cache, a reload)", NULL) \
    X(UNKEYED_HEADER, "unkeyed-header", REQ, "an override header (X-Forwarded-Host ...) not in ReqPerfCacheVary", NULL) \
    X(RANGE, "range", REQ, "a Range request", NULL) \
    X(BODY, "body", REQ, "a GET with a request body", NULL) \
    X(HOST, "host", REQ, "a Host header not in Apache's normalised form", NULL) \
    X(METHOD, "method", REQ, "Upgrade (a WebSocket)", NULL) \
    X(KEY, "key", REQ, "a URL too long, or with too many parameters, to key", NULL) \
    X(SET_COOKIE, "set-cookie", RESP, "Set-Cookie", "Set-Cookie: %s") \
    X(PRIVATE, "private", RESP, "Cache-Control: private", NULL) \
    X(NO_STORE, "no-store", RESP, "Cache-Control: no-store", NULL) \
    X(NO_CACHE, "no-cache", RESP, "Cache-Control: no-cache (or Pragma: no-cache)", NULL) \
    X(VARY_COOKIE, "vary-cookie", RESP, "Vary: Cookie", NULL) \
    X(VARY_AUTHORIZATION, "vary-authorization", RESP, "Vary: Authorization", NULL) \
    X(VARY_STAR, "vary-star", RESP, "Vary: * (or a Vary that cannot be keyed)", NULL) \
    X(STATUS, "status", RESP, "a status never stored (not 200, 203, 300, 301, 404, 410)", NULL) \
    X(PARTIAL, "partial", RESP, "partial content", NULL) \
    X(EXPIRED, "expired", RESP, "no freshness (max-age=0, an Expires in the past)", NULL) \
    X(CACHE_CONTROL, "cache-control", RESP, "a Cache-Control that cannot be read", NULL) \
    X(INPUT_CHANGED, "input-changed", RESP, "a keyed header changed on the way to the backend", NULL) \
    X(INCOMPLETE, "incomplete", RESP, "a body shorter or longer than its Content-Length", NULL) \
    X(TOO_LARGE, "too-large", RESP, "larger than ReqPerfCacheMaxSize", NULL) \
    X(TAGS, "tags", RESP, "X-ReqPerf-Tags that cannot be kept", NULL) \
    X(STREAM, "stream", RESP, "an event stream", NULL) \
    X(ERROR_DOCUMENT, "error-document", RESP, "an ErrorDocument page", NULL) \
    X(OTHER, "other", RESP, "something else (an error in the response, served where the cache setting differs)", NULL)

typedef enum {
#define RP_ADV_OUT_ENUM(id, json, help) RP_ADV_##id,
    RP_ADVICE_OUTCOMES(RP_ADV_OUT_ENUM)
#undef RP_ADV_OUT_ENUM
    RP_ADV_N_OUTCOMES
} rp_advice_outcome_t;

typedef enum {
    RP_ADV_R_NONE = -1,
#define RP_ADV_R_ENUM(id, json, side, phrase, named) RP_ADV_R_##id,
    RP_ADVICE_REASONS(RP_ADV_R_ENUM)
#undef RP_ADV_R_ENUM
    RP_ADV_N_REASONS
} rp_advice_reason_t;

typedef enum { RP_ADV_SIDE_REQ, RP_ADV_SIDE_RESP } rp_advice_side_t;

typedef struct {
    const char *json_name;
    rp_advice_side_t side;
    const char *phrase;
    const char *with_name;             /* NULL: no name is kept */
} rp_advice_reason_info_t;

extern const rp_advice_reason_info_t rp_advice_reason_info[RP_ADV_N_REASONS];
extern const char *const rp_advice_outcome_name[RP_ADV_N_OUTCOMES];
extern const char *const rp_advice_outcome_help[RP_ADV_N_OUTCOMES];

/* The counters of one route: outcomes first, then reasons. */
#define RP_ADV_COUNTERS (RP_ADV_N_OUTCOMES + RP_ADV_N_REASONS)
#define RP_ADV_REASON_IDX(r) (RP_ADV_N_OUTCOMES + (r))

#define RP_ADVICE_MODE_OBSERVE 1u
#define RP_ADVICE_MODE_ON 2u

enum { RP_ADV_FREE = 0, RP_ADV_CLAIMING = 1, RP_ADV_READY = 2,
       RP_ADV_NO_TABLE = 3 };

typedef struct {
    uint32_t state;                    /* RP_ADV_FREE ... READY */
    uint16_t reason;                   /* rp_advice_reason_t */
    uint16_t len;
    char name[RP_ADVICE_NAME_MAX];
    uint64_t count;
} rp_advice_name_t;

typedef struct {
    uint64_t w[RP_ADVICE_KEYS];        /* fingerprint, used, fresh until */
} rp_advice_keys_t;

/* One route's advice (one per route record, in the statistics segment). */
typedef struct {
    uint32_t modes;                    /* RP_ADVICE_MODE_* seen, or-ed */
    uint32_t table_state;              /* RP_ADV_FREE ... NO_TABLE */
    uint32_t table;                    /* index in the pool, once READY */
    uint32_t pad;
    uint64_t n[RP_ADV_COUNTERS];
    uint64_t saved_us;
    uint64_t evicted_fresh;            /* fresh keys pushed out */
    uint64_t backend_us, backend_n;    /* On: backend time of the misses */
    rp_advice_name_t names[RP_ADVICE_NAMES];
} rp_advice_rec_t;

/* The pool of key tables (shared memory), and how many are claimed. */
typedef struct {
    rp_advice_keys_t *tables;
    uint32_t n_tables;
    uint32_t *used;
} rp_advice_pool_t;

/* Key tables a segment with rec_cap route records gets. */
uint32_t rp_advice_tables_for(uint32_t rec_cap);

/* A name a reason was found with (not NUL-terminated). */
typedef struct {
    int reason;                        /* rp_advice_reason_t */
    const char *s;
    size_t len;
} rp_advice_found_t;

/* What one request told the advisor. */
typedef struct {
    unsigned mode;                     /* RP_ADVICE_MODE_OBSERVE or _ON */
    int lookup_reason;                 /* what kept it from being looked
                                          up, or RP_ADV_R_NONE */
    int looked_up;
    int served;                        /* On: the cache answered it */
    uint64_t key;                      /* rp_advice_key_hash(), 0: none */
    uint64_t reduced_key;              /* the key with the tracking query
                                          parameters ignored, 0: none */
    int examined;                      /* its response was judged */
    int store_reason;                  /* RP_ADV_R_NONE: storable */
    int64_t fresh_s;                   /* storable: fresh this long */
    int64_t lookup_s;                  /* Unix time of the lookup */
    int64_t judged_s;                  /* ... and of the judgement */
    uint64_t backend_us;               /* its handler time */
    rp_advice_found_t found[RP_ADVICE_SAMPLE_NAMES];
    int n_found;
} rp_advice_sample_t;

void rp_advice_sample_init(rp_advice_sample_t *s, unsigned mode);
/* Add a name to a sample (ignored past RP_ADVICE_SAMPLE_NAMES). */
void rp_advice_sample_name(rp_advice_sample_t *s, int reason, const char *name,
                           size_t len);

/*
 * The cookies that made a request personal (names[i], lens[i]), as the
 * advisor keeps them: those no directive should ignore when there is any
 * (a session: the page is personal whatever else it carries), else the
 * analytics cookies, which ReqPerfCacheIgnoreCookie would ignore.
 */
void rp_advice_sample_cookies(rp_advice_sample_t *s, const char *const *names,
                              const size_t *lens, int n);

/* The hash a key is recorded under (never 0). */
uint64_t rp_advice_key_hash(const char *key, size_t len);

/*
 * Count one request on rec.  keys_rec is the route whose key table the
 * keys are looked up in and written to (the GET record of a HEAD request,
 * since a HEAD is answered from the GET's entry); rec itself for GET.
 * Query-busting is counted when a lookup misses and its reduced key (the
 * key with ReqPerfCacheIgnoreQuery extended by the tracking parameters)
 * would have hit.
 */
void rp_advice_record(const rp_advice_pool_t *pool, rp_advice_rec_t *rec,
                      rp_advice_rec_t *keys_rec, const rp_advice_sample_t *s);

/* The key table of a record, claiming one from the pool if it has none;
 * NULL while another thread claims it, or when the pool is empty. */
rp_advice_keys_t *rp_advice_table(const rp_advice_pool_t *pool,
                                  rp_advice_rec_t *rec);

/* Key table operations (exposed for tests).  probe: 1 when key is there
 * and fresh at now_s (then marks it used).  put: writes it fresh until
 * until_s; returns 1 when a key still fresh at now_s had to make room. */
int rp_advice_probe(rp_advice_keys_t *t, uint64_t key, int64_t now_s);
int rp_advice_put(rp_advice_keys_t *t, uint64_t key, int64_t until_s,
                  int64_t now_s);
/* Keys fresh at now_s. */
uint32_t rp_advice_fresh_keys(const rp_advice_keys_t *t, int64_t now_s);

/* ---- what the status page shows ---- */

typedef struct {
    int reason;
    char name[RP_ADVICE_NAME_MAX + 1];
    uint64_t count;
} rp_advice_name_view_t;

typedef struct rp_advice_view_t {
    unsigned modes;
    uint64_t n[RP_ADV_COUNTERS];
    uint64_t saved_us;
    uint64_t evicted_fresh;
    int table_state;                   /* RP_ADV_READY: keys tracked */
    uint32_t fresh_keys;
    rp_advice_name_view_t names[RP_ADVICE_NAMES];
    int n_names;                       /* by count, highest first */
} rp_advice_view_t;

/* A copy of rec for the page (fresh keys counted at now_s). */
void rp_advice_snapshot(const rp_advice_pool_t *pool, const rp_advice_rec_t *rec,
                        int64_t now_s, rp_advice_view_t *out);

/* ---- what helps ---- */

/*
 * The first query parameter (its name, as sent) that looks like tracking or
 * cache-busting (utm_*, gclid, fbclid, _ ...): a span into query, or len 0.
 */
void rp_advice_busting_param(const char *query, const char **name, size_t *len);

/* Those patterns (rp_glob syntax), for ReqPerfCacheIgnoreQuery's list. */
const char *const *rp_advice_busting_patterns(int *n);

/* The cookie name of a Set-Cookie value (before '=', spaces trimmed):
 * a span into value, len 0 when there is none. */
void rp_advice_set_cookie_name(const char *value, const char **name,
                               size_t *len);

/*
 * The directive that would help against reason found with name (NULL: none
 * does): "ReqPerfCacheIgnoreCookie _ga*" for an analytics cookie,
 * "ReqPerfCacheIgnoreQuery utm_*" for a tracking parameter.  Written to buf.
 */
const char *rp_advice_directive(int reason, const char *name, char *buf,
                                size_t bufsize);

/* What a name is known to be ("Django's CSRF cookie"), or NULL. */
const char *rp_advice_name_hint(int reason, const char *name);

#endif
