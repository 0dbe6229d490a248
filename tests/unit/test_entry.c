/*
 * test_entry.c: the stored entry codec. Round trips of every field, and above
 * all rejection: every flipped byte, every truncation, hostile lengths and bad
 * content inside a buffer whose checksum is valid (hand-built with an
 * independent writer that follows the format documented in rp_entry.h, so the
 * documentation is tested too).
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <xxhash.h>

#include "rp_test.h"
#include "cache/rp_entry.h"

static const char BODY[] = "<html>\0binary\xff\x00\x01 body</html>";
#define BODY_LEN (sizeof(BODY) - 1)

static const char *TAGS[] = { "invoice-123", "customer-7" };
static uint64_t TAG_GENS[] = { 5, UINT64_MAX };
static rp_header_t HEADERS[] = {
    { "Content-Type", "text/html; charset=utf-8" },
    { "ETag", "\"abc\"" },
    { "X-Empty", "" },
};

static rp_entry_t sample_entry(void)
{
    rp_entry_t e;

    memset(&e, 0, sizeof(e));
    e.kind = RP_ENTRY_PAGE;
    e.key = "https://example.com:443/a?b=1\naccept-encoding:gzip";
    e.key_len = strlen(e.key);
    e.status = 200;
    e.stored_us = 1700000000123456LL;
    e.fresh_until_us = 1700000060123456LL;
    e.grace_us = 30000000;
    e.stale_if_error_us = 86400000000LL;
    e.url_gen = 42;
    e.n_tags = 2;
    e.tags = TAGS;
    e.tag_gens = TAG_GENS;
    e.n_headers = 3;
    e.headers = HEADERS;
    e.body = BODY;
    e.body_len = BODY_LEN;
    return e;
}

static void assert_entries_equal(const rp_entry_t *a, const rp_entry_t *b)
{
    uint32_t i;

    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->key_len, b->key_len);
    assert_memory_equal(a->key, b->key, a->key_len);
    assert_int_equal(a->status, b->status);
    assert_true(a->stored_us == b->stored_us);
    assert_true(a->fresh_until_us == b->fresh_until_us);
    assert_true(a->grace_us == b->grace_us);
    assert_true(a->stale_if_error_us == b->stale_if_error_us);
    assert_true(a->url_gen == b->url_gen);
    assert_int_equal(a->n_tags, b->n_tags);
    for (i = 0; i < a->n_tags; i++) {
        assert_string_equal(a->tags[i], b->tags[i]);
        assert_true(a->tag_gens[i] == b->tag_gens[i]);
    }
    assert_int_equal(a->n_headers, b->n_headers);
    for (i = 0; i < a->n_headers; i++) {
        assert_string_equal(a->headers[i].name, b->headers[i].name);
        assert_string_equal(a->headers[i].value, b->headers[i].value);
    }
    assert_int_equal(a->body_len, b->body_len);
    if (a->body_len > 0) {
        assert_memory_equal(a->body, b->body, a->body_len);
    }
}

/* ---- an independent writer of the documented format ---- */

typedef struct {
    unsigned char *b;
    size_t n;
} raw_t;

static void raw_u(raw_t *r, uint64_t v, int nbytes)
{
    int i;

    for (i = 0; i < nbytes; i++) {
        r->b[r->n++] = (unsigned char)(v >> (8 * i));
    }
}

static void raw_bytes(raw_t *r, const void *s, size_t n)
{
    memcpy(r->b + r->n, s, n);
    r->n += n;
}

/* magic, version, kind, total_len placeholder, then key and the fixed fields. */
static void raw_begin(raw_t *r, apr_pool_t *p, unsigned kind, const char *key, uint64_t key_len,
          unsigned status, unsigned n_headers, unsigned n_tags)
{
    r->b = apr_pcalloc(p, 1 << 20);
    r->n = 0;
    raw_bytes(r, "RPCE", 4);
    raw_u(r, RP_ENTRY_VERSION, 2);
    raw_u(r, kind, 2);
    raw_u(r, 0, 4);
    raw_u(r, key_len, 4);
    if (key != NULL) {
        raw_bytes(r, key, strlen(key));
    }
    raw_u(r, status, 2);
    raw_u(r, n_headers, 2);
    raw_u(r, n_tags, 2);
    raw_u(r, 0, 2);
    raw_u(r, 1000, 8);
    raw_u(r, 2000, 8);
    raw_u(r, 0, 8);
    raw_u(r, 0, 8);
    raw_u(r, 7, 8);
}

