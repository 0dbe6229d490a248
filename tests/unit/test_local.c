/*
 * test_local.c: the shared-memory tier in front of memcached (rp_local.c),
 * on its own and through the page cache (rp_cache.c).  Covers formatting
 * a segment and its size limits, put/get/drop of arbitrary bytes (copies
 * into the pool, replacement, index collisions within the probe window,
 * index pressure), the bounds of the arena ring (the segment is never
 * written past its end, a hit is always exactly the bytes put under that
 * key, evictions are counted, read entries are promoted, entries too
 * large are refused), the revalidation flag, the ring of local purges,
 * lock-free behaviour under threads standing in for Apache processes (no
 * torn or foreign read, no purge missed), and end to end over the
 * in-memory store with a fake clock: local HITs that cost no store call,
 * revalidation after ReqPerfCacheLocalTTL by one request while the others
 * are served locally, local URL and tag purges seen at once, purges made
 * on another server seen after the TTL and not before, Vary, and pass
 * markers.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "cache/rp_cache.h"
#include "fakes/rp_store_mem.h"
#include "cache/rp_local.h"

#define MIB (1024 * 1024)
#define S_US 1000000LL
#define T0_US (1700000000LL * S_US + 123456)

/* White box, for crafting collisions: a tier under 16 MiB has 1024 index
 * slots, and a key's first slot is the low bits of XXH3_64bits(key) (0
 * counts as 1).  Should that change, home() must follow it, or the ninth
 * key of test_probe_collisions evicts nothing. */
#define SMALL_TIER_SLOTS 1024

/* ---- helpers ------------------------------------------------------------ */

static rp_local_t *tier(apr_pool_t *p, size_t size)
{
    rp_local_t *l = rp_local_init(apr_palloc(p, size), size);

    assert_non_null(l);
    return l;
}

static int get(rp_local_t *l, apr_pool_t *p, const char *key,
               const char **val, size_t *len, rp_local_meta_t *meta)
{
    rp_local_meta_t m;

    return rp_local_get(l, key, p, val, len, meta ? meta : &m);
}

static void put_ok(rp_local_t *l, const char *key, const char *val,
                   size_t len)
{
    assert_int_equal(rp_local_put(l, key, val, len, 0, T0_US, NULL), 1);
}

static void expect_bytes(rp_local_t *l, apr_pool_t *p, const char *key,
                         const char *want, size_t want_len)
{
    const char *v = NULL;
    size_t vl = 0;

    assert_int_equal(get(l, p, key, &v, &vl, NULL), 1);
    assert_int_equal(vl, want_len);
    assert_memory_equal(v, want, want_len);
}

static void expect_miss(rp_local_t *l, apr_pool_t *p, const char *key)
{
    const char *v = NULL;
    size_t vl = 0;

    assert_int_equal(get(l, p, key, &v, &vl, NULL), 0);
}

static uint64_t arena_of(rp_local_t *l)
{
    uint64_t used, total, n;

    rp_local_usage(l, &used, &total, &n);
    return total;
}

/* A value that can only be the one put under (key, ver): every byte
 * depends on both and on its position. */
static void pattern(char *buf, size_t len, unsigned key, unsigned ver)
{
    uint64_t x = XXH3_64bits_withSeed(&ver, sizeof(ver), key);
    size_t i;

    for (i = 0; i < len; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (char)(x >> 56);
    }
}

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* The index slot a key starts probing at, in a small tier. */
static uint32_t home(const char *key)
{
    uint64_t h = XXH3_64bits(key, strlen(key));

    return (uint32_t)(h ? h : 1) & (SMALL_TIER_SLOTS - 1);
}

/* n keys that all start probing at the same slot. */
static void colliding_keys(apr_pool_t *p, const char **keys, int n)
{
    unsigned i;
    int found = 0;
    uint32_t want = 0;

    for (i = 0; found < n; i++) {
        const char *k = apr_psprintf(p, "rp:e:collide-%u", i);

        if (found == 0) {
            want = home(k);
        }
        if (home(k) == want) {
            keys[found++] = k;
        }
    }
}

/* ---- 1. formatting a segment --------------------------------------------- */

static void test_init(void **state)
{
    apr_pool_t *p = *state;
    char *mem = apr_palloc(p, 4 * MIB);
    rp_local_t *l;
    uint64_t used = 99, total = 0, n = 99;

    assert_null(rp_local_init(NULL, 4 * MIB));
    assert_null(rp_local_init(mem, 0));
    assert_null(rp_local_init(mem, 64 * 1024));
    assert_null(rp_local_init(mem, MIB - 1));

    l = rp_local_init(mem, MIB);
    assert_non_null(l);
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(used, 0);
    assert_int_equal(n, 0);
    /* the header and the index come out of the segment */
    assert_true(total < MIB);
    assert_true(total > MIB / 2);
    assert_int_equal(rp_local_epoch(l), 0);

    /* a larger segment: a larger arena, still within it */
    l = rp_local_init(mem, 4 * MIB);
    assert_non_null(l);
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(used, 0);
    assert_int_equal(n, 0);
    assert_true(total < 4 * MIB);
    assert_true(total > 3 * MIB);

    /* formatting again forgets what was there */
    put_ok(l, "k", "v", 1);
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, 1);
    l = rp_local_init(mem, 4 * MIB);
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, 0);
    expect_miss(l, p, "k");
}

/* ---- 2. put, get, drop -------------------------------------------------- */

static void test_put_get_drop(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    static const char bin[] = { '\0', 'a', '\0', '\xff', '\n', '\r', '\0' };
    char big[5000];
    const char *v, *kept;
    size_t vl, kept_len;
    rp_local_meta_t m;
    uint64_t used, total, n;
    unsigned ev = 0, i;

    pattern(big, sizeof(big), 1, 1);
    assert_int_equal(rp_local_put(l, "rp:e:bin", bin, sizeof(bin), 7,
                                  T0_US + 5, &ev), 1);
    assert_int_equal(ev, 0);
    put_ok(l, "rp:e:big", big, sizeof(big));

    memset(&m, 0, sizeof(m));
    assert_int_equal(get(l, p, "rp:e:bin", &v, &vl, &m), 1);
    assert_int_equal(vl, sizeof(bin));
    assert_memory_equal(v, bin, sizeof(bin));
    /* what the put said about the copy comes back with it */
    assert_int_equal(m.epoch, 7);
    assert_true(m.filled_us == T0_US + 5);
    assert_int_equal(m.old, 0);
    expect_bytes(l, p, "rp:e:big", big, sizeof(big));
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, 2);
    assert_int_equal(used, sizeof(bin) + sizeof(big));

    /* a copy returned is the caller's: replacing the key leaves it alone */
    assert_int_equal(get(l, p, "rp:e:big", &kept, &kept_len, NULL), 1);
    pattern(big, sizeof(big), 1, 2);
    put_ok(l, "rp:e:big", big, sizeof(big));
    expect_bytes(l, p, "rp:e:big", big, sizeof(big));
    pattern(big, sizeof(big), 1, 1);
    assert_int_equal(kept_len, sizeof(big));
    assert_memory_equal(kept, big, sizeof(big));

    /* replacing keeps one entry, with the new length */
    put_ok(l, "rp:e:big", "short", 5);
    expect_bytes(l, p, "rp:e:big", "short", 5);
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, 2);
    assert_int_equal(used, sizeof(bin) + 5);

    /* never put, a prefix of a key, a key with one more byte: misses */
    expect_miss(l, p, "rp:e:never");
    expect_miss(l, p, "rp:e:bi");
    expect_miss(l, p, "rp:e:bigg");
    expect_miss(l, p, "");

    /* drop forgets one key, and only it; dropping again is harmless */
    rp_local_drop(l, "rp:e:big");
    expect_miss(l, p, "rp:e:big");
    expect_bytes(l, p, "rp:e:bin", bin, sizeof(bin));
    rp_local_drop(l, "rp:e:big");
    rp_local_drop(l, "rp:e:never");
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, 1);
    assert_int_equal(used, sizeof(bin));
    /* and the key can come back */
    put_ok(l, "rp:e:big", "again", 5);
    expect_bytes(l, p, "rp:e:big", "again", 5);

    /* ... even once the arena has wrapped over the bytes it came from */
    for (i = 0; i < 2 * arena_of(l) / sizeof(big); i++) {
        char other[sizeof(big)];

        pattern(other, sizeof(other), 2, (unsigned)i);
        put_ok(l, apr_psprintf(p, "rp:e:wrap-%u", i), other, sizeof(other));
    }
    expect_miss(l, p, "rp:e:bin");          /* overwritten: gone */
    assert_memory_equal(kept, big, sizeof(big));
}

