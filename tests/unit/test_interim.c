/*
 * test_interim.c: the interim-head editor strips X-ReqPerf-Tags and
 * X-ReqPerf-Purge from 1xx heads (whatever the case, whatever the split of
 * the bytes), keeps every other byte, and lets anything that is not an
 * interim head through untouched.
 */
#include <string.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "cache/rp_interim.h"

typedef struct {
    char buf[4096];
    size_t len;
} out_t;

static void emit(void *baton, const char *data, size_t len)
{
    out_t *o = baton;

    assert_true(o->len + len < sizeof(o->buf));
    memcpy(o->buf + o->len, data, len);
    o->len += len;
}

/* Feeds in pieces of `step` bytes (0: whole); the rest after PASS as is. */
static const char *edit(const char *in, size_t step, rp_interim_mode_t *mode)
{
    static out_t o;
    rp_interim_t st;
    size_t len = strlen(in), pos = 0;

    o.len = 0;
    rp_interim_reset(&st);
    while (pos < len) {
        size_t n = step && step < len - pos ? step : len - pos;
        size_t used = rp_interim_feed(&st, in + pos, n, emit, &o);

        if (used < n) {
            assert_int_equal(st.mode, RP_INTERIM_PASS);
            memcpy(o.buf + o.len, in + pos + used, len - pos - used);
            o.len += len - pos - used;
            break;
        }
        pos += n;
    }
    o.buf[o.len] = '\0';
    if (mode) {
        *mode = st.mode;
    }
    return o.buf;
}

static void test_strips_in_interim_heads(void **state)
{
    static const size_t steps[] = { 0, 1, 2, 3, 5, 7, 13 };
    const char *in = "HTTP/1.1 103 Early Hints\r\n"
                     "Link: </a.css>; rel=preload\r\n"
                     "X-ReqPerf-Tags: invoice-1 customer-2\r\n"
                     "x-reqperf-purge: url=/x\r\n"
                     "X-ReqPerf-Tagsy: kept\r\n"
                     "X-ReqP: kept too\r\n"
                     "\r\n"
                     "HTTP/1.1 100 Continue\r\n"
                     "X-REQPERF-TAGS: a\r\n"
                     "\r\n"
                     "HTTP/1.1 200 OK\r\n"
                     "X-ReqPerf-Tags: not an interim head\r\n";
    const char *want = "HTTP/1.1 103 Early Hints\r\n"
                       "Link: </a.css>; rel=preload\r\n"
                       "X-ReqPerf-Tagsy: kept\r\n"
                       "X-ReqP: kept too\r\n"
                       "\r\n"
                       "HTTP/1.1 100 Continue\r\n"
                       "\r\n"
                       "HTTP/1.1 200 OK\r\n"
                       "X-ReqPerf-Tags: not an interim head\r\n";
    size_t i;
    rp_interim_mode_t mode;

    (void)state;
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *got = edit(in, steps[i], &mode);
        if (strcmp(got, want) != 0) {
            fail_msg("step %zu: got '%s'", steps[i], got);
        }
        assert_int_equal(mode, RP_INTERIM_PASS);
    }
}

static void test_leaves_other_bytes_alone(void **state)
{
    rp_interim_mode_t mode;

    (void)state;
    /* a final head, a body, an h2 frame: passed after a few bytes */
    assert_string_equal(edit("HTTP/1.1 404 Not Found\r\nX-ReqPerf-Tags: x\r\n", 1, &mode),
                        "HTTP/1.1 404 Not Found\r\nX-ReqPerf-Tags: x\r\n");
    assert_int_equal(mode, RP_INTERIM_PASS);
    assert_string_equal(edit("<!DOCTYPE html>X-ReqPerf-Tags: x", 0, &mode),
                        "<!DOCTYPE html>X-ReqPerf-Tags: x");
    assert_string_equal(edit("HTTP/1.0 103 x\r\nX-ReqPerf-Tags: x\r\n", 0, &mode),
                        "HTTP/1.0 103 x\r\nX-ReqPerf-Tags: x\r\n");
    assert_string_equal(edit("HTTP/1.1 1x3 x\r\n", 0, &mode), "HTTP/1.1 1x3 x\r\n");
    /* bare LF line ends, a head cut short */
    assert_string_equal(edit("HTTP/1.1 103 x\nA: b\nX-ReqPerf-Purge: tag=t\n\n", 1, &mode),
                        "HTTP/1.1 103 x\nA: b\n\n");
    assert_int_equal(mode, RP_INTERIM_STATUS);
    assert_string_equal(edit("HTTP/1.1 103 x\r\nX-ReqPerf-Ta", 0, &mode), "HTTP/1.1 103 x\r\n");
    assert_int_equal(mode, RP_INTERIM_LINE_START);
    /* a lone "\r" that does not end the head is kept */
    assert_string_equal(edit("HTTP/1.1 103 x\r\n\rA: b\r\n\r\n", 1, &mode),
                        "HTTP/1.1 103 x\r\n\rA: b\r\n\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_strips_in_interim_heads),
        RP_TEST(test_leaves_other_bytes_alone),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
