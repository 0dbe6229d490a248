/*
 * rp_glob.h: the one wildcard syntax of the cache directives.
 *
 * ReqPerfCacheIgnoreQuery and ReqPerfCacheIgnoreCookie take names such as "utm_*"
 * or "_ga*". Only '*' is special, so administrators never have to escape '?', '['
 * or '.' in real cookie and parameter names.
 */
#ifndef RP_GLOB_H
#define RP_GLOB_H

#include <stddef.h>

/*
 * Returns 1 when the NUL-terminated pattern matches the first slen bytes of s
 * (which may hold NUL bytes), else 0. '*' matches any run, including the empty
 * one; every other byte matches itself, case-sensitively. Runs in
 * O(strlen(pattern) * slen) at worst: one backtrack point, never recursion.
 * A NULL pattern matches nothing.
 */
int rp_glob_match(const char *pattern, const char *s, size_t slen);

#endif /* RP_GLOB_H */
