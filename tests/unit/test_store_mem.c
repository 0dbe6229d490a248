/*
 * test_store_mem.c: the in-memory store behaves like memcached, because cache
 * tests built on it are only worth as much as that likeness: ttl expiry, add on
 * an existing key, incr on a missing or non-numeric value, key rules, copies in
 * and out, failure injection and call counting.
 */
#include <string.h>

#include <apr_strings.h>

#include "rp_test.h"
#include "fakes/rp_store_mem.h"

#define K(s) (s), strlen(s)

static void test_get_set_del(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    const char *v = "x";
    size_t vlen = 9;
    char buf[8] = "value";

    assert_string_equal(s->ops->name, "mem");
    assert_int_equal(rp_store_get(s, p, K("k"), &v, &vlen), RP_ST_NOTFOUND);
    assert_null(v);
    assert_int_equal(vlen, 0);
    assert_int_equal(rp_store_set(s, K("k"), buf, 5, 0), RP_ST_OK);
    buf[0] = 'X';   /* values are copied in */
    assert_int_equal(rp_store_get(s, p, K("k"), &v, &vlen), RP_ST_OK);
    assert_int_equal(vlen, 5);
    assert_memory_equal(v, "value", 5);
    assert_int_equal(v[5], '\0');
    /* ... and out: corrupting the stored copy leaves what we got alone */
    assert_int_equal(rp_store_mem_corrupt(s, K("k"), 0, 0x20), 0);
    assert_memory_equal(v, "value", 5);
    {
        const char *v2;
        size_t l2;

        assert_int_equal(rp_store_get(s, p, K("k"), &v2, &l2), RP_ST_OK);
        assert_memory_equal(v2, "Value", 5);
    }
    /* overwrite, with binary data and a longer value */
    assert_int_equal(rp_store_set(s, K("k"), "a\0b\0c\0d", 7, 0), RP_ST_OK);
    assert_int_equal(rp_store_get(s, p, K("k"), &v, &vlen), RP_ST_OK);
    assert_int_equal(vlen, 7);
    assert_memory_equal(v, "a\0b\0c\0d", 7);
    /* empty value */
    assert_int_equal(rp_store_set(s, K("e"), "", 0, 0), RP_ST_OK);
    assert_int_equal(rp_store_get(s, p, K("e"), &v, &vlen), RP_ST_OK);
    assert_int_equal(vlen, 0);
    assert_int_equal(rp_store_mem_count(s), 2);

    assert_int_equal(rp_store_del(s, K("k")), RP_ST_OK);
    assert_int_equal(rp_store_del(s, K("k")), RP_ST_NOTFOUND);
    assert_int_equal(rp_store_get(s, p, K("k"), &v, &vlen), RP_ST_NOTFOUND);
    assert_int_equal(rp_store_mem_count(s), 1);
    /* keys are bytes: length matters, not NULs */
    assert_int_equal(rp_store_set(s, "abc", 2, "1", 1, 0), RP_ST_OK);
    assert_int_equal(rp_store_get(s, p, K("ab"), &v, &vlen), RP_ST_OK);
    assert_int_equal(rp_store_get(s, p, K("abc"), &v, &vlen), RP_ST_NOTFOUND);
}

static void test_ttl(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    const char *v;
    size_t vlen;

    rp_store_mem_set_time(s, 1000);
    assert_int_equal(rp_store_set(s, K("short"), "1", 1, 10), RP_ST_OK);
    assert_int_equal(rp_store_set(s, K("forever"), "1", 1, 0), RP_ST_OK);
    /* memcached: a ttl above 30 days is an absolute Unix time */
    assert_int_equal(rp_store_set(s, K("abs"), "1", 1, 2592000 + 5000), RP_ST_OK);
    assert_int_equal(rp_store_set(s, K("rel30d"), "1", 1, 2592000), RP_ST_OK);

    rp_store_mem_set_time(s, 1009);
    assert_int_equal(rp_store_get(s, p, K("short"), &v, &vlen), RP_ST_OK);
    rp_store_mem_set_time(s, 1010);
    assert_int_equal(rp_store_get(s, p, K("short"), &v, &vlen), RP_ST_NOTFOUND);
    assert_int_equal(rp_store_del(s, K("short")), RP_ST_NOTFOUND);
    /* an expired key can be added again */
    assert_int_equal(rp_store_set(s, K("short2"), "1", 1, 1), RP_ST_OK);
    rp_store_mem_set_time(s, 1011);
    assert_int_equal(rp_store_add(s, K("short2"), "2", 1, 0), RP_ST_OK);
    assert_int_equal(rp_store_get(s, p, K("short2"), &v, &vlen), RP_ST_OK);
    assert_memory_equal(v, "2", 1);

    rp_store_mem_set_time(s, 1000 + 2592000 - 1);
    assert_int_equal(rp_store_get(s, p, K("rel30d"), &v, &vlen), RP_ST_OK);
    assert_int_equal(rp_store_get(s, p, K("abs"), &v, &vlen), RP_ST_OK);
    rp_store_mem_set_time(s, 1000 + 2592000);
    assert_int_equal(rp_store_get(s, p, K("rel30d"), &v, &vlen), RP_ST_NOTFOUND);
    rp_store_mem_set_time(s, 2592000 + 4999);
    assert_int_equal(rp_store_get(s, p, K("abs"), &v, &vlen), RP_ST_OK);
    rp_store_mem_set_time(s, 2592000 + 5000);
    assert_int_equal(rp_store_get(s, p, K("abs"), &v, &vlen), RP_ST_NOTFOUND);
    assert_int_equal(rp_store_get(s, p, K("forever"), &v, &vlen), RP_ST_OK);
    assert_int_equal(rp_store_mem_count(s), 2);     /* forever, short2 */
}

