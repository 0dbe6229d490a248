/*
 * test_breaker.c: the per-server circuit breaker (rp_breaker.c), with explicit
 * times: it stays up under fewer than RP_BREAKER_THRESHOLD failures in a row,
 * opens after them, lets exactly one probe through per RP_BREAKER_RETRY_US,
 * closes on a probe's success, re-opens on its failure, hands a probe that
 * went stale to another caller; and, with 8 threads hammering one breaker,
 * never has two probes in flight while the server is down, two callers
 * racing for a stale probe never both take it over, and two callers arriving
 * together at breakers down for a long quiet spell never both probe one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cache/rp_breaker.h"

#define T0 1000000000LL                 /* an arbitrary monotonic time, µs */

static void open_breaker(rp_breaker_t *b, int64_t t)
{
    int i;

    for (i = 0; i < RP_BREAKER_THRESHOLD; i++) {
        rp_breaker_failure(b, t, 0);
    }
    assert_int_equal(rp_breaker_state(b), RP_BRK_DOWN);
}

static void test_up_by_default(void **state)
{
    rp_breaker_t b;
    int probe = -1;

    (void)state;
    memset(&b, 0, sizeof(b));
    assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
    assert_int_equal(rp_breaker_allow(&b, T0, &probe), 1);
    assert_int_equal(probe, 0);
    rp_breaker_success(&b, 0);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
    assert_true(b.total_skipped == 0);
    assert_true(b.total_failures == 0);
}

static void test_fewer_failures_stay_up(void **state)
{
    rp_breaker_t b;
    int i, probe;

    (void)state;
    memset(&b, 0, sizeof(b));
    for (i = 0; i < RP_BREAKER_THRESHOLD - 1; i++) {
        rp_breaker_failure(&b, T0 + i, 0);
        assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
    }
    /* a success in between resets the count */
    rp_breaker_success(&b, 0);
    assert_int_equal(b.failures, 0);
    for (i = 0; i < RP_BREAKER_THRESHOLD - 1; i++) {
        rp_breaker_failure(&b, T0 + 10 + i, 0);
        assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
        assert_int_equal(rp_breaker_allow(&b, T0 + 10 + i, &probe), 1);
        assert_int_equal(probe, 0);
    }
    assert_true(b.total_failures == 2 * (RP_BREAKER_THRESHOLD - 1));
    assert_true(b.total_skipped == 0);
    /* ... one more in a row opens it */
    rp_breaker_failure(&b, T0 + 20, 0);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_DOWN);
}

static void test_opens_after_threshold(void **state)
{
    rp_breaker_t b;
    int probe = -1;

    (void)state;
    memset(&b, 0, sizeof(b));
    open_breaker(&b, T0);
    assert_true(b.total_failures == RP_BREAKER_THRESHOLD);
    assert_int_equal(b.failures, 0);

    /* down: nobody is let through, and every refusal is counted */
    assert_int_equal(rp_breaker_allow(&b, T0, &probe), 0);
    assert_int_equal(probe, 0);
    assert_int_equal(rp_breaker_allow(&b, T0 + 1000, &probe), 0);
    assert_int_equal(rp_breaker_allow(&b, T0 + RP_BREAKER_RETRY_US - 1, &probe), 0);
    assert_int_equal(probe, 0);
    assert_true(b.total_skipped == 3);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_DOWN);
}

