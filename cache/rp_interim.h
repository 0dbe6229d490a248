/*
 * rp_interim.h: strip X-ReqPerf-Tags and X-ReqPerf-Purge from interim
 * (1xx) responses on their way out.
 *
 * A backend's 103 Early Hints travel outside the request's filters: httpd
 * writes their head as HTTP/1.1 bytes straight into the connection's
 * filters (ap_send_interim_response), where the REQPERF_CACHE filter that
 * strips our control headers from final responses never sees them. This is
 * a small streaming editor for those bytes: fed whatever the connection
 * filter gets between the start of a request and its final response, it
 * passes every byte through but the lines of those two headers inside an
 * interim head, and says when it has seen something that is not an
 * interim head, after which the caller passes everything untouched.
 * Work is linear in the bytes fed; at most RP_INTERIM_HOLD bytes are held
 * while a decision waits for more input.
 */
#ifndef RP_INTERIM_H
#define RP_INTERIM_H

#include <stddef.h>

#define RP_INTERIM_HOLD 24

typedef enum {
    RP_INTERIM_STATUS = 0,      /* at the start of a response head */
    RP_INTERIM_LINE_START,      /* at the start of a header line of an interim head */
    RP_INTERIM_KEEP_LINE,       /* inside a line that is kept */
    RP_INTERIM_DROP_LINE,       /* inside a line that is dropped */
    RP_INTERIM_PASS             /* not an interim head: nothing more to do */
} rp_interim_mode_t;

typedef struct {
    rp_interim_mode_t mode;
    char hold[RP_INTERIM_HOLD];
    size_t held;
} rp_interim_t;

typedef void (*rp_interim_emit_fn)(void *baton, const char *data, size_t len);

/* Ready for a new response head (a new request on the connection). */
void rp_interim_reset(rp_interim_t *st);

/*
 * Feeds len bytes. Bytes to send go out through emit, in order (held bytes
 * included). Returns how many of the len bytes were consumed: all of them,
 * unless the mode became RP_INTERIM_PASS, in which case the bytes from the
 * returned offset on are the caller's to send as they are (they were not
 * emitted).
 */
size_t rp_interim_feed(rp_interim_t *st, const char *data, size_t len,
                       rp_interim_emit_fn emit, void *baton);

#endif /* RP_INTERIM_H */
