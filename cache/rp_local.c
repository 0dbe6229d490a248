/*
 * rp_local.c: see rp_local.h for the design and the concurrency rules.
 */
#include <string.h>
#include "rp_xxh.h"

#include "rp_local.h"

typedef struct {
    uint64_t seq;                      /* even: stable; odd: being written */
    uint64_t hash;                     /* 0: empty */
    uint64_t pos;                      /* logical position in the arena */
    uint32_t len;
    uint32_t checked;                  /* the bytes passed their owner's
                                          check when put (rp_local_put_checked) */
    int64_t filled_us;
    uint64_t epoch;
    int64_t reval_us;                  /* 0, or when a revalidation began */
    uint64_t sum;                      /* XXH3 of the bytes put */
} slot_t;

typedef struct {
    uint64_t seq;
    uint64_t epoch;
    uint64_t hash;
} purge_rec_t;

struct rp_local_t {
    uint32_t magic;
    uint32_t version;
    uint64_t size;
    uint32_t nslots;
    uint32_t pad;
    uint64_t index_off;
    uint64_t arena_off;
    uint64_t arena_size;
    uint64_t reserved;                 /* logical bytes reserved, ever */
    uint64_t writing;                  /* writers between reserving and
                                          having copied their bytes */
    uint64_t suspect_below;            /* bytes before this logical position
                                          may have been written over by a
                                          writer the arena lapped */
    uint64_t epoch;                    /* local purges so far */
    purge_rec_t ring[RP_LOCAL_PURGE_RING];
};

#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

static slot_t *slots(rp_local_t *l)
{
    return (slot_t *)((char *)l + l->index_off);
}

static char *arena(rp_local_t *l)
{
    return (char *)l + l->arena_off;
}

rp_local_t *rp_local_init(void *mem, size_t size)
{
    rp_local_t *l = mem;
    uint64_t n = 1024, index_bytes;

    if (mem == NULL || size < 1024 * 1024) {
        return NULL;
    }
    /* about one slot per 8 KiB of arena, a power of two */
    while (n * 2 * 8192 <= size && n < (1u << 22)) {
        n *= 2;
    }
    memset(l, 0, sizeof(*l));
    index_bytes = n * sizeof(slot_t);
    l->index_off = ALIGN64(sizeof(*l));
    l->arena_off = ALIGN64(l->index_off + index_bytes);
    if (l->arena_off + 65536 > size) {
        return NULL;
    }
    memset(slots(l), 0, index_bytes);
    l->arena_size = size - l->arena_off;
    l->nslots = (uint32_t)n;
    l->size = size;
    l->version = RP_LOCAL_VERSION;
    __atomic_store_n(&l->magic, RP_LOCAL_MAGIC, __ATOMIC_RELEASE);
    return l;
}

static uint64_t key_hash(const char *mkey)
{
    uint64_t h = XXH3_64bits(mkey, strlen(mkey));

    return h ? h : 1;
}

uint64_t rp_local_hash(const char *prefix, const char *s)
{
    /* the prefix ("u:", "t:") seeds the hash, so a tag and a URL with the
     * same text never collide */
    uint64_t seed = XXH3_64bits(prefix, strlen(prefix));
    uint64_t h = XXH3_64bits_withSeed(s, strlen(s), seed);

    return h ? h : 1;
}

/* Bytes at logical position pos are intact while no writer has reserved
 * beyond pos + arena size. */
static int intact(rp_local_t *l, uint64_t pos, uint32_t len)
{
    uint64_t r = __atomic_load_n(&l->reserved, __ATOMIC_ACQUIRE);

    return r <= pos + l->arena_size && (uint64_t)len <= l->arena_size;
}

/* A writer holds a slot only while it writes a few words (the entry's
 * bytes are copied into the arena before it takes the slot): a reader
 * that finds it held waits this many turns rather than miss. */
