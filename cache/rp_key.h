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
    const char *context;                /* NULL, or where the request was served
                                           ("vhost:local-port"), appended as " @context" */
} rp_url_t;

/*
 * Canonical "scheme://host:port/path" plus "?query" when any parameter remains.
 * Scheme and host are lowercased; path and query bytes are kept as received.
 * The query is split on '&', empty pieces and pieces whose name (the part before
 * '=', still percent-encoded) matches an ignore pattern are dropped, and the rest
 * is stably sorted by name (bytewise) and joined with '&'.
 * With a context, " @" + context follows (context: visible ASCII only).
 * NULL ("do not cache") when: a part is missing, the port is 0 or above 65535,
 * the path does not start with '/', the scheme or host holds a byte that could
 * make the text ambiguous ('/', ':', '?', '#', '@', controls, space; a host may be
 * an IPv6 literal in brackets), path or query holds a control byte or a space,
 * more than RP_KEY_MAX_PARAMS parameters remain or more than
 * RP_KEY_MAX_QUERY_PIECES are present, or the result would exceed
 * RP_ENTRY_MAX_KEY bytes.
 */
char *rp_key_url(apr_pool_t *p, const rp_url_t *u);

/*
 * Whether the query holds a piece an ignore pattern drops from the key
 * (rp_key_url's rule, ';' pieces kept): the backend still sees it, so an
 * answer to such a request is served from the key's entry but never
 * stored there.
 */
int rp_key_query_ignores(const char *query, const char *const *ignore_query,
                         int n_ignore_query);

/*
 * The resource a purge names: "/path" plus "?query" when any parameter
 * remains, whatever host, port or scheme it was asked under. path comes
 * normalised by the caller; in the query, escapes of unreserved bytes are
 * decoded, %20 written '+' (a space to every form decoder),
 * the others upper-cased, then it is filtered and sorted as in
 * rp_key_url(). Every entry records the generation of its resource, so one
 * purge reaches every host name, scheme and spelling of a page. NULL when the
 * path is not "/..." or holds a control byte or space, or a limit is passed.
 */
char *rp_key_resource(apr_pool_t *p, const char *path, const char *query,
                      const char *const *ignore_query, int n_ignore_query);

/*
 * Full key: url, then for each vary header in the order given
 * "\n" + lowercased name + ":" + value, where a NULL value (header absent) is
 * written as the two bytes "\x01-" so "absent" differs from "empty". Pass the
 * headers sorted (rp_key_sort_headers). NULL when a name is not a token, a value
 * holds a byte below 0x20 other than TAB (so no value can fake a separator), or
 * the result would exceed RP_ENTRY_MAX_KEY bytes.
 */
char *rp_key_full(apr_pool_t *p, const char *url, const rp_header_t *vary, int n_vary);

/*
 * The full key of one variant under a base full key (as rp_key_full made it):
 * base, then "\n*" (no rp_key_full text holds it: '*' is no header name),
 * then the response Vary headers as rp_key_full writes them. NULL under the
 * same rules as rp_key_full.
 */
char *rp_key_variant(apr_pool_t *p, const char *base_full, const rp_header_t *vary, int n_vary);

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
/* rp_key_hash of the same data under two prefixes, hashed once. */
void rp_key_hash2(const char *prefix_a, const char *prefix_b,
                  const char *data, size_t len, char out_a[RP_KEY_HASH_MAX],
                  char out_b[RP_KEY_HASH_MAX]);

#endif /* RP_KEY_H */
