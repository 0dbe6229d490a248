/*
 * fuzz_mc_text.c: libFuzzer harness for the memcached reply parser
 * (cache/rp_mc_text.c), whatever a server sends.
 *
 * The first byte picks the chunk size the bytes arrive in and whether
 * values may stay in the reader's buffer; the rest is the reply, to a
 * get of three keys, to set/add/delete and to incr.  Beyond "no crash"
 * (ASan sees the exact-size copy), it checks what the callers rely on: a
 * value is only ever one of the keys asked for, at most max_value bytes,
 * NUL-terminated past its length, and the bytes it says it is; a result
 * code is one of the enumeration's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "cache/rp_mc_text.h"

static apr_pool_t *root_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    return 0;
}

typedef struct {
    const char *data;
    size_t len, at, chunk;
} feed_t;

static long feed_recv(void *baton, char *buf, size_t len)
{
    feed_t *f = baton;
    size_t n = f->len - f->at;

    if (n == 0) {
        return 0;
    }
    if (n > len) {
        n = len;
    }
    if (n > f->chunk) {
        n = f->chunk;
    }
    memcpy(buf, f->data + f->at, n);
    f->at += n;
    return (long)n;
}

static void check_rc(rp_mct_rc_t rc)
{
    if ((int)rc < RP_MCT_OK || rc > RP_MCT_TIMEOUT) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[3] = { "rp:e:k", "rp:u:k", "k" };
    apr_pool_t *p;
    rp_store_item_t items[3];
    size_t idx[3] = { 0, 1, 2 }, i, len;
    rp_mct_reader_t r;
    feed_t f;
    char *copy;
    uint64_t v;
    rp_mct_rc_t rc;

    if (size == 0) {
        return 0;
    }
    apr_pool_create(&p, root_pool);
    len = size - 1;
    copy = malloc(len ? len : 1);          /* exact size for ASan */
    memcpy(copy, data + 1, len);
    f.data = copy;
    f.len = len;
    f.at = 0;
    f.chunk = (size_t)(data[0] & 0x7f) + 1;

    memset(items, 0, sizeof(items));
    for (i = 0; i < 3; i++) {
        items[i].key = keys[i];
        items[i].key_len = strlen(keys[i]);
        items[i].rc = RP_ST_NOTFOUND;
    }
    rp_mct_reader_init(&r, feed_recv, &f, p, NULL,
                       (data[0] & 0x80) ? 600 : 40000, (size_t)(data[0] & 3));
    rc = rp_mct_read_values(&r, p, items, idx, 3, 4096);
    check_rc(rc);
    for (i = 0; i < 3; i++) {
        if (items[i].rc == RP_ST_OK) {
            if (items[i].value == NULL || items[i].value_len > 4096
                || items[i].value[items[i].value_len] != '\0') {
                abort();
            }
            /* the bytes are the reply's: somewhere in what was sent */
            if (items[i].value_len > 0
                && memmem(copy, len, items[i].value, items[i].value_len)
                   == NULL) {
                abort();
            }
        }
        else if (items[i].value != NULL) {
            abort();
        }
    }

    f.at = 0;
    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, 0, 0);
    check_rc(rp_mct_read_status(&r));
    f.at = 0;
    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, 0, 0);
    check_rc(rp_mct_read_incr(&r, &v));

    free(copy);
    apr_pool_destroy(p);
    return 0;
}