/* Keys that share their first index slot: each finds exactly its own
 * bytes, a drop does not hide the others, a replacement stays in place,
 * and a ninth key evicts the oldest (and says so). */
static void test_probe_collisions(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    const char *keys[RP_LOCAL_PROBE + 1];
    char vals[RP_LOCAL_PROBE + 1][64];
    uint64_t used, total, n;
    unsigned ev = 0;
    int i;

    colliding_keys(p, keys, RP_LOCAL_PROBE + 1);
    for (i = 0; i <= RP_LOCAL_PROBE; i++) {
        pattern(vals[i], sizeof(vals[i]), (unsigned)i, 1);
    }
    for (i = 0; i < RP_LOCAL_PROBE; i++) {
        assert_int_equal(rp_local_put(l, keys[i], vals[i], sizeof(vals[i]),
                                      0, T0_US, &ev), 1);
    }
    assert_int_equal(ev, 0);
    for (i = 0; i < RP_LOCAL_PROBE; i++) {
        expect_bytes(l, p, keys[i], vals[i], sizeof(vals[i]));
    }
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, RP_LOCAL_PROBE);

    /* the first slot empties: the keys behind it are still found, and one
     * of them put again replaces itself instead of taking the empty slot */
    rp_local_drop(l, keys[0]);
    expect_miss(l, p, keys[0]);
    for (i = 1; i < RP_LOCAL_PROBE; i++) {
        expect_bytes(l, p, keys[i], vals[i], sizeof(vals[i]));
    }
    pattern(vals[3], sizeof(vals[3]), 3, 2);
    put_ok(l, keys[3], vals[3], sizeof(vals[3]));
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, RP_LOCAL_PROBE - 1);
    expect_bytes(l, p, keys[3], vals[3], sizeof(vals[3]));
    rp_local_drop(l, keys[3]);
    expect_miss(l, p, keys[3]);             /* no older copy left behind */
    put_ok(l, keys[0], vals[0], sizeof(vals[0]));
    put_ok(l, keys[3], vals[3], sizeof(vals[3]));

    /* window full: a ninth key takes the slot of the oldest (keys[1]) */
    ev = 0;
    assert_int_equal(rp_local_put(l, keys[RP_LOCAL_PROBE],
                                  vals[RP_LOCAL_PROBE],
                                  sizeof(vals[RP_LOCAL_PROBE]), 0, T0_US,
                                  &ev), 1);
    assert_int_equal(ev, 1);
    expect_miss(l, p, keys[1]);
    for (i = 0; i <= RP_LOCAL_PROBE; i++) {
        if (i != 1) {
            expect_bytes(l, p, keys[i], vals[i], sizeof(vals[i]));
        }
    }
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, RP_LOCAL_PROBE);
}

/* Many more small entries than index slots: whatever is found is exactly
 * its own value, the newest entries are found, and the index pressure is
 * counted as evictions. */
static void test_many_keys_index_pressure(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    enum { N = 6000 };
    char buf[200];
    unsigned ev = 0, i, hits = 0, stored = 0;
    uint64_t used, total, n;

    for (i = 0; i < N; i++) {
        const char *k = apr_psprintf(p, "rp:e:many-%u", i);
        size_t len = 20 + i % 180;

        pattern(buf, len, i, 1);
        stored += (unsigned)rp_local_put(l, k, buf, len, 0, T0_US, &ev);
    }
    assert_int_equal(stored, N);
    for (i = 0; i < N; i++) {
        const char *k = apr_psprintf(p, "rp:e:many-%u", i);
        size_t len = 20 + i % 180;
        const char *v;
        size_t vl;

        if (get(l, p, k, &v, &vl, NULL)) {
            pattern(buf, len, i, 1);
            assert_int_equal(vl, len);
            assert_memory_equal(v, buf, len);
            hits++;
        }
    }
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(hits, n);
    assert_true(n <= SMALL_TIER_SLOTS);
    /* at most 1024 of 6000 fit the index: the rest were evicted from it */
    assert_true(n > SMALL_TIER_SLOTS / 2);
    assert_true(ev >= N - SMALL_TIER_SLOTS);
    assert_int_equal(ev + n, N);
    /* the last ones put are all there */
    for (i = N - 20; i < N; i++) {
        const char *k = apr_psprintf(p, "rp:e:many-%u", i);
        size_t len = 20 + i % 180;

        pattern(buf, len, i, 1);
        expect_bytes(l, p, k, buf, len);
    }
}

/* ---- 3. bounds and eviction --------------------------------------------- */

#define GUARD 4096

/* A tier of 1.5 MiB fed about 75 MiB: it never uses more than it has,
 * never writes past the end of its segment, and a hit is exactly the
 * bytes put under its key. */
static void test_bounds_and_overwrite(void **state)
{
    apr_pool_t *p = *state;
    const size_t size = 3 * MIB / 2;
    enum { N = 2500, MAXV = 50 * 1024 };
    unsigned char *seg = malloc(size + GUARD);
    char *buf = apr_palloc(p, MAXV), *want = apr_palloc(p, MAXV);
    size_t *lens = apr_pcalloc(p, sizeof(size_t) * N);
    rp_local_t *l;
    uint64_t used, total, n, s = 42, max_entries = 0;
    unsigned i, j, hits = 0, probes = 0, recent_hits = 0, ev = 0;
    size_t g;

    assert_non_null(seg);
    for (g = 0; g < GUARD; g++) {
        seg[size + g] = (unsigned char)(0xa5 ^ g);
    }
    l = rp_local_init(seg, size);
    assert_non_null(l);
    for (i = 0; i < N; i++) {
        const char *k = apr_psprintf(p, "rp:e:big-%u", i);
        apr_pool_t *sub;

        lens[i] = 10 * 1024 + (size_t)(rnd(&s) % (40 * 1024));
        pattern(buf, lens[i], i, 7);
        assert_int_equal(rp_local_put(l, k, buf, lens[i], 0, T0_US, &ev), 1);
        rp_local_usage(l, &used, &total, &n);
        assert_true(used <= total);
        assert_true(total < size);
        if (n > max_entries) {
            max_entries = n;
        }
        /* the newest is there, and a few earlier ones may be */
        apr_pool_create(&sub, p);
        expect_bytes(l, sub, k, buf, lens[i]);
        for (j = 0; j < 8; j++) {
            unsigned o = (unsigned)(rnd(&s) % (i + 1));
            const char *v;
            size_t vl;

            probes++;
            if (get(l, sub, apr_psprintf(sub, "rp:e:big-%u", o), &v, &vl,
                    NULL)) {
                pattern(want, lens[o], o, 7);
                assert_int_equal(vl, lens[o]);
                assert_memory_equal(v, want, lens[o]);
                hits++;
                if (i - o < 10) {
                    recent_hits++;
                }
            }
        }
        apr_pool_destroy(sub);
    }
    /* the segment ended where it was said to */
    for (g = 0; g < GUARD; g++) {
        assert_int_equal(seg[size + g], (unsigned char)(0xa5 ^ g));
    }
    /* about 1.4 MiB of 10..50 KiB values: a few dozen at a time */
    assert_true(max_entries >= 20);
    assert_true(max_entries < 150);
    assert_true(hits > 0);
    assert_true(hits < probes / 4);     /* most of the 2500 are long gone */
    assert_true(recent_hits > 0);
    /* entries the arena's head wrote over are counted as evicted (when
     * their index slot is taken again), and never more than once */
    rp_local_usage(l, &used, &total, &n);
    assert_true(ev > N / 3);
    assert_true(ev <= N - n);
    free(seg);
}

