/*
 * rp_buf.h: a growing output buffer in an APR pool, with the escapers the
 * status page needs (JSON strings, HTML text, Prometheus label values).
 *
 * Every string that came from a request (URIs, routes, methods) passes
 * through one of these escapers.  Request bytes are arbitrary: invalid
 * UTF-8 is replaced by U+FFFD so JSON and Prometheus output stay valid
 * whatever a client sent.
 */
#ifndef RP_BUF_H
#define RP_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

typedef struct {
    apr_pool_t *pool;
    char *data;
    size_t len;
    size_t cap;
} rp_buf_t;

void rp_buf_init(rp_buf_t *b, apr_pool_t *p, size_t cap);
void rp_buf_add(rp_buf_t *b, const char *s, size_t n);
void rp_buf_puts(rp_buf_t *b, const char *s);
void rp_buf_printf(rp_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rp_buf_u64(rp_buf_t *b, uint64_t v);
void rp_buf_i64(rp_buf_t *b, int64_t v);
/* v / 10^scale with `decimals` decimals (at most scale), rounded half up:
 * rp_buf_fixed(b, 1234567, 6, 2) gives "1.23".  For the status page, where
 * printf's floating point was a third of the time spent rendering. */
void rp_buf_fixed(rp_buf_t *b, uint64_t v, int scale, int decimals);
/* NUL-terminated view of the contents (the buffer stays usable). */
const char *rp_buf_cstr(rp_buf_t *b);

/* Length of the valid UTF-8 sequence at s (1-4), 0 if invalid. */
size_t rp_utf8_seq(const unsigned char *s, size_t n);

/* "..." with JSON escapes. */
void rp_buf_json_str(rp_buf_t *b, const char *s, size_t n);
/* HTML text or attribute value (& < > " ' escaped, controls dropped). */
void rp_buf_html(rp_buf_t *b, const char *s, size_t n);
/* Prometheus label value (\\ \" \n escaped, valid UTF-8). */
void rp_buf_prom_label(rp_buf_t *b, const char *s, size_t n);

#endif
