/*
 * rp_purge.c: purge request parsers (see rp_purge.h).
 *
 * Both parsers feed one validator (purge_add) so the form body and the header
 * can never disagree about what a valid url or tag is. Items are collected in
 * scratch arrays and handed over only when the whole input parsed, which is
 * what makes the parsers all or nothing.
 */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "rp_http.h"    /* rp_tag_ok */
#include "rp_purge.h"
#include "rp_util.h"

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *urls;
    apr_array_header_t *tags;
    apr_hash_t *seen_urls;
    apr_hash_t *seen_tags;
    int items;          /* items given, repeats included: what the limit counts */
} rp_purge_ctx_t;

static void purge_ctx_init(rp_purge_ctx_t *c, apr_pool_t *p)
{
    c->p = p;
    c->urls = apr_array_make(p, 4, sizeof(const char *));
    c->tags = apr_array_make(p, 4, sizeof(const char *));
    c->seen_urls = apr_hash_make(p);
    c->seen_tags = apr_hash_make(p);
    c->items = 0;
}

static void purge_out_empty(apr_pool_t *p, rp_purge_req_t *out)
{
    out->urls = apr_array_make(p, 1, sizeof(const char *));
    out->tags = apr_array_make(p, 1, sizeof(const char *));
}

/* "unknown field 'x'", with x cut to 32 bytes and made printable for logs and JSON. */
static const char *unknown_field(apr_pool_t *p, const char *name, size_t len)
{
    char shown[33];
    size_t i, n = len > 32 ? 32 : len;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        shown[i] = (c >= 0x20 && c < 0x7f && c != '\'' && c != '"' && c != '\\') ? (char)c : '?';
    }
    shown[n] = '\0';
    return apr_psprintf(p, "unknown field '%s%s'", shown, len > 32 ? "..." : "");
}

/* Bytes a request-target never holds raw (RFC 3986 and browsers' habits):
 * a URL given with them ("/app/café", "/a b") means their %XX form. */
static int url_needs_escape(unsigned char c)
{
    return c == ' ' || c >= 0x80 || c == '"' || c == '<' || c == '>' || c == '\\'
           || c == '^' || c == '`' || c == '{' || c == '|' || c == '}';
}

/* The URL as a request line spells it: url_needs_escape() bytes as %XX. */
static const char *url_escaped(apr_pool_t *p, const char *v, size_t len, size_t *out_len)
{
    size_t i, n = 0;
    char *out, *w;

    for (i = 0; i < len; i++) {
        n += url_needs_escape((unsigned char)v[i]) ? 3 : 1;
    }
    w = out = apr_palloc(p, n + 1);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)v[i];

        if (url_needs_escape(ch)) {
            *w++ = '%';
            *w++ = "0123456789ABCDEF"[ch >> 4];
            *w++ = "0123456789ABCDEF"[ch & 15];
        }
        else {
            *w++ = (char)ch;
        }
    }
    *w = '\0';
    *out_len = n;
    return out;
}

/* Validates one (already decoded) item and records it unless seen before. */
static int purge_add(rp_purge_ctx_t *c, int is_url, const char *v, size_t len, const char **err)
{
    apr_hash_t *seen = is_url ? c->seen_urls : c->seen_tags;
    const char *copy;

    if (++c->items > RP_PURGE_MAX_ITEMS) {
        *err = "too many items (at most 100)";
        return -1;
    }
    if (len == 0) {
        *err = is_url ? "empty url" : "empty tag";
        return -1;
    }
    if (memchr(v, '\0', len) != NULL || rp_has_ctl(v, len)) {
        *err = "control character in value";
        return -1;
    }
    if (is_url) {
        copy = url_escaped(c->p, v, len, &len);
        if (len > RP_PURGE_MAX_URL) {
            *err = "url too long";
            return -1;
        }
        if (rp_url_split(c->p, copy, NULL, NULL, NULL, NULL, NULL) < 0) {
            *err = "bad url (want /path or http(s)://host/path)";
            return -1;
        }
    }
    else {
        if (!rp_tag_ok(v, len)) {
            *err = "bad tag (1..128 visible ASCII bytes, no comma)";
            return -1;
        }
        copy = apr_pstrmemdup(c->p, v, len);
    }
    if (apr_hash_get(seen, copy, (apr_ssize_t)len) == NULL) {
        apr_hash_set(seen, copy, (apr_ssize_t)len, copy);
        *(const char **)apr_array_push(is_url ? c->urls : c->tags) = copy;
    }
    return 0;
}

static int purge_finish(rp_purge_ctx_t *c, rp_purge_req_t *out, const char **err)
{
    if (c->items == 0) {
        *err = "nothing to purge (give url= or tag=)";
        return -1;
    }
    out->urls = c->urls;
    out->tags = c->tags;
    return c->urls->nelts + c->tags->nelts;
}

