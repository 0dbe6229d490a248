/*
 * rp_route.h: grouping URL paths into routes.
 *
 * Statistics are only useful per "view", not per URL: /invoices/123 and
 * /invoices/456 are the same code path.  The built-in grouping drops the
 * query string (tokens live there and it is unbounded) and replaces path
 * segments that are identifiers (all digits, a UUID, or long hex) by
 * "{id}".  Administrators can name routes themselves with
 * `ReqPerfRoute <regex> <template>`; the regex runs in the httpd glue
 * (ap_regex), the template expansion is here so it is tested alone.
 *
 * Routes are bounded to RP_ROUTE_MAX bytes so that a hostile path cannot
 * grow shared memory or the status page.
 */
#ifndef RP_ROUTE_H
#define RP_ROUTE_H

#include <stddef.h>

#define RP_ROUTE_MAX 128          /* bytes including the NUL */
#define RP_ROUTE_OTHER "__other__"
#define RP_ROUTE_MAX_GROUPS 10    /* $0 .. $9 */

/* Built-in grouping of a path (a '?' or '#' ends it).  Writes at most
 * outsz - 1 bytes, never splitting a UTF-8 sequence; returns the length. */
size_t rp_route_normalize(const char *path, char *out, size_t outsz);

/* Whether a path segment is an identifier ({id}). */
int rp_route_is_id_segment(const char *seg, size_t len);

/* A regex match: byte offsets of a group in the subject, -1 if unset. */
typedef struct {
    int so;
    int eo;
} rp_span_t;

/* Check a template against the number of groups its regex has
 * (nsub, not counting $0).  "$N" inserts group N, "$$" a dollar sign;
 * '?' and '#' are refused (a route holds no query string).
 * Returns 0, or -1 with a message in err. */
int rp_route_template_check(const char *tmpl, int nsub, char *err,
                            size_t errsz);

/* Expand a checked template with the groups of one match. */
size_t rp_route_expand(const char *tmpl, const char *subject,
                       const rp_span_t *m, int nm, char *out, size_t outsz);

/* The method as counted: the standard ones as they are, anything else
 * "OTHER", so a client cannot create routes by inventing methods. */
const char *rp_route_method(const char *method);

#endif
