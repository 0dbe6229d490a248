/*
 * rp_rules.c: storability, freshness and bypass rules (see rp_rules.h).
 *
 * Policy only: the header values are read by rp_http.c's grammars, and what
 * they mean for a shared cache is decided here, each thing once. Where RFC
 * 9111 leaves a choice, the choice that caches less was taken, and the header
 * says which.
 */
#include <string.h>

#include "rp_rules.h"
#include "rp_util.h"

/* ---- freshness and storability ---- */

static int64_t clamp_fresh(int64_t v)
{
    if (v < 0) {
        return 0;
    }
    return v > RP_MAX_FRESHNESS_S ? RP_MAX_FRESHNESS_S : v;
}

int64_t rp_freshness_s(const rp_cc_t *cc, const char *expires, const char *date,
               int64_t now_s, int64_t default_ttl_s)
{
    if (cc != NULL && cc->s_maxage >= 0) {
        return clamp_fresh(cc->s_maxage);
    }
    if (cc != NULL && cc->max_age >= 0) {
        return clamp_fresh(cc->max_age);
    }
    if (expires != NULL) {
        int64_t exp = rp_http_date_parse(expires);
        int64_t base = rp_http_date_parse(date);

        if (exp < 0) {
            return 0;   /* "Expires: 0" and other junk mean "already expired" */
        }
        return clamp_fresh(exp - (base >= 0 ? base : now_s));
    }
    return clamp_fresh(default_ttl_s);
}
static int status_storable(int status)
{
    switch (status) {
    case 200: case 203: case 300: case 301: case 404: case 410:
        return 1;
    default:
        return 0;
    }
}

rp_nostore_t rp_response_verdict(const rp_response_info_t *ri, int64_t now_s,
                                 int64_t default_ttl_s, rp_response_facts_t *f)
{
    rp_cc_t pragma;
    int64_t fresh;

    /* the facts first, each header read once, whatever the verdict */
    memset(f, 0, sizeof(*f));
    rp_vary_init(&f->vary);
    rp_cc_parse(ri != NULL ? ri->cache_control : NULL, &f->cc);
    rp_cc_parse(ri != NULL ? ri->pragma : NULL, &pragma);
    if (ri == NULL) {
        return RP_NOSTORE_STATUS;
    }
    rp_vary_read(&f->vary, ri->vary);
    rp_stale_windows(&f->cc, ri->grace_s, ri->stale_if_error_s, &f->grace_s,
                     &f->stale_if_error_s);

    /* then the checks, in the order rp_rules.h gives */
    if (ri->request_authenticated) {
        return RP_NOSTORE_AUTH;
    }
    if (ri->input_changed) {
        return RP_NOSTORE_INPUT_CHANGED;
    }
    if (ri->status == 206 || ri->has_content_range) {
        return RP_NOSTORE_PARTIAL;
    }
    if (!status_storable(ri->status)) {
        return RP_NOSTORE_STATUS;
    }
    if (ri->has_set_cookie) {
        return RP_NOSTORE_SET_COOKIE;
    }
    if (f->cc.private_) {
        return RP_NOSTORE_PRIVATE;
    }
    if (f->cc.no_store) {
        return RP_NOSTORE_NO_STORE;
    }
    if (f->cc.no_cache || pragma.no_cache) {
        return RP_NOSTORE_NO_CACHE;
    }
    if (f->cc.invalid) {
        return RP_NOSTORE_CC_INVALID;
    }
    if (f->vary.rc == RP_VARY_STAR) {
        return RP_NOSTORE_VARY_STAR;
    }
    if (f->vary.has_private) {
        return RP_NOSTORE_VARY_PRIVATE;
    }
    if (f->vary.rc != RP_VARY_OK) {
        return RP_NOSTORE_VARY_STAR;    /* cannot key on it: as good as "*" */
    }
    if (ri->incomplete) {
        return RP_NOSTORE_INCOMPLETE;
    }
    fresh = rp_freshness_s(&f->cc, ri->expires, ri->date, now_s, default_ttl_s);
    /* what an upstream cache already used of it (RFC 9111 4.2.3) */
    f->fresh_s = fresh > ri->age_s ? fresh - ri->age_s : 0;
    if (f->fresh_s == 0 && f->grace_s <= 0 && f->stale_if_error_s <= 0) {
        return RP_NOSTORE_EXPIRED;
    }
    return RP_NOSTORE_NONE;
}