/* Form-decodes src into dst (room for len bytes); returns the decoded length or -1. */
static long form_decode(const char *src, size_t len, char *dst)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '+') {
            dst[n++] = ' ';
        }
        else if (src[i] == '%') {
            int hi, lo;

            if (i + 2 >= len) {
                return -1;
            }
            hi = rp_hexval((unsigned char)src[i + 1]);
            lo = rp_hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            dst[n++] = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            dst[n++] = src[i];
        }
    }
    return (long)n;
}

/* Every '%' starts a %XX escape, as in any request-target. */
static int escapes_ok(const char *v, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (v[i] == '%' && (i + 2 >= len || rp_hexval((unsigned char)v[i + 1]) < 0
                            || rp_hexval((unsigned char)v[i + 2]) < 0)) {
            return 0;
        }
    }
    return 1;
}

/* A url= value written as a URL ("/..." or "http(s)://..."), not form-encoded
 * as a whole (a form encodes its '/' and ':' as %2F and %3A). */
static int url_given_as_is(const char *v, size_t len)
{
    return (len > 0 && v[0] == '/') || (len >= 7 && rp_mem_ieq(v, "http://", 7))
           || (len >= 8 && rp_mem_ieq(v, "https://", 8));
}

int rp_purge_parse_form(apr_pool_t *p, const char *body, size_t len,
                    rp_purge_req_t *out, const char **err)
{
    rp_purge_ctx_t c;
    const char *dummy;
    char *buf;
    size_t pos = 0;

    if (err == NULL) {
        err = &dummy;
    }
    *err = NULL;
    purge_out_empty(p, out);
    if (len > RP_PURGE_MAX_BODY) {
        *err = "body too large";
        return -1;
    }
    if (body == NULL && len > 0) {
        *err = "no body";
        return -1;
    }
    purge_ctx_init(&c, p);
    buf = apr_palloc(p, len + 1);   /* one decode buffer: a value never outgrows its bytes */
    while (pos < len) {
        const char *piece = body + pos;
        const char *amp = memchr(piece, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - piece) : len - pos;
        const char *eq = memchr(piece, '=', plen);
        size_t nlen = eq ? (size_t)(eq - piece) : plen;
        const char *val = eq ? eq + 1 : piece + plen;
        size_t vlen = plen - (size_t)(val - piece);
        int is_url;
        long dlen;

        pos += plen + (amp ? 1 : 0);
        if (plen == 0) {
            continue;
        }
        if (nlen == 3 && memcmp(piece, "url", 3) == 0) {
            is_url = 1;
        }
        else if (nlen == 3 && memcmp(piece, "tag", 3) == 0) {
            is_url = 0;
        }
        else {
            *err = unknown_field(p, piece, nlen);
            return -1;
        }
        if (is_url && url_given_as_is(val, vlen)) {
            /* "url=/app/caf%C3%A9", "url=/s?q=a%26b": a URL as typed, its
             * escapes its own; only a fully form-encoded one is decoded */
            if (!escapes_ok(val, vlen)) {
                *err = "bad percent-encoding";
                return -1;
            }
            memcpy(buf, val, vlen);
            dlen = (long)vlen;
        }
        else if ((dlen = form_decode(val, vlen, buf)) < 0) {
            *err = "bad percent-encoding";
            return -1;
        }
        if (purge_add(&c, is_url, buf, (size_t)dlen, err) < 0) {
            return -1;
        }
    }
    return purge_finish(&c, out, err);
}

/* The header's items; lenient (a backend's header, which no one reads an
 * error of): an item that cannot be made is counted in *bad and skipped,
 * and the others are still made, up to RP_PURGE_MAX_ITEMS. */