/* Fills in total_len and appends a valid checksum: only content checks remain. */
static void raw_seal(raw_t *r)
{
    size_t total = r->n + 8;
    int i;

    for (i = 0; i < 4; i++) {
        r->b[8 + i] = (unsigned char)(total >> (8 * i));
    }
    raw_u(r, XXH3_64bits(r->b, r->n), 8);
}

static rp_entry_status_t raw_decode(raw_t *r, apr_pool_t *p)
{
    rp_entry_t out;

    return rp_entry_decode((const char *)r->b, r->n, p, &out);
}

/* ---- tests ---- */

static void test_roundtrip_all_fields(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e = sample_entry(), d;
    rp_entry_status_t st = RP_ENTRY_EFORMAT;
    size_t len = 0;
    char *buf = rp_entry_encode_pool(&e, p, &len, &st);

    assert_non_null(buf);
    assert_int_equal(st, RP_ENTRY_OK);
    assert_int_equal(len, rp_entry_encoded_size(&e));
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_entries_equal(&e, &d);
    /* zero copy: key and body point into the buffer */
    assert_true(d.key >= buf && d.key + d.key_len <= buf + len);
    assert_true(d.body >= buf && d.body + d.body_len <= buf + len);
    /* copies are NUL-terminated */
    assert_int_equal(strlen(d.headers[2].value), 0);
    assert_int_equal(strlen(d.tags[0]), strlen(TAGS[0]));
}

static void test_roundtrip_extremes(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e = sample_entry(), d;
    rp_entry_status_t st;
    size_t len;
    char *buf;

    e.stored_us = INT64_MIN;
    e.fresh_until_us = INT64_MAX;
    e.grace_us = INT64_MAX;
    e.url_gen = UINT64_MAX;
    e.status = 599;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_entries_equal(&e, &d);

    e.status = 100;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_int_equal(d.status, 100);
}

static void test_roundtrip_empty(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e, d;
    rp_entry_status_t st;
    size_t len;
    char *buf;

    memset(&e, 0, sizeof(e));
    e.kind = RP_ENTRY_PAGE;
    e.key = "k";
    e.key_len = 1;
    e.status = 404;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(len, 76 + 1);     /* fixed fields + body_len + checksum + key */
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_int_equal(d.body_len, 0);
    assert_non_null(d.body);
    assert_int_equal(d.n_tags, 0);
    assert_null(d.tags);
    assert_int_equal(d.n_headers, 0);
    assert_null(d.headers);

    /* empty but non-NULL body, empty key */
    e.body = "";
    e.key = "";
    e.key_len = 0;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_int_equal(d.key_len, 0);
}

static void test_vary_index(void **state)
{
    apr_pool_t *p = *state;
    rp_header_t names[] = { { "accept-encoding", "" }, { "accept-language", "" } };
    rp_entry_t e, d;
    rp_entry_status_t st;
    size_t len;
    char *buf;

    memset(&e, 0, sizeof(e));
    e.kind = RP_ENTRY_VARY_INDEX;
    e.key = "http://h:80/";
    e.key_len = strlen(e.key);
    e.status = 0;
    e.n_headers = 2;
    e.headers = names;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_entries_equal(&e, &d);

    /* status 0 is only for a vary index */
    e.kind = RP_ENTRY_PAGE;
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_EFORMAT);
}

