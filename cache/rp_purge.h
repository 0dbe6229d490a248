/*
 * rp_purge.h: what to purge, from a purge request's body or a backend's
 * X-ReqPerf-Purge header.
 *
 * Both inputs are hostile (anyone the administrator's Require lets through, any
 * backend response), so parsing is all or nothing: either every item is valid and
 * the request is acted on, or nothing is and the caller answers with *err. The
 * work and memory are bounded by the input's length and the limits below.
 */
#ifndef RP_PURGE_H
#define RP_PURGE_H

#include <stddef.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define RP_PURGE_MAX_BODY   65536
#define RP_PURGE_MAX_ITEMS  100
#define RP_PURGE_MAX_URL    4096

typedef struct {
    apr_array_header_t *urls;   /* const char *: "/path?q" or "http(s)://host[:port]/path?q" */
    apr_array_header_t *tags;   /* const char * */
} rp_purge_req_t;

/*
 * application/x-www-form-urlencoded body: pairs split on '&' (empty pairs are
 * skipped), names exactly "url" or "tag", values percent-decoded ('+' is a
 * space), but for a url= value that is already a URL ("/..." or
 * "http(s)://..."): that one is taken as typed, so "url=/caf%C3%A9" and
 * "url=/s?q=a%26b" name those URLs, as a fully encoded value (curl
 * --data-urlencode, an HTML form) does. In every url, bytes a request line
 * never holds raw (space, >= 0x80, '"' '<' '>' '\\' '^' '`' '{' '|' '}') are
 * %XX-encoded, so "/café" names the page a browser asks for as "/caf%C3%A9".
 * Errors (return -1, *err says why, out holds two empty arrays): body longer than
 * RP_PURGE_MAX_BODY, unknown field, bad %XX, empty value, a decoded value holding
 * a control byte (below 0x20, or 0x7f), a url that rp_url_split() rejects or
 * longer than RP_PURGE_MAX_URL, a tag that rp_tags_parse() would drop (1..128
 * bytes of 0x21..0x7e, no ','), more than RP_PURGE_MAX_ITEMS items, no item.
 * Repeated items are kept once. Returns the number of distinct items kept.
 * *err is a short static or pool string; never echoes more than 32 input bytes.
 */
int rp_purge_parse_form(apr_pool_t *p, const char *body, size_t len,
                        rp_purge_req_t *out, const char **err);

/*
 * X-ReqPerf-Purge value: items separated by spaces, tabs and/or commas, each
 * "tag=<t>" or "url=<u>" (lowercase names; u is not percent-decoded, so it
 * cannot hold a space or comma; bytes >= 0x80 are %XX-encoded). Same validity
 * rules, limits and results as rp_purge_parse_form().
 */
int rp_purge_parse_header(apr_pool_t *p, const char *value, rp_purge_req_t *out,
                          const char **err);

/*
 * The same reading for a backend's header, item by item: what can be made
 * is (at most RP_PURGE_MAX_ITEMS items, in order), what cannot is counted
 * in *bad (may be NULL) and the first reason left in *err. A purge the
 * application asked for is never dropped for another item's sake: a bad
 * tag or URL names no stored page anyway. Returns the number of distinct
 * items kept (0 when none), -1 only for a NULL or oversized value.
 */
int rp_purge_parse_header_each(apr_pool_t *p, const char *value,
                               rp_purge_req_t *out, const char **err, int *bad);

/*
 * Splits "http(s)://host[:port]/path?query" or "/path?query". Scheme and host
 * come back lowercased (copies in p); host keeps an IPv6 literal's brackets;
 * port defaults to 80 or 443; path is "/" when the URL has none; query is NULL
 * without '?', else what follows it (may be ""). A relative URL gives scheme and
 * host NULL and port 0. Returns 0, or -1 for anything else: other schemes,
 * "//" at the start, userinfo, an empty or odd host, a port outside 1..65535,
 * a fragment, bytes below 0x21 or 0x7f. Any output pointer may be NULL; outputs
 * are only written on success.
 */
int rp_url_split(apr_pool_t *p, const char *url, const char **scheme, const char **host,
                 unsigned *port, const char **path, const char **query);

#endif /* RP_PURGE_H */