static void test_one_probe_after_retry(void **state)
{
    rp_breaker_t b;
    int probe = -1, probe2 = -1;
    int64_t t = T0 + RP_BREAKER_RETRY_US;

    (void)state;
    memset(&b, 0, sizeof(b));
    open_breaker(&b, T0);

    assert_int_equal(rp_breaker_allow(&b, t, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_RETRYING);
    /* a second caller while the probe is out: refused */
    assert_int_equal(rp_breaker_allow(&b, t, &probe2), 0);
    assert_int_equal(probe2, 0);
    assert_int_equal(rp_breaker_allow(&b, t + RP_BREAKER_RETRY_US * 2, &probe2), 0);
    assert_int_equal(probe2, 0);
    assert_int_equal(rp_breaker_allow(&b, t + RP_BREAKER_PROBE_STALE_US, &probe2), 0);
    assert_true(b.total_skipped == 3);
    /* a late failure of a request let through before the breaker opened
     * does not start another probe */
    rp_breaker_failure(&b, t + 10, 0);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_RETRYING);
    assert_int_equal(rp_breaker_allow(&b, t + 20, &probe2), 0);
    assert_int_equal(probe2, 0);

    /* the probe succeeds: up, for everyone */
    rp_breaker_success(&b, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
    assert_int_equal(rp_breaker_allow(&b, t + 30, &probe2), 1);
    assert_int_equal(probe2, 0);
    assert_int_equal(rp_breaker_allow(&b, t + 30, &probe2), 1);
    /* and the count starts again from zero */
    rp_breaker_failure(&b, t + 40, 0);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
}

static void test_probe_failure_stays_down(void **state)
{
    rp_breaker_t b;
    int probe = -1;
    int64_t t = T0 + RP_BREAKER_RETRY_US, t2;

    (void)state;
    memset(&b, 0, sizeof(b));
    open_breaker(&b, T0);
    assert_int_equal(rp_breaker_allow(&b, t, &probe), 1);
    assert_int_equal(probe, 1);

    t2 = t + 50000;                             /* the probe timed out */
    rp_breaker_failure(&b, t2, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_DOWN);
    assert_true(b.total_failures == RP_BREAKER_THRESHOLD + 1);
    /* down for another retry period, counted from the probe's failure */
    assert_int_equal(rp_breaker_allow(&b, t2, &probe), 0);
    assert_int_equal(rp_breaker_allow(&b, t2 + RP_BREAKER_RETRY_US - 1, &probe), 0);
    assert_int_equal(probe, 0);
    assert_int_equal(rp_breaker_allow(&b, t2 + RP_BREAKER_RETRY_US, &probe), 1);
    assert_int_equal(probe, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_RETRYING);
    assert_int_equal(rp_breaker_allow(&b, t2 + RP_BREAKER_RETRY_US, &probe), 0);
    /* and it can come back up after several failed probes */
    rp_breaker_success(&b, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
}

static void test_stale_probe_taken_over(void **state)
{
    rp_breaker_t b;
    int probe = -1, probe2 = -1;
    int64_t t = T0 + RP_BREAKER_RETRY_US;

    (void)state;
    memset(&b, 0, sizeof(b));
    open_breaker(&b, T0);
    assert_int_equal(rp_breaker_allow(&b, t, &probe), 1);
    assert_int_equal(probe, 1);
    /* the prober's child died: nobody reports; at the limit, still its */
    assert_int_equal(rp_breaker_allow(&b, t + RP_BREAKER_PROBE_STALE_US, &probe2), 0);
    assert_int_equal(probe2, 0);
    /* past it, one other caller takes the probe over, and only one */
    assert_int_equal(rp_breaker_allow(&b, t + RP_BREAKER_PROBE_STALE_US + 1, &probe2), 1);
    assert_int_equal(probe2, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_RETRYING);
    assert_int_equal(rp_breaker_allow(&b, t + RP_BREAKER_PROBE_STALE_US + 1, &probe2), 0);
    assert_int_equal(probe2, 0);
    /* the new probe's clock starts at the take-over */
    assert_int_equal(rp_breaker_allow(&b, t + 2 * RP_BREAKER_PROBE_STALE_US, &probe2), 0);
    assert_int_equal(rp_breaker_allow(&b, t + 2 * RP_BREAKER_PROBE_STALE_US + 2, &probe2), 1);
    assert_int_equal(probe2, 1);
    rp_breaker_failure(&b, t + 2 * RP_BREAKER_PROBE_STALE_US + 3, 1);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_DOWN);
}

static void test_non_probe_success_closes(void **state)
{
    rp_breaker_t b;
    int probe;

    (void)state;
    memset(&b, 0, sizeof(b));
    open_breaker(&b, T0);
    /* a request let through before it opened got an answer after all */
    rp_breaker_success(&b, 0);
    assert_int_equal(rp_breaker_state(&b), RP_BRK_UP);
    assert_int_equal(rp_breaker_allow(&b, T0 + 1, &probe), 1);
    assert_int_equal(probe, 0);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(rp_breaker_state_name(RP_BRK_UP), "up");
    assert_string_equal(rp_breaker_state_name(RP_BRK_DOWN), "down");
    assert_string_equal(rp_breaker_state_name(RP_BRK_RETRYING), "retrying");
}

/* ---- threads ------------------------------------------------------------ */

#define N_THREADS 8
#define N_ITER 200000
#define TICK_US 250                     /* fake time per call */

typedef struct {
    rp_breaker_t b;
    _Atomic int64_t now;                /* shared fake monotonic clock */
    _Atomic int server_up;
    _Atomic int active_probes;
    _Atomic int max_active;
    _Atomic long probes;
    _Atomic long allowed;
    _Atomic long refused;
    _Atomic int go;
} hammer_t;

/* Moves the shared clock on, but never so far that a probe in flight would
 * look stale (the breaker records the probe's start in retry_at_us while
 * retrying): a take-over of a stale probe is legitimate, not what this
 * test is after. */
static int64_t tick(hammer_t *h)
{
    int64_t t = atomic_load(&h->now);

    if (rp_breaker_state(&h->b) == RP_BRK_RETRYING
        && t + TICK_US - rp_breaker_time_us(&h->b)
           > RP_BREAKER_PROBE_STALE_US / 2) {
        return t;
    }
    return atomic_fetch_add(&h->now, TICK_US) + TICK_US;
}

static void *hammer(void *arg)
{
    hammer_t *h = arg;
    int i, probe, spin;

    while (!atomic_load(&h->go)) {
        /* start together */
    }
    for (i = 0; i < N_ITER; i++) {
        int64_t t = tick(h);

        if (!rp_breaker_allow(&h->b, t, &probe)) {
            atomic_fetch_add(&h->refused, 1);
            continue;
        }
        atomic_fetch_add(&h->allowed, 1);
        if (probe) {
            int n = atomic_fetch_add(&h->active_probes, 1) + 1;
            int m = atomic_load(&h->max_active);

            while (n > m && !atomic_compare_exchange_weak(&h->max_active, &m, n)) {
            }
            atomic_fetch_add(&h->probes, 1);
            /* the probe takes a while: give the others time to try */
            for (spin = 0; spin < 200; spin++) {
                tick(h);
            }
        }
        if (atomic_load(&h->server_up)) {
            if (probe) {
                atomic_fetch_sub(&h->active_probes, 1);
            }
            rp_breaker_success(&h->b, probe);
        }
        else {
            if (probe) {
                atomic_fetch_sub(&h->active_probes, 1);
            }
            rp_breaker_failure(&h->b, tick(h), probe);
        }
    }
    return NULL;
}

static void run_hammer(hammer_t *h)
{
    pthread_t th[N_THREADS];
    int i;

    atomic_store(&h->go, 0);
    for (i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, hammer, h), 0);
    }
    atomic_store(&h->go, 1);
    for (i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
}

