/*
 * rp_interim.c: the interim-head editor (see rp_interim.h).
 *
 * A head is recognised only in the exact form httpd writes it,
 * "HTTP/1.1 1dd ", so a body that happens to reach the editor is passed on
 * after at most thirteen bytes were looked at. Inside an interim head each
 * line is held until it either cannot be, or surely is, one of the two
 * control headers.
 */
#include <string.h>

#include "rp_interim.h"
#include "rp_util.h"

static const char *const dropped[] = { "x-reqperf-tags:", "x-reqperf-purge:" };

/* 2: s starts with a dropped header's name; 1: s could still become one; 0: no. */
static int match_dropped(const char *s, size_t n)
{
    int partial = 0;
    size_t i;

    for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        size_t dl = strlen(dropped[i]), m = n < dl ? n : dl;

        if (rp_mem_ieq(s, dropped[i], m)) {
            if (n >= dl) {
                return 2;
            }
            partial = 1;
        }
    }
    return partial;
}

/* Whether the held bytes can still be the start of "HTTP/1.1 1dd ". */
static int status_prefix_ok(const char *s, size_t n)
{
    static const char want[] = "HTTP/1.1 1dd ";
    size_t i;

    for (i = 0; i < n && i < sizeof(want) - 1; i++) {
        if (want[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != want[i]) {
            return 0;
        }
    }
    return 1;
}

void rp_interim_reset(rp_interim_t *st)
{
    st->mode = RP_INTERIM_STATUS;
    st->held = 0;
}

static void flush_held(rp_interim_t *st, rp_interim_emit_fn emit, void *baton)
{
    if (st->held > 0) {
        emit(baton, st->hold, st->held);
        st->held = 0;
    }
}

size_t rp_interim_feed(rp_interim_t *st, const char *data, size_t len,
                       rp_interim_emit_fn emit, void *baton)
{
    size_t i = 0;

    while (i < len) {
        switch (st->mode) {
        case RP_INTERIM_PASS:
            return i;

        case RP_INTERIM_STATUS:
            st->hold[st->held++] = data[i++];
            if (!status_prefix_ok(st->hold, st->held)) {
                flush_held(st, emit, baton);
                st->mode = RP_INTERIM_PASS;
                return i;
            }
            if (st->held == sizeof("HTTP/1.1 1dd ") - 1) {
                flush_held(st, emit, baton);
                st->mode = RP_INTERIM_KEEP_LINE;   /* the rest of the status line */
            }
            break;

        case RP_INTERIM_LINE_START: {
            int m;

            st->hold[st->held++] = data[i++];
            if (st->hold[st->held - 1] == '\n') {
                /* "\r\n" or "\n" alone ends the head; a line that is
                 * only "x-reqp\n" (say) is kept as it is */
                int end = st->held == 1 || (st->held == 2 && st->hold[0] == '\r');
                flush_held(st, emit, baton);
                st->mode = end ? RP_INTERIM_STATUS : RP_INTERIM_LINE_START;
                break;
            }
            m = match_dropped(st->hold, st->held);
            if (m == 2) {
                st->held = 0;
                st->mode = RP_INTERIM_DROP_LINE;
            }
            else if (m == 0 && !(st->held == 1 && st->hold[0] == '\r')) {
                flush_held(st, emit, baton);
                st->mode = RP_INTERIM_KEEP_LINE;
            }
            else if (st->held == sizeof(st->hold)) {
                flush_held(st, emit, baton);     /* cannot happen: names are shorter */
                st->mode = RP_INTERIM_KEEP_LINE;
            }
            break;
        }

        case RP_INTERIM_KEEP_LINE: {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;

            emit(baton, data + i, n);
            i += n;
            if (nl != NULL) {
                st->mode = RP_INTERIM_LINE_START;
            }
            break;
        }

        case RP_INTERIM_DROP_LINE: {
            const char *nl = memchr(data + i, '\n', len - i);

            if (nl == NULL) {
                i = len;
            }
            else {
                i = (size_t)(nl - data) + 1;
                st->mode = RP_INTERIM_LINE_START;
            }
            break;
        }
        }
    }
    return i;
}
