/*
 * rp_entry.c: encoder and decoder of the stored entry format (see rp_entry.h).
 *
 * One check function defines what a valid entry is; the encoder refuses what it
 * rejects and the decoder applies the same rules to bytes from the network, so
 * anything we write we can read back and anything we read we could have written.
 * Integers go through put/get helpers byte by byte: stored bytes have no
 * alignment and the host may not be little-endian.
 */
#include <string.h>

#include <apr_strings.h>
#include "rp_xxh.h"

#include "rp_entry.h"
#include "rp_util.h"

/* magic, version, kind, total_len: enough to tell what the buffer claims to be. */
#define RP_ENTRY_PREAMBLE  12u
/* Every fixed-width field: preamble, key_len, status..reserved, five 64-bit fields. */
#define RP_ENTRY_FIXED     (RP_ENTRY_PREAMBLE + 4u + 8u + 40u)
/* Fixed fields plus body_len and checksum: the smallest possible entry. */
#define RP_ENTRY_MIN_SIZE  (RP_ENTRY_FIXED + 4u + 8u)

/* ---- byte-wise little-endian writer; the caller has sized the buffer ---- */

typedef struct {
    unsigned char *p;
} rp_writer_t;

static void put_uint(rp_writer_t *w, uint64_t v, int nbytes)
{
    int i;

    for (i = 0; i < nbytes; i++) {
        *w->p++ = (unsigned char)(v >> (8 * i));
    }
}

static void put_bytes(rp_writer_t *w, const void *src, size_t n)
{
    if (n > 0) {
        memcpy(w->p, src, n);
        w->p += n;
    }
}

/* ---- bounded reader: every get fails rather than read past the end ---- */

typedef struct {
    const unsigned char *p;
    size_t left;
} rp_reader_t;

/* nbytes (2, 4 or 8) little-endian bytes at p */
static uint64_t load_uint(const unsigned char *p, int nbytes)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* one load each (they run for every field of every entry read) */
    uint16_t v2;
    uint32_t v4;
    uint64_t v8;

    switch (nbytes) {
    case 2:
        memcpy(&v2, p, 2);
        return v2;
    case 4:
        memcpy(&v4, p, 4);
        return v4;
    case 8:
        memcpy(&v8, p, 8);
        return v8;
    default:
        break;
    }
#endif
    {
        uint64_t x = 0;
        int i;

        for (i = 0; i < nbytes; i++) {
            x |= (uint64_t)p[i] << (8 * i);
        }
        return x;
    }
}

static int get_uint(rp_reader_t *r, int nbytes, uint64_t *v)
{
    if (r->left < (size_t)nbytes) {
        return -1;
    }
    *v = load_uint(r->p, nbytes);
    r->p += nbytes;
    r->left -= (size_t)nbytes;
    return 0;
}

static const unsigned char *get_bytes(rp_reader_t *r, size_t n)
{
    const unsigned char *s = r->p;

    if (r->left < n) {
        return NULL;
    }
    r->p += n;
    r->left -= n;
    return s;
}

/* ---- content rules shared by encode and decode ---- */

static int status_ok(rp_entry_kind_t kind, uint64_t status)
{
    if (status >= 100 && status <= 599) {
        return 1;
    }
    /* A vary index describes a URL, not a response; it may not have a status. */
    return (kind == RP_ENTRY_VARY_INDEX || kind == RP_ENTRY_PASS) && status == 0;
}

static rp_entry_status_t tag_check(const char *tag, size_t len)
{
    size_t i;

    if (len == 0) {
        return RP_ENTRY_EFORMAT;
    }
    if (len > RP_ENTRY_MAX_TAG_LEN) {
        return RP_ENTRY_ELIMIT;
    }
    for (i = 0; i < len; i++) {
        if (!rp_is_vchar((unsigned char)tag[i])) {
            return RP_ENTRY_EFORMAT;
        }
    }
    return RP_ENTRY_OK;
}

/* Whether a word holds a zero byte (exact as a yes or no). */
#define HAS_ZERO_BYTE(w) (((w) - 0x0101010101010101ULL) & ~(w) \
                          & 0x8080808080808080ULL)

