/*
 * fuzz_route.c: URL grouping (stats/rp_route.c) on arbitrary paths and
 * templates: the route is always bounded, NUL-terminated, never holds a
 * '?' or '#' part, and template expansion never reads or writes past its
 * buffers whatever the spans say.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats/rp_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4096], out[RP_ROUTE_MAX], err[160];
    size_t n = size < sizeof(path) - 1 ? size : sizeof(path) - 1, len, i;
    rp_span_t m[RP_ROUTE_MAX_GROUPS];
    size_t plen;

    memcpy(path, data, n);
    path[n] = '\0';
    len = rp_route_normalize(path, out, sizeof(out));
    if (len >= sizeof(out) || strlen(out) != len) {
        abort();
    }
    if (strchr(out, '?') || strchr(out, '#')) {
        abort();
    }
    /* the same path twice gives the same route */
    {
        char again[RP_ROUTE_MAX];
        rp_route_normalize(path, again, sizeof(again));
        if (strcmp(out, again) != 0) {
            abort();
        }
    }
    /* the input as a template over its own text, with spans from the data */
    plen = strlen(path);
    for (i = 0; i < RP_ROUTE_MAX_GROUPS; i++) {
        size_t a = i < n ? data[i] % (plen + 1) : 0;
        size_t b = i + 1 < n ? data[i + 1] % (plen + 1) : plen;
        m[i].so = (int)(a < b ? a : b);
        m[i].eo = (int)(a < b ? b : a);
    }
    if (rp_route_template_check(path, RP_ROUTE_MAX_GROUPS - 1, err,
                                sizeof(err)) == 0) {
        len = rp_route_expand(path, path, m, RP_ROUTE_MAX_GROUPS, out,
                              sizeof(out));
        if (len >= sizeof(out) || strlen(out) != len) {
            abort();
        }
    }
    rp_route_is_id_segment(path, plen);
    rp_route_method(path);
    return 0;
}
