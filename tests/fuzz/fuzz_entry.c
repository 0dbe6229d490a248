/*
 * fuzz_entry.c: libFuzzer harness for the entry decoder (cache/rp_entry.c).
 *
 * Random bytes almost never carry a valid checksum, so the first input byte
 * picks a mode: even -> decode the rest as is (magic, version, lengths and
 * checksum checks); odd -> the rest is an entry without its checksum, and the
 * harness fixes total_len and appends a valid checksum, so the fuzzer reaches
 * the content checks that sit behind it. Whenever a decode succeeds, encoding
 * the result must give back exactly the same bytes (the format is canonical)
 * and decoding those must give identical fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <xxhash.h>

#include "cache/rp_entry.h"

static apr_pool_t *root_pool;  /* harness only: libFuzzer runs inputs one at a time */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    return 0;
}

static void check_same(const rp_entry_t *a, const rp_entry_t *b)
{
    uint32_t i;

    if (a->kind != b->kind || a->key_len != b->key_len || a->status != b->status
        || a->stored_us != b->stored_us || a->fresh_until_us != b->fresh_until_us
        || a->grace_us != b->grace_us || a->url_gen != b->url_gen
        || a->n_tags != b->n_tags || a->n_headers != b->n_headers
        || a->body_len != b->body_len
        || memcmp(a->key, b->key, a->key_len) != 0
        || memcmp(a->body, b->body, a->body_len) != 0) {
        abort();
    }
    for (i = 0; i < a->n_tags; i++) {
        if (strcmp(a->tags[i], b->tags[i]) != 0 || a->tag_gens[i] != b->tag_gens[i]) {
            abort();
        }
    }
    for (i = 0; i < a->n_headers; i++) {
        if (strcmp(a->headers[i].name, b->headers[i].name) != 0
            || strcmp(a->headers[i].value, b->headers[i].value) != 0) {
            abort();
        }
    }
}

static void decode_and_roundtrip(const char *buf, size_t len, apr_pool_t *p)
{
    rp_entry_t first, second;
    rp_entry_status_t st;
    size_t enc_len = 0;
    char *enc;

    /* trusted decoding skips the checksum and the bytes of names, values
     * and tags, never a bound: whatever the bytes, it stays inside buf
     * (ASan sees the exact-size copy), and what the checked decoding
     * accepts it decodes alike */
    st = rp_entry_decode_trusted(buf, len, p, &second);
    if (rp_entry_strerror(st) == NULL) {
        abort();
    }
    st = rp_entry_decode(buf, len, p, &first);
    if (rp_entry_strerror(st) == NULL) {
        abort();
    }
    if (st == RP_ENTRY_OK) {
        if (rp_entry_decode_trusted(buf, len, p, &second) != RP_ENTRY_OK) {
            abort();
        }
        check_same(&first, &second);
    }
    if (st != RP_ENTRY_OK) {
        if (first.key != NULL || first.body != NULL || first.n_headers || first.n_tags) {
            abort();    /* out must be zeroed on error */
        }
        return;
    }
    if (rp_entry_encoded_size(&first) != len) {
        abort();
    }
    enc = rp_entry_encode_pool(&first, p, &enc_len, &st);
    if (enc == NULL || st != RP_ENTRY_OK || enc_len != len || memcmp(enc, buf, len) != 0) {
        abort();
    }
    if (rp_entry_decode(enc, enc_len, p, &second) != RP_ENTRY_OK) {
        abort();
    }
    check_same(&first, &second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;

    if (size == 0) {
        return 0;
    }
    apr_pool_create(&p, root_pool);
    if ((data[0] & 1) == 0) {
        /* exact-size heap copy so ASan sees any read past the end */
        char *copy = malloc(size - 1 ? size - 1 : 1);

        memcpy(copy, data + 1, size - 1);
        decode_and_roundtrip(copy, size - 1, p);
        free(copy);
    }
    else {
        size_t n = size - 1, total = n + 8;
        char *buf = malloc(total);
        uint64_t sum;
        int i;

        memcpy(buf, data + 1, n);
        if (n >= 12) {
            for (i = 0; i < 4; i++) {
                buf[8 + i] = (char)(total >> (8 * i));
            }
        }
        sum = XXH3_64bits(buf, n);
        for (i = 0; i < 8; i++) {
            buf[n + i] = (char)(sum >> (8 * i));
        }
        decode_and_roundtrip(buf, total, p);
        free(buf);
    }
    apr_pool_destroy(p);
    return 0;
}
