/*
 * rp_test.h: the little every cmocka test of the cache core needs: an APR pool
 * per test, created in setup and destroyed in teardown, so a test that leaks or
 * scribbles over pool memory shows up under AddressSanitizer on its own.
 * Included by each tests/unit/test_*.c (each is built as its own program).
 */
#ifndef RP_TEST_H
#define RP_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>

static int rp_test_setup(void **state)
{
    apr_pool_t *p = NULL;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return -1;
    }
    *state = p;
    return 0;
}

static int rp_test_teardown(void **state)
{
    apr_pool_destroy((apr_pool_t *)*state);
    return 0;
}

#define RP_TEST(fn) cmocka_unit_test_setup_teardown(fn, rp_test_setup, rp_test_teardown)

#endif /* RP_TEST_H */
