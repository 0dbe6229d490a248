/*
 * rp_key.h: cache keys, from request parts to a memcached key.
 *
 * Two steps, kept apart so each can be tested on its own: a canonical text key
 * (the full key, stored inside every entry and compared on every hit) and its
 * hash (the short key memcached sees). Anything that could make two different
 * requests build the same text is refused with NULL, meaning "do not cache":
 * a refusal costs a backend request, an ambiguity could serve the wrong page.
 */
#ifndef RP_KEY_H
#define RP_KEY_H

#include <stddef.h>
#include <apr_pools.h>

#include "rp_entry.h"   /* rp_header_t, RP_ENTRY_MAX_KEY */

/* Query parameters kept in a key; more means "do not cache". */
#define RP_KEY_MAX_PARAMS        256
/* Query pieces looked at (kept or ignored); more means "do not cache". */
#define RP_KEY_MAX_QUERY_PIECES  1024

typedef struct {
    const char *scheme;                 /* "http", "https" (any case) */
    const char *host;                   /* the host Apache chose the vhost by */
    unsigned port;                      /* 1..65535 */
    const char *path;                   /* raw, still percent-encoded; must start with '/' */
    const char *query;                  /* raw, without '?'; NULL or "" for none */
    const char *const *ignore_query;    /* ReqPerfCacheIgnoreQuery patterns (rp_glob) */
    int n_ignore_query;
} rp_url_t;

/*
 * Canonical "scheme://host:port/path" plus "?query" when any parameter remains.
 * Scheme and host are lowercased; path and query bytes are kept as received.
 * The query is split on '&', empty pieces and pieces whose name (the part before
 * '=', still percent-encoded) matches an ignore pattern are dropped, and the rest
 * is stably sorted by name (bytewise) and joined with '&'.
 * NULL ("do not cache") when: a part is missing, the port is 0 or above 65535,
 * the path does not start with '/', the scheme or host holds a byte that could
 * make the text ambiguous ('/', ':', '?', '#', '@', controls, space; a host may be
 * an IPv6 literal in brackets), path or query holds a control byte, more than
 * RP_KEY_MAX_PARAMS parameters remain or more than RP_KEY_MAX_QUERY_PIECES are
 * present, or the result would exceed RP_ENTRY_MAX_KEY bytes.
 */
char *rp_key_url(apr_pool_t *p, const rp_url_t *u);

/*
 * Full key: url, then for each vary header in the order given
 * "\n" + lowercased name + ":" + value, where a NULL value (header absent) is
 * written as the two bytes "\x01-" so "absent" differs from "empty". Pass the
 * headers sorted (rp_key_sort_headers). NULL when a name is not a token, a value
 * holds a byte below 0x20 other than TAB (so no value can fake a separator), or
 * the result would exceed RP_ENTRY_MAX_KEY bytes.
 */
char *rp_key_full(apr_pool_t *p, const char *url, const rp_header_t *vary, int n_vary);

/* Sorts by ASCII-lowercased name, stably, so the key does not depend on config order. */
void rp_key_sort_headers(rp_header_t *h, int n);

#define RP_KEY_HASH_MAX     64
#define RP_KEY_PREFIX_MAX   16

#define RP_KEY_PREFIX_ENTRY "rp:e:"     /* entries */
#define RP_KEY_PREFIX_URL   "rp:u:"     /* URL generations */
#define RP_KEY_PREFIX_TAG   "rp:t:"     /* tag generations */
#define RP_KEY_PREFIX_LOCK  "rp:l:"     /* fill locks */

/*
 * out = prefix + 32 lowercase hex digits of XXH3_128bits(data) + NUL, a valid
 * memcached text-protocol key. At most RP_KEY_PREFIX_MAX bytes of prefix are used
 * and any prefix byte outside 0x21..0x7e becomes '_', so out is always valid and
 * at most 16 + 32 + 1 bytes long. prefix NULL counts as "".
 */
void rp_key_hash(const char *prefix, const char *data, size_t len, char out[RP_KEY_HASH_MAX]);

#endif /* RP_KEY_H */
