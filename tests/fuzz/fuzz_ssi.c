/*
 * fuzz_ssi.c: libFuzzer harness for the server-side includes scanner
 * (cache/rp_ssi.c).
 *
 * Beyond "no crash": the answer does not depend on how the source is cut
 * into pieces (whole, one byte at a time, and at a point the input picks
 * give the same headers and the same verdict), and every header it names
 * is a non-empty token of at most RP_SSI_TOKEN_MAX bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/rp_ssi.h"

typedef struct {
    char seen[4096];
    size_t len;
} heard_t;

static void heard(void *ctx, const char *name, size_t len)
{
    heard_t *h = ctx;
    size_t i;

    if (len == 0 || len > RP_SSI_TOKEN_MAX) {
        abort();
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f
            || name[i] == ':' || name[i] == '(' || name[i] == '"') {
            abort();
        }
    }
    if (h->len + len + 1 < sizeof(h->seen)) {
        memcpy(h->seen + h->len, name, len);
        h->len += len;
        h->seen[h->len++] = ';';
    }
}

static int scan(const char *tag, const uint8_t *data, size_t size,
                size_t cut, heard_t *h)
{
    rp_ssi_t s;
    size_t i;

    memset(h, 0, sizeof(*h));
    rp_ssi_init(&s, tag, heard, h);
    if (cut == 0) {
        for (i = 0; i < size; i++) {
            rp_ssi_feed(&s, (const char *)data + i, 1);
        }
    }
    else {
        rp_ssi_feed(&s, (const char *)data, cut);
        rp_ssi_feed(&s, (const char *)data + cut, size - cut);
    }
    return rp_ssi_finish(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tags[] = { "<!--#", "<%", "<<!" };
    heard_t a, b;
    const char *tag;
    size_t cut;
    int pa, pb;

    if (size < 1) {
        return 0;
    }
    tag = tags[data[0] % 3];
    data++;
    size--;
    cut = size > 0 ? (size_t)data[0] % (size + 1) : 0;
    if (cut == 0) {
        cut = size;                     /* whole */
    }
    pa = scan(tag, data, size, cut, &a);
    pb = scan(tag, data, size, 0, &b);
    if (pa != pb || a.len != b.len || memcmp(a.seen, b.seen, a.len) != 0) {
        abort();
    }
    return 0;
}
