/*
 * test_servertiming.c: the Server-Timing parser (stats/rp_servertiming.c):
 * lists, quoted desc, dur as decimal milliseconds, lower-cased names cut
 * to 32 bytes, and junk skipped one list element at a time and counted,
 * never taking the good metrics after it down with it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stats/rp_servertiming.h"

#define MAXM 4096

typedef struct {
    rp_st_metric_t m[MAXM];
    int n;
    uint32_t malformed;
} parsed_t;

static parsed_t *parse_n(const char *v, size_t len)
{
    static parsed_t out;
    rp_st_cursor_t c;

    memset(&out, 0, sizeof(out));
    rp_st_init(&c, v, len);
    while (out.n < MAXM && rp_st_next(&c, &out.m[out.n], &out.malformed)) {
        out.n++;
    }
    return &out;
}

static parsed_t *parse(const char *v)
{
    return parse_n(v, strlen(v));
}

static void assert_metric(const rp_st_metric_t *m, const char *name,
                          int has_dur, uint64_t us)
{
    assert_string_equal(m->name, name);
    assert_int_equal(m->name_len, strlen(name));
    assert_int_equal(m->has_dur, has_dur);
    assert_int_equal(m->dur_us, us);
}

static void test_list_and_desc(void **state)
{
    /* a header value, then the metrics it holds (name, has_dur, us) */
    static const struct {
        const char *value;
        int n;
        struct {
            const char *name;
            int has_dur;
            uint64_t us;
        } m[2];
    } cases[] = {
        { "db;dur=53.2, tpl;dur=12;desc=\"templates\"", 2,
          { { "db", 1, 53200 }, { "tpl", 1, 12000 } } },
        /* case, whitespace around everything, a quoted dur */
        { "  DB ; DUR = 1.5 ,\tTpl;Dur=\"2\"  ", 2,
          { { "db", 1, 1500 }, { "tpl", 1, 2000 } } },
        /* a desc holding the separators and escapes; desc before dur */
        { "a;desc=\"x, y; \\\"z\\\"\";dur=3, b;desc=token", 2,
          { { "a", 1, 3000 }, { "b", 0, 0 } } },
        /* a metric without dur, unknown and flag parameters */
        { "cache-hit, miss;flag;x=1;y=\"2\"", 2,
          { { "cache-hit", 0, 0 }, { "miss", 0, 0 } } },
        /* every tchar is a name byte */
        { "a!#$%&'*+-.^_`|~9;dur=1", 1, { { "a!#$%&'*+-.^_`|~9", 1, 1000 } } },
        /* empty list elements are allowed and ignored */
        { ", ,a,,b,", 2, { { "a", 0, 0 }, { "b", 0, 0 } } },
        { "", 0, { { NULL, 0, 0 } } },
    };
    size_t i;
    int k;
    parsed_t *p;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = parse(cases[i].value);
        assert_int_equal(p->n, cases[i].n);
        assert_int_equal(p->malformed, 0);
        for (k = 0; k < cases[i].n; k++) {
            assert_metric(&p->m[k], cases[i].m[k].name, cases[i].m[k].has_dur,
                          cases[i].m[k].us);
        }
    }
    p = parse_n(NULL, 0);
    assert_int_equal(p->n, 0);
}

static void test_dur_numbers(void **state)
{
    static const struct {
        const char *dur;
        uint64_t us;
    } ok[] = {
        { "0", 0 }, { "12", 12000 }, { "12.5", 12500 }, { ".5", 500 },
        { "7.", 7000 }, { "0.001", 1 }, { "0.0005", 1 }, { "0.0004", 0 },
        { "1.9999", 2000 }, { "1.2344", 1234 }, { "007", 7000 },
        { "3.14159265358979", 3142 }, { "1000000000", 1000000000000ULL },
    };
    static const char *const bad[] = {
        "abc", "-5", "+5", "1e400", "1e3", "1.2.3", "", "12ms", "0x10",
        "1000000000.001", "1000000001", "99999999999999999999999",
        "\"1\\2\"", "inf", "nan", ".",
    };
    char buf[128];
    size_t i;
    parsed_t *p;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(buf, sizeof(buf), "m;dur=%s", ok[i].dur);
        p = parse(buf);
        assert_int_equal(p->n, 1);
        assert_int_equal(p->malformed, 0);
        assert_metric(&p->m[0], "m", 1, ok[i].us);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* the bad one is skipped and counted; the next one is read */
        snprintf(buf, sizeof(buf), "m;dur=%s, next;dur=2", bad[i]);
        p = parse(buf);
        assert_int_equal(p->malformed, 1);
        assert_int_equal(p->n, 1);
        assert_metric(&p->m[0], "next", 1, 2000);
    }
    /* dur without a value */
    p = parse("m;dur, m;dur=, ok");
    assert_int_equal(p->malformed, 2);
    assert_int_equal(p->n, 1);
    /* the first dur wins, as in browsers; a later one is not read */
    p = parse("a;dur=1;dur=2, b;dur=3;dur=abc");
    assert_int_equal(p->n, 2);
    assert_int_equal(p->malformed, 0);
    assert_int_equal(p->m[0].dur_us, 1000);
    assert_int_equal(p->m[1].dur_us, 3000);
}