static void test_add(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    const char *v;
    size_t vlen;

    assert_int_equal(rp_store_add(s, K("lock"), "a", 1, 5), RP_ST_OK);
    assert_int_equal(rp_store_add(s, K("lock"), "b", 1, 5), RP_ST_EXISTS);
    assert_int_equal(rp_store_get(s, p, K("lock"), &v, &vlen), RP_ST_OK);
    assert_memory_equal(v, "a", 1);     /* the loser changed nothing */
    rp_store_mem_set_time(s, 5);
    assert_int_equal(rp_store_add(s, K("lock"), "c", 1, 5), RP_ST_OK);
    assert_int_equal(rp_store_del(s, K("lock")), RP_ST_OK);
    assert_int_equal(rp_store_add(s, K("lock"), "d", 1, 5), RP_ST_OK);
}

static void test_incr(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    uint64_t n = 99;
    const char *v;
    size_t vlen;

    assert_int_equal(rp_store_incr(s, K("gen"), 1, &n), RP_ST_NOTFOUND);
    assert_true(n == 0);
    assert_int_equal(rp_store_add(s, K("gen"), "0", 1, 0), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("gen"), 1, &n), RP_ST_OK);
    assert_true(n == 1);
    assert_int_equal(rp_store_incr(s, K("gen"), 41, &n), RP_ST_OK);
    assert_true(n == 42);
    assert_int_equal(rp_store_get(s, p, K("gen"), &v, &vlen), RP_ST_OK);
    assert_string_equal(v, "42");
    assert_int_equal(rp_store_incr(s, K("gen"), 1, NULL), RP_ST_OK);

    /* wraps at 2^64 */
    assert_int_equal(rp_store_set(s, K("big"), "18446744073709551615", 20, 0), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("big"), 2, &n), RP_ST_OK);
    assert_true(n == 1);
    /* not a number */
    assert_int_equal(rp_store_set(s, K("txt"), "abc", 3, 0), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("txt"), 1, &n), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("txt"), "", 0, 0), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("txt"), 1, &n), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("txt"), "-1", 2, 0), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("txt"), 1, &n), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("txt"), "18446744073709551616", 20, 0), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("txt"), 1, &n), RP_ST_ERROR);
    /* incr keeps the expiry */
    assert_int_equal(rp_store_set(s, K("ttl"), "7", 1, 10), RP_ST_OK);
    assert_int_equal(rp_store_incr(s, K("ttl"), 1, &n), RP_ST_OK);
    rp_store_mem_set_time(s, 10);
    assert_int_equal(rp_store_incr(s, K("ttl"), 1, &n), RP_ST_NOTFOUND);
}

static void test_mget(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    rp_store_item_t items[4];

    rp_store_set(s, K("a"), "1", 1, 0);
    rp_store_set(s, K("c"), "333", 3, 0);
    memset(items, 0, sizeof(items));
    items[0].key = "a";
    items[0].key_len = 1;
    items[1].key = "b";
    items[1].key_len = 1;
    items[2].key = "c";
    items[2].key_len = 1;
    items[3].key = "bad key";
    items[3].key_len = 7;
    assert_int_equal(rp_store_mget(s, p, items, 4), RP_ST_OK);
    assert_int_equal(items[0].rc, RP_ST_OK);
    assert_int_equal(items[0].value_len, 1);
    assert_memory_equal(items[0].value, "1", 1);
    assert_int_equal(items[1].rc, RP_ST_NOTFOUND);
    assert_null(items[1].value);
    assert_int_equal(items[2].rc, RP_ST_OK);
    assert_memory_equal(items[2].value, "333", 3);
    assert_int_equal(items[3].rc, RP_ST_ERROR);
    assert_int_equal(rp_store_mget(s, p, items, 0), RP_ST_OK);
    /* one round trip, whatever the number of keys */
    assert_int_equal(rp_store_mem_calls(s, "mget"), 2);
    assert_int_equal(rp_store_mem_calls(s, "get"), 0);
}