/* An entry read while in the oldest quarter of the ring is put again (as
 * rp_cache.c does), so it outlives any number of one-off entries; an
 * entry of the same age that nobody reads is overwritten. */
static void test_promotion(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    char hot[20000], cold[20000], buf[20000];
    unsigned i, promoted = 0;
    uint64_t arena = arena_of(l);

    pattern(hot, sizeof(hot), 1, 1);
    pattern(cold, sizeof(cold), 2, 1);
    assert_int_equal(rp_local_put(l, "rp:e:hot", hot, sizeof(hot), 3,
                                  T0_US, NULL), 1);
    put_ok(l, "rp:e:cold", cold, sizeof(cold));
    /* ten times the arena of entries that are never read */
    for (i = 0; i < 10 * arena / sizeof(buf); i++) {
        rp_local_meta_t m;
        const char *v;
        size_t vl;

        pattern(buf, sizeof(buf), 100 + i, 1);
        put_ok(l, apr_psprintf(p, "rp:e:once-%u", i), buf, sizeof(buf));
        assert_int_equal(get(l, p, "rp:e:hot", &v, &vl, &m), 1);
        assert_int_equal(vl, sizeof(hot));
        assert_memory_equal(v, hot, sizeof(hot));
        /* the copy keeps where it came from and when */
        assert_int_equal(m.epoch, 3);
        assert_true(m.filled_us == T0_US);
        if (m.old) {
            assert_int_equal(rp_local_put(l, "rp:e:hot", v, vl, m.epoch,
                                          m.filled_us, NULL), 1);
            promoted++;
        }
    }
    assert_true(promoted >= 9);
    assert_true(promoted < i / 4);      /* only when old, not each time */
    expect_miss(l, p, "rp:e:cold");
    expect_bytes(l, p, "rp:e:hot", hot, sizeof(hot));
}

/* ---- 4. too large -------------------------------------------------------- */

static void test_too_large(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    uint64_t arena = arena_of(l), used, total, n;
    char *buf = apr_palloc(p, (size_t)arena / 8 + 1);

    pattern(buf, (size_t)arena / 8 + 1, 5, 5);
    assert_int_equal(rp_local_put(l, "rp:e:huge", buf, arena / 8 + 1, 0,
                                  T0_US, NULL), 0);
    expect_miss(l, p, "rp:e:huge");
    assert_int_equal(rp_local_put(l, "rp:e:empty", "", 0, 0, T0_US, NULL), 0);
    expect_miss(l, p, "rp:e:empty");
    rp_local_usage(l, &used, &total, &n);
    assert_int_equal(n, 0);
    /* exactly an eighth is fine */
    put_ok(l, "rp:e:huge", buf, arena / 8);
    expect_bytes(l, p, "rp:e:huge", buf, arena / 8);
    /* a refused replacement leaves the old value */
    assert_int_equal(rp_local_put(l, "rp:e:huge", buf, arena / 8 + 1, 0,
                                  T0_US, NULL), 0);
    expect_bytes(l, p, "rp:e:huge", buf, arena / 8);
}

/* ---- 5. revalidation ----------------------------------------------------- */

static void test_revalidate(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    rp_local_meta_t m, m2, mo;
    const char *v;
    size_t vl;
    int64_t t = T0_US;

    put_ok(l, "rp:e:page", "v1", 2);
    put_ok(l, "rp:e:other", "o1", 2);
    assert_int_equal(get(l, p, "rp:e:page", &v, &vl, &m), 1);
    assert_int_equal(get(l, p, "rp:e:page", &v, &vl, &m2), 1);
    assert_int_equal(get(l, p, "rp:e:other", &v, &vl, &mo), 1);

    /* one winner per copy, whoever holds which meta */
    assert_int_equal(rp_local_try_revalidate(l, &m, t), 1);
    assert_int_equal(rp_local_try_revalidate(l, &m, t), 0);
    assert_int_equal(rp_local_try_revalidate(l, &m2, t + 1), 0);
    assert_int_equal(rp_local_try_revalidate(l, &m2,
                     t + RP_LOCAL_REVALIDATE_STALE_US - 1), 0);
    /* another key is another copy */
    assert_int_equal(rp_local_try_revalidate(l, &mo, t + 2), 1);
    /* the winner took too long: one request takes over, once */
    assert_int_equal(rp_local_try_revalidate(l, &m2,
                     t + RP_LOCAL_REVALIDATE_STALE_US), 1);
    assert_int_equal(rp_local_try_revalidate(l, &m,
                     t + RP_LOCAL_REVALIDATE_STALE_US + 1), 0);
    assert_int_equal(rp_local_try_revalidate(l, &m,
                     t + 2 * RP_LOCAL_REVALIDATE_STALE_US - 1), 0);
    /* a claim from "later" (the clock went back): not held for a while
     * more, taken over at once */
    assert_int_equal(rp_local_try_revalidate(l, &m, t - 10 * S_US), 1);
    assert_int_equal(rp_local_try_revalidate(l, &m, t - 10 * S_US + 1), 0);

    /* the refill: the old meta names a copy that is gone, even much later;
     * the new copy can be revalidated afresh */
    t += 10 * S_US;
    put_ok(l, "rp:e:page", "v2", 2);
    assert_int_equal(rp_local_try_revalidate(l, &m, t), 0);
    assert_int_equal(rp_local_try_revalidate(l, &m,
                     t + 100 * RP_LOCAL_REVALIDATE_STALE_US), 0);
    assert_int_equal(get(l, p, "rp:e:page", &v, &vl, &m), 1);
    assert_memory_equal(v, "v2", 2);
    assert_int_equal(rp_local_try_revalidate(l, &m, t), 1);
    assert_int_equal(rp_local_try_revalidate(l, &m, t + 1), 0);
    /* a dropped copy cannot be revalidated */
    rp_local_drop(l, "rp:e:other");
    assert_int_equal(rp_local_try_revalidate(l, &mo,
                     t + 100 * RP_LOCAL_REVALIDATE_STALE_US), 0);
}

/* A revalidation that finds the entry unchanged renews the copy where
 * it is (same bytes, no new arena space), and a copy read before the
 * renewal is still a good one; new bytes are put anew. */
static void test_refresh_in_place(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    rp_local_meta_t m, m2;
    const char *v;
    size_t vl;
    int64_t t = T0_US;

    assert_int_equal(rp_local_put(l, "rp:e:page", "same", 4, 3, t, NULL), 1);
    assert_int_equal(get(l, p, "rp:e:page", &v, &vl, &m), 1);
    assert_int_equal(rp_local_try_revalidate(l, &m, t + S_US), 1);
    assert_int_equal(rp_local_put(l, "rp:e:page", "same", 4, 5, t + S_US,
                                  NULL), 1);
    assert_int_equal(get(l, p, "rp:e:page", &v, &vl, &m2), 1);
    assert_memory_equal(v, "same", 4);
    assert_int_equal(m2.pos, m.pos);              /* not copied again */
    assert_true(m2.seq != m.seq);
    assert_int_equal(m2.filled_us, t + S_US);
    assert_int_equal(m2.epoch, 5);
    /* the old copy's reader cannot revalidate it; the renewed one can */
    assert_int_equal(rp_local_try_revalidate(l, &m, t + 2 * S_US), 0);
    assert_int_equal(rp_local_try_revalidate(l, &m2, t + 2 * S_US), 1);
    /* other bytes: a new place */
    assert_int_equal(rp_local_put(l, "rp:e:page", "diff", 4, 6, t + 2 * S_US,
                                  NULL), 1);
    assert_int_equal(get(l, p, "rp:e:page", &v, &vl, &m), 1);
    assert_memory_equal(v, "diff", 4);
    assert_true(m.pos != m2.pos);
}

