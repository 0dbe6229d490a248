/*
 * fuzz_interim.c: libFuzzer harness for the interim-head editor
 * (cache/rp_interim.c).
 *
 * The input is fed twice, whole and cut into pieces at places the input
 * itself picks; both runs must give the same bytes (a connection filter
 * sees any split), never more bytes than came in, and, the safety rule, no
 * X-ReqPerf-Tags or X-ReqPerf-Purge line inside an interim head of the
 * output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache/rp_interim.h"

typedef struct {
    char *buf;
    size_t len;
} out_t;

static void emit(void *baton, const char *data, size_t len)
{
    out_t *o = baton;

    memcpy(o->buf + o->len, data, len);
    o->len += len;
}

/* Feeds data in pieces of the given sizes (0: whole); the bytes left after
 * the editor passed are appended as they are. */
static void run(const uint8_t *data, size_t size, const uint8_t *cuts, size_t ncuts, out_t *o)
{
    rp_interim_t st;
    size_t pos = 0, c = 0;

    rp_interim_reset(&st);
    while (pos < size) {
        size_t n = size - pos, used;

        if (c < ncuts && cuts[c] != 0 && cuts[c] < n) {
            n = cuts[c];
        }
        c++;
        used = rp_interim_feed(&st, (const char *)data + pos, n, emit, o);
        if (used > n) {
            abort();
        }
        if (used < n) {
            if (st.mode != RP_INTERIM_PASS) {
                abort();
            }
            memcpy(o->buf + o->len, data + pos + used, size - pos - used);
            o->len += size - pos - used;
            return;
        }
        pos += n;
    }
}

/* No dropped header line inside the interim heads at the start of out. */
static void check_heads(const char *s, size_t len)
{
    size_t pos = 0;

    while (len - pos >= 13 && memcmp(s + pos, "HTTP/1.1 1", 10) == 0
           && s[pos + 10] >= '0' && s[pos + 10] <= '9' && s[pos + 11] >= '0'
           && s[pos + 11] <= '9' && s[pos + 12] == ' ') {
        const char *nl = memchr(s + pos, '\n', len - pos);

        if (nl == NULL) {
            return;
        }
        pos = (size_t)(nl - s) + 1;
        for (;;) {
            size_t rest = len - pos;

            if (rest == 0) {
                return;
            }
            if (s[pos] == '\n' || (rest >= 2 && s[pos] == '\r' && s[pos + 1] == '\n')) {
                pos += s[pos] == '\n' ? 1 : 2;
                break;                  /* end of this head */
            }
            if ((rest >= 15 && strncasecmp(s + pos, "x-reqperf-tags:", 15) == 0)
                || (rest >= 16 && strncasecmp(s + pos, "x-reqperf-purge:", 16) == 0)) {
                abort();
            }
            nl = memchr(s + pos, '\n', rest);
            if (nl == NULL) {
                return;
            }
            pos = (size_t)(nl - s) + 1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    out_t whole, pieces;
    size_t ncuts = size < 8 ? size : 8;

    whole.buf = malloc(size + 1);
    pieces.buf = malloc(size + 1);
    whole.len = pieces.len = 0;
    run(data, size, NULL, 0, &whole);
    run(data, size, data, ncuts, &pieces);
    if (whole.len > size || whole.len != pieces.len
        || memcmp(whole.buf, pieces.buf, whole.len) != 0) {
        abort();
    }
    check_heads(whole.buf, whole.len);
    free(whole.buf);
    free(pieces.buf);
    return 0;
}
