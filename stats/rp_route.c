/*
 * rp_route.c: see rp_route.h.
 */
#include <stdio.h>
#include <string.h>
#include "rp_route.h"

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

int rp_route_is_id_segment(const char *seg, size_t len)
{
    size_t i;
    int digits = 1;

    if (len == 0) {
        return 0;
    }
    /* UUID: 8-4-4-4-12 */
    if (len == 36 && seg[8] == '-' && seg[13] == '-' && seg[18] == '-'
        && seg[23] == '-') {
        for (i = 0; i < len; i++) {
            if (i != 8 && i != 13 && i != 18 && i != 23
                && !is_hex((unsigned char)seg[i])) {
                return 0;
            }
        }
        return 1;
    }
    /* all digits; or long hex: digests, object ids (md5 32, sha1 40,
     * mongo 24).  Most segments are words, decided at their first
     * letter past 'f' (or first letter, when short). */
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (c >= '0' && c <= '9') {
            continue;
        }
        if (len < 16 || !is_hex(c)) {
            return 0;
        }
        digits = 0;
    }
    return digits || len >= 16;
}

/* Copy n bytes if they fit entirely (so "{id}" is never cut in half and
 * a UTF-8 sequence never split); returns 0 when the output is full. */
static int put(char *out, size_t outsz, size_t *pos, const char *s, size_t n)
{
    if (*pos + n + 1 > outsz) {
        if (n == 4 && memcmp(s, "{id}", 4) == 0) {
            return 0;
        }
        /* take what fits, backing off to a UTF-8 boundary */
        size_t room = outsz - 1 - *pos;
        if (room > n) {
            room = n;
        }
        while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80) {
            room--;
        }
        memcpy(out + *pos, s, room);
        *pos += room;
        return 0;
    }
    memcpy(out + *pos, s, n);
    *pos += n;
    return 1;
}

size_t rp_route_normalize(const char *path, char *out, size_t outsz)
{
    size_t pos = 0, i = 0, start;

    if (outsz == 0) {
        return 0;
    }
    out[0] = '\0';
    if (path == NULL) {
        return 0;
    }
    for (;;) {
        start = i;
        while (path[i] && path[i] != '/' && path[i] != '?' && path[i] != '#') {
            i++;
        }
        if (rp_route_is_id_segment(path + start, i - start)) {
            if (!put(out, outsz, &pos, "{id}", 4)) {
                break;
            }
        }
        else if (!put(out, outsz, &pos, path + start, i - start)) {
            break;
        }
        if (path[i] != '/') {
            break;
        }
        if (!put(out, outsz, &pos, "/", 1)) {
            break;
        }
        i++;
    }
    out[pos] = '\0';
    return pos;
}

int rp_route_template_check(const char *tmpl, int nsub, char *err,
                            size_t errsz)
{
    const char *p;

    if (tmpl == NULL || *tmpl == '\0') {
        snprintf(err, errsz, "empty template");
        return -1;
    }
    for (p = tmpl; *p; p++) {
        /* a route is a path: never a query string or a fragment, which
         * the built-in grouping drops for the same reason */
        if (*p == '?' || *p == '#') {
            snprintf(err, errsz, "a route never holds '%c' (no query "
                     "string or fragment)", *p);
            return -1;
        }
        if (*p != '$') {
            continue;
        }
        p++;
        if (*p == '$') {
            continue;
        }
        if (*p < '0' || *p > '9') {
            snprintf(err, errsz, "'$' must be followed by a group number "
                     "0-9 or another '$'");
            return -1;
        }
        if (*p - '0' > nsub) {
            snprintf(err, errsz, "template uses group $%c but the regex "
                     "has only %d group%s", *p, nsub, nsub == 1 ? "" : "s");
            return -1;
        }
    }
    return 0;
}

size_t rp_route_expand(const char *tmpl, const char *subject,
                       const rp_span_t *m, int nm, char *out, size_t outsz)
{
    size_t pos = 0;
    const char *p;

    if (outsz == 0) {
        return 0;
    }
    for (p = tmpl; *p; p++) {
        if (*p == '$' && p[1] == '$') {
            if (!put(out, outsz, &pos, "$", 1)) {
                break;
            }
            p++;
        }
        else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            int g = p[1] - '0';
            p++;
            if (g < nm && m[g].so >= 0 && m[g].eo >= m[g].so) {
                if (!put(out, outsz, &pos, subject + m[g].so,
                         (size_t)(m[g].eo - m[g].so))) {
                    break;
                }
            }
        }
        else if (!put(out, outsz, &pos, p, 1)) {
            break;
        }
    }
    out[pos] = '\0';
    return pos;
}

const char *rp_route_method(const char *method)
{
    static const char *const known[] = {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
        "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
        "TRACE", "CONNECT", NULL
    };
    int i;

    if (method != NULL) {
        for (i = 0; known[i]; i++) {
            if (strcmp(known[i], method) == 0) {
                return known[i];
            }
        }
    }
    return "OTHER";
}
