/*
 * fuzz_escape.c: the status page's escapers on arbitrary bytes.  The JSON
 * string must always parse (jansson) and, for valid UTF-8 input without
 * NUL, decode back to exactly the input; HTML output never holds a raw
 * '<', '>', '"', '\'' or control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <apr_general.h>
#include <apr_pools.h>

#include "stats/rp_buf.h"

static int valid_utf8_no_nul(const uint8_t *d, size_t n)
{
    size_t i = 0, k;

    while (i < n) {
        if (d[i] == 0 || (k = rp_utf8_seq(d + i, n - i)) == 0) {
            return 0;
        }
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    apr_pool_t *p;
    rp_buf_t b;
    json_t *v;
    json_error_t err;
    size_t i;

    if (!init) {
        apr_initialize();
        init = 1;
    }
    apr_pool_create(&p, NULL);

    rp_buf_init(&b, p, 8);
    rp_buf_json_str(&b, (const char *)data, size);
    v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (v == NULL || !json_is_string(v)) {
        abort();
    }
    if (valid_utf8_no_nul(data, size)
        && (json_string_length(v) != size
            || memcmp(json_string_value(v), data, size) != 0)) {
        abort();
    }
    json_decref(v);

    rp_buf_init(&b, p, 8);
    rp_buf_html(&b, (const char *)data, size);
    for (i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (c == '<' || c == '>' || c == '"' || c == '\'' || c < 0x20
            || c == 0x7f) {
            abort();
        }
    }
    rp_buf_init(&b, p, 8);
    rp_buf_prom_label(&b, (const char *)data, size);
    for (i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (c == '\n' || c < 0x20) {
            abort();
        }
        if (c == '"' && (i == 0 || b.data[i - 1] != '\\')) {
            abort();
        }
    }
    apr_pool_destroy(p);
    return 0;
}