static int parse_header(apr_pool_t *p, const char *value, rp_purge_req_t *out,
                        const char **err, int lenient, int *bad)
{
    rp_purge_ctx_t c;
    const char *s = value;

    *err = NULL;
    purge_out_empty(p, out);
    if (value == NULL) {
        *err = "nothing to purge (give url= or tag=)";
        return -1;
    }
    if (strnlen(value, RP_PURGE_MAX_BODY + 1) > RP_PURGE_MAX_BODY) {
        *err = "header too large";
        return -1;
    }
    purge_ctx_init(&c, p);
    for (;;) {
        const char *item, *eq, *why = NULL;
        size_t len, nlen;
        int is_url = 0;

        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        item = s;
        while (*s != '\0' && *s != ' ' && *s != '\t' && *s != ',') {
            s++;
        }
        len = (size_t)(s - item);
        eq = memchr(item, '=', len);
        nlen = eq ? (size_t)(eq - item) : len;
        if (nlen == 3 && memcmp(item, "url", 3) == 0 && eq != NULL) {
            is_url = 1;
        }
        else if (nlen == 3 && memcmp(item, "tag", 3) == 0 && eq != NULL) {
            is_url = 0;
        }
        else if (eq == NULL) {
            why = "bad item (want url=... or tag=...)";
        }
        else {
            why = unknown_field(p, item, nlen);
        }
        if (why == NULL && lenient && c.items >= RP_PURGE_MAX_ITEMS) {
            why = "too many items (at most 100)";
        }
        if (why == NULL && purge_add(&c, is_url, eq + 1, len - nlen - 1, &why) < 0) {
            c.items--;                  /* (counted before it was judged) */
        }
        else if (why == NULL) {
            continue;
        }
        if (!lenient) {
            *err = why;
            return -1;
        }
        if (*err == NULL) {
            *err = why;
        }
        (*bad)++;
    }
    if (lenient && c.items == 0) {
        return 0;
    }
    return purge_finish(&c, out, err);
}

int rp_purge_parse_header(apr_pool_t *p, const char *value, rp_purge_req_t *out,
                          const char **err)
{
    const char *dummy;
    int bad = 0;

    return parse_header(p, value, out, err != NULL ? err : &dummy, 0, &bad);
}

int rp_purge_parse_header_each(apr_pool_t *p, const char *value,
                               rp_purge_req_t *out, const char **err, int *bad)
{
    const char *dummy;
    int none = 0;

    if (bad == NULL) {
        bad = &none;
    }
    *bad = 0;
    return parse_header(p, value, out, err != NULL ? err : &dummy, 1, bad);
}

static int reg_name_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~';
}

int rp_url_split(apr_pool_t *p, const char *url, const char **scheme, const char **host,
             unsigned *port, const char **path, const char **query)
{
    const char *s, *rest, *q, *h_start, *h_end;
    const char *out_scheme = NULL;
    char *out_host = NULL;
    unsigned out_port = 0;
    size_t i;

    if (url == NULL) {
        return -1;
    }
    for (s = url; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < 0x21 || c == 0x7f || c == '#') {
            return -1;
        }
    }

    if (url[0] == '/') {
        if (url[1] == '/') {
            return -1;  /* "//host/x" is a network-path reference, not a path */
        }
        rest = url;
    }
    else {
        if (rp_mem_ieq(url, "http://", 7)) {     /* stops at url's NUL: a mismatch */
            out_scheme = "http";
            out_port = 80;
            s = url + 7;
        }
        else if (rp_mem_ieq(url, "https://", 8)) {
            out_scheme = "https";
            out_port = 443;
            s = url + 8;
        }
        else {
            return -1;
        }
        h_start = s;
        if (*s == '[') {
            s++;
            while ((*s >= '0' && *s <= '9') || (rp_ascii_lower((unsigned char)*s) >= 'a'
                   && rp_ascii_lower((unsigned char)*s) <= 'f') || *s == ':' || *s == '.') {
                s++;
            }
            if (*s != ']' || s == h_start + 1) {
                return -1;
            }
            s++;
        }
        else {
            while (reg_name_byte((unsigned char)*s)) {
                s++;
            }
            if (s == h_start) {
                return -1;
            }
        }
        h_end = s;
        if (*s == ':') {
            unsigned long n = 0;
            const char *digits = ++s;

            while (*s >= '0' && *s <= '9' && s - digits < 6) {
                n = n * 10 + (unsigned long)(*s - '0');
                s++;
            }
            if (s == digits || s - digits > 5 || n == 0 || n > 65535) {
                return -1;
            }
            out_port = (unsigned)n;
        }
        if (*s != '\0' && *s != '/' && *s != '?') {
            return -1;  /* userinfo ('@'), stray bytes in the host, ... */
        }
        out_host = apr_pstrmemdup(p, h_start, (size_t)(h_end - h_start));
        for (i = 0; out_host[i] != '\0'; i++) {
            out_host[i] = (char)rp_ascii_lower((unsigned char)out_host[i]);
        }
        rest = s;
    }

    q = strchr(rest, '?');
    if (path != NULL) {
        if (rest[0] != '/') {
            *path = "/";
        }
        else {
            *path = q ? apr_pstrmemdup(p, rest, (size_t)(q - rest)) : rest;
        }
    }
    if (query != NULL) {
        *query = q ? q + 1 : NULL;
    }
    if (scheme != NULL) {
        *scheme = out_scheme;
    }
    if (host != NULL) {
        *host = out_host;
    }
    if (port != NULL) {
        *port = out_port;
    }
    return 0;
}