static int header_value_ok(const char *v, size_t len)
{
    size_t i = 0;

    /* eight bytes at a time: no NUL, CR or LF among them */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, v + i, 8);
        if (HAS_ZERO_BYTE(w) | HAS_ZERO_BYTE(w ^ 0x0d0d0d0d0d0d0d0dULL)
            | HAS_ZERO_BYTE(w ^ 0x0a0a0a0a0a0a0a0aULL)) {
            break;                     /* the bytes below say which */
        }
    }
    for (; i < len; i++) {
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') {
            return 0;
        }
    }
    return 1;
}

/*
 * Validates e and computes its encoded size. Lengths of C strings are measured
 * with strnlen bounded by the limit, so an unterminated or huge string costs at
 * most the limit to reject.
 */
static rp_entry_status_t entry_check(const rp_entry_t *e, size_t *size)
{
    size_t total = RP_ENTRY_MIN_SIZE;
    size_t header_bytes = 0;
    uint32_t i;

    *size = 0;
    if (e == NULL) {
        return RP_ENTRY_EFORMAT;
    }
    if (e->kind != RP_ENTRY_PAGE && e->kind != RP_ENTRY_VARY_INDEX
        && e->kind != RP_ENTRY_PASS) {
        return RP_ENTRY_EFORMAT;
    }
    if (e->status < 0 || !status_ok(e->kind, (uint64_t)e->status) || e->grace_us < 0
        || e->stale_if_error_us < 0) {
        return RP_ENTRY_EFORMAT;
    }
    if (e->key_len > RP_ENTRY_MAX_KEY) {
        return RP_ENTRY_ELIMIT;
    }
    if (e->key == NULL && e->key_len > 0) {
        return RP_ENTRY_EFORMAT;
    }
    total += e->key_len;

    if (e->n_tags > RP_ENTRY_MAX_TAGS) {
        return RP_ENTRY_ELIMIT;
    }
    if (e->n_tags > 0 && (e->tags == NULL || e->tag_gens == NULL)) {
        return RP_ENTRY_EFORMAT;
    }
    for (i = 0; i < e->n_tags; i++) {
        size_t len;
        rp_entry_status_t st;

        if (e->tags[i] == NULL) {
            return RP_ENTRY_EFORMAT;
        }
        len = strnlen(e->tags[i], RP_ENTRY_MAX_TAG_LEN + 1);
        if ((st = tag_check(e->tags[i], len)) != RP_ENTRY_OK) {
            return st;
        }
        total += 2 + len + 8;
    }

    if (e->n_headers > RP_ENTRY_MAX_HEADERS) {
        return RP_ENTRY_ELIMIT;
    }
    if (e->n_headers > 0 && e->headers == NULL) {
        return RP_ENTRY_EFORMAT;
    }
    for (i = 0; i < e->n_headers; i++) {
        const rp_header_t *h = &e->headers[i];
        size_t budget = RP_ENTRY_MAX_HEADER_BYTES - header_bytes;
        size_t nlen, vlen;

        if (h->name == NULL || h->value == NULL) {
            return RP_ENTRY_EFORMAT;
        }
        nlen = strnlen(h->name, budget + 1);
        if (nlen > budget) {
            return RP_ENTRY_ELIMIT;
        }
        vlen = strnlen(h->value, budget - nlen + 1);
        if (vlen > budget - nlen) {
            return RP_ENTRY_ELIMIT;
        }
        if (!rp_is_token(h->name, nlen) || !header_value_ok(h->value, vlen)) {
            return RP_ENTRY_EFORMAT;
        }
        header_bytes += nlen + vlen;
        total += 2 + nlen + 4 + vlen;
    }

    if (e->body_len > RP_ENTRY_MAX_BODY) {
        return RP_ENTRY_ELIMIT;
    }
    if (e->body == NULL && e->body_len > 0) {
        return RP_ENTRY_EFORMAT;
    }
    total += e->body_len;
    /* Bounded by the limits to about 64.1 MiB, so it always fits total_len's u32. */
    *size = total;
    return RP_ENTRY_OK;
}