static void test_keys_and_sizes(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    char key[252];
    const char *v;
    size_t vlen;
    static char value[1024 * 1024 + 1];

    /* memcached keys: 1..250 bytes, no spaces or control bytes */
    memset(key, 'k', sizeof(key));
    assert_int_equal(rp_store_set(s, key, 250, "1", 1, 0), RP_ST_OK);
    assert_int_equal(rp_store_set(s, key, 251, "1", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, "", 0, "1", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("a b"), "1", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("a\nb"), "1", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("a\x7f"), "1", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_get(s, p, K("a b"), &v, &vlen), RP_ST_ERROR);
    assert_int_equal(rp_store_add(s, K("a b"), "1", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_del(s, K("a b")), RP_ST_ERROR);
    assert_int_equal(rp_store_incr(s, K("a b"), 1, NULL), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, NULL, 0, "1", 1, 0), RP_ST_ERROR);

    /* item size limit, like memcached's -I */
    assert_int_equal(rp_store_set(s, K("v"), value, sizeof(value) - 1, 0), RP_ST_OK);
    assert_int_equal(rp_store_set(s, K("v"), value, sizeof(value), 0), RP_ST_ERROR);
    assert_int_equal(rp_store_add(s, K("w"), value, sizeof(value), 0), RP_ST_ERROR);
    rp_store_mem_set_max_value(s, 4);
    assert_int_equal(rp_store_set(s, K("v"), "12345", 5, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("v"), "1234", 4, 0), RP_ST_OK);
}

static void test_fail_and_counts(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    rp_store_item_t item = { "a", 1, NULL, 0, RP_ST_OK };
    const char *v;
    size_t vlen;
    uint64_t n;

    assert_int_equal(rp_store_set(s, K("a"), "1", 1, 0), RP_ST_OK);
    rp_store_mem_fail(s, 1);
    assert_int_equal(rp_store_get(s, p, K("a"), &v, &vlen), RP_ST_ERROR);
    assert_int_equal(rp_store_set(s, K("a"), "2", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_add(s, K("b"), "2", 1, 0), RP_ST_ERROR);
    assert_int_equal(rp_store_del(s, K("a")), RP_ST_ERROR);
    assert_int_equal(rp_store_incr(s, K("a"), 1, &n), RP_ST_ERROR);
    assert_int_equal(rp_store_mget(s, p, &item, 1), RP_ST_ERROR);
    assert_int_equal(item.rc, RP_ST_ERROR);
    rp_store_mem_fail(s, 0);
    /* nothing changed while failing */
    assert_int_equal(rp_store_get(s, p, K("a"), &v, &vlen), RP_ST_OK);
    assert_memory_equal(v, "1", 1);
    assert_int_equal(rp_store_get(s, p, K("b"), &v, &vlen), RP_ST_NOTFOUND);

    /* every call counted, failed ones too */
    assert_int_equal(rp_store_mem_calls(s, "get"), 3);
    assert_int_equal(rp_store_mem_calls(s, "set"), 2);
    assert_int_equal(rp_store_mem_calls(s, "add"), 1);
    assert_int_equal(rp_store_mem_calls(s, "del"), 1);
    assert_int_equal(rp_store_mem_calls(s, "incr"), 1);
    assert_int_equal(rp_store_mem_calls(s, "mget"), 1);
    assert_int_equal(rp_store_mem_calls(s, "nope"), 0);
    assert_int_equal(rp_store_mem_calls(s, NULL), 0);
}

static void test_corrupt_and_misc(void **state)
{
    apr_pool_t *p = *state;
    rp_store_t *s = rp_store_mem_create(p);
    rp_store_t foreign = { NULL, NULL };

    assert_int_equal(rp_store_mem_corrupt(s, K("none"), 0, 1), -1);
    rp_store_set(s, K("k"), "ab", 2, 0);
    assert_int_equal(rp_store_mem_corrupt(s, K("k"), 2, 1), -1);
    assert_int_equal(rp_store_mem_corrupt(s, K("k"), 1, 1), 0);
    /* the helpers ignore stores that are not in-memory ones */
    rp_store_mem_fail(&foreign, 1);
    rp_store_mem_set_time(&foreign, 1);
    assert_int_equal(rp_store_mem_calls(&foreign, "get"), 0);
    assert_int_equal(rp_store_mem_corrupt(&foreign, K("k"), 0, 1), -1);
    assert_int_equal(rp_store_mem_count(NULL), 0);

    assert_string_equal(rp_st_rc_name(RP_ST_OK), "ok");
    assert_string_equal(rp_st_rc_name(RP_ST_NOTFOUND), "notfound");
    assert_string_equal(rp_st_rc_name(RP_ST_EXISTS), "exists");
    assert_string_equal(rp_st_rc_name(RP_ST_ERROR), "error");
    assert_string_equal(rp_st_rc_name(RP_ST_DOWN), "down");
    assert_non_null(rp_st_rc_name((rp_st_rc_t)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_get_set_del),
        RP_TEST(test_ttl),
        RP_TEST(test_add),
        RP_TEST(test_incr),
        RP_TEST(test_mget),
        RP_TEST(test_keys_and_sizes),
        RP_TEST(test_fail_and_counts),
        RP_TEST(test_corrupt_and_misc),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