/* ---- 6. purges ----------------------------------------------------------- */

static void test_purge_ring(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    uint64_t u = rp_local_hash("u:", "http://example.com:80/a");
    uint64_t t = rp_local_hash("t:", "http://example.com:80/a");
    uint64_t other = rp_local_hash("u:", "http://example.com:80/b");
    uint64_t hs[3], since;
    int i;

    /* a URL and a tag with the same text are not the same purge */
    assert_true(u != t);
    assert_true(u != other);
    assert_true(u == rp_local_hash("u:", "http://example.com:80/a"));
    assert_true(rp_local_hash("u:", "") != rp_local_hash("t:", ""));
    assert_true(rp_local_hash("u:", "") != 0);

    assert_int_equal(rp_local_purged_since(l, 0, &u, 1), 0);
    since = rp_local_epoch(l);
    rp_local_record_purge(l, u);
    assert_int_equal(rp_local_epoch(l), since + 1);
    assert_int_equal(rp_local_purged_since(l, since, &u, 1), 1);
    assert_int_equal(rp_local_purged_since(l, since, &t, 1), 0);
    assert_int_equal(rp_local_purged_since(l, since, &other, 1), 0);
    /* not after since: the copy was read after the purge */
    assert_int_equal(rp_local_purged_since(l, since + 1, &u, 1), 0);
    assert_int_equal(rp_local_purged_since(l, rp_local_epoch(l), &u, 1), 0);
    /* any of several hashes (a URL and its tags) */
    hs[0] = other;
    hs[1] = t;
    hs[2] = u;
    assert_int_equal(rp_local_purged_since(l, since, hs, 3), 1);
    assert_int_equal(rp_local_purged_since(l, since, hs, 2), 0);
    assert_int_equal(rp_local_purged_since(l, since, hs, 0), 0);

    /* the purge is found among later unrelated ones */
    for (i = 0; i < 100; i++) {
        rp_local_record_purge(l, rp_local_hash("t:", apr_itoa(p, i)));
    }
    assert_int_equal(rp_local_purged_since(l, since, &u, 1), 1);
    assert_int_equal(rp_local_purged_since(l, since + 1, &u, 1), 0);
    assert_int_equal(rp_local_purged_since(l, since, &other, 1), 0);

    /* as long as the ring reaches back: RP_LOCAL_PURGE_RING - 1 unrelated
     * purges are still known to be unrelated, one more and the answer is
     * "maybe" (ask memcached) */
    since = rp_local_epoch(l);
    for (i = 0; i < RP_LOCAL_PURGE_RING - 1; i++) {
        rp_local_record_purge(l, rp_local_hash("t:", apr_itoa(p, 1000 + i)));
    }
    assert_int_equal(rp_local_purged_since(l, since, &other, 1), 0);
    rp_local_record_purge(l, rp_local_hash("t:", "one-more"));
    assert_int_equal(rp_local_purged_since(l, since, &other, 1), 1);
    assert_int_equal(rp_local_purged_since(l, since + 1, &other, 1), 0);
    assert_int_equal(rp_local_purged_since(l, 0, &other, 1), 1);
}

/* ---- 7. threads standing in for Apache processes ------------------------- */

enum { CK_KEYS = 200, CK_HOT_KEYS = 6, CK_THREADS = 6 };

typedef struct {
    rp_local_t *l;
    unsigned id, keys, ops;
    unsigned long gets, hits, puts, stored, drops, bad;
    char *why;                          /* the first bad read, if any */
} ck_thread_t;

/* Values are 8-byte words naming key, version and word index; their
 * length follows from key and version too. */
static size_t ck_len(unsigned key, uint32_t ver)
{
    return 8 * (16 + (size_t)((key * 2654435761u ^ ver * 40503u) % 1000));
}

static uint64_t ck_word(unsigned key, uint32_t ver, size_t j)
{
    return (uint64_t)key << 48 | (uint64_t)ver << 16 | (j & 0xffff);
}

static void *ck_run(void *arg)
{
    ck_thread_t *t = arg;
    uint64_t s = 0x9e3779b97f4a7c15ULL * (t->id + 1);
    apr_pool_t *p = NULL;
    uint64_t *buf = malloc(8 * 1016);
    char key[32];
    int op;

    apr_pool_create_unmanaged(&p);
    for (op = 0; op < (int)t->ops; op++) {
        unsigned k = (unsigned)(rnd(&s) % t->keys);
        unsigned r = (unsigned)(rnd(&s) % 100);

        if ((op & 255) == 0) {
            apr_pool_clear(p);
        }
        snprintf(key, sizeof(key), "rp:e:ck-%u", k);
        if (r < 60) {
            const char *v;
            size_t vl, j;
            rp_local_meta_t m;
            uint64_t w0 = 0, w;
            uint32_t ver0;

            t->gets++;
            if (!rp_local_get(t->l, key, p, &v, &vl, &m)) {
                continue;
            }
            t->hits++;
            if (vl >= 8) {
                memcpy(&w0, v, 8);
            }
            ver0 = (uint32_t)(w0 >> 16);
            /* its key, a length that fits its version, and every word */
            j = 0;
            if (vl >= 8 && (unsigned)(w0 >> 48) == k
                && vl == ck_len(k, ver0)) {
                for (; j < vl / 8; j++) {
                    memcpy(&w, v + 8 * j, 8);
                    if (w != ck_word(k, ver0, j)) {
                        break;
                    }
                }
            }
            if (j == 0 || j < vl / 8) {
                if (t->bad++ == 0) {
                    t->why = malloc(128);
                    snprintf(t->why, 128, "key %u: %zu bytes, first word "
                             "%016llx, word %zu wrong", k, vl,
                             (unsigned long long)w0, j);
                }
            }
        }
        else if (r < 95) {
            size_t len, j;
            uint32_t ver;

            /* a version unique to this thread and write */
            ver = (uint32_t)(t->id << 24 | (++t->puts & 0xffffff));
            len = ck_len(k, ver);
            for (j = 0; j < len / 8; j++) {
                buf[j] = ck_word(k, ver, j);
            }
            t->stored += (unsigned long)rp_local_put(t->l, key, (char *)buf,
                                                     len, 0, T0_US, NULL);
        }
        else {
            t->drops++;
            rp_local_drop(t->l, key);
        }
    }
    apr_pool_destroy(p);
    free(buf);
    return NULL;
}

