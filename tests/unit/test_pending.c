/*
 * test_pending.c: the queue of purges memcached did not take
 * (rp_pending.c): queued once however often the same purge fails, taken
 * by one caller at a time, made or queued again with a back-off, taken
 * over from a taker that died, dropped (and counted) when full or too
 * long, and with 8 threads adding and taking at once, every purge made
 * exactly once and the count back at zero.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "cache/rp_pending.h"

#define T0 1000000000LL

static rp_pending_t *fresh(void)
{
    static void *mem;

    free(mem);
    mem = malloc(rp_pending_size());
    return rp_pending_init(mem);
}

static void test_add_take_done(void **state)
{
    rp_pending_t *q = fresh();
    char name[RP_PENDING_NAME_MAX + 1];
    rp_pending_kind_t kind;
    int h;

    (void)state;
    assert_int_equal(rp_pending_count(q), 0);
    assert_int_equal(rp_pending_take(q, T0, &kind, name), -1);
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/invoice/7"), 0);
    /* the same purge failing again is one purge to make */
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/invoice/7"), 0);
    assert_int_equal(rp_pending_count(q), 1);
    /* a tag of the same name is another */
    assert_int_equal(rp_pending_add(q, RP_PENDING_TAG, "/invoice/7"), 0);
    assert_int_equal(rp_pending_count(q), 2);

    h = rp_pending_take(q, T0, &kind, name);
    assert_true(h >= 0);
    assert_int_equal(kind, RP_PENDING_URL);
    assert_string_equal(name, "/invoice/7");
    /* taken: not queued for the next caller, nor a duplicate of a new one
     * (the one being made may have moved its generation too early) */
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/invoice/7"), 0);
    assert_int_equal(rp_pending_count(q), 3);
    rp_pending_done(q, h);
    rp_pending_done(q, h);                  /* twice: nothing more */
    assert_int_equal(rp_pending_count(q), 2);
    assert_int_equal(rp_pending_made(q), 1);

    while ((h = rp_pending_take(q, T0, &kind, name)) >= 0) {
        rp_pending_done(q, h);
    }
    assert_int_equal(rp_pending_count(q), 0);
    assert_int_equal(rp_pending_made(q), 3);
    assert_int_equal(rp_pending_dropped(q), 0);
}

static void test_retry_backs_off(void **state)
{
    rp_pending_t *q = fresh();
    char name[RP_PENDING_NAME_MAX + 1];
    rp_pending_kind_t kind;
    int h;

    (void)state;
    assert_int_equal(rp_pending_add(q, RP_PENDING_TAG, "customer-7"), 0);
    h = rp_pending_take(q, T0, &kind, name);
    assert_true(h >= 0);
    rp_pending_retry(q, h, T0);
    assert_int_equal(rp_pending_count(q), 1);
    /* memcached just failed again: not asked again at once */
    assert_int_equal(rp_pending_take(q, T0 + RP_PENDING_BACKOFF_US - 1,
                                     &kind, name), -1);
    h = rp_pending_take(q, T0 + RP_PENDING_BACKOFF_US, &kind, name);
    assert_true(h >= 0);
    assert_int_equal(kind, RP_PENDING_TAG);
    assert_string_equal(name, "customer-7");
    rp_pending_done(q, h);
    assert_int_equal(rp_pending_count(q), 0);
}

static void test_dead_taker_is_taken_over(void **state)
{
    rp_pending_t *q = fresh();
    char name[RP_PENDING_NAME_MAX + 1];
    rp_pending_kind_t kind;
    int h, h2;

    (void)state;
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/a"), 0);
    h = rp_pending_take(q, T0, &kind, name);
    assert_true(h >= 0);
    /* its taker crashed: nobody else takes it until it is stale */
    assert_int_equal(rp_pending_take(q, T0 + 1000, &kind, name), -1);
    h2 = rp_pending_take(q, T0 + RP_PENDING_TAKEN_STALE_US + 1, &kind, name);
    assert_true(h2 >= 0);
    assert_string_equal(name, "/a");
    rp_pending_done(q, h2);
    assert_int_equal(rp_pending_count(q), 0);
    /* the first taker wakes up: its handle no longer owns the slot */
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/b"), 0);
    rp_pending_retry(q, h, T0);
    rp_pending_done(q, h);
    assert_int_equal(rp_pending_count(q), 1);
    h = rp_pending_take(q, T0 + RP_PENDING_TAKEN_STALE_US + 2, &kind, name);
    assert_string_equal(name, "/b");
    rp_pending_done(q, h);
}

static void test_full_and_too_long_are_dropped(void **state)
{
    rp_pending_t *q = fresh();
    char name[RP_PENDING_NAME_MAX + 2];
    int i;

    (void)state;
    for (i = 0; i < RP_PENDING_SLOTS; i++) {
        snprintf(name, sizeof(name), "/page/%d", i);
        assert_int_equal(rp_pending_add(q, RP_PENDING_URL, name), 0);
    }
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/one-more"), -1);
    assert_int_equal(rp_pending_dropped(q), 1);
    /* already queued: not a drop */
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "/page/3"), 0);
    memset(name, 'x', RP_PENDING_NAME_MAX + 1);
    name[RP_PENDING_NAME_MAX + 1] = '\0';
    q = fresh();
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, name), -1);
    name[RP_PENDING_NAME_MAX] = '\0';       /* exactly the most it keeps */
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, name), 0);
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, ""), -1);
    assert_int_equal(rp_pending_dropped(q), 2);
    assert_int_equal(rp_pending_add(NULL, RP_PENDING_URL, "/x"), -1);
    assert_int_equal(rp_pending_count(NULL), 0);
}