static void test_max_tags(void **state)
{
    apr_pool_t *p = *state;
    const char *tags[RP_ENTRY_MAX_TAGS + 1];
    uint64_t gens[RP_ENTRY_MAX_TAGS + 1];
    rp_entry_t e = sample_entry(), d;
    rp_entry_status_t st;
    size_t len;
    char *buf;
    int i;

    for (i = 0; i <= RP_ENTRY_MAX_TAGS; i++) {
        char *t = apr_palloc(p, RP_ENTRY_MAX_TAG_LEN + 1);

        memset(t, '!' + i % 90, RP_ENTRY_MAX_TAG_LEN);  /* visible ASCII */
        t[RP_ENTRY_MAX_TAG_LEN] = '\0';
        tags[i] = t;
        gens[i] = (uint64_t)i * 1000003u;
    }
    e.tags = tags;
    e.tag_gens = gens;
    e.n_tags = RP_ENTRY_MAX_TAGS;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_entries_equal(&e, &d);

    e.n_tags = RP_ENTRY_MAX_TAGS + 1;
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_ELIMIT);

    /* a tag one byte too long */
    e.n_tags = 1;
    tags[0] = apr_pstrcat(p, tags[1], "x", NULL);
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_ELIMIT);
}

static void test_encoded_size_and_buffer(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e = sample_entry(), bad = sample_entry();
    size_t need = rp_entry_encoded_size(&e), written = 1;
    char *buf = apr_palloc(p, need);

    assert_true(need > 0);
    assert_int_equal(rp_entry_encode(&e, buf, need - 1, &written), RP_ENTRY_ETRUNC);
    assert_int_equal(written, need);
    assert_int_equal(rp_entry_encode(&e, NULL, 0, &written), RP_ENTRY_ETRUNC);
    assert_int_equal(rp_entry_encode(&e, buf, need, &written), RP_ENTRY_OK);
    assert_int_equal(written, need);

    bad.status = 99;
    assert_int_equal(rp_entry_encoded_size(&bad), 0);
    assert_int_equal(rp_entry_encode(&bad, buf, need, &written), RP_ENTRY_EFORMAT);
    assert_int_equal(written, 0);
    assert_int_equal(rp_entry_encoded_size(NULL), 0);
}

/* The encoder writes exactly the documented layout. */
static void test_layout_matches_documentation(void **state)
{
    apr_pool_t *p = *state;
    rp_header_t h[] = { { "A", "b" } };
    const char *tags[] = { "t1" };
    uint64_t gens[] = { 9 };
    rp_entry_t e, d;
    rp_entry_status_t st;
    raw_t r;
    size_t len;
    char *buf;

    memset(&e, 0, sizeof(e));
    e.kind = RP_ENTRY_PAGE;
    e.key = "key";
    e.key_len = 3;
    e.status = 301;
    e.stored_us = 1000;
    e.fresh_until_us = 2000;
    e.grace_us = 0;
    e.url_gen = 7;
    e.n_tags = 1;
    e.tags = tags;
    e.tag_gens = gens;
    e.n_headers = 1;
    e.headers = h;
    e.body = "xy";
    e.body_len = 2;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);

    raw_begin(&r, p, 1, "key", 3, 301, 1, 1);
    raw_u(&r, 2, 2);
    raw_bytes(&r, "t1", 2);
    raw_u(&r, 9, 8);
    raw_u(&r, 1, 2);
    raw_bytes(&r, "A", 1);
    raw_u(&r, 1, 4);
    raw_bytes(&r, "b", 1);
    raw_u(&r, 2, 4);
    raw_bytes(&r, "xy", 2);
    raw_seal(&r);
    assert_int_equal(r.n, len);
    assert_memory_equal(r.b, buf, len);
    assert_int_equal(rp_entry_decode((const char *)r.b, r.n, p, &d), RP_ENTRY_OK);
    assert_entries_equal(&e, &d);
}

static void test_every_byte_flip_rejected(void **state)
{
    apr_pool_t *p = *state;
    static const unsigned char masks[] = { 0x01, 0x02, 0x10, 0x80, 0xff };
    rp_entry_t e = sample_entry(), d;
    rp_entry_status_t st;
    size_t len, i, m;
    char *buf = rp_entry_encode_pool(&e, p, &len, &st);
    char *copy = apr_palloc(p, len);

    assert_non_null(buf);
    for (i = 0; i < len; i++) {
        for (m = 0; m < sizeof(masks); m++) {
            memcpy(copy, buf, len);
            copy[i] = (char)(copy[i] ^ masks[m]);
            st = rp_entry_decode(copy, len, p, &d);
            if (st == RP_ENTRY_OK) {
                fail_msg("flip at %zu mask 0x%02x accepted", i, masks[m]);
            }
            assert_int_equal(d.key_len, 0);     /* out zeroed on error */
            assert_null(d.body);
        }
    }
    /* the errors say what is wrong where they can */
    memcpy(copy, buf, len);
    copy[0] ^= 1;
    assert_int_equal(rp_entry_decode(copy, len, p, &d), RP_ENTRY_EMAGIC);
    memcpy(copy, buf, len);
    copy[4] ^= 2;
    assert_int_equal(rp_entry_decode(copy, len, p, &d), RP_ENTRY_EVERSION);
    memcpy(copy, buf, len);
    copy[20] ^= 1;
    assert_int_equal(rp_entry_decode(copy, len, p, &d), RP_ENTRY_ECHECKSUM);
    memcpy(copy, buf, len);
    copy[len - 1] ^= 1;
    assert_int_equal(rp_entry_decode(copy, len, p, &d), RP_ENTRY_ECHECKSUM);
}