/* CK_THREADS threads on `keys` keys, `ops` operations in all. */
static void ck_round(rp_local_t *l, unsigned keys, unsigned ops)
{
    pthread_t th[CK_THREADS];
    ck_thread_t t[CK_THREADS];
    unsigned long gets = 0, hits = 0, bad = 0, puts = 0, stored = 0;
    uint64_t used, total, n;
    int i;

    memset(t, 0, sizeof(t));
    for (i = 0; i < CK_THREADS; i++) {
        t[i].l = l;
        t[i].id = (unsigned)i + 1;
        t[i].keys = keys;
        t[i].ops = ops / CK_THREADS;
        assert_int_equal(pthread_create(&th[i], NULL, ck_run, &t[i]), 0);
    }
    for (i = 0; i < CK_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        gets += t[i].gets;
        hits += t[i].hits;
        bad += t[i].bad;
        puts += t[i].puts;
        stored += t[i].stored;
        if (t[i].why) {
            print_message("thread %d: bad read: %s\n", i, t[i].why);
            free(t[i].why);
        }
    }
    print_message("%u keys: %lu gets, %lu hits, %lu bad; %lu puts, "
                  "%lu stored\n", keys, gets, hits, bad, puts, stored);
    assert_int_equal(bad, 0);
    assert_true(gets > ops / 2);
    /* the tier works while contended: most gets and puts get through */
    assert_true(hits > gets / 3);
    assert_true(stored > puts / 2);
    rp_local_usage(l, &used, &total, &n);
    assert_true(used <= total);
    assert_true(n > 0 && n <= keys);
}

static void test_threads_put_get_drop(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, 2 * MIB);

    /* 200 keys: the arena wraps every few hundred puts */
    ck_round(l, CK_KEYS, 200000);
    /* a few keys: the threads fight over the same index slots */
    l = tier(p, 2 * MIB);
    ck_round(l, CK_HOT_KEYS, 100000);
}

/* Two threads record purges while two others ask about them: a purge
 * that finished after `since` was read and before the question was asked
 * is never missed. */
enum { PR_RECORDERS = 2, PR_CHECKERS = 2, PR_CHECKS = 20000 };

typedef struct pr_thread {
    rp_local_t *l;
    unsigned id;
    /* recorders: (purge number + 1) << 32 | the epoch read before it */
    uint64_t last;
    int *stop;
    /* checkers */
    struct pr_thread *recorders;
    unsigned long checks, missed, exact, clean;
} pr_thread_t;

static uint64_t pr_hash(unsigned recorder, uint64_t i)
{
    return XXH3_64bits_withSeed(&i, sizeof(i), recorder + 1) | 1;
}

static void *pr_record(void *arg)
{
    pr_thread_t *t = arg;
    uint64_t i;

    for (i = 0; !__atomic_load_n(t->stop, __ATOMIC_ACQUIRE); i++) {
        uint64_t before = rp_local_epoch(t->l);

        rp_local_record_purge(t->l, pr_hash(t->id, i));
        __atomic_store_n(&t->last, (i + 1) << 32 | (before & 0xffffffff),
                         __ATOMIC_RELEASE);
        if ((i & 7) == 0) {
            sched_yield();
        }
    }
    return NULL;
}

static void *pr_check(void *arg)
{
    pr_thread_t *t = arg;
    pr_thread_t *rec = t->recorders;
    uint64_t s = t->id * 7919ULL + 1;

    while (t->checks < PR_CHECKS) {
        unsigned r = (unsigned)(rnd(&s) % PR_RECORDERS);
        uint64_t since = rp_local_epoch(t->l), hs[3], w;

        /* wait for a purge of recorder r that began after `since` (so its
         * epoch is above it) and has returned */
        for (;;) {
            w = __atomic_load_n(&rec[r].last, __ATOMIC_ACQUIRE);
            if (w >> 32 != 0 && (w & 0xffffffff) >= since) {
                break;
            }
            sched_yield();
        }
        hs[0] = rp_local_hash("u:", "unrelated");
        hs[1] = pr_hash(r, (w >> 32) - 1);
        hs[2] = rp_local_hash("t:", "unrelated");
        t->checks++;
        if (rp_local_purged_since(t->l, since, hs, 3) != 1) {
            t->missed++;
        }
        if (rp_local_epoch(t->l) - since < RP_LOCAL_PURGE_RING) {
            t->exact++;                 /* answered from the ring itself */
        }
        /* a hash never purged, since just now: usually known clean */
        since = rp_local_epoch(t->l);
        if (rp_local_purged_since(t->l, since, hs, 1) == 0) {
            t->clean++;
        }
    }
    return NULL;
}

static void test_threads_purges(void **state)
{
    apr_pool_t *p = *state;
    rp_local_t *l = tier(p, MIB);
    pthread_t th[PR_RECORDERS + PR_CHECKERS];
    pr_thread_t t[PR_RECORDERS + PR_CHECKERS];
    unsigned long checks = 0, missed = 0, exact = 0, clean = 0;
    int i, stop = 0;

    memset(t, 0, sizeof(t));
    for (i = 0; i < PR_RECORDERS + PR_CHECKERS; i++) {
        t[i].l = l;
        t[i].id = (unsigned)i;
        t[i].stop = &stop;
        t[i].recorders = t;
        assert_int_equal(pthread_create(&th[i], NULL,
                                        i < PR_RECORDERS ? pr_record
                                                         : pr_check,
                                        &t[i]), 0);
    }
    for (i = PR_RECORDERS; i < PR_RECORDERS + PR_CHECKERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        checks += t[i].checks;
        missed += t[i].missed;
        exact += t[i].exact;
        clean += t[i].clean;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < PR_RECORDERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    print_message("%lu purges; %lu checks, %lu missed, %lu within the "
                  "ring; %lu clean\n", (unsigned long)rp_local_epoch(l),
                  checks, missed, exact, clean);
    assert_int_equal(checks, PR_CHECKERS * PR_CHECKS);
    assert_int_equal(missed, 0);
    /* most answers came from the ring, not from "it forgot" */
    assert_true(exact > checks / 2);
    assert_true(clean > 0);
    assert_true(rp_local_epoch(l) > checks);
}

/* ---- 8. through rp_cache ------------------------------------------------- */

typedef struct fx fx_t;

/* A store that forwards to the in-memory one and can run something just
 * before the next multi-get, as another request (another process) would
 * while this one waits for memcached. */
typedef struct {
    rp_store_t *inner;
    fx_t *fx;
    void (*before_mget)(fx_t *fx);
} hooked_t;

struct fx {
    apr_pool_t *p;
    rp_store_t *mem;                    /* the in-memory store, for counts */
    rp_store_t store;                   /* what the cache uses: hooked */
    hooked_t hooked;
    rp_cache_conf_t conf;
    rp_clock_t clock;
    int64_t now_us;
    rp_local_t *local;
    int64_t local_ttl_us;
    const char *url;
    const char *accept_encoding;        /* the request's, or NULL */
    rp_lookup_t inner;                  /* a request run from a hook */
    rp_lookup_result_t inner_result;
    unsigned long inner_calls;          /* store calls it made */
    int inner_ran;
};

static rp_st_rc_t h_get(void *ctx, apr_pool_t *p, const char *key,
                        size_t klen, const char **val, size_t *vlen)
{
    hooked_t *h = ctx;

    return rp_store_get(h->inner, p, key, klen, val, vlen);
}

static rp_st_rc_t h_mget(void *ctx, apr_pool_t *p, rp_store_item_t *items,
                         size_t n)
{
    hooked_t *h = ctx;
    void (*hook)(fx_t *) = h->before_mget;

    h->before_mget = NULL;
    if (hook) {
        hook(h->fx);
    }
    return rp_store_mget(h->inner, p, items, n);
}

static rp_st_rc_t h_set(void *ctx, const char *key, size_t klen,
                        const char *val, size_t vlen, uint32_t ttl_s)
{
    hooked_t *h = ctx;

    return rp_store_set(h->inner, key, klen, val, vlen, ttl_s);
}

static rp_st_rc_t h_add(void *ctx, const char *key, size_t klen,
                        const char *val, size_t vlen, uint32_t ttl_s)
{
    hooked_t *h = ctx;

    return rp_store_add(h->inner, key, klen, val, vlen, ttl_s);
}

static rp_st_rc_t h_del(void *ctx, const char *key, size_t klen)
{
    hooked_t *h = ctx;

    return rp_store_del(h->inner, key, klen);
}

static rp_st_rc_t h_incr(void *ctx, const char *key, size_t klen,
                         uint64_t delta, uint64_t *newval)
{
    hooked_t *h = ctx;

    return rp_store_incr(h->inner, key, klen, delta, newval);
}

static const rp_store_ops_t HOOKED_OPS = {
    "hooked", h_get, h_mget, h_set, h_add, h_del, h_incr, NULL
};

static int64_t fake_now(void *baton)
{
    return ((fx_t *)baton)->now_us;
}

static void fake_sleep(void *baton, int64_t us)
{
    fx_t *fx = baton;

    fx->now_us += us;
    rp_store_mem_set_time(fx->mem, fx->now_us / S_US);
}

static void fx_init(fx_t *fx, apr_pool_t *p)
{
    static const char *const ignore[] = { "utm_*" };
    rp_url_t u = { "http", "example.com", 80, "/local", "a=1", ignore, 1, NULL };

    memset(fx, 0, sizeof(*fx));
    fx->p = p;
    fx->mem = rp_store_mem_create(p);
    fx->hooked.inner = fx->mem;
    fx->hooked.fx = fx;
    fx->store.ops = &HOOKED_OPS;
    fx->store.ctx = &fx->hooked;
    fx->conf.default_ttl_s = 100;
    fx->conf.grace_s = 0;
    fx->conf.lock = 1;
    fx->conf.lock_wait_us = 300000;
    fx->conf.lock_ttl_s = 10;
    fx->clock.now_us = fake_now;
    fx->clock.sleep_us = fake_sleep;
    fx->clock.baton = fx;
    fx->now_us = T0_US;
    rp_store_mem_set_time(fx->mem, fx->now_us / S_US);
    fx->local = tier(p, MIB);
    fx->local_ttl_us = S_US;
    fx->url = rp_key_url(p, &u);
    assert_non_null(fx->url);
}

static void advance_us(fx_t *fx, int64_t us)
{
    fx->now_us += us;
    rp_store_mem_set_time(fx->mem, fx->now_us / S_US);
}

static unsigned long store_calls(fx_t *fx)
{
    static const char *const ops[] = {
        "get", "mget", "set", "add", "del", "incr"
    };
    unsigned long n = 0;
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        n += rp_store_mem_calls(fx->mem, ops[i]);
    }
    return n;
}

