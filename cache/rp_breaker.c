/*
 * rp_breaker.c: see rp_breaker.h.
 */
#include "rp_breaker.h"

static uint64_t pack(rp_brk_state_t s, int64_t at_us)
{
    return ((uint64_t)(at_us < 0 ? 0 : at_us) << 2) | (uint64_t)s;
}

static rp_brk_state_t state_of(uint64_t w)
{
    return (rp_brk_state_t)(w & 3);
}

static int64_t time_of(uint64_t w)
{
    return (int64_t)(w >> 2);
}

int rp_breaker_allow(rp_breaker_t *b, int64_t now_us, int *probe)
{
    uint64_t w = __atomic_load_n(&b->word, __ATOMIC_ACQUIRE);
    rp_brk_state_t st = state_of(w);

    *probe = 0;
    if (st == RP_BRK_UP) {
        return 1;
    }
    /* down and due for a probe, or a probe whose owner died mid-request
     * (child killed): one caller wins the swap and probes */
    if ((st == RP_BRK_DOWN && now_us >= time_of(w))
        || (st == RP_BRK_RETRYING
            && now_us - time_of(w) > RP_BREAKER_PROBE_STALE_US)) {
        if (__atomic_compare_exchange_n(&b->word, &w,
                                        pack(RP_BRK_RETRYING, now_us), 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *probe = 1;
            return 1;
        }
    }
    __atomic_fetch_add(&b->total_skipped, 1, __ATOMIC_RELAXED);
    return 0;
}

void rp_breaker_success(rp_breaker_t *b, int probe)
{
    if (__atomic_load_n(&b->failures, __ATOMIC_RELAXED) != 0) {
        __atomic_store_n(&b->failures, 0, __ATOMIC_RELAXED);
    }
    if (probe || state_of(__atomic_load_n(&b->word, __ATOMIC_RELAXED))
                 != RP_BRK_UP) {
        __atomic_store_n(&b->word, pack(RP_BRK_UP, 0), __ATOMIC_RELEASE);
    }
}

void rp_breaker_failure(rp_breaker_t *b, int64_t now_us, int probe)
{
    uint64_t up = pack(RP_BRK_UP, 0);
    uint32_t f;

    __atomic_fetch_add(&b->total_failures, 1, __ATOMIC_RELAXED);
    if (probe) {
        __atomic_store_n(&b->word,
                         pack(RP_BRK_DOWN, now_us + RP_BREAKER_RETRY_US),
                         __ATOMIC_RELEASE);
        return;
    }
    f = __atomic_add_fetch(&b->failures, 1, __ATOMIC_RELAXED);
    if (f >= RP_BREAKER_THRESHOLD
        && __atomic_compare_exchange_n(&b->word, &up,
                                       pack(RP_BRK_DOWN,
                                            now_us + RP_BREAKER_RETRY_US),
                                       0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED)) {
        __atomic_store_n(&b->failures, 0, __ATOMIC_RELAXED);
    }
}

rp_brk_state_t rp_breaker_state(const rp_breaker_t *b)
{
    return state_of(__atomic_load_n(&b->word, __ATOMIC_ACQUIRE));
}

int64_t rp_breaker_time_us(const rp_breaker_t *b)
{
    return time_of(__atomic_load_n(&b->word, __ATOMIC_ACQUIRE));
}

void rp_breaker_set(rp_breaker_t *b, rp_brk_state_t s, int64_t at_us)
{
    __atomic_store_n(&b->word, pack(s, at_us), __ATOMIC_RELEASE);
}

const char *rp_breaker_state_name(rp_brk_state_t s)
{
    switch (s) {
    case RP_BRK_DOWN:
        return "down";
    case RP_BRK_RETRYING:
        return "retrying";
    default:
        return "up";
    }
}
