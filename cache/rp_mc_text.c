/*
 * rp_mc_text.c: see rp_mc_text.h.
 */
#include <string.h>

#include "rp_mc_text.h"

void rp_mct_reader_init(rp_mct_reader_t *r, rp_mct_recv_fn recv, void *baton,
                        apr_pool_t *p, char *buf, size_t size,
                        size_t in_place_min)
{
    r->recv = recv;
    r->baton = baton;
    r->p = p;
    if (buf == NULL || size < RP_MCT_LINE_MAX + 2) {
        size = size < RP_MCT_LINE_MAX + 2 ? RP_MCT_LINE_MAX + 2 : size;
        buf = apr_palloc(p, size);
    }
    r->buf = buf;
    r->size = size;
    r->pos = 0;
    r->have = 0;
    r->in_place_min = in_place_min;
    r->pinned = 0;
}

int rp_mct_reader_pending(const rp_mct_reader_t *r)
{
    return r->have > r->pos;
}

int rp_mct_key_ok(const char *key, size_t len)
{
    size_t i;

    if (key == NULL || len == 0 || len > RP_MCT_KEY_MAX) {
        return 0;
    }
    /* eight bytes at a time: none below 33, none 127 (exact as a yes
     * or no; the loop below says which) */
    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t w, d;
        memcpy(&w, key + i, 8);
        d = w ^ 0x7f7f7f7f7f7f7f7fULL;
        if (((w - 0x2121212121212121ULL) & ~w & 0x8080808080808080ULL)
            | ((d - 0x0101010101010101ULL) & ~d & 0x8080808080808080ULL)) {
            break;
        }
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c <= 32 || c == 127) {
            return 0;
        }
    }
    return 1;
}

/* Appends to out[*at, outsz) ; 0 when it does not fit. */
static int put(char *out, size_t outsz, size_t *at, const char *s, size_t n)
{
    if (outsz - *at < n) {
        return 0;
    }
    memcpy(out + *at, s, n);
    *at += n;
    return 1;
}

static int put_uint(char *out, size_t outsz, size_t *at, uint64_t v)
{
    char digits[20];
    size_t n = 0;

    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return put(out, outsz, at, digits + sizeof(digits) - n, n);
}

size_t rp_mct_get_request(char *out, size_t outsz, const char *const *keys,
                          const size_t *lens, size_t n)
{
    size_t at = 0, i;

    if (n == 0 || !put(out, outsz, &at, "get", 3)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!rp_mct_key_ok(keys[i], lens[i])
            || !put(out, outsz, &at, " ", 1)
            || !put(out, outsz, &at, keys[i], lens[i])) {
            return 0;
        }
    }
    return put(out, outsz, &at, "\r\n", 2) ? at : 0;
}

size_t rp_mct_store_header(char *out, size_t outsz, int add, const char *key,
                           size_t klen, uint32_t ttl_s, size_t vlen)
{
    size_t at = 0;

    if (!rp_mct_key_ok(key, klen)
        || !put(out, outsz, &at, add ? "add " : "set ", 4)
        || !put(out, outsz, &at, key, klen)
        || !put(out, outsz, &at, " 0 ", 3)
        || !put_uint(out, outsz, &at, ttl_s)
        || !put(out, outsz, &at, " ", 1)
        || !put_uint(out, outsz, &at, vlen)
        || !put(out, outsz, &at, "\r\n", 2)) {
        return 0;
    }
    return at;
}

size_t rp_mct_delete_request(char *out, size_t outsz, const char *key,
                             size_t klen)
{
    size_t at = 0;

    if (!rp_mct_key_ok(key, klen)
        || !put(out, outsz, &at, "delete ", 7)
        || !put(out, outsz, &at, key, klen)
        || !put(out, outsz, &at, "\r\n", 2)) {
        return 0;
    }
    return at;
}

size_t rp_mct_incr_request(char *out, size_t outsz, const char *key,
                           size_t klen, uint64_t delta)
{
    size_t at = 0;

    if (!rp_mct_key_ok(key, klen)
        || !put(out, outsz, &at, "incr ", 5)
        || !put(out, outsz, &at, key, klen)
        || !put(out, outsz, &at, " ", 1)
        || !put_uint(out, outsz, &at, delta)
        || !put(out, outsz, &at, "\r\n", 2)) {
        return 0;
    }
    return at;
}

/* --- reading --------------------------------------------------------- */

