/*
 * fuzz_rules.c: libFuzzer harness for the header-value parsers of
 * cache/rp_rules.c and cache/rp_key.c: Cache-Control, HTTP dates, Vary,
 * cookies, tags, query strings (as the query of rp_key_url) and glob patterns.
 * Each result is checked against the bounds its header promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "cache/rp_glob.h"
#include "cache/rp_key.h"
#include "cache/rp_rules.h"

static apr_pool_t *root_pool;  /* harness only: libFuzzer runs inputs one at a time */

static const char *const ignore[] = { "utm_*", "_ga*", "*id", "consent" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    return 0;
}

static const char *get_from_input(void *baton, const char *name)
{
    /* every header carries the input: each rule sees hostile bytes */
    (void)name;
    return baton;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s = malloc(size + 1);
    rp_cc_t cc;
    const char **names, **tags;
    int64_t t, fresh;
    int n, i, dropped, refresh;
    char *key;
    rp_url_t u = { "http", "example.com", 80, "/p", NULL, ignore, 4 };
    rp_response_info_t ri;
    rp_request_rules_t rules = { ignore, 4, ignore, 4 };

    apr_pool_create(&p, root_pool);
    memcpy(s, data, size);
    s[size] = '\0';

    rp_cc_parse(s, &cc);
    if (cc.max_age < -1 || cc.max_age > RP_MAX_FRESHNESS_S
        || cc.s_maxage < -1 || cc.s_maxage > RP_MAX_FRESHNESS_S) {
        abort();
    }
    fresh = rp_freshness_s(&cc, s, s, 1700000000, 60);
    if (fresh < 0 || fresh > RP_MAX_FRESHNESS_S) {
        abort();
    }

    t = rp_http_date_parse(s);
    if (t < -1) {
        abort();
    }

    n = rp_vary_parse(p, s, &names);
    if (n < -1 || n > RP_VARY_MAX_NAMES || (n <= 0 && names != NULL)) {
        abort();
    }
    for (i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) >= 0) {
            abort();    /* sorted and distinct */
        }
    }

    memset(&ri, 0, sizeof(ri));
    ri.status = 200;
    ri.cache_control = s;
    ri.vary = s;
    ri.expires = s;
    ri.date = s;
    ri.grace_s = size & 1;
    (void)rp_nostore_name(rp_response_storable(&ri, 1700000000, 60, &fresh));
    if (fresh < 0 || fresh > RP_MAX_FRESHNESS_S) {
        abort();
    }

    (void)rp_bypass_name(rp_request_check("GET", get_from_input, s, &rules, &refresh));
    (void)rp_cookie_is_personal(s, ignore, 4);

    n = rp_tags_parse(p, s, &tags, &dropped);
    if (n < 0 || n > RP_ENTRY_MAX_TAGS || dropped < 0 || (n == 0 && tags != NULL)) {
        abort();
    }
    for (i = 0; i < n; i++) {
        size_t k, len = strlen(tags[i]);

        if (len == 0 || len > RP_ENTRY_MAX_TAG_LEN) {
            abort();
        }
        for (k = 0; k < len; k++) {
            if (tags[i][k] < 0x21 || tags[i][k] > 0x7e || tags[i][k] == ',') {
                abort();
            }
        }
    }

    u.query = s;
    key = rp_key_url(p, &u);
    if (key != NULL) {
        rp_header_t vary[2] = { { "Accept-Encoding", s }, { "X-Absent", NULL } };
        char *full;

        if (strlen(key) > RP_ENTRY_MAX_KEY || strchr(key, '\n') != NULL
            || strncmp(key, "http://example.com:80/p", 23) != 0) {
            abort();
        }
        full = rp_key_full(p, key, vary, 2);
        if (full != NULL && strlen(full) > RP_ENTRY_MAX_KEY) {
            abort();
        }
    }

    /* glob: a short pattern from the front, the rest as the subject */
    {
        size_t plen = size < 32 ? size : 32;
        char pattern[33];

        memcpy(pattern, data, plen);
        pattern[plen] = '\0';
        (void)rp_glob_match(pattern, (const char *)data + plen, size - plen);
    }

    apr_pool_destroy(p);
    free(s);
    return 0;
}
