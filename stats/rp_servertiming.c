/*
 * rp_servertiming.c: see rp_servertiming.h for the rules.
 */
#include <string.h>
#include "rp_servertiming.h"

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p;
}

static const char *token(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p)) {
        p++;
    }
    return p;
}

/* p at the opening quote: past the closing one, or NULL when the string
 * does not end or holds a byte RFC 9110 does not allow there. */
static const char *quoted(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            return p + 1;
        }
        if (c == '\\') {
            if (++p >= end) {
                return NULL;
            }
            c = (unsigned char)*p;
            if (c != '\t' && (c < 0x20 || c == 0x7f)) {
                return NULL;
            }
            continue;
        }
        if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            return NULL;
        }
    }
    return NULL;
}

/* From inside a malformed element to the comma that ends it (or the end),
 * without validating: a quoted string, even a bad one, may hold commas. */
static const char *skip_element(const char *p, const char *end)
{
    while (p < end && *p != ',') {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end) {
                    p++;
                }
            }
        }
        if (p < end) {
            p++;
        }
    }
    return p;
}

/* "12", "12.5", ".5", "12." as milliseconds, to microseconds rounded
 * half up on the fourth decimal; 0 on success. */
static int decimal_ms(const char *s, const char *e, uint64_t *us)
{
    uint64_t ms = 0, frac = 0;
    int digits = 0, fdigits = 0, round = 0;

    for (; s < e && *s >= '0' && *s <= '9'; s++, digits++) {
        ms = ms * 10 + (uint64_t)(*s - '0');
        if (ms > RP_ST_DUR_MAX_MS) {
            return -1;
        }
    }
    if (s < e && *s == '.') {
        for (s++; s < e && *s >= '0' && *s <= '9'; s++, digits++) {
            if (fdigits < 3) {
                frac = frac * 10 + (uint64_t)(*s - '0');
            }
            else if (fdigits == 3) {
                round = *s >= '5';
            }
            fdigits++;
        }
    }
    if (s != e || digits == 0) {
        return -1;
    }
    while (fdigits < 3) {
        frac *= 10;
        fdigits++;
    }
    *us = ms * 1000 + frac + (uint64_t)round;
    return *us > RP_ST_DUR_MAX_MS * 1000 ? -1 : 0;
}

void rp_st_init(rp_st_cursor_t *c, const char *value, size_t len)
{
    c->p = value;
    c->end = value ? value + len : value;
}

int rp_st_valid_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > RP_ST_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_tchar(c) || (c >= 'A' && c <= 'Z')) {
            return 0;
        }
    }
    return 1;
}

/* One element at c->p (OWS already skipped, not empty): 0 and *m, or -1
 * with c->p where the element went wrong. */
static int element(rp_st_cursor_t *c, rp_st_metric_t *m)
{
    const char *p = c->p, *end = c->end, *name_end, *v, *v_end;
    size_t i, n;
    int is_dur;

    name_end = token(p, end);
    n = (size_t)(name_end - p);
    if (n == 0) {
        return -1;
    }
    if (n > RP_ST_NAME_MAX) {
        n = RP_ST_NAME_MAX;                /* a token: ASCII, cut anywhere */
    }
    for (i = 0; i < n; i++) {
        char ch = p[i];
        m->name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    m->name[n] = '\0';
    m->name_len = n;
    m->has_dur = 0;
    m->dur_us = 0;
    p = ows(name_end, end);
    while (p < end && *p == ';') {
        const char *pn = ows(p + 1, end);
        p = token(pn, end);
        if (p == pn) {
            c->p = p;
            return -1;
        }
        is_dur = p - pn == 3 && (pn[0] | 0x20) == 'd' && (pn[1] | 0x20) == 'u'
                 && (pn[2] | 0x20) == 'r';
        p = ows(p, end);
        if (p >= end || *p != '=') {
            if (is_dur && !m->has_dur) {
                c->p = p;
                return -1;                 /* "dur" without a value */
            }
            continue;                      /* a flag parameter: ignored */
        }
        p = ows(p + 1, end);
        if (p < end && *p == '"') {
            const char *q = quoted(p, end);
            if (q == NULL) {
                c->p = p;
                return -1;
            }
            v = p + 1;
            v_end = q - 1;
            p = q;
        }
        else {
            v = p;
            v_end = p = token(p, end);
            if (v_end == v) {
                c->p = p;
                return -1;
            }
        }
        if (is_dur && !m->has_dur) {
            if (decimal_ms(v, v_end, &m->dur_us) != 0) {
                c->p = p;
                return -1;
            }
            m->has_dur = 1;
        }
        p = ows(p, end);
    }
    c->p = p;
    return (p < end && *p != ',') ? -1 : 0;
}

int rp_st_next(rp_st_cursor_t *c, rp_st_metric_t *m, uint32_t *malformed)
{
    while (c->p != NULL && c->p < c->end) {
        int rc;

        c->p = ows(c->p, c->end);
        if (c->p >= c->end) {
            break;
        }
        if (*c->p == ',') {
            c->p++;                        /* an empty list element */
            continue;
        }
        rc = element(c, m);
        if (rc != 0) {
            c->p = skip_element(c->p, c->end);
            (*malformed)++;
        }
        if (c->p < c->end) {
            c->p++;                        /* the comma */
        }
        if (rc == 0) {
            return 1;
        }
    }
    return 0;
}