#define READ_SPINS 200

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A consistent copy of a slot, or 0. */
static int read_slot(slot_t *s, slot_t *out)
{
    uint64_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), s2;
    int spins = 0;

    while ((s1 & 1) && spins++ < READ_SPINS) {
        cpu_relax();
        s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    }
    if (s1 & 1) {
        return 0;
    }
    out->hash = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
    out->pos = __atomic_load_n(&s->pos, __ATOMIC_RELAXED);
    out->len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
    out->checked = __atomic_load_n(&s->checked, __ATOMIC_RELAXED);
    out->filled_us = __atomic_load_n(&s->filled_us, __ATOMIC_RELAXED);
    out->epoch = __atomic_load_n(&s->epoch, __ATOMIC_RELAXED);
    out->sum = __atomic_load_n(&s->sum, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    s2 = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    out->seq = s1;
    return s1 == s2;
}

/* The cheap test before read_slot: 0 only when the slot, stable, holds
 * another key.  A slot in mid-write hides its hash (0) while its words
 * change: a reader that took that 0 for "not this key" missed and asked
 * memcached, although the copy was back a few stores later.  Such a slot
 * goes to read_slot, which waits for the writer. */
static int slot_may_hold(slot_t *s, uint64_t h)
{
    uint64_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), sh, s2;

    if (s1 & 1) {
        return 1;
    }
    sh = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    s2 = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    return sh == h || s1 != s2;
}

/* Whether the bytes of an entry at logical position pos, found in a
 * stable slot (read_slot's acquire) and still intact after they are
 * copied, are exactly the bytes that were put, so that no checksum need
 * be computed over them again.  Bytes can only be changed by a writer
 * that reserved a lap or more before them and copied its own bytes
 * late, over them:
 *   - such a writer counted itself in `writing` before it reserved, so
 *     before these bytes were reserved and their slot published; a
 *     reader that finds no writer at all after reading the slot knows
 *     that none of them is still copying;
 *   - one that has finished saw, after its copy, that the arena lapped
 *     it, and moved `suspect_below` past every byte it may have hit
 *     before it stopped counting itself in `writing`.
 * Writers that reserve later reserve ahead of these bytes: they reach
 * them only by reserving a lap past them, which intact() sees. */
static int copy_is_exact(rp_local_t *l, uint64_t pos)
{
    if (__atomic_load_n(&l->writing, __ATOMIC_SEQ_CST) != 0) {
        return 0;
    }
    return pos >= __atomic_load_n(&l->suspect_below, __ATOMIC_ACQUIRE);
}