static void test_threads_one_probe_at_a_time(void **state)
{
    static hammer_t h;                  /* big enough not to want the stack */
    int probe;
    long expect_max;

    (void)state;
    memset(&h, 0, sizeof(h));
    atomic_store(&h.now, T0);

    /* the server is down the whole time */
    atomic_store(&h.server_up, 0);
    run_hammer(&h);
    assert_int_equal(atomic_load(&h.max_active), 1);
    assert_int_equal(atomic_load(&h.active_probes), 0);
    /* it did open and probe, many times, and skipped most calls */
    assert_true(atomic_load(&h.probes) > 10);
    assert_true(atomic_load(&h.refused) > atomic_load(&h.allowed));
    /* at most one probe per retry period (plus the calls let through
     * before it first opened) */
    expect_max = (long)((atomic_load(&h.now) - T0) / RP_BREAKER_RETRY_US) + 1;
    assert_true(atomic_load(&h.probes) <= expect_max);
    assert_true(h.b.total_skipped == (uint64_t)atomic_load(&h.refused));
    assert_true(rp_breaker_state(&h.b) != RP_BRK_UP);

    /* the server comes back: a probe closes the breaker */
    atomic_store(&h.server_up, 1);
    atomic_store(&h.probes, 0);
    run_hammer(&h);
    assert_int_equal(atomic_load(&h.max_active), 1);
    assert_int_equal(atomic_load(&h.active_probes), 0);
    assert_int_equal(atomic_load(&h.probes), 1);
    assert_int_equal(rp_breaker_state(&h.b), RP_BRK_UP);
    assert_int_equal(rp_breaker_allow(&h.b, atomic_load(&h.now), &probe), 1);
    assert_int_equal(probe, 0);
}

