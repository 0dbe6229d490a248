/*
 * test_timeline.c: per-request phase accounting (stats/rp_timeline.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "stats/rp_timeline.h"

static void test_sequence(void **state)
{
    rp_timeline_t tl;

    (void)state;
    rp_timeline_begin(&tl, 1000, RP_PHASE_READ);
    rp_timeline_enter(&tl, RP_PHASE_POST_READ, 1010);
    rp_timeline_enter(&tl, RP_PHASE_TRANSLATE, 1015);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 1100);
    rp_timeline_first_byte(&tl, 1400);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 1500);   /* EOS */
    rp_timeline_enter(&tl, RP_PHASE_LOG, 1600);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 1603);

    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_READ, 2000), 10);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_POST_READ, 2000), 5);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_TRANSLATE, 2000), 85);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_HANDLER, 2000), 400);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_TTFB, 2000), 300);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_LOG, 2000), 3);
    assert_int_equal(rp_timeline_total_us(&tl, 1603), 603);
    assert_true(rp_timeline_ran(&tl, RP_PHASE_TTFB));
    assert_false(rp_timeline_ran(&tl, RP_PHASE_AUTHN));
}

static void test_reentered_phase_accumulates(void **state)
{
    rp_timeline_t tl;

    (void)state;
    /* an internal redirect runs translate..handler a second time */
    rp_timeline_begin(&tl, 0, RP_PHASE_READ);
    rp_timeline_enter(&tl, RP_PHASE_TRANSLATE, 10);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 20);
    rp_timeline_enter(&tl, RP_PHASE_TRANSLATE, 50);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 55);
    rp_timeline_first_byte(&tl, 70);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 100);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_TRANSLATE, 100), 15);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_HANDLER, 100), 75);
    /* ttfb counts handler time up to the first byte, both handlers */
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_TTFB, 100), 45);
    /* first byte is stamped once */
    rp_timeline_first_byte(&tl, 90);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_TTFB, 100), 45);
}

static void test_running_phase_and_clock_going_back(void **state)
{
    rp_timeline_t tl;

    (void)state;
    rp_timeline_begin(&tl, 100, RP_PHASE_NONE);
    assert_false(rp_timeline_ran(&tl, RP_PHASE_READ));
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 200);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_HANDLER, 250), 50);
    /* a time before the last one never makes a negative duration */
    rp_timeline_enter(&tl, RP_PHASE_LOG, 150);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_HANDLER, 300), 0);
    assert_int_equal(rp_timeline_total_us(&tl, 50), 0);
    assert_int_equal(rp_timeline_phase_us(&tl, 99, 300), 0);
}

static void test_end_leaves_the_wait_for_the_log_out(void **state)
{
    rp_timeline_t tl;
    char buf[256];

    (void)state;
    /* an HTTP/2 stream: queued, read, handled; its worker is done at 420
     * but mod_http2 runs its log hooks only at 300420 */
    rp_timeline_begin(&tl, 0, RP_PHASE_QUEUE);
    rp_timeline_enter(&tl, RP_PHASE_READ, 100);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 150);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 400);
    rp_timeline_end(&tl, 420);
    rp_timeline_end(&tl, 9000);                    /* a second end: no-op */
    assert_int_equal(rp_timeline_total_us(&tl, 300420), 420);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 300420); /* the log hooks start */
    assert_int_equal(rp_timeline_total_us(&tl, 300420), 420);
    rp_timeline_format_notes(&tl, 300420, buf, sizeof(buf));
    assert_string_equal(buf, "queue=100 read=50 handler=250");
    rp_timeline_enter(&tl, RP_PHASE_LOG, 300420);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 300425);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_LOG, 300425), 5);
    assert_int_equal(rp_timeline_total_us(&tl, 300425), 425);
    /* time after the log counts again (nothing calls for it today) */
    assert_int_equal(rp_timeline_total_us(&tl, 400000), 100000);

    /* an end at a time before the last one seen never goes negative */
    rp_timeline_begin(&tl, 1000, RP_PHASE_READ);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 2000);
    rp_timeline_end(&tl, 1500);
    assert_int_equal(rp_timeline_total_us(&tl, 5000), 1000);
    rp_timeline_enter(&tl, RP_PHASE_LOG, 3000);
    assert_int_equal(rp_timeline_total_us(&tl, 3000), 1000);
    assert_int_equal(rp_timeline_phase_us(&tl, RP_PHASE_HANDLER, 3000), 0);
}