rp_nostore_t rp_response_storable(const rp_response_info_t *ri, int64_t now_s,
                                  int64_t default_ttl_s, int64_t *fresh_s)
{
    rp_response_facts_t f;
    rp_nostore_t why = rp_response_verdict(ri, now_s, default_ttl_s, &f);

    if (fresh_s != NULL) {
        *fresh_s = f.fresh_s;
    }
    return why;
}

void rp_stale_windows(const rp_cc_t *cc, int64_t conf_grace_s, int64_t conf_sie_s,
                      int64_t *grace_s, int64_t *sie_s)
{
    int forbid = cc->must_revalidate || cc->s_maxage >= 0;
    int64_t g = cc->stale_while_revalidate >= 0 ? cc->stale_while_revalidate : conf_grace_s;
    int64_t e = cc->stale_if_error >= 0 ? cc->stale_if_error : conf_sie_s;

    if (forbid) {
        g = 0;
        if (cc->stale_if_error < 0) {
            e = 0;
        }
    }
    *grace_s = clamp_fresh(g);
    *sie_s = clamp_fresh(e);
}

const char *rp_nostore_name(rp_nostore_t why)
{
    switch (why) {
    case RP_NOSTORE_NONE:          return "none";
    case RP_NOSTORE_STATUS:        return "status";
    case RP_NOSTORE_SET_COOKIE:    return "set-cookie";
    case RP_NOSTORE_PRIVATE:       return "private";
    case RP_NOSTORE_NO_STORE:      return "no-store";
    case RP_NOSTORE_NO_CACHE:      return "no-cache";
    case RP_NOSTORE_VARY_STAR:     return "vary-star";
    case RP_NOSTORE_VARY_PRIVATE:  return "vary-private";
    case RP_NOSTORE_PARTIAL:       return "partial";
    case RP_NOSTORE_EXPIRED:       return "expired";
    case RP_NOSTORE_CC_INVALID:    return "cache-control";
    case RP_NOSTORE_AUTH:          return "auth";
    case RP_NOSTORE_INPUT_CHANGED: return "input-changed";
    case RP_NOSTORE_INCOMPLETE:    return "incomplete";
    case RP_NOSTORE_TOO_LARGE:     return "too-large";
    case RP_NOSTORE_TAGS:          return "tags";
    case RP_NOSTORE_STREAM:        return "stream";
    }
    return "unknown";
}

int rp_nostore_is_about_the_page(rp_nostore_t why, int status)
{
    if (why == RP_NOSTORE_AUTH || why == RP_NOSTORE_INPUT_CHANGED
        || why == RP_NOSTORE_INCOMPLETE) {
        return 0;
    }
    if (status_storable(status)) {
        return 1;                       /* a page anyone may be given (404, 410 too) */
    }
    if (status == 304 || (status >= 400 && status < 500)) {
        return 0;
    }
    return status >= 200;
}

/* ---- request side ---- */

/*
 * Headers that make a backend (or a framework in front of it) build another
 * page, another link or another method, and that are not part of our key:
 * forwarded host, scheme, port, prefix and client-chosen URLs and methods.
 * The client's IP (X-Forwarded-For, X-Real-IP) is not among them: every
 * request has one, mod_proxy appends the real one, and a page that depends
 * on it cannot be cached by any shared cache.
 */
static const char *const rp_override_headers[] = {
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Original-URL",
    "X-Rewrite-URL", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Port",
    "X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Uri", "X-Forwarded-Server",
    "X-Forwarded-Protocol", "X-Host", "X-Original-Host", "X-Original-URI",
    "X-Original-Path", "X-Url-Scheme", "X-Scheme", "Front-End-Https",
    "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
    "X-Envoy-Original-Path", "X-ProxyUser-Ip",
    /* Jetty's, IIS ARR's, and the usual WSGI/Rack prefix */
    "X-Proxied-Https", "Proxy-Ssl-Id", "X-Arr-Ssl", "X-Forwarded-Https",
    "X-Script-Name"
};
#define RP_N_OVERRIDE (sizeof(rp_override_headers) / sizeof(rp_override_headers[0]))

static int name_listed(const char *name, const char *const *list, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (list[i] != NULL && rp_str_ieq(list[i], name)) {
            return 1;
        }
    }
    return 0;
}