static void test_junk_skipped_one_element_at_a_time(void **state)
{
    static const char *const junk[] = {
        ";;;", ";", "=", "db dur=1", "db;=1", "db;dur==1", "\"db\";dur=1",
        "db;dur=1 x", "db;desc=\"a\"b", "d\xff" "b;dur=1", "\xc3\x28;dur=1",
        "<script>;dur=1", "a;<b>=1", "db;dur=1;", "db\r;dur=1",
    };
    char buf[256];
    size_t i;
    parsed_t *p;

    (void)state;
    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        snprintf(buf, sizeof(buf), "first;dur=1, %s, last;dur=2", junk[i]);
        p = parse(buf);
        assert_int_equal(p->malformed, 1);
        assert_int_equal(p->n, 2);
        assert_string_equal(p->m[0].name, "first");
        assert_string_equal(p->m[1].name, "last");
    }
    /* 32 bytes is fine; longer names are cut to 32 */
    p = parse("abcdefghijklmnopqrstuvwxyz012345;dur=1");
    assert_int_equal(p->n, 1);
    assert_int_equal(p->m[0].name_len, 32);
    p = parse("Start_Processing.Action_Controller;dur=0.1, b");
    assert_int_equal(p->n, 2);
    assert_int_equal(p->malformed, 0);
    assert_metric(&p->m[0], "start_processing.action_controll", 1, 100);

    /* a NUL inside the value ends nothing: that element is junk */
    p = parse_n("a;dur=1, d\0b;dur=2, c", 21);
    assert_int_equal(p->n, 2);
    assert_int_equal(p->malformed, 1);
    assert_string_equal(p->m[1].name, "c");

    /* an unterminated quoted string takes the rest of the line */
    p = parse("a;dur=1, b;desc=\"oops, c;dur=1");
    assert_int_equal(p->n, 1);
    assert_int_equal(p->malformed, 1);
    /* a bad byte inside a quoted string: that element only */
    p = parse("b;desc=\"x\x01y, z\";dur=1, c;dur=1");
    assert_int_equal(p->n, 1);
    assert_int_equal(p->malformed, 1);
    assert_string_equal(p->m[0].name, "c");
    /* a quoted string may hold bytes >= 0x80 (obs-text) */
    p = parse("b;desc=\"caf\xc3\xa9 \xff\";dur=1");
    assert_int_equal(p->n, 1);
    assert_int_equal(p->malformed, 0);
}

static void test_ten_kilobytes(void **state)
{
    char *big = malloc(10 * 1024 + 1);
    size_t i;
    parsed_t *p;

    (void)state;
    /* 10 KB of metrics: all read, linear */
    for (i = 0; i + 8 <= 10 * 1024; i += 8) {
        memcpy(big + i, "x;dur=1,", 8);
    }
    big[i] = '\0';
    p = parse(big);
    assert_int_equal(p->n, 1280);
    assert_int_equal(p->malformed, 0);
    /* 10 KB of one name: cut to 32 bytes */
    memset(big, 'A', 10 * 1024);
    big[10 * 1024] = '\0';
    p = parse(big);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->malformed, 0);
    assert_int_equal(p->m[0].name_len, 32);
    assert_true(rp_st_valid_name(p->m[0].name, 32));
    /* 10 KB of a quoted desc that never ends */
    memcpy(big, "a;desc=\"", 8);
    p = parse(big);
    assert_int_equal(p->n, 0);
    assert_int_equal(p->malformed, 1);
    /* 10 KB of junk bytes, every byte value */
    for (i = 0; i < 10 * 1024; i++) {
        big[i] = (char)(i * 7 + 3);
    }
    p = parse_n(big, 10 * 1024);
    for (i = 0; i < (size_t)p->n; i++) {
        assert_true(rp_st_valid_name(p->m[i].name, p->m[i].name_len));
        assert_true(p->m[i].dur_us <= RP_ST_DUR_MAX_MS * 1000);
    }
    free(big);
}

static void test_valid_name(void **state)
{
    (void)state;
    assert_true(rp_st_valid_name("db", 2));
    assert_true(rp_st_valid_name("a'b&c", 5));
    assert_false(rp_st_valid_name("Db", 2));
    assert_false(rp_st_valid_name("", 0));
    assert_false(rp_st_valid_name("a b", 3));
    assert_false(rp_st_valid_name("a<b", 3));
    assert_false(rp_st_valid_name("abcdefghijklmnopqrstuvwxyz0123456", 33));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_desc),
        cmocka_unit_test(test_dur_numbers),
        cmocka_unit_test(test_junk_skipped_one_element_at_a_time),
        cmocka_unit_test(test_ten_kilobytes),
        cmocka_unit_test(test_valid_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
