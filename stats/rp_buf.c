/*
 * rp_buf.c: see rp_buf.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "rp_buf.h"

void rp_buf_init(rp_buf_t *b, apr_pool_t *p, size_t cap)
{
    b->pool = p;
    b->cap = cap < 64 ? 64 : cap;
    b->data = apr_palloc(p, b->cap);
    b->len = 0;
}

static void reserve(rp_buf_t *b, size_t n)
{
    size_t cap;
    char *d;

    if (b->len + n + 1 <= b->cap) {
        return;
    }
    cap = b->cap * 2;
    while (cap < b->len + n + 1) {
        cap *= 2;
    }
    d = apr_palloc(b->pool, cap);
    memcpy(d, b->data, b->len);
    b->data = d;
    b->cap = cap;
}

void rp_buf_add(rp_buf_t *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void rp_buf_puts(rp_buf_t *b, const char *s)
{
    rp_buf_add(b, s, strlen(s));
}

void rp_buf_printf(rp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    reserve(b, 256);
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void rp_buf_u64(rp_buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    rp_buf_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void rp_buf_fixed(rp_buf_t *b, uint64_t v, int scale, int decimals)
{
    uint64_t unit = 1, pow = 1, q;
    int i;

    if (decimals > scale) {
        decimals = scale;
    }
    for (i = 0; i < scale - decimals; i++) {
        unit *= 10;
    }
    for (i = 0; i < decimals; i++) {
        pow *= 10;
    }
    /* rounded half up, without overflowing near UINT64_MAX */
    q = v / unit + (v % unit >= unit - unit / 2 && unit > 1 ? 1 : 0);
    rp_buf_u64(b, q / pow);
    if (decimals > 0) {
        char tmp[24];
        uint64_t f = q % pow;
        for (i = decimals - 1; i >= 0; i--) {
            tmp[i] = (char)('0' + f % 10);
            f /= 10;
        }
        rp_buf_add(b, ".", 1);
        rp_buf_add(b, tmp, (size_t)decimals);
    }
}

void rp_buf_i64(rp_buf_t *b, int64_t v)
{
    if (v < 0) {
        rp_buf_add(b, "-", 1);
        rp_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    else {
        rp_buf_u64(b, (uint64_t)v);
    }
}

const char *rp_buf_cstr(rp_buf_t *b)
{
    reserve(b, 0);
    b->data[b->len] = '\0';
    return b->data;
}

size_t rp_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need, i;
    uint32_t cp;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        cp = c & 0x1F;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        cp = c & 0x0F;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        cp = c & 0x07;
    }
    else {
        return 0;
    }
    if (n < need) {
        return 0;
    }
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000)
        || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return need;
}

static const char hexdig[] = "0123456789abcdef";

void rp_buf_json_str(rp_buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, k;

    reserve(b, n + 2);
    rp_buf_add(b, "\"", 1);
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            /* copy a run of plain bytes at once */
            k = i + 1;
            while (k < n && s[k] >= 0x20 && s[k] < 0x7f && s[k] != '"'
                   && s[k] != '\\') {
                k++;
            }
            rp_buf_add(b, (const char *)s + i, k - i);
            i = k;
            continue;
        }
        if (c == '"') {
            rp_buf_add(b, "\\\"", 2);
        }
        else if (c == '\\') {
            rp_buf_add(b, "\\\\", 2);
        }
        else if (c == '\n') {
            rp_buf_add(b, "\\n", 2);
        }
        else if (c == '\r') {
            rp_buf_add(b, "\\r", 2);
        }
        else if (c == '\t') {
            rp_buf_add(b, "\\t", 2);
        }
        else if (c < 0x20 || c == 0x7f) {
            char esc[6] = { '\\', 'u', '0', '0', hexdig[c >> 4],
                            hexdig[c & 15] };
            rp_buf_add(b, esc, 6);
        }
        else if ((k = rp_utf8_seq(s + i, n - i)) > 0) {
            rp_buf_add(b, (const char *)s + i, k);
            i += k;
            continue;
        }
        else {
            rp_buf_add(b, "\\ufffd", 6);
        }
        i++;
    }
    rp_buf_add(b, "\"", 1);
}

#define U_FFFD "\xEF\xBF\xBD"

/* Copy s into b as valid UTF-8, replacing each byte `special` knows
 * (returning its replacement) and every invalid sequence by U+FFFD. */
static void escape_utf8(rp_buf_t *b, const char *str, size_t n,
                        const char *(*special)(unsigned char c))
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, k;
    const char *rep;

    while (i < n) {
        if ((rep = special(s[i])) != NULL) {
            rp_buf_puts(b, rep);
            i++;
        }
        else if (s[i] < 0x80) {
            rp_buf_add(b, (const char *)s + i, 1);
            i++;
        }
        else if ((k = rp_utf8_seq(s + i, n - i)) > 0) {
            rp_buf_add(b, (const char *)s + i, k);
            i += k;
        }
        else {
            rp_buf_add(b, U_FFFD, 3);
            i++;
        }
    }
}

static const char *html_special(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return (c < 0x20 || c == 0x7f) ? U_FFFD : NULL;
    }
}

static const char *prom_special(unsigned char c)
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '"':
        return "\\\"";
    case '\n':
        return "\\n";
    default:
        return (c < 0x20 || c == 0x7f) ? U_FFFD : NULL;
    }
}

void rp_buf_html(rp_buf_t *b, const char *s, size_t n)
{
    escape_utf8(b, s, n, html_special);
}

void rp_buf_prom_label(rp_buf_t *b, const char *s, size_t n)
{
    escape_utf8(b, s, n, prom_special);
}
