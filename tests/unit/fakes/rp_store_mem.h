/*
 * rp_store_mem.h: the in-memory rp_store_t, a test fake (tests/unit/ only).
 *
 * It lives under tests/ so the module never links it: the module's build
 * takes the .c files of cache/, the unit tests add those of tests/unit/fakes/.
 */
#ifndef RP_STORE_MEM_H
#define RP_STORE_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#include "cache/rp_store.h"

/*
 * Not thread-safe. memcached semantics: keys of 1..250 bytes of 0x21..0x7e (else ERROR), values
 * copied on set and on get, ttl 0 = no expiry, ttl above 30 days = an absolute
 * Unix time, values above the size limit (1 MiB by default) -> ERROR, incr on a
 * value that is not a decimal number -> ERROR, incr wraps at 2^64. Time stands
 * still at 0 until rp_store_mem_set_time() moves it.
 */
rp_store_t *rp_store_mem_create(apr_pool_t *p);
void rp_store_mem_set_time(rp_store_t *s, int64_t now_s);
/* When fail is set, every call returns RP_ST_ERROR (and is still counted). */
void rp_store_mem_fail(rp_store_t *s, int fail);
/* Calls made per op name ("get", "mget", "set", "add", "del", "incr"); 0 for others. */
unsigned long rp_store_mem_calls(rp_store_t *s, const char *op);
/* Flips bytes of a stored value (value[offset] ^= xor_mask); 0, or -1 if absent or out of range. */
int rp_store_mem_corrupt(rp_store_t *s, const char *key, size_t klen, size_t offset,
                         unsigned char xor_mask);
/* Addition: sets the largest value accepted (memcached's -I); default 1 MiB. */
void rp_store_mem_set_max_value(rp_store_t *s, size_t max_bytes);
/* Addition: number of live (unexpired) items, so tests can see what a purge left. */
unsigned long rp_store_mem_count(rp_store_t *s);
/* Addition: seconds until key expires (0: never, -1: absent), to check TTLs. */
long rp_store_mem_ttl(rp_store_t *s, const char *key);

#endif /* RP_STORE_MEM_H */