static const char *req_header(void *baton, const char *name)
{
    fx_t *fx = baton;

    return strcasecmp(name, "Accept-Encoding") == 0 ? fx->accept_encoding
                                                    : NULL;
}

/* A request for url through this server's tier (local may be NULL). */
static rp_lookup_result_t lookup_on(fx_t *fx, rp_lookup_t *lk,
                                    const char *url, rp_local_t *local)
{
    rp_cache_lookup_init(lk, &fx->store, fx->p, &fx->conf, &fx->clock, url,
                         rp_key_full(fx->p, url, NULL, 0), req_header, fx);
    lk->local = local;
    lk->local_ttl_us = fx->local_ttl_us;
    return rp_cache_lookup(lk);
}

static rp_lookup_result_t lookup(fx_t *fx, rp_lookup_t *lk)
{
    return lookup_on(fx, lk, fx->url, fx->local);
}

static rp_cache_response_t page(const char *body, const char *tags)
{
    static const rp_header_t hdrs[] = {
        { "Content-Type", "text/html" },
    };
    rp_cache_response_t r;

    memset(&r, 0, sizeof(r));
    r.status = 200;
    r.headers = hdrs;
    r.n_headers = 1;
    r.cache_control = "max-age=60";
    r.body = body;
    r.body_len = strlen(body);
    r.tags = tags;
    return r;
}

