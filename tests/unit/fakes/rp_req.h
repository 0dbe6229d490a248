/*
 * rp_req.h: a request's headers for the cache's unit tests, and the
 * rp_header_get_fn that reads them (case-insensitive, as httpd's table).
 */
#ifndef RP_REQ_FAKE_H
#define RP_REQ_FAKE_H

#include <strings.h>

#include "cache/rp_entry.h"

typedef struct {
    rp_header_t h[4];
    int n;
} req_t;

static inline const char *req_get(void *baton, const char *name)
{
    const req_t *r = baton;
    int i;

    for (i = 0; r != NULL && i < r->n; i++) {
        if (strcasecmp(r->h[i].name, name) == 0) {
            return r->h[i].value;
        }
    }
    return NULL;
}

#endif