static void test_upgrade_continues_a_copy(void **state)
{
    rp_timeline_t h1, h2;

    (void)state;
    /* an h2c Upgrade: the HTTP/1.1 request is read and run to fixups,
     * then answered as stream 1, whose timeline goes on from a copy */
    rp_timeline_begin(&h1, 0, RP_PHASE_READ);
    rp_timeline_enter(&h1, RP_PHASE_POST_READ, 30);
    rp_timeline_enter(&h1, RP_PHASE_FIXUPS, 40);
    rp_timeline_enter(&h1, RP_PHASE_NONE, 45);     /* the switch */
    h2 = h1;
    rp_timeline_enter(&h2, RP_PHASE_QUEUE, 45);
    rp_timeline_enter(&h2, RP_PHASE_READ, 60);
    rp_timeline_enter(&h2, RP_PHASE_POST_READ, 62);
    rp_timeline_enter(&h2, RP_PHASE_HANDLER, 70);
    rp_timeline_end(&h2, 100);
    assert_int_equal(rp_timeline_phase_us(&h2, RP_PHASE_READ, 100), 32);
    assert_int_equal(rp_timeline_phase_us(&h2, RP_PHASE_QUEUE, 100), 15);
    assert_int_equal(rp_timeline_phase_us(&h2, RP_PHASE_POST_READ, 100), 18);
    assert_int_equal(rp_timeline_total_us(&h2, 100), 100);
    /* the original is untouched */
    assert_false(rp_timeline_ran(&h1, RP_PHASE_QUEUE));
}

static void test_notes_format(void **state)
{
    rp_timeline_t tl;
    char buf[256];

    (void)state;
    rp_timeline_begin(&tl, 0, RP_PHASE_READ);
    rp_timeline_enter(&tl, RP_PHASE_MAP_STORAGE, 12);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 20);
    rp_timeline_first_byte(&tl, 25);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 30);
    rp_timeline_format_notes(&tl, 40, buf, sizeof(buf));
    assert_string_equal(buf, "read=12 map_storage=8 handler=10 ttfb=5");
    /* never overflows, always terminated */
    rp_timeline_format_notes(&tl, 40, buf, 10);
    assert_int_equal(strlen(buf), 9);
}

static void test_server_timing_format(void **state)
{
    rp_timeline_t tl;
    char buf[256];

    (void)state;
    rp_timeline_begin(&tl, 0, RP_PHASE_READ);
    rp_timeline_enter(&tl, RP_PHASE_ACCESS, 1500);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 2000);
    rp_timeline_first_byte(&tl, 302345);
    rp_timeline_format_server_timing(&tl, 302345, buf, sizeof(buf));
    /* handler is still running: left out; ttfb and total in */
    assert_string_equal(buf, "read;dur=1.500, access;dur=0.500, "
                        "ttfb;dur=300.345, total;dur=302.345");
    /* never overflows, always terminated */
    rp_timeline_format_server_timing(&tl, 302345, buf, 12);
    assert_string_equal(buf, "read;dur=1.");
    rp_timeline_format_server_timing(&tl, 302345, buf, 1);
    assert_string_equal(buf, "");

    /* milliseconds keep three decimals; a long request keeps its digits */
    rp_timeline_begin(&tl, 0, RP_PHASE_READ);
    rp_timeline_enter(&tl, RP_PHASE_HANDLER, 7);
    rp_timeline_enter(&tl, RP_PHASE_NONE, 123456789007LL);
    rp_timeline_format_server_timing(&tl, 123456789007LL, buf, sizeof(buf));
    assert_string_equal(buf, "read;dur=0.007, handler;dur=123456789.000, "
                        "total;dur=123456789.007");
    rp_timeline_format_notes(&tl, 123456789007LL, buf, sizeof(buf));
    assert_string_equal(buf, "read=7 handler=123456789000");
}

static void test_phase_names(void **state)
{
    (void)state;
    assert_string_equal(rp_phase_name(RP_PHASE_MAP_STORAGE), "map_storage");
    assert_string_equal(rp_phase_name(RP_PHASE_LOG), "log");
    assert_null(rp_phase_name(RP_PHASE_COUNT));
    assert_null(rp_phase_name(-1));
    assert_int_equal(rp_phase_by_name("ttfb"), RP_PHASE_TTFB);
    assert_string_equal(rp_phase_name(RP_PHASE_QUEUE), "queue");
    assert_int_equal(RP_PHASE_QUEUE, 0);       /* first: it comes first */
    assert_int_equal(rp_phase_by_name("nope"), RP_PHASE_NONE);
    assert_true(rp_now_us() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_reentered_phase_accumulates),
        cmocka_unit_test(test_running_phase_and_clock_going_back),
        cmocka_unit_test(test_end_leaves_the_wait_for_the_log_out),
        cmocka_unit_test(test_upgrade_continues_a_copy),
        cmocka_unit_test(test_notes_format),
        cmocka_unit_test(test_server_timing_format),
        cmocka_unit_test(test_phase_names),
    };
    return cmocka_run_group_tests_name("timeline", tests, NULL, NULL);
}