/* MISS, then the backend's answer stored: the page is in both tiers. */
static void fill(fx_t *fx, const char *body, const char *tags)
{
    rp_lookup_t lk;
    rp_cache_response_t r = page(body, tags);
    const char *why;

    assert_int_equal(lookup(fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);
}

static void expect_local_hit(fx_t *fx, const char *body)
{
    rp_lookup_t lk;
    unsigned long calls = store_calls(fx);

    assert_int_equal(lookup(fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.from_local, 1);
    assert_int_equal(lk.local_revalidating, 0);
    assert_int_equal(lk.round_trips, 0);
    assert_int_equal(store_calls(fx), calls);
    assert_int_equal(lk.entry.body_len, strlen(body));
    assert_memory_equal(lk.entry.body, body, strlen(body));
}

static void expect_cache_miss(fx_t *fx, rp_miss_reason_t why)
{
    rp_lookup_t lk;

    assert_int_equal(lookup(fx, &lk), RP_LOOKUP_MISS);
    assert_string_equal(rp_miss_reason_name(lk.miss_reason),
                        rp_miss_reason_name(why));
    assert_int_equal(lk.from_local, 0);
    rp_cache_release(&lk);
}

static void test_cache_local_hit(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    uint64_t used, total, n;

    fx_init(&fx, *state);
    /* the request that stored it left a copy: no store call at all */
    fill(&fx, "<p>hello</p>", NULL);
    advance_us(&fx, 1000);
    expect_local_hit(&fx, "<p>hello</p>");
    rp_local_usage(fx.local, &used, &total, &n);
    assert_int_equal(n, 1);

    /* the same page without the tier: memcached serves it */
    assert_int_equal(lookup_on(&fx, &lk, fx.url, NULL), RP_LOOKUP_HIT);
    assert_int_equal(lk.from_local, 0);
    assert_int_equal(lk.round_trips, 1);

    /* a page only memcached has (stored by another server) is filled into
     * the tier by the first hit, and served from it afterwards */
    rp_local_init(fx.local, MIB);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.from_local, 0);
    assert_int_equal(lk.round_trips, 1);
    expect_local_hit(&fx, "<p>hello</p>");

    /* a damaged copy is never served: memcached answers, and the copy is
     * replaced by a good one */
    {
        rp_local_meta_t m;
        const char *v;
        size_t vl;
        char *bad;

        assert_int_equal(get(fx.local, fx.p, lk.base_key, &v, &vl, &m), 1);
        bad = apr_pmemdup(fx.p, v, vl);
        bad[vl - 20] ^= 1;
        put_ok(fx.local, lk.base_key, bad, vl);
        assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
        assert_int_equal(lk.from_local, 0);
        assert_int_equal(lk.invalid_entries, 1);
        expect_local_hit(&fx, "<p>hello</p>");
    }

    /* A copy is served without hashing it again only when it was put
     * checked (this one was: the fill decoded it) and no writer can have
     * written over it. */
    {
        rp_local_meta_t m;
        const char *v;
        size_t vl;

        assert_int_equal(rp_local_get_entry(fx.local, lk.base_key, fx.p, &v,
                                            &vl, &m), 1);
        assert_int_equal(m.exact, 1);
        uint64_t pos;

        put_ok(fx.local, "raw", "unchecked", 9);
        assert_int_equal(rp_local_get_entry(fx.local, "raw", fx.p, &v, &vl,
                                            &m), 1);
        assert_int_equal(m.exact, 0);
        /* the same bytes put checked are written anew, not just marked
         * checked where they lie */
        pos = m.pos;
        assert_int_equal(rp_local_put_checked(fx.local, "raw", "unchecked", 9,
                                              0, T0_US, NULL), 1);
        assert_int_equal(rp_local_get_entry(fx.local, "raw", fx.p, &v, &vl,
                                            &m), 1);
        assert_int_equal(m.exact, 1);
        assert_true(m.pos != pos);
    }

    /* A writer that stalls between reserving its space and copying its
     * bytes while the arena laps it writes them over newer entries: the
     * page's copy is hashed again, and refused, both while that writer
     * is still at it and after it has finished. */
    {
        rp_local_meta_t m;
        const char *v;
        size_t vl;
        char key[32], *junk = apr_palloc(fx.p, MIB / 4);
        static char filler[8192];
        uint64_t w, filler_pos = 0;
        int i;

        rp_local_init(fx.local, MIB);
        rp_local_usage(fx.local, &used, &total, &n);
        w = rp_local_write_reserve(fx.local, MIB / 4);   /* stalls here */
        assert_int_equal(w, 0);
        /* the others fill the arena until its head wraps onto w's bytes */
        memset(filler, 'f', sizeof(filler));
        for (i = 0; filler_pos < total && i < 1000; i++) {
            snprintf(key, sizeof(key), "filler-%d", i);
            assert_int_equal(rp_local_put_checked(fx.local, key, filler,
                                                  sizeof(filler), 0, T0_US,
                                                  NULL), 1);
            assert_int_equal(get(fx.local, fx.p, key, &v, &vl, &m), 1);
            filler_pos = m.pos;
        }
        assert_true(filler_pos >= total);
        /* the page comes back from memcached into w's stretch */
        assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
        assert_int_equal(lk.from_local, 0);
        assert_int_equal(rp_local_get_entry(fx.local, lk.base_key, fx.p, &v,
                                            &vl, &m), 1);
        assert_true(m.pos >= total && m.pos + vl <= total + MIB / 4);
        assert_int_equal(m.exact, 0);              /* w is still writing */
        expect_local_hit(&fx, "<p>hello</p>");     /* bytes still good */

        /* w's late bytes land over it */
        memset(junk, 'j', MIB / 4);
        rp_local_write_bytes(fx.local, w, junk, MIB / 4);
        assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
        assert_int_equal(lk.from_local, 0);
        assert_int_equal(lk.invalid_entries, 1);
        assert_memory_equal(lk.entry.body, "<p>hello</p>", 12);
        /* the filler that wrapped onto w's stretch: its bytes are w's now,
         * and the tier's own sum says so */
        snprintf(key, sizeof(key), "filler-%d", i - 1);
        assert_int_equal(get(fx.local, fx.p, key, &v, &vl, &m), 0);
        rp_local_write_done(fx.local, w);
        /* finished, it left the bytes it may have hit suspect: they are
         * still hashed and refused, those before them too */
        assert_int_equal(get(fx.local, fx.p, key, &v, &vl, &m), 0);
        assert_int_equal(rp_local_get_entry(fx.local, "filler-0", fx.p, &v,
                                            &vl, &m), 1);
        assert_int_equal(m.exact, 0);
        put_ok(fx.local, lk.base_key, junk, 512);
        assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
        assert_int_equal(lk.from_local, 0);
        assert_int_equal(lk.invalid_entries, 1);
        /* the good copy memcached gave is put after them: exact again */
        assert_int_equal(rp_local_get_entry(fx.local, lk.base_key, fx.p, &v,
                                            &vl, &m), 1);
        assert_int_equal(m.exact, 1);
        expect_local_hit(&fx, "<p>hello</p>");
    }

    /* expired: the local copy is not served past the page's freshness */
    advance_us(&fx, 60 * S_US);
    expect_cache_miss(&fx, RP_MISS_EXPIRED);
}

/* Past ReqPerfCacheLocalTTL the first request rechecks memcached (and
 * refills the copy) while a request arriving meanwhile is still served
 * locally. */
static void concurrent_lookup(fx_t *fx)
{
    unsigned long calls = store_calls(fx);

    fx->inner_ran = 1;
    fx->inner_result = lookup(fx, &fx->inner);
    fx->inner_calls = store_calls(fx) - calls;
}

static void test_cache_local_revalidation(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_local_meta_t m;
    const char *v;
    size_t vl;
    unsigned long calls;
    int64_t filled;

    fx_init(&fx, *state);
    fill(&fx, "<p>v1</p>", NULL);
    filled = fx.now_us;
    advance_us(&fx, fx.local_ttl_us - 1);
    expect_local_hit(&fx, "<p>v1</p>");

    advance_us(&fx, 1);
    fx.hooked.before_mget = concurrent_lookup;
    calls = store_calls(&fx);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.local_revalidating, 1);
    assert_int_equal(lk.from_local, 0);
    assert_int_equal(lk.round_trips, 1);
    assert_true(store_calls(&fx) > calls);
    /* the one that came meanwhile */
    assert_int_equal(fx.inner_ran, 1);
    assert_int_equal(fx.inner_result, RP_LOOKUP_HIT);
    assert_int_equal(fx.inner.from_local, 1);
    assert_int_equal(fx.inner.local_revalidating, 0);
    assert_int_equal(fx.inner_calls, 0);
    assert_int_equal(fx.inner.entry.body_len, strlen("<p>v1</p>"));

    /* refilled: the copy is from now, and can be revalidated again one
     * TTL later (the flag went with the old copy) */
    assert_int_equal(get(fx.local, fx.p, lk.base_key, &v, &vl, &m), 1);
    assert_true(m.filled_us == fx.now_us);
    assert_true(m.filled_us > filled);
    advance_us(&fx, fx.local_ttl_us - 1);
    expect_local_hit(&fx, "<p>v1</p>");
    advance_us(&fx, 1);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.local_revalidating, 1);
    assert_int_equal(lk.from_local, 0);

    /* a revalidator that never comes back (its process died): the others
     * are served locally meanwhile, and after a while one takes over */
    advance_us(&fx, fx.local_ttl_us);
    assert_int_equal(get(fx.local, fx.p, lk.base_key, &v, &vl, &m), 1);
    assert_int_equal(rp_local_try_revalidate(fx.local, &m, fx.now_us), 1);
    expect_local_hit(&fx, "<p>v1</p>");
    advance_us(&fx, RP_LOCAL_REVALIDATE_STALE_US - 1);
    expect_local_hit(&fx, "<p>v1</p>");
    advance_us(&fx, 1);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.local_revalidating, 1);
    assert_int_equal(lk.from_local, 0);
    expect_local_hit(&fx, "<p>v1</p>");

    /* a revalidation that memcached cannot answer: the copy is not served
     * again (nobody would recheck it), the next request asks memcached */
    advance_us(&fx, fx.local_ttl_us);
    rp_store_mem_fail(fx.mem, 1);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_DOWN);
    assert_int_equal(lk.local_revalidating, 1);
    rp_store_mem_fail(fx.mem, 0);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.from_local, 0);
    assert_int_equal(lk.local_revalidating, 0);
    assert_int_equal(lk.round_trips, 1);
    expect_local_hit(&fx, "<p>v1</p>");

    /* the wall clock set back: a copy filled "later" than now has no
     * age to go by; it is checked at once, not once the clock has caught
     * up (a purge made on another server would go unseen till then) */
    advance_us(&fx, fx.local_ttl_us / 2);
    expect_local_hit(&fx, "<p>v1</p>");
    fx.now_us -= 10 * S_US;
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.local_revalidating, 1);
    assert_int_equal(lk.from_local, 0);
    expect_local_hit(&fx, "<p>v1</p>");
}