static rp_mct_rc_t fill(rp_mct_reader_t *r)
{
    size_t keep = r->have - r->pos;
    long n;

    if (r->pinned) {
        /* a value returned lies in buf: what is unparsed goes on in a
         * new buffer, buf stays as it is */
        char *nb = apr_palloc(r->p, keep + 4096);
        memcpy(nb, r->buf + r->pos, keep);
        r->buf = nb;
        r->size = keep + 4096;
        r->pinned = 0;
        r->pos = 0;
        r->have = keep;
    }
    else if (r->pos > 0) {             /* keep what is unparsed, at 0 */
        memmove(r->buf, r->buf + r->pos, keep);
        r->have = keep;
        r->pos = 0;
    }
    if (r->have == r->size) {
        return RP_MCT_PROTOCOL;
    }
    n = r->recv(r->baton, r->buf + r->have, r->size - r->have);
    if (n == -2) {
        return RP_MCT_TIMEOUT;
    }
    if (n <= 0 || (size_t)n > r->size - r->have) {
        return RP_MCT_IO;
    }
    r->have += (size_t)n;
    return RP_MCT_OK;
}

/* The next line, without its CRLF: *line points into the reader's buffer
 * and stays valid until the next read. */
static rp_mct_rc_t read_line(rp_mct_reader_t *r, const char **line,
                             size_t *len)
{
    size_t scanned = 0;

    for (;;) {
        const char *start = r->buf + r->pos;
        size_t avail = r->have - r->pos;
        const char *lf = avail > scanned
                         ? memchr(start + scanned, '\n', avail - scanned)
                         : NULL;
        rp_mct_rc_t rc;

        if (lf != NULL) {
            size_t n = (size_t)(lf - start);
            if (n == 0 || start[n - 1] != '\r' || n - 1 > RP_MCT_LINE_MAX) {
                return RP_MCT_PROTOCOL;
            }
            *line = start;
            *len = n - 1;
            r->pos += n + 1;
            return RP_MCT_OK;
        }
        if (avail > RP_MCT_LINE_MAX + 1) {
            return RP_MCT_PROTOCOL;
        }
        scanned = avail;
        if ((rc = fill(r)) != RP_MCT_OK) {
            return rc;
        }
    }
}

static int is(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);

    return len == n && memcmp(line, word, n) == 0;
}

static int starts(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);

    return len >= n && memcmp(line, word, n) == 0;
}

/* An error line the server may send instead of any reply. */
static rp_mct_rc_t error_line(const char *line, size_t len)
{
    if (starts(line, len, "SERVER_ERROR")) {
        return RP_MCT_SERVER_ERROR;
    }
    if (is(line, len, "ERROR") || starts(line, len, "CLIENT_ERROR")) {
        return RP_MCT_CLIENT_ERROR;
    }
    return RP_MCT_PROTOCOL;
}

/* A decimal number of at most 20 digits that fits in 64 bits, ending at
 * *s's end or a space; *s moves past it. */