size_t rp_entry_encoded_size(const rp_entry_t *e)
{
    size_t size;

    return entry_check(e, &size) == RP_ENTRY_OK ? size : 0;
}

rp_entry_status_t rp_entry_encode(const rp_entry_t *e, char *buf, size_t bufsize, size_t *written)
{
    rp_writer_t w;
    size_t size;
    rp_entry_status_t st;
    uint32_t i;

    if (written != NULL) {
        *written = 0;
    }
    if ((st = entry_check(e, &size)) != RP_ENTRY_OK) {
        return st;
    }
    if (buf == NULL || bufsize < size) {
        if (written != NULL) {
            *written = size;
        }
        return RP_ENTRY_ETRUNC;
    }

    w.p = (unsigned char *)buf;
    put_bytes(&w, RP_ENTRY_MAGIC, 4);
    put_uint(&w, RP_ENTRY_VERSION, 2);
    put_uint(&w, (uint64_t)e->kind, 2);
    put_uint(&w, size, 4);
    put_uint(&w, e->key_len, 4);
    put_bytes(&w, e->key, e->key_len);
    put_uint(&w, (uint64_t)e->status, 2);
    put_uint(&w, e->n_headers, 2);
    put_uint(&w, e->n_tags, 2);
    put_uint(&w, 0, 2);
    put_uint(&w, (uint64_t)e->stored_us, 8);
    put_uint(&w, (uint64_t)e->fresh_until_us, 8);
    put_uint(&w, (uint64_t)e->grace_us, 8);
    put_uint(&w, (uint64_t)e->stale_if_error_us, 8);
    put_uint(&w, e->url_gen, 8);
    for (i = 0; i < e->n_tags; i++) {
        size_t len = strlen(e->tags[i]);   /* bounded: entry_check measured it */

        put_uint(&w, len, 2);
        put_bytes(&w, e->tags[i], len);
        put_uint(&w, e->tag_gens[i], 8);
    }
    for (i = 0; i < e->n_headers; i++) {
        size_t nlen = strlen(e->headers[i].name);
        size_t vlen = strlen(e->headers[i].value);

        put_uint(&w, nlen, 2);
        put_bytes(&w, e->headers[i].name, nlen);
        put_uint(&w, vlen, 4);
        put_bytes(&w, e->headers[i].value, vlen);
    }
    put_uint(&w, e->body_len, 4);
    put_bytes(&w, e->body, e->body_len);
    put_uint(&w, XXH3_64bits(buf, size - 8), 8);

    if (written != NULL) {
        *written = size;
    }
    return RP_ENTRY_OK;
}

char *rp_entry_encode_pool(const rp_entry_t *e, apr_pool_t *p, size_t *len,
                     rp_entry_status_t *st)
{
    rp_entry_status_t rc;
    size_t size, written;
    char *buf = NULL;

    if (len != NULL) {
        *len = 0;
    }
    rc = entry_check(e, &size);
    if (rc == RP_ENTRY_OK) {
        buf = apr_palloc(p, size);
        rc = rp_entry_encode(e, buf, size, &written);
    }
    if (st != NULL) {
        *st = rc;
    }
    if (rc != RP_ENTRY_OK) {
        return NULL;
    }
    if (len != NULL) {
        *len = written;
    }
    return buf;
}

/* A length of nbytes bytes, then that many bytes (into *bytes): a
 * length above max is over a limit, a short read a bad format. */
static rp_entry_status_t get_sized(rp_reader_t *r, int nbytes, uint64_t max,
                                   const unsigned char **bytes, uint64_t *len)
{
    if (get_uint(r, nbytes, len) < 0) {
        return RP_ENTRY_EFORMAT;
    }
    if (*len > max) {
        return RP_ENTRY_ELIMIT;
    }
    if ((*bytes = get_bytes(r, (size_t)*len)) == NULL) {
        return RP_ENTRY_EFORMAT;
    }
    return RP_ENTRY_OK;
}