static void test_every_truncation_rejected(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e = sample_entry(), d;
    rp_entry_status_t st;
    size_t len, n;
    char *buf = rp_entry_encode_pool(&e, p, &len, &st);
    char *longer;

    for (n = 0; n < len; n++) {
        /* a fresh exact-size copy so ASan catches any read past n */
        char *cut = malloc(n > 0 ? n : 1);

        memcpy(cut, buf, n);
        st = rp_entry_decode(cut, n, p, &d);
        free(cut);
        if (st == RP_ENTRY_OK) {
            fail_msg("truncation to %zu accepted", n);
        }
        if (n >= 12) {
            assert_int_equal(st, RP_ENTRY_ETRUNC);
        }
    }
    assert_int_equal(rp_entry_decode(NULL, 0, p, &d), RP_ENTRY_ETRUNC);

    /* one trailing byte */
    longer = apr_palloc(p, len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(rp_entry_decode(longer, len + 1, p, &d), RP_ENTRY_EFORMAT);
}

static void test_trailing_bytes_inside_checksum(void **state)
{
    apr_pool_t *p = *state;
    raw_t r;

    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_OK);

    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    raw_u(&r, 0, 4);
    raw_u(&r, 0, 1);    /* one byte after the body */
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
}

static void test_hostile_lengths(void **state)
{
    apr_pool_t *p = *state;
    raw_t r;

    /* key_len far beyond the buffer and the limit */
    raw_begin(&r, p, 1, NULL, 0xffffffffu, 200, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);

    /* key_len within the limit but beyond the bytes present */
    raw_begin(&r, p, 1, NULL, 8000, 200, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* too many headers / tags announced */
    raw_begin(&r, p, 1, "k", 1, 200, RP_ENTRY_MAX_HEADERS + 1, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);
    raw_begin(&r, p, 1, "k", 1, 200, 0, RP_ENTRY_MAX_TAGS + 1);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);
    raw_begin(&r, p, 1, "k", 1, 200, 0xffff, 0xffff);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);

    /* 100 headers announced, none present */
    raw_begin(&r, p, 1, "k", 1, 200, RP_ENTRY_MAX_HEADERS, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* tag length beyond the bytes present */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 1);
    raw_u(&r, 100, 2);
    raw_bytes(&r, "abc", 3);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* tag length beyond the limit */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 1);
    raw_u(&r, 0xffff, 2);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);

    /* empty tag */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 1);
    raw_u(&r, 0, 2);
    raw_u(&r, 1, 8);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* header value length 4 GiB */
    raw_begin(&r, p, 1, "k", 1, 200, 1, 0);
    raw_u(&r, 1, 2);
    raw_bytes(&r, "A", 1);
    raw_u(&r, 0xffffffffu, 4);
    raw_bytes(&r, "xxxx", 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* body length beyond the limit, and beyond the bytes present */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    raw_u(&r, 0xffffffffu, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    raw_u(&r, 10, 4);
    raw_bytes(&r, "short", 5);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* total_len smaller than the fixed fields, checksum valid */
    raw_begin(&r, p, 1, NULL, 0, 200, 0, 0);
    r.n = 12;
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);

    /* headers totalling more than RP_ENTRY_MAX_HEADER_BYTES */
    {
        char *big = apr_palloc(p, 40000);
        int i;

        memset(big, 'v', 40000);
        raw_begin(&r, p, 1, "k", 1, 200, 2, 0);
        for (i = 0; i < 2; i++) {
            raw_u(&r, 1, 2);
            raw_bytes(&r, "A", 1);
            raw_u(&r, 40000, 4);
            raw_bytes(&r, big, 40000);
        }
        raw_u(&r, 0, 4);
        raw_seal(&r);
        assert_int_equal(raw_decode(&r, p), RP_ENTRY_ELIMIT);
    }
}

