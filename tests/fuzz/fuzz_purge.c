/*
 * fuzz_purge.c: libFuzzer harness for the purge parsers (cache/rp_purge.c).
 *
 * The same bytes go to the form parser (as a length-delimited body), to the
 * header parser and to rp_url_split (as C strings). Beyond "no crash", it checks
 * the promises callers rely on: a failure leaves no item and an error message,
 * a success returns only items that are valid on their own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "cache/rp_purge.h"

static apr_pool_t *root_pool;  /* harness only: libFuzzer runs inputs one at a time */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    return 0;
}

static void check_result(apr_pool_t *p, int n, const rp_purge_req_t *r, const char *err)
{
    int i;

    if (r->urls == NULL || r->tags == NULL) {
        abort();
    }
    if (n < 0) {
        if (err == NULL || r->urls->nelts != 0 || r->tags->nelts != 0) {
            abort();
        }
        return;
    }
    if (n == 0 || n != r->urls->nelts + r->tags->nelts || n > RP_PURGE_MAX_ITEMS) {
        abort();
    }
    for (i = 0; i < r->urls->nelts; i++) {
        const char *u = APR_ARRAY_IDX(r->urls, i, const char *);

        size_t k;

        if (strlen(u) > RP_PURGE_MAX_URL || rp_url_split(p, u, NULL, NULL, NULL, NULL, NULL) != 0) {
            abort();
        }
        /* spelled as a request line spells it: no raw byte a browser would
         * escape, every '%' a whole escape (else it could name no page) */
        for (k = 0; u[k] != '\0'; k++) {
            unsigned char c = (unsigned char)u[k];

            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\') {
                abort();
            }
        }

    }
    for (i = 0; i < r->tags->nelts; i++) {
        const char *t = APR_ARRAY_IDX(r->tags, i, const char *);
        size_t k, len = strlen(t);

        if (len == 0 || len > 128) {
            abort();
        }
        for (k = 0; k < len; k++) {
            if (t[k] < 0x21 || t[k] > 0x7e || t[k] == ',') {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    rp_purge_req_t r;
    const char *err = NULL;
    const char *scheme, *host, *path, *query;
    unsigned port;
    char *body = malloc(size ? size : 1);
    char *str = malloc(size + 1);
    int n, bad = 0;

    apr_pool_create(&p, root_pool);
    memcpy(body, data, size);
    memcpy(str, data, size);
    str[size] = '\0';

    n = rp_purge_parse_form(p, body, size, &r, &err);
    check_result(p, n, &r, err);

    err = NULL;
    n = rp_purge_parse_header(p, str, &r, &err);
    check_result(p, n, &r, err);

    /* a backend's header, item by item: whatever it keeps is as valid */
    err = NULL;
    n = rp_purge_parse_header_each(p, str, &r, &err, &bad);
    if (bad < 0 || (n == 0 && (r.urls->nelts != 0 || r.tags->nelts != 0))) {
        abort();
    }
    if (n != 0) {
        check_result(p, n, &r, err);
    }

    if (rp_url_split(p, str, &scheme, &host, &port, &path, &query) == 0) {
        if (path == NULL || path[0] != '/' || (scheme == NULL) != (host == NULL)
            || (scheme != NULL && (port == 0 || port > 65535))
            || (scheme == NULL && port != 0)) {
            abort();
        }
    }
    apr_pool_destroy(p);
    free(body);
    free(str);
    return 0;
}
