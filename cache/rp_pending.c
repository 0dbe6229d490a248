/*
 * rp_pending.c: the queue of purges memcached did not take (rp_pending.h).
 */
#include <string.h>

#include "rp_pending.h"

enum { FREE = 0, WRITING = 1, QUEUED = 2, TAKEN = 3 };

typedef struct {
    uint32_t state;
    uint32_t seq;                      /* moves each time the slot is
                                          written: a taker's handle */
    uint32_t kind;
    uint32_t len;
    int64_t taken_us;
    char name[RP_PENDING_NAME_MAX];
} slot_t;

struct rp_pending_t {
    uint64_t waiting;                  /* queued or taken */
    int64_t next_try_us;
    uint64_t made;
    uint64_t dropped;
    uint64_t freeing;                  /* moved before a slot is freed */
    slot_t slots[RP_PENDING_SLOTS];
};

size_t rp_pending_size(void)
{
    return sizeof(rp_pending_t);
}

rp_pending_t *rp_pending_init(void *mem)
{
    memset(mem, 0, sizeof(rp_pending_t));
    return mem;
}

uint64_t rp_pending_count(const rp_pending_t *q)
{
    return q == NULL ? 0 : __atomic_load_n(&q->waiting, __ATOMIC_ACQUIRE);
}

uint64_t rp_pending_made(const rp_pending_t *q)
{
    return q == NULL ? 0 : __atomic_load_n(&q->made, __ATOMIC_RELAXED);
}

uint64_t rp_pending_changes(const rp_pending_t *q)
{
    return q == NULL ? 0 : __atomic_load_n(&q->freeing, __ATOMIC_SEQ_CST);
}

uint64_t rp_pending_dropped(const rp_pending_t *q)
{
    return q == NULL ? 0 : __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
}

/* Is this purge queued already (and not being made: one being made now
 * may have moved its generation before the caller's failed)? */
static int queued_already(rp_pending_t *q, rp_pending_kind_t kind,
                          const char *name, size_t len)
{
    int i;

    for (i = 0; i < RP_PENDING_SLOTS; i++) {
        slot_t *s = &q->slots[i];
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == QUEUED
            && s->kind == (uint32_t)kind && s->len == len
            && memcmp(s->name, name, len) == 0
            /* not rewritten while compared */
            && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == QUEUED
            && __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == seq) {
            return 1;
        }
    }
    return 0;
}

int rp_pending_add(rp_pending_t *q, rp_pending_kind_t kind, const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    int i;

    if (q == NULL) {
        return -1;
    }
    if (len == 0 || len > RP_PENDING_NAME_MAX) {
        __atomic_add_fetch(&q->dropped, 1, __ATOMIC_RELAXED);
        return -1;
    }
    if (queued_already(q, kind, name, len)) {
        return 0;
    }
    for (i = 0; i < RP_PENDING_SLOTS; i++) {
        slot_t *s = &q->slots[i];
        uint32_t expect = FREE;

        if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != FREE
            || !__atomic_compare_exchange_n(&s->state, &expect, WRITING, 0,
                                            __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
            continue;
        }
        __atomic_add_fetch(&s->seq, 1, __ATOMIC_RELEASE);
        s->kind = (uint32_t)kind;
        s->len = (uint32_t)len;
        memcpy(s->name, name, len);
        __atomic_add_fetch(&q->waiting, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&s->state, QUEUED, __ATOMIC_RELEASE);
        return 0;
    }
    __atomic_add_fetch(&q->dropped, 1, __ATOMIC_RELAXED);
    return -1;
}

int rp_pending_find(const rp_pending_t *q,
                    int (*match)(void *baton, rp_pending_kind_t kind,
                                 const char *name, size_t len),
                    void *baton)
{
    char name[RP_PENDING_NAME_MAX];
    int i;

    if (rp_pending_count(q) == 0) {
        return 0;
    }
    for (i = 0; i < RP_PENDING_SLOTS; i++) {
        const slot_t *s = &q->slots[i];
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        uint32_t kind, len;

        if (st == FREE || st == WRITING) {
            /* (one being queued right now is no earlier than the lookup
             * asking: as a purge made just after it) */
            continue;
        }
        kind = __atomic_load_n(&s->kind, __ATOMIC_RELAXED);
        len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
        if (len > RP_PENDING_NAME_MAX) {
            return 1;
        }
        memcpy(name, s->name, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != seq) {
            return 1;                  /* written again while copied */
        }
        /* freed meanwhile: made, so it matches nothing; else it is the
         * purge whose name was copied */
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != FREE
            && match(baton, (rp_pending_kind_t)kind, name, len)) {
            return 1;
        }
    }
    return 0;
}