static int get_copy(rp_local_t *l, const char *mkey, apr_pool_t *p,
                    const char **val, size_t *len, rp_local_meta_t *meta,
                    int check_sum)
{
    uint64_t h = key_hash(mkey);
    uint32_t mask = l->nslots - 1, i;
    slot_t *tab = slots(l);

    for (i = 0; i < RP_LOCAL_PROBE; i++) {
        uint32_t idx = (uint32_t)(h + i) & mask;
        slot_t copy;
        char *buf;
        int exact;

        if (!slot_may_hold(&tab[idx], h) || !read_slot(&tab[idx], &copy)
            || copy.hash != h
            || copy.len == 0 || !intact(l, copy.pos, copy.len)) {
            continue;
        }
        exact = copy.checked && copy_is_exact(l, copy.pos);
        buf = apr_palloc(p, copy.len);
        memcpy(buf, arena(l) + copy.pos % l->arena_size, copy.len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        /* The slot may have moved on meanwhile (a revalidation refreshed
         * it): the copy is still the one memcached gave when the slot was
         * read, and is kept.  Only bytes written over while they were
         * copied are not: a writer that stalled between reserving and
         * copying can land on bytes reserved after its own, which only
         * the sum tells. */
        if (!intact(l, copy.pos, copy.len)
            || (check_sum && !exact
                && XXH3_64bits(buf, copy.len) != copy.sum)) {
            return 0;                  /* overwritten while copied */
        }
        meta->exact = exact;
        *val = buf;
        *len = copy.len;
        meta->slot = idx;
        meta->seq = copy.seq;
        meta->pos = copy.pos;
        meta->filled_us = copy.filled_us;
        meta->epoch = copy.epoch;
        meta->old = __atomic_load_n(&l->reserved, __ATOMIC_RELAXED) - copy.pos
                    > l->arena_size / 4 * 3;
        return 1;
    }
    return 0;
}

int rp_local_get(rp_local_t *l, const char *mkey, apr_pool_t *p,
                 const char **val, size_t *len, rp_local_meta_t *meta)
{
    return get_copy(l, mkey, p, val, len, meta, 1);
}

int rp_local_get_entry(rp_local_t *l, const char *mkey, apr_pool_t *p,
                       const char **val, size_t *len, rp_local_meta_t *meta)
{
    return get_copy(l, mkey, p, val, len, meta, 0);
}

static int lock_slot(slot_t *s, uint64_t *seq)
{
    uint64_t v = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

    if (v & 1) {
        return 0;
    }
    if (!__atomic_compare_exchange_n(&s->seq, &v, v + 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED)) {
        return 0;
    }
    *seq = v;
    return 1;
}

static void unlock_slot(slot_t *s, uint64_t seq)
{
    __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

/* Reserve len contiguous bytes; returns the logical position. */
static uint64_t reserve_space(rp_local_t *l, uint32_t len)
{
    uint64_t cur = __atomic_load_n(&l->reserved, __ATOMIC_RELAXED), need,
             phys;

    for (;;) {
        phys = cur % l->arena_size;
        need = len;
        if (phys + len > l->arena_size) {
            need += l->arena_size - phys;     /* skip to the start */
        }
        if (__atomic_compare_exchange_n(&l->reserved, &cur, cur + need, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            return cur + need - len;
        }
    }
}

/* reserve_space, by a writer that counts itself in `writing` until
 * rp_local_write_done */
uint64_t rp_local_write_reserve(rp_local_t *l, uint32_t len)
{
    uint64_t pos;

    /* counted first: a reader that finds an entry reserved after this one
     * sees this writer until it has copied (copy_is_exact) */
    __atomic_fetch_add(&l->writing, 1, __ATOMIC_SEQ_CST);
    pos = reserve_space(l, len);
    /* the reservation before any of its bytes: a writer a lap behind
     * that looks at `reserved` after its late copy must see this one if
     * it can have written over these bytes (free on x86, where the CAS
     * is a full barrier; not on weaker CPUs) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return pos;
}

void rp_local_write_bytes(rp_local_t *l, uint64_t pos, const char *val,
                          uint32_t len)
{
    memcpy(arena(l) + pos % l->arena_size, val, len);
}

void rp_local_write_done(rp_local_t *l, uint64_t pos)
{
    uint64_t r;

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    r = __atomic_load_n(&l->reserved, __ATOMIC_ACQUIRE);
    if (r > pos + l->arena_size) {
        /* lapped while it copied: its bytes may lie over any entry
         * reserved up to now; those are checked by their sums again */
        uint64_t cur = __atomic_load_n(&l->suspect_below, __ATOMIC_RELAXED);
        while (cur < r
               && !__atomic_compare_exchange_n(&l->suspect_below, &cur, r, 1,
                                               __ATOMIC_RELEASE,
                                               __ATOMIC_RELAXED)) {
        }
    }
    __atomic_fetch_sub(&l->writing, 1, __ATOMIC_RELEASE);
}

/* rp_local_put's shortcut: 1 when slot s already holds these bytes
 * (same key, length and sum, intact) and only its fill time, epoch and
 * revalidation mark were renewed. */
static int refresh_in_place(rp_local_t *l, slot_t *s, uint64_t h,
                            uint32_t len, uint64_t sum, uint64_t epoch,
                            int64_t now_us, uint32_t checked)
{
    uint64_t seq;

    if (__atomic_load_n(&s->hash, __ATOMIC_RELAXED) != h
        || __atomic_load_n(&s->len, __ATOMIC_RELAXED) != len
        || __atomic_load_n(&s->sum, __ATOMIC_RELAXED) != sum
        /* bytes put unchecked become checked only by being put again */
        || (checked && !__atomic_load_n(&s->checked, __ATOMIC_RELAXED))
        || !lock_slot(s, &seq)) {
        return 0;
    }
    /* bytes in the oldest quarter are re-put to move them to the head
     * (rp_local_get's meta->old): those must really be copied */
    if (s->hash != h || s->len != len || s->sum != sum
        || (checked && !s->checked) || !intact(l, s->pos, s->len)
        || __atomic_load_n(&l->reserved, __ATOMIC_RELAXED) - s->pos
           > l->arena_size / 4 * 3) {
        unlock_slot(s, seq);
        return 0;
    }
    __atomic_store_n(&s->filled_us, now_us, __ATOMIC_RELAXED);
    __atomic_store_n(&s->epoch, epoch, __ATOMIC_RELAXED);
    __atomic_store_n(&s->reval_us, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->checked, checked, __ATOMIC_RELAXED);
    unlock_slot(s, seq);
    return 1;
}

static int put(rp_local_t *l, const char *mkey, const char *val,
               size_t len, uint64_t epoch, int64_t now_us,
               unsigned *evicted, uint32_t checked)
{
    uint64_t h = key_hash(mkey), seq, pos, oldest_pos = UINT64_MAX, sum;
    uint32_t mask = l->nslots - 1, i, target = UINT32_MAX, oldest = 0;
    slot_t *tab = slots(l);
    int live;   /* the slot held an entry that is now gone */

    if (len == 0 || len > l->arena_size / 8 || len > UINT32_MAX) {
        return 0;
    }
    sum = XXH3_64bits(val, len);
    /* the same key, else an empty or dead slot, else the oldest */
    for (i = 0; i < RP_LOCAL_PROBE; i++) {
        uint32_t idx = (uint32_t)(h + i) & mask;
        uint64_t sh = __atomic_load_n(&tab[idx].hash, __ATOMIC_RELAXED);
        uint64_t sp = __atomic_load_n(&tab[idx].pos, __ATOMIC_RELAXED);
        uint32_t sl = __atomic_load_n(&tab[idx].len, __ATOMIC_RELAXED);

        if (sh == h) {
            target = idx;
            break;
        }
        if (target == UINT32_MAX && (sh == 0 || !intact(l, sp, sl))) {
            target = idx;
        }
        if (sp < oldest_pos) {
            oldest_pos = sp;
            oldest = idx;
        }
    }
    if (target == UINT32_MAX) {
        target = oldest;
    }
    /* the same bytes as the slot holds, still intact (a revalidation
     * that found the entry unchanged): only its times move on, and the
     * arena is not churned by hot entries refreshed every TTL */
    if (refresh_in_place(l, &tab[target], h, (uint32_t)len, sum, epoch,
                         now_us, checked)) {
        return 1;
    }
    /* the bytes go to fresh arena space first, which no slot names yet,
     * so the slot is held only while its few words change */
    pos = rp_local_write_reserve(l, (uint32_t)len);
    rp_local_write_bytes(l, pos, val, (uint32_t)len);
    rp_local_write_done(l, pos);
    if (!lock_slot(&tab[target], &seq)) {
        return 0;                      /* busy: it is only a cache */
    }
    /* an entry pushed out: either this slot's, displaced now, or one
     * whose bytes the arena's head already wrote over */
    live = tab[target].hash != 0
           && (tab[target].hash != h
               || !intact(l, tab[target].pos, tab[target].len));
    /* hide the slot while it changes */
    __atomic_store_n(&tab[target].hash, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].pos, pos, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].len, (uint32_t)len, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].filled_us, now_us, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].epoch, epoch, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].reval_us, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].sum, sum, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].checked, checked, __ATOMIC_RELAXED);
    __atomic_store_n(&tab[target].hash, h, __ATOMIC_RELAXED);
    unlock_slot(&tab[target], seq);
    if (evicted && live) {
        (*evicted)++;
    }
    return 1;
}

