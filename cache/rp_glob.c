/*
 * rp_glob.c: '*'-only wildcard matching.
 *
 * The classic greedy matcher with a single remembered star: when a later star
 * appears the earlier one can never need to match more, so one backtrack point is
 * enough and the work is bounded by pattern length times subject length, whatever
 * a hostile query string or cookie header holds.
 */
#include "rp_glob.h"

int rp_glob_match(const char *pattern, const char *s, size_t slen)
{
    const char *p = pattern;
    const char *star_p = NULL;  /* pattern position just after the last '*' */
    size_t star_i = 0;          /* subject position that star currently swallows up to */
    size_t i = 0;

    if (pattern == NULL || (s == NULL && slen > 0)) {
        return 0;
    }
    while (i < slen) {
        if (*p == '*') {
            star_p = ++p;
            star_i = i;
        }
        else if (*p != '\0' && *p == s[i]) {
            p++;
            i++;
        }
        else if (star_p != NULL) {
            /* Let the last star swallow one more byte and retry from there. */
            p = star_p;
            i = ++star_i;
        }
        else {
            return 0;
        }
    }
    while (*p == '*') {
        p++;
    }
    return *p == '\0';
}
