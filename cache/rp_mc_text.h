/*
 * rp_mc_text.h: memcached's text protocol, the commands mod_reqperf
 * sends (get of several keys, set, add, delete, incr) and the replies it
 * reads, over a byte source the caller gives (rp_mc.c: a socket with a
 * deadline; the unit tests: bytes in memory, cut anywhere).
 *
 * Why not libmemcached's: a hit reads a page-sized value, and
 * libmemcached reads its socket 8 KB at a time, copies each chunk into
 * its result buffer and parses each reply's key byte by byte (about 11K
 * instructions for the two keys of a hit).  Here the reply of a get is
 * read into one pool buffer big enough for a usual page, and a value
 * that arrived whole is used where it lies; a longer one is read
 * straight into a buffer of its own once its length is known.  libmemcached still picks the
 * server of a key (consistent hashing) and hands out one connection
 * object per thread (its pool), which owns the sockets these commands use.
 *
 * The parser trusts nothing it reads: a line is at most RP_MCT_LINE_MAX
 * bytes, a value at most the caller's max_value, a VALUE must name a key
 * that was asked for and not yet answered, and every value ends in CRLF;
 * anything else is RP_MCT_PROTOCOL and the connection is not used again.
 */
#ifndef RP_MC_TEXT_H
#define RP_MC_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "rp_store.h"

/* memcached's own limit on a key's length */
#define RP_MCT_KEY_MAX 250
/* "VALUE <key> <flags> <bytes> <cas>\r\n" with room to spare */
#define RP_MCT_LINE_MAX 512

typedef enum {
    RP_MCT_OK = 0,
    RP_MCT_NOTFOUND,               /* NOT_FOUND (delete, incr) */
    RP_MCT_NOTSTORED,              /* NOT_STORED (add of a present key) */
    RP_MCT_EXISTS,                 /* EXISTS */
    RP_MCT_SERVER_ERROR,           /* SERVER_ERROR ...: it answered */
    RP_MCT_CLIENT_ERROR,           /* CLIENT_ERROR ... or ERROR */
    RP_MCT_PROTOCOL,               /* not memcached's protocol */
    RP_MCT_IO,                     /* the connection failed or closed */
    RP_MCT_TIMEOUT                 /* no answer before the deadline */
} rp_mct_rc_t;

/* The source of the reply's bytes: up to len bytes into buf; the count
 * (> 0), 0 at the end of the stream, -1 on an error, -2 past the
 * deadline. */
typedef long (*rp_mct_recv_fn)(void *baton, char *buf, size_t len);

typedef struct {
    rp_mct_recv_fn recv;
    void *baton;
    apr_pool_t *p;
    char *buf;
    size_t size;
    size_t pos, have;              /* buf[pos, have) read, not yet parsed */
    size_t in_place_min;           /* values this long may stay in buf */
    int pinned;                    /* one did: buf is not written again */
} rp_mct_reader_t;

/* A reader that reads into buf, size bytes (at least RP_MCT_LINE_MAX + 2;
 * buf NULL: allocated from p).  A get of a page-sized value gives one big
 * enough to read the whole reply at once.  A value of at least
 * in_place_min bytes (0: none) that arrived whole in buf is returned where
 * it lies, and buf must then live as long as the values (as one from p
 * does; r->pinned says it happened, and buf is then the value's: the
 * reader goes on in a new buffer from p).  Other values are copied into
 * memory of their own from p, so a buffer no value was left in can be
 * used again once the reply is read. */
void rp_mct_reader_init(rp_mct_reader_t *r, rp_mct_recv_fn recv, void *baton,
                        apr_pool_t *p, char *buf, size_t size,
                        size_t in_place_min);

/* Whether the reader holds bytes it has not parsed: after a complete
 * reply, a server that sent more is out of step. */
int rp_mct_reader_pending(const rp_mct_reader_t *r);

/* Whether key can be sent as it is: 1 to RP_MCT_KEY_MAX bytes, none a
 * space or a control byte. */
int rp_mct_key_ok(const char *key, size_t len);

/* "get k1 k2 ...\r\n" into out; its length, 0 when it does not fit or a
 * key is not rp_mct_key_ok. */
size_t rp_mct_get_request(char *out, size_t outsz, const char *const *keys,
                          const size_t *lens, size_t n);

/* "set|add <key> 0 <ttl> <vlen>\r\n" (the value and its CRLF follow, sent
 * by the caller); its length, 0 as above. */
size_t rp_mct_store_header(char *out, size_t outsz, int add, const char *key,
                           size_t klen, uint32_t ttl_s, size_t vlen);

/* "delete <key>\r\n" and "incr <key> <delta>\r\n"; 0 as above. */
size_t rp_mct_delete_request(char *out, size_t outsz, const char *key,
                             size_t klen);
size_t rp_mct_incr_request(char *out, size_t outsz, const char *key,
                           size_t klen, uint64_t delta);

/* The reply to a get of the keys items[idx[0..m)]: each VALUE found sets
 * its item's value (from p, NUL-terminated past value_len) and rc
 * RP_ST_OK; the others are left as they are.  RP_MCT_OK once END is
 * read. */
rp_mct_rc_t rp_mct_read_values(rp_mct_reader_t *r, apr_pool_t *p,
                               rp_store_item_t *items, const size_t *idx,
                               size_t m, size_t max_value);

/* The one-line reply to set, add or delete. */
rp_mct_rc_t rp_mct_read_status(rp_mct_reader_t *r);

/* The reply to incr: the new value into *value. */
rp_mct_rc_t rp_mct_read_incr(rp_mct_reader_t *r, uint64_t *value);

#endif