int rp_local_put(rp_local_t *l, const char *mkey, const char *val,
                 size_t len, uint64_t epoch, int64_t now_us,
                 unsigned *evicted)
{
    return put(l, mkey, val, len, epoch, now_us, evicted, 0);
}

int rp_local_put_checked(rp_local_t *l, const char *mkey, const char *val,
                         size_t len, uint64_t epoch, int64_t now_us,
                         unsigned *evicted)
{
    return put(l, mkey, val, len, epoch, now_us, evicted, 1);
}

void rp_local_drop(rp_local_t *l, const char *mkey)
{
    uint64_t h = key_hash(mkey), seq;
    uint32_t mask = l->nslots - 1, i;
    slot_t *tab = slots(l);

    for (i = 0; i < RP_LOCAL_PROBE; i++) {
        uint32_t idx = (uint32_t)(h + i) & mask;
        if (__atomic_load_n(&tab[idx].hash, __ATOMIC_RELAXED) == h
            && lock_slot(&tab[idx], &seq)) {
            if (tab[idx].hash == h) {
                __atomic_store_n(&tab[idx].hash, 0, __ATOMIC_RELAXED);
            }
            unlock_slot(&tab[idx], seq);
        }
    }
}

int rp_local_try_revalidate(rp_local_t *l, const rp_local_meta_t *meta,
                            int64_t now_us)
{
    slot_t *s = &slots(l)[meta->slot & (l->nslots - 1)];
    int64_t cur = __atomic_load_n(&s->reval_us, __ATOMIC_RELAXED);

    if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != meta->seq) {
        return 0;                      /* refilled meanwhile */
    }
    if (cur != 0 && now_us >= cur
        && now_us - cur < RP_LOCAL_REVALIDATE_STALE_US) {
        return 0;                      /* someone is on it (a claim from
                                          "later": the clock went back) */
    }
    return __atomic_compare_exchange_n(&s->reval_us, &cur, now_us, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

uint64_t rp_local_epoch(rp_local_t *l)
{
    return __atomic_load_n(&l->epoch, __ATOMIC_ACQUIRE);
}

void rp_local_record_purge(rp_local_t *l, uint64_t hash)
{
    uint64_t e = __atomic_add_fetch(&l->epoch, 1, __ATOMIC_ACQ_REL);
    purge_rec_t *r = &l->ring[e % RP_LOCAL_PURGE_RING];
    uint64_t s = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);

    /* a slot in mid-write by a lapped writer: the readers of it will see
     * the wrong epoch and ask memcached, which is always right */
    if ((s & 1) || !__atomic_compare_exchange_n(&r->seq, &s, s + 1, 0,
                                                __ATOMIC_ACQUIRE,
                                                __ATOMIC_RELAXED)) {
        return;
    }
    __atomic_store_n(&r->hash, hash, __ATOMIC_RELAXED);
    __atomic_store_n(&r->epoch, e, __ATOMIC_RELAXED);
    __atomic_store_n(&r->seq, s + 2, __ATOMIC_RELEASE);
}