static int take_uint(const char **s, const char *end, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;

    if (p >= end || *p < '0' || *p > '9') {
        return 0;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
        p++;
    }
    if (p < end && *p != ' ') {
        return 0;
    }
    *s = p;
    *out = v;
    return 1;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": the key and the length. */
static int parse_value_line(const char *line, size_t len, const char **key,
                            size_t *klen, uint64_t *bytes)
{
    const char *p = line + 6, *end = line + len, *k;
    uint64_t flags, cas;

    if (!starts(line, len, "VALUE ")) {
        return 0;
    }
    k = p;
    while (p < end && *p != ' ') {
        p++;
    }
    if (p == k || p >= end) {
        return 0;
    }
    *key = k;
    *klen = (size_t)(p - k);
    p++;
    if (!take_uint(&p, end, &flags) || flags > UINT32_MAX || p >= end) {
        return 0;
    }
    p++;
    if (!take_uint(&p, end, bytes)) {
        return 0;
    }
    if (p < end) {                     /* the cas, if asked for (it is not) */
        p++;
        if (!take_uint(&p, end, &cas) || p != end) {
            return 0;
        }
    }
    return 1;
}

/* n bytes of the stream into dst: first what the buffer holds, then
 * straight from the source. */
static rp_mct_rc_t read_exact(rp_mct_reader_t *r, char *dst, size_t n)
{
    size_t from_buf = r->have - r->pos < n ? r->have - r->pos : n;

    memcpy(dst, r->buf + r->pos, from_buf);
    r->pos += from_buf;
    dst += from_buf;
    n -= from_buf;
    while (n > 0) {
        long got = r->recv(r->baton, dst, n);
        if (got == -2) {
            return RP_MCT_TIMEOUT;
        }
        if (got <= 0 || (size_t)got > n) {
            return RP_MCT_IO;
        }
        dst += got;
        n -= (size_t)got;
    }
    return RP_MCT_OK;
}

/* A value read into memory from p as its bytes come: at once up to
 * GROW_FROM bytes; past that in a buffer doubled as it fills, so that a
 * server announcing a long value and sending little of it makes a
 * request allocate about what it sent, not what it announced. */
#define GROW_FROM ((size_t)1 << 20)

static rp_mct_rc_t read_value(rp_mct_reader_t *r, apr_pool_t *p, size_t n,
                              char **out)
{
    size_t cap = n <= GROW_FROM ? n : GROW_FROM, have = 0;
    char *v = apr_palloc(p, cap);
    rp_mct_rc_t rc;

    for (;;) {
        if ((rc = read_exact(r, v + have, cap - have)) != RP_MCT_OK) {
            return rc;
        }
        have = cap;
        if (have == n) {
            *out = v;
            return RP_MCT_OK;
        }
        cap = cap > n / 2 ? n : cap * 2;
        {
            char *bigger = apr_palloc(p, cap);
            memcpy(bigger, v, have);
            v = bigger;
        }
    }
}

rp_mct_rc_t rp_mct_read_values(rp_mct_reader_t *r, apr_pool_t *p,
                               rp_store_item_t *items, const size_t *idx,
                               size_t m, size_t max_value)
{
    char answered[256];

    if (m > sizeof(answered)) {
        return RP_MCT_PROTOCOL;
    }
    memset(answered, 0, m);
    for (;;) {
        const char *line, *key;
        size_t len, klen, k;
        uint64_t bytes;
        char *v;
        rp_mct_rc_t rc;

        if ((rc = read_line(r, &line, &len)) != RP_MCT_OK) {
            return rc;
        }
        if (is(line, len, "END")) {
            return RP_MCT_OK;
        }
        if (!starts(line, len, "VALUE ")) {
            return error_line(line, len);
        }
        if (!parse_value_line(line, len, &key, &klen, &bytes)
            || bytes > max_value) {
            return RP_MCT_PROTOCOL;
        }
        for (k = 0; k < m; k++) {
            const rp_store_item_t *it = &items[idx[k]];
            if (!answered[k] && it->key_len == klen
                && memcmp(it->key, key, klen) == 0) {
                break;
            }
        }
        if (k == m) {
            return RP_MCT_PROTOCOL;    /* not asked for, or twice */
        }
        if (r->in_place_min != 0 && bytes >= r->in_place_min
            && r->have - r->pos >= bytes + 2) {
            /* all here: used where it lies */
            v = r->buf + r->pos;
            r->pos += (size_t)bytes + 2;
            r->pinned = 1;
        }
        else {
            /* the value and its CRLF in one piece of its own */
            if ((rc = read_value(r, p, (size_t)bytes + 2, &v)) != RP_MCT_OK) {
                return rc;
            }
        }
        if (v[bytes] != '\r' || v[bytes + 1] != '\n') {
            return RP_MCT_PROTOCOL;
        }
        v[bytes] = '\0';
        answered[k] = 1;
        items[idx[k]].value = v;
        items[idx[k]].value_len = (size_t)bytes;
        items[idx[k]].rc = RP_ST_OK;
    }
}

rp_mct_rc_t rp_mct_read_status(rp_mct_reader_t *r)
{
    const char *line;
    size_t len;
    rp_mct_rc_t rc;

    if ((rc = read_line(r, &line, &len)) != RP_MCT_OK) {
        return rc;
    }
    if (is(line, len, "STORED") || is(line, len, "DELETED")) {
        return RP_MCT_OK;
    }
    if (is(line, len, "NOT_STORED")) {
        return RP_MCT_NOTSTORED;
    }
    if (is(line, len, "EXISTS")) {
        return RP_MCT_EXISTS;
    }
    if (is(line, len, "NOT_FOUND")) {
        return RP_MCT_NOTFOUND;
    }
    return error_line(line, len);
}

rp_mct_rc_t rp_mct_read_incr(rp_mct_reader_t *r, uint64_t *value)
{
    const char *line, *p;
    size_t len;
    rp_mct_rc_t rc;

    if ((rc = read_line(r, &line, &len)) != RP_MCT_OK) {
        return rc;
    }
    if (is(line, len, "NOT_FOUND")) {
        return RP_MCT_NOTFOUND;
    }
    p = line;
    if (len > 0 && line[0] >= '0' && line[0] <= '9') {
        /* trailing spaces taken: memcached pads a stored number that a
         * decr made shorter, and may answer with them */
        const char *end = line + len;
        while (end > line && end[-1] == ' ') {
            end--;
        }
        if (take_uint(&p, end, value) && p == end) {
            return RP_MCT_OK;
        }
        return RP_MCT_PROTOCOL;
    }
    return error_line(line, len);
}