/* Bad content in a buffer whose checksum is valid: rejected by content. */
/* An entry whose one header, X-A, has the value v (sealed: a valid
 * checksum), decoded. */
static rp_entry_status_t one_header_entry(raw_t *r, apr_pool_t *p,
                                          const char *v, size_t len)
{
    raw_begin(r, p, 1, "k", 1, 200, 1, 0);
    raw_u(r, 3, 2);
    raw_bytes(r, "X-A", 3);
    raw_u(r, len, 4);
    raw_bytes(r, v, len);
    raw_u(r, 0, 4);
    raw_seal(r);
    return raw_decode(r, p);
}

static void test_bad_content_with_valid_checksum(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *name;
        const char *value;
        size_t vlen;
    } bad_headers[] = {
        { "X-A", "x\r\nSet-Cookie: a=1", 19 },
        { "X-A", "x\ny", 3 },
        { "X-A", "x\ry", 3 },
        { "X-A", "x\0y", 3 },
        { "Bad Name", "v", 1 },
        { "Bad:Name", "v", 1 },
        { "", "v", 1 },
        { "X\x80", "v", 1 },
    };
    static const char *bad_tags[] = { "a b", "a\x7f", "\x01", "\xc3\xa9" };
    raw_t r;
    size_t i;

    for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        raw_begin(&r, p, 1, "k", 1, 200, 1, 0);
        raw_u(&r, strlen(bad_headers[i].name), 2);
        raw_bytes(&r, bad_headers[i].name, strlen(bad_headers[i].name));
        raw_u(&r, bad_headers[i].vlen, 4);
        raw_bytes(&r, bad_headers[i].value, bad_headers[i].vlen);
        raw_u(&r, 0, 4);
        raw_seal(&r);
        if (raw_decode(&r, p) != RP_ENTRY_EFORMAT) {
            fail_msg("bad header %zu accepted", i);
        }
    }
    /* a CR, LF or NUL at every place of values of every length to 40
     * (the check reads eight bytes at a time); high bytes are fine */
    {
        static const char bad[] = { '\r', '\n', '\0' };
        char v[40];
        size_t len, at, k;

        for (len = 1; len <= sizeof(v); len++) {
            memset(v, '\x8d', len);
            assert_int_equal(one_header_entry(&r, p, v, len), RP_ENTRY_OK);
            for (at = 0; at < len; at++) {
                for (k = 0; k < sizeof(bad); k++) {
                    memset(v, (at + k) % 2 ? 'a' : '\x8a', len);
                    v[at] = bad[k];
                    if (one_header_entry(&r, p, v, len) != RP_ENTRY_EFORMAT) {
                        fail_msg("byte %d at %zu of %zu accepted", bad[k], at,
                                 len);
                    }
                }
            }
        }
    }
    for (i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
        raw_begin(&r, p, 1, "k", 1, 200, 0, 1);
        raw_u(&r, strlen(bad_tags[i]), 2);
        raw_bytes(&r, bad_tags[i], strlen(bad_tags[i]));
        raw_u(&r, 1, 8);
        raw_u(&r, 0, 4);
        raw_seal(&r);
        assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    }
    /* status out of range, for both kinds */
    raw_begin(&r, p, 1, "k", 1, 99, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    raw_begin(&r, p, 1, "k", 1, 600, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    raw_begin(&r, p, 1, "k", 1, 0, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    raw_begin(&r, p, 2, "k", 1, 0, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_OK);
    /* a pass marker is a known kind */
    raw_begin(&r, p, 3, "k", 1, 0, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_OK);
    /* unknown kind */
    raw_begin(&r, p, 4, "k", 1, 200, 0, 0);
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    /* reserved must be 0 */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    r.b[12 + 4 + 1 + 6] = 1;
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    /* negative grace */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    r.b[12 + 4 + 1 + 8 + 16 + 7] = 0x80;
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    /* negative stale-if-error */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    r.b[12 + 4 + 1 + 8 + 24 + 7] = 0x80;
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EFORMAT);
    /* another version (1, before stale-if-error; 3), valid checksum */
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    r.b[4] = 1;
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EVERSION);
    raw_begin(&r, p, 1, "k", 1, 200, 0, 0);
    r.b[4] = 3;
    raw_u(&r, 0, 4);
    raw_seal(&r);
    assert_int_equal(raw_decode(&r, p), RP_ENTRY_EVERSION);
}

