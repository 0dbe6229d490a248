/*
 * rp_breaker.h: a circuit breaker per memcached server, in shared memory.
 *
 * A memcached that is down or hung must cost the site at most the
 * timeout for the first few requests, then nothing.  Every child process
 * and thread reads the same breaker, so what one request learns (three
 * failures in a row) spares all the others: while a server is "down" no
 * request calls it; every RP_BREAKER_RETRY_US one request (the one that
 * wins a compare-and-swap) probes it ("retrying"); success closes the
 * breaker ("up"), failure keeps it open.
 *
 * Writers: any request thread of any child, with __atomic operations
 * only; no lock.  Times are CLOCK_MONOTONIC microseconds, which all
 * processes share.
 */
#ifndef RP_BREAKER_H
#define RP_BREAKER_H

#include <stdint.h>

#define RP_BREAKER_MAX_SERVERS 32
#define RP_BREAKER_THRESHOLD 3                 /* failures in a row */
#define RP_BREAKER_RETRY_US (2 * 1000 * 1000)  /* between probes */
#define RP_BREAKER_PROBE_STALE_US (30 * 1000 * 1000)

typedef enum {
    RP_BRK_UP = 0,
    RP_BRK_DOWN = 1,
    RP_BRK_RETRYING = 2
} rp_brk_state_t;

typedef struct {
    /* state (low 2 bits) and a time (the rest): DOWN's first probe, or
     * RETRYING's start; one word, so one compare-and-swap moves both and
     * no caller ever sees a state with another state's time */
    uint64_t word;
    uint32_t failures;                 /* consecutive */
    uint32_t pad;
    uint64_t total_failures;
    uint64_t total_skipped;
} rp_breaker_t;

/* May a request use this server now?  1: yes (*probe = 1 if it is the
 * one probe of a down server, which must report its outcome); 0: skip. */
int rp_breaker_allow(rp_breaker_t *b, int64_t now_us, int *probe);
void rp_breaker_success(rp_breaker_t *b, int probe);
void rp_breaker_failure(rp_breaker_t *b, int64_t now_us, int probe);
rp_brk_state_t rp_breaker_state(const rp_breaker_t *b);
/* The time kept with the state (µs); and setting both, for tests. */
int64_t rp_breaker_time_us(const rp_breaker_t *b);
void rp_breaker_set(rp_breaker_t *b, rp_brk_state_t s, int64_t at_us);
const char *rp_breaker_state_name(rp_brk_state_t s);   /* up, down, retrying */

#endif