/* A bit per first letter, a..z and one for any other byte. */
static uint32_t letter_bit(unsigned char lower)
{
    return lower >= 'a' && lower <= 'z' ? 1u << (lower - 'a') : 1u << 26;
}

/* The first letters of the override headers, computed from the list on
 * first use (every thread computes the same value: a race to store it
 * is harmless, and the atomics make it no data race). */
static uint32_t first_letters(void)
{
    static uint32_t letters;
    uint32_t v = __atomic_load_n(&letters, __ATOMIC_RELAXED);
    size_t i;

    if (v == 0) {
        for (i = 0; i < RP_N_OVERRIDE; i++) {
            v |= letter_bit(rp_ascii_lower((unsigned char)rp_override_headers[i][0]));
        }
        __atomic_store_n(&letters, v, __ATOMIC_RELAXED);
    }
    return v;
}

int rp_override_header(const char *name)
{
    unsigned char c;
    size_t i;

    if (name == NULL) {
        return 0;
    }
    /* asked of every header of every cacheable request: the first
     * letter rules out most names at once, and all but a few of the
     * list before any whole name is compared */
    c = rp_ascii_lower((unsigned char)name[0]);
    if (!(first_letters() & letter_bit(c))) {
        return 0;
    }
    for (i = 0; i < RP_N_OVERRIDE; i++) {
        if (rp_ascii_lower((unsigned char)rp_override_headers[i][0]) == c
            && rp_str_ieq(rp_override_headers[i], name)) {
            return 1;
        }
    }
    return 0;
}

int rp_unkeyed_spelling(const char *name)
{
    size_t i, k;

    if (name == NULL || strchr(name, '_') == NULL) {
        return 0;
    }
    for (i = 0; i < RP_N_OVERRIDE; i++) {
        const char *u = rp_override_headers[i];
        for (k = 0; u[k] != '\0' && name[k] != '\0'; k++) {
            char c = name[k] == '_' ? '-' : name[k];
            if (rp_ascii_lower((unsigned char)c) != rp_ascii_lower((unsigned char)u[k])) {
                break;
            }
        }
        if (u[k] == '\0' && name[k] == '\0') {
            return 1;
        }
    }
    return 0;
}

/* A body the backend will read: Content-Length other than 0 (any spelling
 * of zero is zero), or any Transfer-Encoding. */
static int has_body(rp_header_get_fn get, void *baton)
{
    const char *cl = get(baton, "Content-Length");

    if (get(baton, "Transfer-Encoding") != NULL) {
        return 1;
    }
    if (cl == NULL) {
        return 0;
    }
    cl = rp_skip_ows(cl);
    while (*cl == '0') {
        cl++;
    }
    cl = rp_skip_ows(cl);
    return *cl != '\0';
}

/* port (1..65535) in decimal, no leading zero, into out (>= 6 bytes);
 * its length.  As "%u" writes it, without snprintf's cost on every
 * request to a non-default port. */
static size_t rp_port_text(char *out, unsigned port)
{
    char tmp[5];
    size_t n = 0, k;

    do {
        tmp[n++] = (char)('0' + port % 10);
        port /= 10;
    } while (port != 0 && n < sizeof(tmp));
    for (k = 0; k < n; k++) {
        out[k] = tmp[n - 1 - k];
    }
    out[n] = '\0';
    return n;
}

/* The Host the client sent is exactly what Apache made of it: the
 * normalised name (brackets around an IPv6 literal), then ":port" only
 * when a port other than the scheme's default was named. */
static int host_is_canonical(const rp_request_t *rq)
{
    const char *raw = rq->get(rq->baton, "Host"), *h = rq->hostname;
    size_t hlen;
    int v6;
    char port[8];
    size_t plen = 0;

    if (raw == NULL || h == NULL || *h == '\0') {
        return 0;
    }
    if (rq->host_port != 0) {
        if (rq->host_port == rq->default_port || rq->host_port > 65535) {
            return 0;
        }
        plen = rp_port_text(port, rq->host_port);
    }
    hlen = strlen(h);
    v6 = memchr(h, ':', hlen) != NULL;
    if (v6) {
        if (raw[0] != '[' || strncmp(raw + 1, h, hlen) != 0 || raw[1 + hlen] != ']') {
            return 0;
        }
        raw += hlen + 2;
    }
    else {
        if (strncmp(raw, h, hlen) != 0) {
            return 0;
        }
        raw += hlen;
    }
    if (plen == 0) {
        return *raw == '\0';
    }
    return raw[0] == ':' && strncmp(raw + 1, port, plen) == 0 && raw[1 + plen] == '\0';
}

