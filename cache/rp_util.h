/*
 * rp_util.h: tiny character-class helpers shared by the cache core.
 *
 * Everything here is static inline and locale-free on purpose: the core parses
 * hostile bytes inside threaded Apache children, where <ctype.h> would depend on
 * the process locale and treat bytes >= 0x80 differently from one machine to the
 * next. Private to cache/; not part of any public API.
 */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stddef.h>

/* RFC 9110 OWS: the spaces a header value may hold around its items. */
static inline int rp_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* s past any spaces and tabs. */
static inline const char *rp_skip_ows(const char *s)
{
    while (rp_is_ows(*s)) {
        s++;
    }
    return s;
}

static inline unsigned char rp_ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* RFC 7230 tchar: the bytes a header name or directive name may hold. */
static inline int rp_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

static inline int rp_is_token(const char *s, size_t len)
{
    size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!rp_is_tchar((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Visible ASCII, the byte range allowed in tags and memcached keys. */
static inline int rp_is_vchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* Case-insensitive (ASCII) comparison of a span against a NUL-terminated word. */
static inline int rp_span_ieq(const char *s, size_t len, const char *word)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (word[i] == '\0' || rp_ascii_lower((unsigned char)s[i])
            != rp_ascii_lower((unsigned char)word[i])) {
            return 0;
        }
    }
    return word[len] == '\0';
}

/* ASCII case-insensitive equality of two spans of the same length. */
static inline int rp_mem_ieq(const char *a, const char *b, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (rp_ascii_lower((unsigned char)a[i]) != rp_ascii_lower((unsigned char)b[i])) {
            return 0;
        }
    }
    return 1;
}

/* ASCII case-insensitive equality of two C strings (strcasecmp follows the locale). */
static inline int rp_str_ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (rp_ascii_lower((unsigned char)*a) != rp_ascii_lower((unsigned char)*b)) {
            return 0;
        }
    }
    return *a == *b;
}

/* The value of a hex digit, either case; -1 for any other byte. */
static inline int rp_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = rp_ascii_lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Whether a span holds a control byte (below 0x20, or DEL): what lets a
 * value fake a line or field break in a key, a log or a purge. */
static inline int rp_has_ctl(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) {
            return 1;
        }
    }
    return 0;
}

#endif /* RP_UTIL_H */
