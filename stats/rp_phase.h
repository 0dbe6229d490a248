/*
 * rp_phase.h: the request phases mod_reqperf times, declared once.
 *
 * The list is an X-macro so that the enum, the names used in notes,
 * JSON, Server-Timing and Prometheus labels, and every loop over phases
 * come from one place and cannot disagree.  The order is the order in
 * which a request normally passes through them; `ttfb` is not a phase
 * of its own but a point inside `handler` (handler start to first body
 * byte), kept in the same table because every output reports it as one.
 * `queue` is HTTP/2's alone: the time a stream waited, after its HEADERS
 * frame arrived, for an h2 worker to take it up (H2MaxWorkers).
 */
#ifndef RP_PHASE_H
#define RP_PHASE_H

#define RP_PHASES(X)          \
    X(QUEUE, "queue")         \
    X(READ, "read")           \
    X(POST_READ, "post_read") \
    X(TRANSLATE, "translate") \
    X(MAP_STORAGE, "map_storage") \
    X(HEADER_PARSER, "header_parser") \
    X(ACCESS, "access")       \
    X(AUTHN, "authn")         \
    X(AUTHZ, "authz")         \
    X(TYPE, "type")           \
    X(FIXUPS, "fixups")       \
    X(CACHE, "cache")         \
    X(HANDLER, "handler")     \
    X(TTFB, "ttfb")           \
    X(LOG, "log")

typedef enum {
#define RP_PHASE_ENUM(id, name) RP_PHASE_##id,
    RP_PHASES(RP_PHASE_ENUM)
#undef RP_PHASE_ENUM
    RP_PHASE_COUNT,
    RP_PHASE_NONE = -1
} rp_phase_t;

/* The name of a phase as users see it ("map_storage"); NULL if out of range. */
const char *rp_phase_name(int phase);

/* The phase with this name, or RP_PHASE_NONE. */
int rp_phase_by_name(const char *name);

#endif