int rp_local_purged_since(rp_local_t *l, uint64_t since,
                          const uint64_t *hashes, int n)
{
    uint64_t now = rp_local_epoch(l), e;
    int k;

    if (now <= since) {
        return 0;
    }
    if (now - since >= RP_LOCAL_PURGE_RING) {
        return 1;                      /* the ring forgot: unknown */
    }
    for (e = since + 1; e <= now; e++) {
        purge_rec_t *r = &l->ring[e % RP_LOCAL_PURGE_RING];
        uint64_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE), s2, h, re;

        h = __atomic_load_n(&r->hash, __ATOMIC_RELAXED);
        re = __atomic_load_n(&r->epoch, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
        if ((s1 & 1) || s1 != s2 || re != e) {
            return 1;                  /* not readable: assume the worst */
        }
        for (k = 0; k < n; k++) {
            if (hashes[k] == h) {
                return 1;
            }
        }
    }
    return 0;
}

void rp_local_usage(rp_local_t *l, uint64_t *bytes_used,
                    uint64_t *bytes_total, uint64_t *entries)
{
    slot_t *tab = slots(l), c;
    uint64_t bytes = 0, n = 0;
    uint32_t i;

    for (i = 0; i < l->nslots; i++) {
        if (__atomic_load_n(&tab[i].hash, __ATOMIC_RELAXED) != 0
            && read_slot(&tab[i], &c) && c.hash != 0
            && intact(l, c.pos, c.len)) {
            bytes += c.len;
            n++;
        }
    }
    *bytes_used = bytes;
    *bytes_total = l->arena_size;
    *entries = n;
}