rp_bypass_t rp_request_verdict(const rp_request_t *rq, const rp_request_rules_t *rules,
                               int *refresh)
{
    const char *const *ignore_cookie = rules ? rules->ignore_cookie : NULL;
    const char *const *vary = rules ? rules->vary : NULL;
    int n_ignore_cookie = (rules && rules->ignore_cookie) ? rules->n_ignore_cookie : 0;
    int n_vary = (rules && rules->vary) ? rules->n_vary : 0;
    rp_header_get_fn get = rq ? rq->get : NULL;
    rp_cc_t cc, pragma;
    size_t i;
    int k;

    if (refresh != NULL) {
        *refresh = 0;
    }
    if (rq == NULL || rq->method == NULL
        || (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)) {
        return RP_BYPASS_METHOD;
    }
    if (get == NULL) {
        return RP_BYPASS_HOST;          /* no headers at all: no Host */
    }
    if (get(rq->baton, "Upgrade") != NULL) {
        return RP_BYPASS_METHOD;        /* a tunnel (WebSocket, h2c), not a page */
    }
    if (rq->authenticated || get(rq->baton, "Authorization") != NULL
        || get(rq->baton, "Proxy-Authorization") != NULL) {
        return RP_BYPASS_AUTHORIZATION;
    }
    if (rp_cookie_is_personal(get(rq->baton, "Cookie"), ignore_cookie, n_ignore_cookie)) {
        return RP_BYPASS_COOKIE;
    }
    if (has_body(get, rq->baton)) {
        return RP_BYPASS_BODY;
    }
    if (!host_is_canonical(rq)) {
        return RP_BYPASS_HOST;
    }
    if (rq->names != NULL) {
        /* the names it carried, each looked at once (rather than asking
         * get() for every override header: 25 lookups in a table) */
        for (k = 0; k < rq->n_names; k++) {
            const char *name = rq->names[k];
            if (name != NULL
                && (strchr(name, '_') != NULL
                    || (rp_override_header(name)
                        && !name_listed(name, vary, n_vary)))) {
                return RP_BYPASS_UNKEYED_HEADER;
            }
        }
    }
    else {
        for (i = 0; i < RP_N_OVERRIDE; i++) {
            if (get(rq->baton, rp_override_headers[i]) != NULL
                && !name_listed(rp_override_headers[i], vary, n_vary)) {
                return RP_BYPASS_UNKEYED_HEADER;
            }
        }
    }
    if (rp_connection_names_a_header(get(rq->baton, "Connection"))) {
        return RP_BYPASS_UNKEYED_HEADER;
    }
    if (get(rq->baton, "Range") != NULL || get(rq->baton, "If-Range") != NULL) {
        return RP_BYPASS_RANGE;         /* before no-cache: never a refresh */
    }
    rp_cc_parse(get(rq->baton, "Cache-Control"), &cc);
    rp_cc_parse(get(rq->baton, "Pragma"), &pragma);
    if (cc.no_cache || pragma.no_cache) {
        if (refresh != NULL) {
            *refresh = 1;
        }
        return RP_BYPASS_NO_CACHE;
    }
    if (cc.invalid) {
        return RP_BYPASS_NO_CACHE;      /* we cannot tell what it asked */
    }
    return RP_BYPASS_NONE;
}

const char *rp_bypass_name(rp_bypass_t why)
{
    switch (why) {
    case RP_BYPASS_NONE:           return "none";
    case RP_BYPASS_METHOD:         return "method";
    case RP_BYPASS_AUTHORIZATION:  return "auth";
    case RP_BYPASS_COOKIE:         return "cookie";
    case RP_BYPASS_NO_CACHE:       return "no-cache";
    case RP_BYPASS_UNKEYED_HEADER: return "unkeyed-header";
    case RP_BYPASS_RANGE:          return "range";
    case RP_BYPASS_BODY:           return "body";
    case RP_BYPASS_HOST:           return "host";
    }
    return "unknown";
}

