/*
 * rp_entry.h: the bytes of one cache entry, as stored in memcached and in the
 * shared-memory tier.
 *
 * Stored bytes outlive the process that wrote them, are shared by every Apache
 * server using the same memcached, and may be damaged or planted. So the format is
 * versioned, carries the full unhashed key (a hash collision becomes a MISS, never
 * a wrong page) and ends with a checksum, and the decoder trusts nothing: every
 * length is checked against the bytes that remain and against the limits below.
 *
 * Format, version 2 (2 added stale_if_error_us; a version-1 entry reads as
 * unsupported, a MISS). All integers little-endian, fixed width, written and read
 * byte by byte (no struct casts, no unaligned loads):
 *
 *   u32 magic            "RPCE" (bytes 'R','P','C','E')
 *   u16 version          2
 *   u16 kind             1 = page, 2 = vary index, 3 = pass marker
 *   u32 total_len        length of the whole buffer, checksum included
 *   u32 key_len, key bytes
 *   u16 status           100..599 (a vary index may also hold 0)
 *   u16 n_headers        <= RP_ENTRY_MAX_HEADERS
 *   u16 n_tags           <= RP_ENTRY_MAX_TAGS
 *   u16 reserved         0
 *   i64 stored_us        wall clock, microseconds since the epoch
 *   i64 fresh_until_us   wall clock, microseconds since the epoch
 *   i64 grace_us         >= 0
 *   i64 stale_if_error_us >= 0
 *   u64 url_gen
 *   n_tags    x { u16 len, tag bytes (1..128, each 0x21..0x7e), u64 gen }
 *   n_headers x { u16 name_len, name (RFC 7230 token),
 *                 u32 value_len, value (no CR, LF or NUL) }
 *   u32 body_len, body bytes (<= RP_ENTRY_MAX_BODY)
 *   u64 checksum         XXH3_64bits of every preceding byte
 *
 * The encoding of a given rp_entry_t is unique (reserved is 0, nothing trails),
 * so decode(encode(e)) == e and encode(decode(b)) == b.
 */
#ifndef RP_ENTRY_H
#define RP_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#define RP_ENTRY_MAGIC             "RPCE"
#define RP_ENTRY_VERSION           2
#define RP_ENTRY_MAX_TAGS          64
#define RP_ENTRY_MAX_TAG_LEN       128
#define RP_ENTRY_MAX_HEADERS       100
#define RP_ENTRY_MAX_KEY           8192
/* Sum of name and value bytes over ALL stored headers of one entry. */
#define RP_ENTRY_MAX_HEADER_BYTES  65536
#define RP_ENTRY_MAX_BODY          (64u * 1024u * 1024u)

typedef struct {
    const char *name;
    const char *value;
} rp_header_t;

typedef enum {
    RP_ENTRY_PAGE = 1,
    RP_ENTRY_VARY_INDEX = 2,
    /* "hit-for-pass": this URL's responses are not cacheable (for a
     * while), so its misses skip the stampede lock and go straight to
     * the backend instead of queueing behind one another */
    RP_ENTRY_PASS = 3
} rp_entry_kind_t;

typedef struct {
    rp_entry_kind_t kind;
    const char *key;            /* the FULL unhashed cache key; checked on every hit by the caller */
    size_t key_len;
    int status;                 /* HTTP status 100..599 (0 also allowed for a vary index) */
    int64_t stored_us;          /* wall clock µs since epoch when stored */
    int64_t fresh_until_us;     /* wall clock µs: end of freshness */
    int64_t grace_us;           /* how long after fresh_until_us a stale copy may be served; >= 0 */
    int64_t stale_if_error_us;  /* how long after fresh_until_us it may stand in for a
                                   failed backend (RFC 5861 stale-if-error); >= 0 */
    uint64_t url_gen;           /* URL generation the entry was stored under */
    uint32_t n_tags;            /* tag names and the generation of each at store time */
    const char **tags;
    uint64_t *tag_gens;
    uint32_t n_headers;         /* stored response headers, in order; for VARY_INDEX the */
    rp_header_t *headers;       /* Vary header names, value "" */
    const char *body;
    size_t body_len;
} rp_entry_t;

typedef enum {
    RP_ENTRY_OK = 0,
    RP_ENTRY_ETRUNC,            /* decode: buffer shorter than it says; encode: bufsize too small */
    RP_ENTRY_EMAGIC,
    RP_ENTRY_EVERSION,
    RP_ENTRY_ECHECKSUM,
    RP_ENTRY_EFORMAT,           /* a field holds a value the format forbids */
    RP_ENTRY_ELIMIT             /* a field breaks one of the RP_ENTRY_MAX_* limits */
} rp_entry_status_t;

/*
 * Exact size rp_entry_encode() will write, or 0 when e cannot be encoded (it
 * breaks a limit or the format), so a caller may size its buffer and skip the
 * store in one step.
 */
size_t rp_entry_encoded_size(const rp_entry_t *e);

/*
 * Encodes e into buf. ELIMIT if e breaks a limit, EFORMAT if a header name is not
 * an RFC 7230 token, a value holds CR, LF or NUL, a tag is empty or holds a byte
 * outside 0x21..0x7e, the kind or status is invalid, grace_us or stale_if_error_us < 0, or a pointer
 * needed for a non-zero length is NULL. ETRUNC if bufsize is too small; then
 * *written (if not NULL) holds the size needed. On success *written is the size
 * written; on other errors it is 0.
 */
rp_entry_status_t rp_entry_encode(const rp_entry_t *e, char *buf, size_t bufsize,
                                  size_t *written);

/* Convenience: encodes into memory from p. NULL on error, with *st saying why. */
char *rp_entry_encode_pool(const rp_entry_t *e, apr_pool_t *p, size_t *len,
                           rp_entry_status_t *st);

/*
 * Decodes and checks buf. On RP_ENTRY_OK, out->key and out->body point into buf
 * (so buf must outlive out); header names, values and tags are NUL-terminated
 * copies in p, tags and tag_gens arrays in p. Never reads outside buf and never
 * allocates more than O(len) bytes. On error out is zeroed.
 */
rp_entry_status_t rp_entry_decode(const char *buf, size_t len, apr_pool_t *p,
                                  rp_entry_t *out);

/* The same without computing the checksum, for bytes known to be a copy
 * of bytes that rp_entry_decode() accepted (the local tier's copy that
 * no writer can have touched, rp_local_meta_t.exact), or that
 * rp_entry_encode() made.  Every bound is still checked: it never reads
 * outside buf whatever the bytes; the bytes of tags, header names and
 * values, which were checked when these were accepted, are not. */
rp_entry_status_t rp_entry_decode_trusted(const char *buf, size_t len,
                                          apr_pool_t *p, rp_entry_t *out);

/* The checksum an encoded entry ends with (0 for fewer than 8 bytes): a
 * name for these very bytes, which a "validated" record binds to. */
uint64_t rp_entry_sum(const char *buf, size_t len);

/* Short static text for a status, e.g. "checksum mismatch". */
const char *rp_entry_strerror(rp_entry_status_t st);

#endif /* RP_ENTRY_H */