/* verify 0: the bytes are a copy of bytes decode_body() accepted with
 * verify 1 (or rp_entry_encode() made, which checks the same): every
 * bound is still checked, the bytes of tags, names and values are not
 * looked at again. */
static rp_entry_status_t decode_body(rp_reader_t *r, const char *buf, apr_pool_t *p,
                                     rp_entry_t *out, int verify)
{
    uint64_t v, n_headers, n_tags, status;
    size_t header_bytes = 0;
    const unsigned char *bytes;
    rp_entry_status_t st;
    uint32_t i;

    /* key */
    if ((st = get_sized(r, 4, RP_ENTRY_MAX_KEY, &bytes, &v)) != RP_ENTRY_OK) {
        return st;
    }
    out->key = buf + (bytes - (const unsigned char *)buf);
    out->key_len = (size_t)v;

    /* fixed fields; the checksum already proved r holds them, but stay bounded */
    if (get_uint(r, 2, &status) < 0 || get_uint(r, 2, &n_headers) < 0
        || get_uint(r, 2, &n_tags) < 0 || get_uint(r, 2, &v) < 0) {
        return RP_ENTRY_EFORMAT;
    }
    if (v != 0 || !status_ok(out->kind, status)) {
        return RP_ENTRY_EFORMAT;
    }
    if (n_headers > RP_ENTRY_MAX_HEADERS || n_tags > RP_ENTRY_MAX_TAGS) {
        return RP_ENTRY_ELIMIT;
    }
    out->status = (int)status;
    if (get_uint(r, 8, &v) < 0) {
        return RP_ENTRY_EFORMAT;
    }
    out->stored_us = (int64_t)v;
    if (get_uint(r, 8, &v) < 0) {
        return RP_ENTRY_EFORMAT;
    }
    out->fresh_until_us = (int64_t)v;
    if (get_uint(r, 8, &v) < 0) {
        return RP_ENTRY_EFORMAT;
    }
    out->grace_us = (int64_t)v;
    if (out->grace_us < 0) {
        return RP_ENTRY_EFORMAT;
    }
    if (get_uint(r, 8, &v) < 0) {
        return RP_ENTRY_EFORMAT;
    }
    out->stale_if_error_us = (int64_t)v;
    if (out->stale_if_error_us < 0) {
        return RP_ENTRY_EFORMAT;
    }
    if (get_uint(r, 8, &out->url_gen) < 0) {
        return RP_ENTRY_EFORMAT;
    }

    /* tags: counts are capped above, so these arrays are small whatever len is */
    if (n_tags > 0) {
        out->tags = apr_palloc(p, (size_t)n_tags * sizeof(*out->tags));
        out->tag_gens = apr_palloc(p, (size_t)n_tags * sizeof(*out->tag_gens));
    }
    for (i = 0; i < n_tags; i++) {
        if ((st = get_sized(r, 2, RP_ENTRY_MAX_TAG_LEN, &bytes, &v))
            != RP_ENTRY_OK) {
            return st;
        }
        if (verify
            && (st = tag_check((const char *)bytes, (size_t)v)) != RP_ENTRY_OK) {
            return st;
        }
        out->tags[i] = apr_pstrmemdup(p, (const char *)bytes, (size_t)v);
        if (get_uint(r, 8, &out->tag_gens[i]) < 0) {
            return RP_ENTRY_EFORMAT;
        }
        out->n_tags = i + 1;
    }

    /* headers */
    if (n_headers > 0) {
        out->headers = apr_palloc(p, (size_t)n_headers * sizeof(*out->headers));
    }
    for (i = 0; i < n_headers; i++) {
        const unsigned char *name, *value;
        uint64_t nlen, vlen;

        if (get_uint(r, 2, &nlen) < 0 || (name = get_bytes(r, (size_t)nlen)) == NULL
            || get_uint(r, 4, &vlen) < 0 || (value = get_bytes(r, (size_t)vlen)) == NULL) {
            return RP_ENTRY_EFORMAT;
        }
        /* Both lengths are below the bytes present, so the sum cannot overflow. */
        header_bytes += (size_t)nlen + (size_t)vlen;
        if (header_bytes > RP_ENTRY_MAX_HEADER_BYTES) {
            return RP_ENTRY_ELIMIT;
        }
        if (verify
            && (!rp_is_token((const char *)name, (size_t)nlen)
                || !header_value_ok((const char *)value, (size_t)vlen))) {
            return RP_ENTRY_EFORMAT;
        }
        out->headers[i].name = apr_pstrmemdup(p, (const char *)name, (size_t)nlen);
        out->headers[i].value = apr_pstrmemdup(p, (const char *)value, (size_t)vlen);
        out->n_headers = i + 1;
    }

    /* body, then nothing */
    if ((st = get_sized(r, 4, RP_ENTRY_MAX_BODY, &bytes, &v)) != RP_ENTRY_OK) {
        return st;
    }
    out->body = buf + (bytes - (const unsigned char *)buf);
    out->body_len = (size_t)v;
    if (r->left != 0) {
        return RP_ENTRY_EFORMAT;
    }
    return RP_ENTRY_OK;
}