static void test_bad_content_rejected_on_encode(void **state)
{
    apr_pool_t *p = *state;
    static const rp_header_t bad_headers[] = {
        { "X-A", "x\r\nSet-Cookie: a=1" },
        { "X-A", "x\ny" },
        { "X-A", "x\ry" },
        { "Bad Name", "v" },
        { "", "v" },
        { "X-A", NULL },
        { NULL, "v" },
    };
    static const char *bad_tags[] = { "a b", "a\x7f", "", "a\n", "\xc3\xa9" };
    rp_entry_t e = sample_entry();
    uint64_t gens[1] = { 0 };
    const char *tag[1];
    rp_entry_status_t st;
    size_t len, i;

    for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        e.headers = (rp_header_t *)&bad_headers[i];
        e.n_headers = 1;
        assert_null(rp_entry_encode_pool(&e, p, &len, &st));
        assert_int_equal(st, RP_ENTRY_EFORMAT);
        assert_int_equal(len, 0);
    }
    e = sample_entry();
    e.tag_gens = gens;
    e.tags = tag;
    e.n_tags = 1;
    for (i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
        tag[0] = bad_tags[i];
        assert_null(rp_entry_encode_pool(&e, p, &len, &st));
        assert_int_equal(st, RP_ENTRY_EFORMAT);
    }
    tag[0] = NULL;
    assert_int_equal(rp_entry_encoded_size(&e), 0);

    e = sample_entry();
    e.kind = 4;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
    e = sample_entry();
    e.grace_us = -1;
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_EFORMAT);
    e.grace_us = 0;
    e.stale_if_error_us = -1;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
    e = sample_entry();
    e.status = 600;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
    e = sample_entry();
    e.body = NULL;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
    e = sample_entry();
    e.key = NULL;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
    e = sample_entry();
    e.headers = NULL;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
    e = sample_entry();
    e.tag_gens = NULL;
    assert_int_equal(rp_entry_encoded_size(&e), 0);
}

static void test_limits(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e = sample_entry(), d;
    rp_header_t *many = apr_pcalloc(p, (RP_ENTRY_MAX_HEADERS + 1) * sizeof(*many));
    char *key = apr_palloc(p, RP_ENTRY_MAX_KEY + 2);
    char *half = apr_palloc(p, RP_ENTRY_MAX_HEADER_BYTES);
    rp_header_t two[2];
    rp_entry_status_t st;
    size_t len;
    char *buf, *body;
    int i;

    memset(key, 'k', RP_ENTRY_MAX_KEY + 1);
    key[RP_ENTRY_MAX_KEY + 1] = '\0';
    e.key = key;
    e.key_len = RP_ENTRY_MAX_KEY;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    e.key_len = RP_ENTRY_MAX_KEY + 1;
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_ELIMIT);

    e = sample_entry();
    for (i = 0; i <= RP_ENTRY_MAX_HEADERS; i++) {
        many[i].name = "X-H";
        many[i].value = "v";
    }
    e.headers = many;
    e.n_headers = RP_ENTRY_MAX_HEADERS;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_int_equal(d.n_headers, RP_ENTRY_MAX_HEADERS);
    e.n_headers = RP_ENTRY_MAX_HEADERS + 1;
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_ELIMIT);

    /* header bytes: names + values over all headers, exactly at and just past the limit */
    memset(half, 'v', RP_ENTRY_MAX_HEADER_BYTES / 2 - 1);
    half[RP_ENTRY_MAX_HEADER_BYTES / 2 - 1] = '\0';
    two[0].name = "A";
    two[0].value = half;
    two[1].name = "B";
    two[1].value = half;
    e = sample_entry();
    e.headers = two;
    e.n_headers = 2;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    two[1].name = "BB";
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_ELIMIT);

    /* body: exactly 64 MiB is fine, one byte more is not */
    body = calloc(1, RP_ENTRY_MAX_BODY + 1);
    assert_non_null(body);
    e = sample_entry();
    e.body = body;
    e.body_len = RP_ENTRY_MAX_BODY;
    buf = rp_entry_encode_pool(&e, p, &len, &st);
    assert_non_null(buf);
    assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
    assert_int_equal(d.body_len, RP_ENTRY_MAX_BODY);
    e.body_len = RP_ENTRY_MAX_BODY + 1;
    assert_null(rp_entry_encode_pool(&e, p, &len, &st));
    assert_int_equal(st, RP_ENTRY_ELIMIT);
    free(body);
}