/* A handle: the slot, and its write (so that a late done or retry of a
 * taker that was taken over touches nothing it does not own). */
static int handle_of(int i, uint32_t seq)
{
    return (int)((seq & 0xfffffu) * RP_PENDING_SLOTS) + i;
}

int rp_pending_take(rp_pending_t *q, int64_t now_us, rp_pending_kind_t *kind,
                    char *name)
{
    int i;

    if (rp_pending_count(q) == 0
        || now_us < __atomic_load_n(&q->next_try_us, __ATOMIC_RELAXED)) {
        return -1;
    }
    for (i = 0; i < RP_PENDING_SLOTS; i++) {
        slot_t *s = &q->slots[i];
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        int64_t t;

        if (st == QUEUED) {
            uint32_t expect = QUEUED;
            if (!__atomic_compare_exchange_n(&s->state, &expect, TAKEN, 0,
                                             __ATOMIC_ACQUIRE,
                                             __ATOMIC_RELAXED)) {
                continue;
            }
            __atomic_store_n(&s->taken_us, now_us, __ATOMIC_RELAXED);
            /* taken: nobody writes the slot again until it is freed */
            seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        }
        else if (st == TAKEN
                 && now_us - (t = __atomic_load_n(&s->taken_us,
                                                  __ATOMIC_RELAXED))
                    > RP_PENDING_TAKEN_STALE_US) {
            /* its taker died: taken over, if the slot is still that
             * write, taken (it may have been freed and written again
             * between the two reads) */
            if (!__atomic_compare_exchange_n(&s->taken_us, &t, now_us, 0,
                                             __ATOMIC_ACQUIRE,
                                             __ATOMIC_RELAXED)
                || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != TAKEN
                || __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != seq) {
                continue;
            }
        }
        else {
            continue;
        }
        *kind = (rp_pending_kind_t)s->kind;
        memcpy(name, s->name, s->len);
        name[s->len] = '\0';
        return handle_of(i, seq);
    }
    return -1;
}

/* The slot a handle names, while it is still that write's. */
static slot_t *slot_of(rp_pending_t *q, int handle)
{
    slot_t *s;

    if (q == NULL || handle < 0) {
        return NULL;
    }
    s = &q->slots[handle % RP_PENDING_SLOTS];
    if ((__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) & 0xfffffu)
        != (uint32_t)(handle / RP_PENDING_SLOTS)) {
        return NULL;
    }
    return s;
}

void rp_pending_done(rp_pending_t *q, int handle)
{
    slot_t *s = slot_of(q, handle);
    uint32_t expect = TAKEN;

    /* before the slot reads as free: a lookup that read generations
     * before this purge was made sees the counter move (rp_pending.h) */
    if (s != NULL) {
        __atomic_add_fetch(&q->freeing, 1, __ATOMIC_SEQ_CST);
    }
    if (s != NULL
        && __atomic_compare_exchange_n(&s->state, &expect, FREE, 0,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        __atomic_sub_fetch(&q->waiting, 1, __ATOMIC_RELEASE);
        __atomic_add_fetch(&q->made, 1, __ATOMIC_RELAXED);
    }
}

void rp_pending_retry(rp_pending_t *q, int handle, int64_t now_us)
{
    slot_t *s = slot_of(q, handle);
    uint32_t expect = TAKEN;

    if (s != NULL) {
        __atomic_store_n(&q->next_try_us, now_us + RP_PENDING_BACKOFF_US,
                         __ATOMIC_RELAXED);
        __atomic_compare_exchange_n(&s->state, &expect, QUEUED, 0,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    }
}