static rp_entry_status_t decode(const char *buf, size_t len, apr_pool_t *p,
                                rp_entry_t *out, int verify)
{
    const unsigned char *u = (const unsigned char *)buf;
    uint64_t version, kind, total_len;
    rp_reader_t r;
    rp_entry_status_t st;

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < RP_ENTRY_PREAMBLE) {
        return RP_ENTRY_ETRUNC;
    }
    if (memcmp(u, RP_ENTRY_MAGIC, 4) != 0) {
        return RP_ENTRY_EMAGIC;
    }
    version = load_uint(u + 4, 2);
    if (version != RP_ENTRY_VERSION) {
        return RP_ENTRY_EVERSION;
    }
    kind = load_uint(u + 6, 2);
    if (kind != RP_ENTRY_PAGE && kind != RP_ENTRY_VARY_INDEX
        && kind != RP_ENTRY_PASS) {
        return RP_ENTRY_EFORMAT;
    }
    total_len = load_uint(u + 8, 4);
    if (total_len > len) {
        return RP_ENTRY_ETRUNC;
    }
    if (total_len < len || total_len < RP_ENTRY_MIN_SIZE) {
        return RP_ENTRY_EFORMAT;
    }
    /* Nothing past the preamble is looked at before the checksum matches. */
    if (verify && XXH3_64bits(buf, len - 8) != load_uint(u + len - 8, 8)) {
        return RP_ENTRY_ECHECKSUM;
    }

    out->kind = (rp_entry_kind_t)kind;
    r.p = u + RP_ENTRY_PREAMBLE;
    r.left = len - RP_ENTRY_PREAMBLE - 8;
    st = decode_body(&r, buf, p, out, verify);
    if (st != RP_ENTRY_OK) {
        memset(out, 0, sizeof(*out));
    }
    return st;
}

uint64_t rp_entry_sum(const char *buf, size_t len)
{
    return buf != NULL && len >= 8
           ? load_uint((const unsigned char *)buf + len - 8, 8) : 0;
}

rp_entry_status_t rp_entry_decode(const char *buf, size_t len, apr_pool_t *p,
                                  rp_entry_t *out)
{
    return decode(buf, len, p, out, 1);
}

rp_entry_status_t rp_entry_decode_trusted(const char *buf, size_t len,
                                          apr_pool_t *p, rp_entry_t *out)
{
    return decode(buf, len, p, out, 0);
}

const char *rp_entry_strerror(rp_entry_status_t st)
{
    switch (st) {
    case RP_ENTRY_OK:        return "ok";
    case RP_ENTRY_ETRUNC:    return "truncated";
    case RP_ENTRY_EMAGIC:    return "bad magic";
    case RP_ENTRY_EVERSION:  return "unsupported version";
    case RP_ENTRY_ECHECKSUM: return "checksum mismatch";
    case RP_ENTRY_EFORMAT:   return "malformed";
    case RP_ENTRY_ELIMIT:    return "over limit";
    }
    return "unknown error";
}