static void test_strerror(void **state)
{
    int i, j;

    (void)state;
    for (i = RP_ENTRY_OK; i <= RP_ENTRY_ELIMIT; i++) {
        assert_non_null(rp_entry_strerror(i));
        for (j = 0; j < i; j++) {
            assert_string_not_equal(rp_entry_strerror(i), rp_entry_strerror(j));
        }
    }
    assert_string_equal(rp_entry_strerror(RP_ENTRY_ECHECKSUM), "checksum mismatch");
    assert_non_null(rp_entry_strerror((rp_entry_status_t)99));
}

/* The checksum is the same whichever code computes it: the module hashes
 * with libxxhash's CPU dispatcher (cache/rp_xxh.h), this file with the
 * portable XXH3_64bits.  A page long enough for the vector loops, written
 * by the one, checks with the other, both ways; and trusted decoding (no
 * checksum) gives the same entry. */
static void test_checksum_same_on_any_cpu(void **state)
{
    apr_pool_t *p = *state;
    rp_entry_t e = sample_entry(), d;
    rp_entry_status_t st;
    size_t len, n, i;
    char *body = apr_palloc(p, 20000), *buf;
    uint64_t sum = 0;

    for (n = 0; n < 20000; n++) {
        body[n] = (char)(n * 7 + (n >> 8));
    }
    for (n = 239; n <= 20000; n = n * 3 + 1) {
        e.body = body;
        e.body_len = n;
        buf = rp_entry_encode_pool(&e, p, &len, &st);
        assert_non_null(buf);
        for (i = 0; i < 8; i++) {
            sum |= (uint64_t)(unsigned char)buf[len - 8 + i] << (8 * i);
        }
        assert_true(sum == XXH3_64bits(buf, len - 8));   /* little-endian */
        sum = 0;
        assert_int_equal(rp_entry_decode(buf, len, p, &d), RP_ENTRY_OK);
        assert_int_equal(d.body_len, n);
        assert_int_equal(rp_entry_decode_trusted(buf, len, p, &d),
                         RP_ENTRY_OK);
        assert_entries_equal(&e, &d);
        /* trusted decoding still checks every bound */
        buf[len - 20] ^= 1;
        assert_int_equal(rp_entry_decode(buf, len, p, &d),
                         RP_ENTRY_ECHECKSUM);
        assert_int_not_equal(rp_entry_decode_trusted(buf, len - 1, p, &d),
                             RP_ENTRY_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_roundtrip_all_fields),
        RP_TEST(test_roundtrip_extremes),
        RP_TEST(test_roundtrip_empty),
        RP_TEST(test_vary_index),
        RP_TEST(test_max_tags),
        RP_TEST(test_encoded_size_and_buffer),
        RP_TEST(test_layout_matches_documentation),
        RP_TEST(test_every_byte_flip_rejected),
        RP_TEST(test_every_truncation_rejected),
        RP_TEST(test_trailing_bytes_inside_checksum),
        RP_TEST(test_hostile_lengths),
        RP_TEST(test_bad_content_with_valid_checksum),
        RP_TEST(test_bad_content_rejected_on_encode),
        RP_TEST(test_limits),
        RP_TEST(test_strerror),
        RP_TEST(test_checksum_same_on_any_cpu),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