static void test_cache_local_purges(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    const char *other;

    fx_init(&fx, *state);
    other = rp_key_url(fx.p, &(rp_url_t){ "http", "example.com", 80,
                                          "/other", NULL, NULL, 0, NULL });

    /* URL purge on this server: a MISS at once, not a local hit */
    fill(&fx, "<p>v1</p>", "news sport");
    expect_local_hit(&fx, "<p>v1</p>");
    assert_int_equal(rp_cache_purge_url(&fx.store, fx.p, fx.local, other,
                                        fx.now_us), RP_ST_OK);
    expect_local_hit(&fx, "<p>v1</p>");     /* another URL: still here */
    assert_int_equal(rp_cache_purge_url(&fx.store, fx.p, fx.local, fx.url,
                                        fx.now_us), RP_ST_OK);
    expect_cache_miss(&fx, RP_MISS_PURGED);

    /* tag purge on this server, likewise */
    advance_us(&fx, 1000);
    fill(&fx, "<p>v2</p>", "news sport");
    expect_local_hit(&fx, "<p>v2</p>");
    assert_int_equal(rp_cache_purge_tag(&fx.store, fx.p, fx.local, "weather",
                                        fx.now_us), RP_ST_OK);
    expect_local_hit(&fx, "<p>v2</p>");
    assert_int_equal(rp_cache_purge_tag(&fx.store, fx.p, fx.local, "news",
                                        fx.now_us), RP_ST_OK);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.from_local, 0);
    assert_true(lk.round_trips >= 1);
    rp_cache_release(&lk);

    /* filled again after the purge: served locally again */
    advance_us(&fx, 1000);
    fill(&fx, "<p>v3</p>", "news sport");
    expect_local_hit(&fx, "<p>v3</p>");
    /* a tag with the text of the URL is not the URL */
    assert_int_equal(rp_cache_purge_tag(&fx.store, fx.p, fx.local, fx.url,
                                        fx.now_us), RP_ST_OK);
    expect_local_hit(&fx, "<p>v3</p>");
}

/* A purge made on another server (it has no access to this tier) is seen
 * here once the copy is older than ReqPerfCacheLocalTTL: the documented
 * staleness bound. */
static void test_cache_remote_purge(void **state)
{
    fx_t fx;
    rp_lookup_t lk;

    fx_init(&fx, *state);
    fill(&fx, "<p>v1</p>", "news");
    advance_us(&fx, 1000);
    assert_int_equal(rp_cache_purge_url(&fx.store, fx.p, NULL, fx.url,
                                        fx.now_us), RP_ST_OK);
    /* memcached knows at once */
    assert_int_equal(lookup_on(&fx, &lk, fx.url, NULL), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    rp_cache_release(&lk);
    /* this server serves its copy up to the TTL ... */
    advance_us(&fx, fx.local_ttl_us - 1000 - 1);
    expect_local_hit(&fx, "<p>v1</p>");
    /* ... and not after */
    advance_us(&fx, 1);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.local_revalidating, 1);
    assert_int_equal(lk.from_local, 0);
    rp_cache_release(&lk);
    expect_cache_miss(&fx, RP_MISS_PURGED);

    /* the same with a tag */
    fill(&fx, "<p>v2</p>", "news");
    advance_us(&fx, 1000);
    assert_int_equal(rp_cache_purge_tag(&fx.store, fx.p, NULL, "news",
                                        fx.now_us), RP_ST_OK);
    advance_us(&fx, fx.local_ttl_us - 1000 - 1);
    expect_local_hit(&fx, "<p>v2</p>");
    advance_us(&fx, 1);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PURGED);
    assert_int_equal(lk.local_revalidating, 1);
    rp_cache_release(&lk);
    expect_cache_miss(&fx, RP_MISS_PURGED);
}

/* A page with Vary: the vary index and each variant are copied, each
 * request is served its own variant locally, and a purge takes them all. */
static void test_cache_local_vary(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *why;
    uint64_t used, total, n;

    fx_init(&fx, *state);
    fx.accept_encoding = "gzip";
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    r = page("gzip body", NULL);
    r.vary = "Accept-Encoding";
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);
    rp_local_usage(fx.local, &used, &total, &n);
    assert_int_equal(n, 2);                 /* the index and the variant */
    expect_local_hit(&fx, "gzip body");

    /* another variant: not a local hit of the first one */
    fx.accept_encoding = "br";
    expect_cache_miss(&fx, RP_MISS_ABSENT);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    r.body = "br body";
    r.body_len = strlen(r.body);
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);
    expect_local_hit(&fx, "br body");
    fx.accept_encoding = "gzip";
    expect_local_hit(&fx, "gzip body");

    /* a variant that only memcached has is filled by its first hit */
    rp_local_init(fx.local, MIB);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_HIT);
    assert_int_equal(lk.from_local, 0);
    expect_local_hit(&fx, "gzip body");

    assert_int_equal(rp_cache_purge_url(&fx.store, fx.p, fx.local, fx.url,
                                        fx.now_us), RP_ST_OK);
    expect_cache_miss(&fx, RP_MISS_PURGED);
    fx.accept_encoding = "br";
    expect_cache_miss(&fx, RP_MISS_PURGED);
}

static void test_cache_local_pass(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *why;
    unsigned long calls;

    fx_init(&fx, *state);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.holds_lock, 1);
    r = page("for one user", NULL);
    r.has_set_cookie = 1;
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_NOT_CACHEABLE);
    assert_string_equal(why, "set-cookie");

    advance_us(&fx, 1000);
    calls = store_calls(&fx);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PASS);
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(lk.from_local, 0);
    assert_int_equal(lk.round_trips, 0);
    assert_int_equal(store_calls(&fx), calls);
    assert_null(lk.entry.body);

    /* a purge on this server ends the pass at once */
    assert_int_equal(rp_cache_purge_url(&fx.store, fx.p, fx.local, fx.url,
                                        fx.now_us), RP_ST_OK);
    calls = store_calls(&fx);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_ABSENT);
    assert_int_equal(lk.holds_lock, 1);
    assert_true(store_calls(&fx) > calls);
    rp_cache_release(&lk);
}

/* One variant's pass marker is kept in the tier as its own: that variant
 * is a pass from memory, the others stay local hits. */
static void test_cache_local_variant_pass(void **state)
{
    fx_t fx;
    rp_lookup_t lk;
    rp_cache_response_t r;
    const char *why;
    unsigned long calls;

    fx_init(&fx, *state);
    fx.accept_encoding = "gzip";
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    r = page("gzip body", NULL);
    r.vary = "Accept-Encoding";
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL), RP_STORE_STORED);

    fx.accept_encoding = "made-up";
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.holds_lock, 1);
    r = page("for one user", NULL);
    r.has_set_cookie = 1;
    assert_int_equal(rp_cache_store(&lk, &r, &why, NULL),
                     RP_STORE_NOT_CACHEABLE);
    advance_us(&fx, 1000);
    calls = store_calls(&fx);
    assert_int_equal(lookup(&fx, &lk), RP_LOOKUP_MISS);
    assert_int_equal(lk.miss_reason, RP_MISS_PASS);
    assert_int_equal(lk.holds_lock, 0);
    assert_int_equal(lk.round_trips, 0);       /* from the tier */
    assert_int_equal(lk.invalid_entries, 0);
    assert_int_equal(store_calls(&fx), calls);
    fx.accept_encoding = "gzip";
    expect_local_hit(&fx, "gzip body");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_init),
        RP_TEST(test_put_get_drop),
        RP_TEST(test_probe_collisions),
        RP_TEST(test_many_keys_index_pressure),
        RP_TEST(test_bounds_and_overwrite),
        RP_TEST(test_promotion),
        RP_TEST(test_too_large),
        RP_TEST(test_revalidate),
        RP_TEST(test_refresh_in_place),
        RP_TEST(test_purge_ring),
        RP_TEST(test_threads_put_get_drop),
        RP_TEST(test_threads_purges),
        RP_TEST(test_cache_local_hit),
        RP_TEST(test_cache_local_revalidation),
        RP_TEST(test_cache_local_purges),
        RP_TEST(test_cache_remote_purge),
        RP_TEST(test_cache_local_vary),
        RP_TEST(test_cache_local_variant_pass),
        RP_TEST(test_cache_local_pass),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