/* 8 threads: each adds its own purges and takes whatever it finds; every
 * purge is made exactly once. */
#define THREADS 8
#define PER_THREAD 2000

static rp_pending_t *shared_q;
static int made_count[THREADS][PER_THREAD];

static void *worker(void *arg)
{
    long t = (long)arg;
    char name[RP_PENDING_NAME_MAX + 1];
    rp_pending_kind_t kind;
    int i, h, a, b;

    for (i = 0; i < PER_THREAD; i++) {
        char mine[32];

        snprintf(mine, sizeof(mine), "%ld/%d", t, i);
        while (rp_pending_add(shared_q, RP_PENDING_URL, mine) != 0) {
            /* full: make one first */
            if ((h = rp_pending_take(shared_q, T0, &kind, name)) >= 0) {
                assert_int_equal(sscanf(name, "%d/%d", &a, &b), 2);
                __atomic_add_fetch(&made_count[a][b], 1, __ATOMIC_RELAXED);
                rp_pending_done(shared_q, h);
            }
        }
        if ((h = rp_pending_take(shared_q, T0, &kind, name)) >= 0) {
            assert_int_equal(sscanf(name, "%d/%d", &a, &b), 2);
            __atomic_add_fetch(&made_count[a][b], 1, __ATOMIC_RELAXED);
            rp_pending_done(shared_q, h);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t th[THREADS];
    char name[RP_PENDING_NAME_MAX + 1];
    rp_pending_kind_t kind;
    long t;
    int i, h, a, b;

    (void)state;
    shared_q = fresh();
    memset(made_count, 0, sizeof(made_count));
    for (t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)t), 0);
    }
    for (t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    while ((h = rp_pending_take(shared_q, T0, &kind, name)) >= 0) {
        assert_int_equal(sscanf(name, "%d/%d", &a, &b), 2);
        made_count[a][b]++;
        rp_pending_done(shared_q, h);
    }
    assert_int_equal(rp_pending_count(shared_q), 0);
    for (t = 0; t < THREADS; t++) {
        for (i = 0; i < PER_THREAD; i++) {
            assert_int_equal(made_count[t][i], 1);
        }
    }
    assert_int_equal(rp_pending_made(shared_q), THREADS * PER_THREAD);
}

typedef struct {
    const char *want;
    rp_pending_kind_t kind;
    int asked;
} want_t;

static int match_name(void *baton, rp_pending_kind_t kind, const char *name,
                      size_t len)
{
    want_t *w = baton;

    w->asked++;
    return kind == w->kind && strlen(w->want) == len
           && memcmp(w->want, name, len) == 0;
}

/* A lookup made while purges wait asks whether one names its page: queued
 * and taken purges count, made ones not; and each one made moves
 * rp_pending_changes (a lookup that read its generations before it was
 * made cannot tell from its freed slot). */
static void test_find(void **state)
{
    rp_pending_t *q = fresh();
    char name[RP_PENDING_NAME_MAX + 1];
    rp_pending_kind_t kind;
    want_t w = { "http://a/p", RP_PENDING_URL, 0 };
    uint64_t c;
    int h;

    (void)state;
    assert_int_equal(rp_pending_find(q, match_name, &w), 0);
    assert_int_equal(w.asked, 0);               /* empty: nothing read */
    assert_int_equal(rp_pending_add(q, RP_PENDING_TAG, "http://a/p"), 0);
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "http://a/other"), 0);
    assert_int_equal(rp_pending_find(q, match_name, &w), 0);   /* a tag */
    assert_int_equal(rp_pending_add(q, RP_PENDING_URL, "http://a/p"), 0);
    assert_int_equal(rp_pending_find(q, match_name, &w), 1);
    /* taken, being made: still waits */
    assert_true(rp_pending_take(q, T0, &kind, name) >= 0);  /* the tag */
    assert_true(rp_pending_take(q, T0, &kind, name) >= 0);  /* /other */
    h = rp_pending_take(q, T0, &kind, name);
    assert_true(h >= 0);
    assert_int_equal(kind, RP_PENDING_URL);
    assert_string_equal(name, "http://a/p");
    assert_int_equal(rp_pending_find(q, match_name, &w), 1);
    c = rp_pending_changes(q);
    rp_pending_done(q, h);                      /* made */
    assert_true(rp_pending_changes(q) != c);
    assert_int_equal(rp_pending_find(q, match_name, &w), 0);
    w.want = "http://a/p";
    w.kind = RP_PENDING_TAG;
    assert_int_equal(rp_pending_find(q, match_name, &w), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_take_done),
        cmocka_unit_test(test_retry_backs_off),
        cmocka_unit_test(test_dead_taker_is_taken_over),
        cmocka_unit_test(test_full_and_too_long_are_dropped),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
