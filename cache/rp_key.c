/*
 * rp_key.c: canonical cache keys and their memcached hashes (see rp_key.h).
 *
 * The key text is built in two passes (measure, then write) so an over-long key
 * is refused before anything is copied, and every loop is bounded by the input's
 * length or by the RP_KEY_MAX_* limits.
 */
#include <string.h>

#include <apr_strings.h>
#include <xxhash.h>

#include "rp_glob.h"
#include "rp_key.h"
#include "rp_util.h"

typedef struct {
    const char *s;
    size_t len;         /* whole piece, "name=value" */
    size_t name_len;    /* bytes before the first '=' (or the whole piece) */
} rp_param_t;

static int scheme_ok(const char *s)
{
    size_t i;

    if (s == NULL || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return 0;
    }
    for (i = 1; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '+' || c == '-' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

/* Bytes that would let a host run into the port, path or userinfo of the key text. */
static int host_byte_ok(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '/' && c != '?' && c != '#' && c != '@'
        && c != '\\' && c != ':' && c != '[' && c != ']';
}

static int host_ok(const char *h)
{
    size_t i, len;

    if (h == NULL || h[0] == '\0') {
        return 0;
    }
    len = strlen(h);
    if (h[0] == '[') {
        /* IPv6 literal: hex digits, ':' and '.' (an embedded IPv4) only. */
        if (len < 3 || h[len - 1] != ']') {
            return 0;
        }
        for (i = 1; i + 1 < len; i++) {
            unsigned char c = rp_ascii_lower((unsigned char)h[i]);

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) {
                return 0;
            }
        }
        return 1;
    }
    for (i = 0; i < len; i++) {
        if (!host_byte_ok((unsigned char)h[i])) {
            return 0;
        }
    }
    return 1;
}

/* The next byte of a parameter name as some backend reads it: "%61" is
 * 'a', '+' a space (form encoding), and a space or '.' is '_' to PHP,
 * upper case lower case to ASP.NET; *i moves past what it took. */
static int name_byte(const char *s, size_t len, size_t *i)
{
    unsigned char c = (unsigned char)s[*i];
    int hi, lo;

    if (c == '%' && *i + 2 < len
        && (hi = rp_hexval((unsigned char)s[*i + 1])) >= 0
        && (lo = rp_hexval((unsigned char)s[*i + 2])) >= 0) {
        *i += 3;
        c = (unsigned char)(hi * 16 + lo);
    }
    else {
        *i += 1;
    }
    if (c == '+' || c == ' ' || c == '.') {
        return '_';
    }
    return rp_ascii_lower(c);
}

/* Names compared as backends decode them, so that "?a=1&%61=2" and
 * "?%61=2&a=1" (one parameter "a" to the backend, whose first value
 * differs) are not sorted into one key: names one backend or another
 * reads as equal keep their order.  (Comparing more names as equal only
 * sorts less: the key still holds the bytes as sent.) */
/* A name some backend reads otherwise than its bytes, or otherwise than
 * the others, keeps its place: PHP drops leading spaces, makes an array
 * of '[' (or, unclosed, a '_') and reads a name up to a NUL; Django and
 * Python's parse_qs read every byte that is not UTF-8 as U+FFFD (so
 * "%FE" and "%FF" are one name there); CGI.pm, Plack and Rack 2 split
 * on ';' as on '&'; a backend that decodes twice reads "%2561" as "a".
 * So: a piece holding ';', and a name holding, once decoded, a control
 * byte, a byte past ASCII, '%', '&', ';', '=', '[' or ']'. */
static int name_is_odd(const rp_param_t *pa)
{
    size_t i = 0;
    int first = 1;

    /* a piece holding ';' is several parameters to a backend that also
     * splits there: their places count */
    if (memchr(pa->s, ';', pa->len) != NULL) {
        return 1;
    }
    while (i < pa->name_len) {
        unsigned char c = (unsigned char)pa->s[i];
        int hi, lo, escaped = 0;

        if (c == '%' && i + 2 < pa->name_len
            && (hi = rp_hexval((unsigned char)pa->s[i + 1])) >= 0
            && (lo = rp_hexval((unsigned char)pa->s[i + 2])) >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            i += 3;
            escaped = 1;
        }
        else {
            i++;
        }
        if ((first && (c == ' ' || c == '+')) || c < 0x20 || c >= 0x7f
            || (c != '\0' && strchr("&;=[]", c) != NULL)
            || (escaped && c == '%')) {
            return 1;
        }
        first = 0;
    }
    return 0;
}

static int param_name_cmp(const rp_param_t *a, const rp_param_t *b)
{
    size_t i = 0, j = 0;

    if (name_is_odd(a) || name_is_odd(b)) {
        return 0;                      /* stays where it was sent */
    }

    while (i < a->name_len && j < b->name_len) {
        int x = name_byte(a->s, a->name_len, &i);
        int y = name_byte(b->s, b->name_len, &j);

        if (x != y) {
            return x - y;
        }
    }
    return (i < a->name_len) - (j < b->name_len);
}

static int param_ignored(const rp_param_t *pa, const char *const *ignore, int n_ignore)
{
    int i;

    /* "utm_x=1;id=2": a backend that also splits on ';' sees id=2, so a
     * piece holding one is never dropped from the key (parameter cloaking) */
    if (memchr(pa->s, ';', pa->len) != NULL) {
        return 0;
    }
    for (i = 0; i < n_ignore; i++) {
        if (rp_glob_match(ignore[i], pa->s, pa->name_len)) {
            return 1;
        }
    }
    return 0;
}

/* The next non-empty '&' piece of the query at *q, into *pa; *q moves
 * past it.  0 at the end. */
static int next_piece(const char **q, rp_param_t *pa)
{
    while (**q != '\0') {
        const char *s = *q, *amp = strchr(s, '&'), *eq;
        size_t len = amp ? (size_t)(amp - s) : strlen(s);

        *q = s + len + (amp != NULL);
        if (len > 0) {
            eq = memchr(s, '=', len);
            pa->s = s;
            pa->len = len;
            pa->name_len = eq ? (size_t)(eq - s) : len;
            return 1;
        }
    }
    return 0;
}

/*
 * Splits, filters and sorts the query into params (at least RP_KEY_MAX_PARAMS
 * slots). Returns the number kept, or -1 when a limit is passed.
 */
static int query_params(const char *q, const char *const *ignore, int n_ignore, rp_param_t *params)
{
    int kept = 0, seen = 0, i, j;
    rp_param_t pa;

    while (next_piece(&q, &pa)) {
        if (++seen > RP_KEY_MAX_QUERY_PIECES) {
            return -1;
        }
        if (!param_ignored(&pa, ignore, n_ignore)) {
            if (kept == RP_KEY_MAX_PARAMS) {
                return -1;
            }
            params[kept++] = pa;
        }
    }
    /* Insertion sort: stable (equal names keep their order), small n, no recursion. */
    for (i = 1; i < kept; i++) {
        rp_param_t cur = params[i];

        for (j = i; j > 0 && param_name_cmp(&params[j - 1], &cur) > 0; j--) {
            params[j] = params[j - 1];
        }
        params[j] = cur;
    }
    return kept;
}

int rp_key_query_ignores(const char *q, const char *const *ignore,
                         int n_ignore)
{
    rp_param_t pa;

    if (q == NULL || n_ignore <= 0 || ignore == NULL) {
        return 0;
    }
    while (next_piece(&q, &pa)) {
        if (param_ignored(&pa, ignore, n_ignore)) {
            return 1;
        }
    }
    return 0;
}

/* Filters and sorts query into *params; adds the bytes "?a&b" take to
 * *total. -1 when a limit is passed. */
static int measure_query(apr_pool_t *p, const char *query, const char *const *ignore,
                         int n_ignore, rp_param_t **params, size_t *total)
{
    int kept = 0, k;

    *params = NULL;
    if (query == NULL || query[0] == '\0') {
        return 0;
    }
    if (rp_has_ctl(query, strlen(query)) || strchr(query, ' ') != NULL) {
        return -1;
    }
    *params = apr_palloc(p, RP_KEY_MAX_PARAMS * sizeof(**params));
    kept = query_params(query, ignore, n_ignore > 0 ? n_ignore : 0, *params);
    if (kept < 0) {
        return -1;
    }
    for (k = 0; k < kept; k++) {
        *total += 1 + (*params)[k].len;     /* '?' or '&', then the piece */
        if (*total > RP_ENTRY_MAX_KEY) {
            return -1;
        }
    }
    return kept;
}

static char *write_query(char *w, const rp_param_t *params, int kept)
{
    int k;

    for (k = 0; k < kept; k++) {
        *w++ = k == 0 ? '?' : '&';
        memcpy(w, params[k].s, params[k].len);
        w += params[k].len;
    }
    return w;
}

static int path_ok(const char *path, size_t plen)
{
    return path[0] == '/' && !rp_has_ctl(path, plen) && memchr(path, '?', plen) == NULL
           && memchr(path, ' ', plen) == NULL;
}

char *rp_key_url(apr_pool_t *p, const rp_url_t *u)
{
    rp_param_t *params = NULL;
    char port[8];
    size_t total, slen, hlen, plen, portlen, clen = 0, i;
    int kept = 0;
    char *key, *w;

    if (u == NULL || !scheme_ok(u->scheme) || !host_ok(u->host)
        || u->port == 0 || u->port > 65535 || u->path == NULL || u->path[0] != '/') {
        return NULL;
    }
    if (u->n_ignore_query > 0 && u->ignore_query == NULL) {
        return NULL;
    }
    slen = strlen(u->scheme);
    hlen = strlen(u->host);
    plen = strlen(u->path);
    if (!path_ok(u->path, plen)) {
        return NULL;
    }
    if (u->context != NULL) {
        clen = strlen(u->context);
        for (i = 0; i < clen; i++) {
            if (!rp_is_vchar((unsigned char)u->context[i])) {
                return NULL;
            }
        }
    }
    portlen = (size_t)apr_snprintf(port, sizeof(port), "%u", u->port);
    total = slen + 3 + hlen + 1 + portlen + plen + (u->context ? 2 + clen : 0);
    if (total > RP_ENTRY_MAX_KEY) {
        return NULL;
    }
    kept = measure_query(p, u->query, u->ignore_query, u->n_ignore_query, &params, &total);
    if (kept < 0) {
        return NULL;
    }

    w = key = apr_palloc(p, total + 1);
    for (i = 0; i < slen; i++) {
        *w++ = (char)rp_ascii_lower((unsigned char)u->scheme[i]);
    }
    memcpy(w, "://", 3);
    w += 3;
    for (i = 0; i < hlen; i++) {
        *w++ = (char)rp_ascii_lower((unsigned char)u->host[i]);
    }
    *w++ = ':';
    memcpy(w, port, portlen);
    w += portlen;
    memcpy(w, u->path, plen);
    w += plen;
    w = write_query(w, params, kept);
    if (u->context != NULL) {
        memcpy(w, " @", 2);
        memcpy(w + 2, u->context, clen);
        w += 2 + clen;
    }
    *w = '\0';
    return key;
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

/* A byte a backend reads the same whether it came escaped or not: in a
 * path, the sub-delims, ':' and '@' (httpd decodes the path, and
 * mod_proxy sends them unescaped whichever spelling came: "/u/@alice" and
 * "/u/%40alice" are one page); in a query, the same and '/' and '?',
 * which every form decoder decodes, but not '&', '=', ';' and '+', which
 * split or mean a space there when unescaped. */
static int same_escaped(unsigned char c, int in_query)
{
    switch (c) {
    case '!': case '$': case '\'': case '(': case ')': case '*': case ',':
    case ':': case '@':
        return 1;
    case '/': case '?':
        return in_query;
    case '&': case '=': case ';': case '+':
        return !in_query;
    default:
        return 0;
    }
}

/* One spelling of a path for a resource: its escapes of bytes that
 * same_escaped() says a backend reads as themselves decoded (the rest
 * stay as normalised_path() wrote them, "%2F" apart from "/"). */
static const char *path_spelling(apr_pool_t *p, const char *path)
{
    size_t len = strlen(path), i;
    char *out, *w;
    int hi, lo;

    if (memchr(path, '%', len) == NULL) {
        return path;
    }
    out = w = apr_palloc(p, len + 1);
    for (i = 0; i < len; i++) {
        if (path[i] == '%' && i + 2 < len
            && (hi = rp_hexval((unsigned char)path[i + 1])) >= 0
            && (lo = rp_hexval((unsigned char)path[i + 2])) >= 0
            && same_escaped((unsigned char)(hi * 16 + lo), 0)) {
            *w++ = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        *w++ = path[i];
    }
    *w = '\0';
    return out;
}

/* One spelling of a query for a resource: %XX of an unreserved byte decoded,
 * and of one same_escaped() says a form decoder reads as itself, %20
 * written '+', other escapes in upper case (so "%7e", "%7E" and "~" are
 * one resource, and so are "a+b" and "a%20b", and "a,b" and "a%2Cb"). */
static char *query_spelling(apr_pool_t *p, const char *q)
{
    size_t len = strlen(q), i;
    char *out = apr_palloc(p, len + 1), *w = out;

    for (i = 0; i < len; i++) {
        int hi, lo;

        if (q[i] == '%' && i + 2 < len && (hi = rp_hexval((unsigned char)q[i + 1])) >= 0
            && (lo = rp_hexval((unsigned char)q[i + 2])) >= 0) {
            unsigned char c = (unsigned char)(hi * 16 + lo);

            if (unreserved(c) || same_escaped(c, 1)) {
                *w++ = (char)c;
            }
            else if (c == ' ') {
                /* a space is "+" to every form decoder: "q=a+b" and
                 * "q=a%20b" are one page to the backend, one to a purge */
                *w++ = '+';
            }
            else {
                *w++ = '%';
                *w++ = "0123456789ABCDEF"[hi];
                *w++ = "0123456789ABCDEF"[lo];
            }
            i += 2;
            continue;
        }
        *w++ = q[i];
    }
    *w = '\0';
    return out;
}

char *rp_key_resource(apr_pool_t *p, const char *path, const char *query,
                      const char *const *ignore_query, int n_ignore_query)
{
    rp_param_t *params = NULL;
    size_t plen, total;
    int kept;
    char *key, *w;

    if (path == NULL || (n_ignore_query > 0 && ignore_query == NULL)) {
        return NULL;
    }
    plen = strlen(path);
    if (plen == 0 || !path_ok(path, plen) || plen > RP_ENTRY_MAX_KEY) {
        return NULL;
    }
    path = path_spelling(p, path);
    plen = strlen(path);
    total = plen;
    if (query != NULL && query[0] != '\0') {
        query = query_spelling(p, query);
    }
    kept = measure_query(p, query, ignore_query, n_ignore_query, &params, &total);
    if (kept < 0) {
        return NULL;
    }
    w = key = apr_palloc(p, total + 1);
    memcpy(w, path, plen);
    w = write_query(w + plen, params, kept);
    *w = '\0';
    return key;
}

static int vary_value_ok(const char *v, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* base (ulen bytes, trusted), then sep, then the vary lines. */
static char *key_with_vary(apr_pool_t *p, const char *base, size_t ulen, const char *sep,
                           const rp_header_t *vary, int n_vary)
{
    size_t total, slen = strlen(sep), i;
    int k;
    char *key, *w;

    if (n_vary < 0 || (n_vary > 0 && vary == NULL)) {
        return NULL;
    }
    total = ulen + slen;
    for (k = 0; k < n_vary; k++) {
        size_t nlen, vlen;

        if (vary[k].name == NULL) {
            return NULL;
        }
        nlen = strnlen(vary[k].name, RP_ENTRY_MAX_KEY + 1);
        if (!rp_is_token(vary[k].name, nlen)) {
            return NULL;
        }
        if (vary[k].value == NULL) {
            vlen = 2;
        }
        else {
            vlen = strnlen(vary[k].value, RP_ENTRY_MAX_KEY + 1);
        }
        total += 1 + nlen + 1 + vlen;
        if (total > RP_ENTRY_MAX_KEY) {
            return NULL;
        }
        if (vary[k].value != NULL && !vary_value_ok(vary[k].value, vlen)) {
            return NULL;
        }
    }
    if (total > RP_ENTRY_MAX_KEY) {
        return NULL;
    }

    w = key = apr_palloc(p, total + 1);
    memcpy(w, base, ulen);
    w += ulen;
    memcpy(w, sep, slen);
    w += slen;
    for (k = 0; k < n_vary; k++) {
        *w++ = '\n';
        for (i = 0; vary[k].name[i] != '\0'; i++) {
            *w++ = (char)rp_ascii_lower((unsigned char)vary[k].name[i]);
        }
        *w++ = ':';
        if (vary[k].value == NULL) {
            *w++ = '\x01';
            *w++ = '-';
        }
        else {
            size_t vlen = strlen(vary[k].value);

            memcpy(w, vary[k].value, vlen);
            w += vlen;
        }
    }
    *w = '\0';
    return key;
}

char *rp_key_full(apr_pool_t *p, const char *url, const rp_header_t *vary, int n_vary)
{
    size_t ulen;

    if (url == NULL) {
        return NULL;
    }
    ulen = strnlen(url, RP_ENTRY_MAX_KEY + 1);
    if (ulen > RP_ENTRY_MAX_KEY || memchr(url, '\n', ulen) != NULL) {
        return NULL;
    }
    return key_with_vary(p, url, ulen, "", vary, n_vary);
}

char *rp_key_variant(apr_pool_t *p, const char *base_full, const rp_header_t *vary, int n_vary)
{
    size_t blen;

    if (base_full == NULL) {
        return NULL;
    }
    blen = strnlen(base_full, RP_ENTRY_MAX_KEY + 1);
    if (blen > RP_ENTRY_MAX_KEY) {
        return NULL;
    }
    return key_with_vary(p, base_full, blen, "\n*", vary, n_vary);
}

static int name_icmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = rp_ascii_lower((unsigned char)*a);
        unsigned char cb = rp_ascii_lower((unsigned char)*b);

        if (ca != cb || ca == '\0') {
            return (int)ca - (int)cb;
        }
    }
}

void rp_key_sort_headers(rp_header_t *h, int n)
{
    int i, j;

    for (i = 1; i < n; i++) {
        rp_header_t cur = h[i];

        for (j = i; j > 0 && name_icmp(h[j - 1].name, cur.name) > 0; j--) {
            h[j] = h[j - 1];
        }
        h[j] = cur;
    }
}

/* prefix (made printable, at most RP_KEY_PREFIX_MAX bytes) then the
 * hash's 32 hex digits, two at a time */
static void key_format(const char *prefix, const XXH128_canonical_t *canon,
                       char out[RP_KEY_HASH_MAX])
{
    /* every byte's two lowercase hex digits */
    static const char hex2[513] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    size_t i, n = 0;

    if (prefix != NULL) {
        for (; n < RP_KEY_PREFIX_MAX && prefix[n] != '\0'; n++) {
            out[n] = rp_is_vchar((unsigned char)prefix[n]) ? prefix[n] : '_';
        }
    }
    for (i = 0; i < sizeof(canon->digest); i++, n += 2) {
        memcpy(out + n, hex2 + 2 * canon->digest[i], 2);
    }
    out[n] = '\0';
}

static void key_digest(const char *data, size_t len, XXH128_canonical_t *c)
{
    XXH128_canonicalFromHash(c, XXH3_128bits(data != NULL ? data : "",
                                             data != NULL ? len : 0));
}

void rp_key_hash(const char *prefix, const char *data, size_t len, char out[RP_KEY_HASH_MAX])
{
    XXH128_canonical_t canon;

    key_digest(data, len, &canon);
    key_format(prefix, &canon, out);
}

void rp_key_hash2(const char *prefix_a, const char *prefix_b,
                  const char *data, size_t len, char out_a[RP_KEY_HASH_MAX],
                  char out_b[RP_KEY_HASH_MAX])
{
    XXH128_canonical_t canon;

    key_digest(data, len, &canon);
    key_format(prefix_a, &canon, out_a);
    key_format(prefix_b, &canon, out_b);
}