/* Two callers find the same stale probe at the same moment: one of them
 * takes it over, never both. */
#define N_ROUNDS 100000

typedef struct {
    rp_breaker_t b;
    _Atomic int start_round;
    _Atomic int done_round;
    int probe;
} takeover_t;

static void *takeover_worker(void *arg)
{
    takeover_t *t = arg;
    int r;

    for (r = 1; r <= N_ROUNDS; r++) {
        while (atomic_load(&t->start_round) != r) {
        }
        rp_breaker_allow(&t->b, T0 + RP_BREAKER_PROBE_STALE_US + 1, &t->probe);
        atomic_store(&t->done_round, r);
    }
    return NULL;
}

static void test_threads_one_takeover(void **state)
{
    static takeover_t t;
    pthread_t th;
    int r, spin, probe, both = 0, none = 0;

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(pthread_create(&th, NULL, takeover_worker, &t), 0);
    for (r = 1; r <= N_ROUNDS; r++) {
        memset(&t.b, 0, sizeof(t.b));
        /* a probe started at T0, never reported */
        rp_breaker_set(&t.b, RP_BRK_RETRYING, T0);
        t.probe = 0;
        atomic_store(&t.start_round, r);
        /* the worker needs a moment to see the start: vary our head start
         * so that the two calls overlap in some rounds */
        for (spin = 0; spin < r % 128; spin++) {
            atomic_signal_fence(memory_order_seq_cst);
        }
        rp_breaker_allow(&t.b, T0 + RP_BREAKER_PROBE_STALE_US + 1, &probe);
        while (atomic_load(&t.done_round) != r) {
        }
        both += probe && t.probe;
        none += !probe && !t.probe;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(both, 0);
    assert_int_equal(none, 0);
}

/* Breakers down since long ago (the first probe was due more than
 * RP_BREAKER_PROBE_STALE_US back, and nobody came since): two callers
 * arrive together and walk them all, as two requests would walk the
 * servers.  For each breaker exactly one of them probes.  Were the state
 * and its time two words, a caller could see the other's "retrying" with
 * the old "down" time, take it for a stale probe and probe as well.
 *
 * The race needs both threads running at once: many breakers per round,
 * since the hand-over between rounds is what a loaded machine makes slow,
 * and rounds go on until N_QUIET_ROUNDS of them did overlap (the worker
 * started while the main thread was still walking), within a bounded
 * number of rounds and of seconds. */
#define N_QUIET_ROUNDS 5000             /* overlapping ones wanted */
#define N_QUIET_MAX_ROUNDS 100000
#define QUIET_MAX_S 3
#define N_QUIET_BREAKERS (32 * RP_BREAKER_MAX_SERVERS)

typedef struct {
    rp_breaker_t b[N_QUIET_BREAKERS];   /* contiguous, as in shm */
    _Atomic int start_round;            /* -1: stop */
    _Atomic int done_round;
    _Atomic int main_walking;
    int overlapped;                     /* the worker's, read after done */
    unsigned char probe[N_QUIET_BREAKERS];
} quiet_t;

#define QUIET_DUE_US (T0 + RP_BREAKER_RETRY_US)
#define QUIET_NOW_US (QUIET_DUE_US + RP_BREAKER_PROBE_STALE_US + 8000000)

/* spin until *v is r (or -1), letting others run now and then (on a
 * loaded machine the other thread may not be running); returns *v */
static int quiet_wait(_Atomic int *v, int r)
{
    unsigned spins = 0;
    int x;

    while ((x = atomic_load(v)) != r && x != -1) {
        if (++spins % 4096 == 0) {
            sched_yield();
        }
    }
    return x;
}

static void quiet_walk(quiet_t *q, unsigned char *probes)
{
    int i, probe;

    for (i = 0; i < N_QUIET_BREAKERS; i++) {
        rp_breaker_allow(&q->b[i], QUIET_NOW_US, &probe);
        probes[i] = (unsigned char)probe;
    }
}

static void *quiet_worker(void *arg)
{
    quiet_t *q = arg;
    int r;

    for (r = 1; quiet_wait(&q->start_round, r) == r; r++) {
        q->overlapped = atomic_load(&q->main_walking);
        quiet_walk(q, q->probe);
        atomic_store(&q->done_round, r);
    }
    return NULL;
}

static int64_t mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static void test_threads_one_probe_after_quiet_spell(void **state)
{
    static quiet_t q;
    static unsigned char mine[N_QUIET_BREAKERS];
    pthread_t th;
    long both = 0, none = 0;
    int r, i, overlapped = 0;
    int64_t t0 = mono_s();

    (void)state;
    memset(&q, 0, sizeof(q));
    assert_int_equal(pthread_create(&th, NULL, quiet_worker, &q), 0);
    for (r = 1; r <= N_QUIET_MAX_ROUNDS && overlapped < N_QUIET_ROUNDS
                && mono_s() - t0 < QUIET_MAX_S; r++) {
        for (i = 0; i < N_QUIET_BREAKERS; i++) {
            memset(&q.b[i], 0, sizeof(q.b[i]));
            rp_breaker_set(&q.b[i], RP_BRK_DOWN, QUIET_DUE_US);
        }
        atomic_store(&q.main_walking, 1);
        atomic_store(&q.start_round, r);
        quiet_walk(&q, mine);
        atomic_store(&q.main_walking, 0);
        quiet_wait(&q.done_round, r);
        overlapped += q.overlapped;
        for (i = 0; i < N_QUIET_BREAKERS; i++) {
            both += mine[i] && q.probe[i];
            none += !mine[i] && !q.probe[i];
        }
    }
    atomic_store(&q.start_round, -1);
    assert_int_equal(pthread_join(th, NULL), 0);
    if (overlapped < N_QUIET_ROUNDS) {
        print_message("note: only %d of %d rounds overlapped (busy machine?)\n",
                      overlapped, r - 1);
    }
    assert_int_equal(both, 0);                  /* never two probes */
    assert_int_equal(none, 0);                  /* and never none */
    /* the last round's: retrying since now, the other caller refused */
    for (i = 0; i < N_QUIET_BREAKERS; i++) {
        assert_int_equal(rp_breaker_state(&q.b[i]), RP_BRK_RETRYING);
        assert_true(rp_breaker_time_us(&q.b[i]) == QUIET_NOW_US);
        assert_true(q.b[i].total_skipped == 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_by_default),
        cmocka_unit_test(test_fewer_failures_stay_up),
        cmocka_unit_test(test_opens_after_threshold),
        cmocka_unit_test(test_one_probe_after_retry),
        cmocka_unit_test(test_probe_failure_stays_down),
        cmocka_unit_test(test_stale_probe_taken_over),
        cmocka_unit_test(test_non_probe_success_closes),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_threads_one_probe_at_a_time),
        cmocka_unit_test(test_threads_one_takeover),
        cmocka_unit_test(test_threads_one_probe_after_quiet_spell),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
