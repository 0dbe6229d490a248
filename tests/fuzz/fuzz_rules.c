/*
 * fuzz_rules.c: libFuzzer harness for the header-value parsers of
 * cache/rp_http.c and cache/rp_key.c, and the rules of cache/rp_rules.c
 * over them: Cache-Control, HTTP dates, Vary,
 * cookies, tags, query strings (as the query of rp_key_url) and glob patterns.
 * Each result is checked against the bounds its header promises, and the
 * safety rules in the safe direction: no input lets a response that says
 * private or no-store be stored, no input makes a request with a personal
 * cookie (or Range, a body, Authorization) look public.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

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

/* One request header carries the input, the first byte says which; the
 * Host is a good one (unless the input is the Host). */
static const char *const fuzzed_names[] = {
    "Cookie", "Cache-Control", "Pragma", "Connection", "Range", "Content-Length",
    "Host", "X-Lang", "Authorization", "Transfer-Encoding"
};
#define N_FUZZED (sizeof(fuzzed_names) / sizeof(fuzzed_names[0]))

typedef struct {
    const char *which;
    const char *value;
} one_header_t;

static const char *get_one(void *baton, const char *name)
{
    one_header_t *h = baton;

    if (strcasecmp(name, h->which) == 0) {
        return h->value;
    }
    if (strcasecmp(name, "Host") == 0) {
        return "example.test";
    }
    return NULL;
}

static void check_private_never_stored(const char *s)
{
    rp_response_info_t ri;
    char buf[4200];
    static const char *const fmt[] = { "%s, private", "private, %s", "%s,no-store",
                                       "no-store,%s" };
    size_t i;

    if (strlen(s) > 4096) {
        return;
    }
    memset(&ri, 0, sizeof(ri));
    ri.status = 200;
    for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        snprintf(buf, sizeof(buf), fmt[i], s);
        ri.cache_control = buf;
        if (rp_response_storable(&ri, 1700000000, 60, NULL) == RP_NOSTORE_NONE) {
            abort();
        }
    }
    /* a second Cache-Control line, as the glue joins them */
    ri.cache_control = s;
    ri.pragma = "no-cache";
    if (rp_response_storable(&ri, 1700000000, 60, NULL) == RP_NOSTORE_NONE) {
        abort();
    }
}

static void check_personal_cookie(const char *s)
{
    char buf[4200];

    if (strlen(s) > 4096) {
        return;
    }
    /* a session cookie next to anything is personal */
    snprintf(buf, sizeof(buf), "%s; session=x", s);
    if (!rp_cookie_is_personal(buf, ignore, 4)) {
        abort();
    }
    snprintf(buf, sizeof(buf), "session=x; %s", s);
    if (!rp_cookie_is_personal(buf, ignore, 4)) {
        abort();
    }
    /* what passes as public has no piece another parser could split:
     * no space, tab or ',' but around ';' */
    if (!rp_cookie_is_personal(s, ignore, 4)) {
        const char *c;

        for (c = s; *c != '\0'; c++) {
            if (*c == ',') {
                abort();
            }
            if ((*c == ' ' || *c == '\t') && c > s && c[-1] != ';' && c[-1] != ' '
                && c[-1] != '\t') {
                const char *n = c;
                while (*n == ' ' || *n == '\t') {
                    n++;
                }
                if (*n != ';' && *n != '\0') {
                    abort();
                }
            }
        }
    }
}

static void check_request(const uint8_t *data, size_t size, const char *s)
{
    static const char *const names_one[] = { NULL, "Host" };
    const char *names[2];
    one_header_t h;
    rp_request_t rq;
    rp_request_rules_t rules = { ignore, 4, NULL, 0 };
    rp_bypass_t v;
    int refresh;

    h.which = fuzzed_names[size ? data[0] % N_FUZZED : 0];
    h.value = s;
    names[0] = h.which;
    names[1] = names_one[1];
    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    rq.get = get_one;
    rq.baton = &h;
    rq.names = names;
    rq.n_names = 2;
    rq.hostname = "example.test";
    rq.default_port = 80;
    v = rp_request_verdict(&rq, &rules, &refresh);
    (void)rp_bypass_name(v);
    if (refresh && v != RP_BYPASS_NO_CACHE) {
        abort();
    }
    if (strcmp(h.which, "Authorization") == 0 && v != RP_BYPASS_AUTHORIZATION) {
        abort();
    }
    if (strcmp(h.which, "Cookie") == 0 && rp_cookie_is_personal(s, ignore, 4)
        && v != RP_BYPASS_COOKIE) {
        abort();
    }
    if ((strcmp(h.which, "Range") == 0 || strcmp(h.which, "Transfer-Encoding") == 0)
        && v == RP_BYPASS_NONE) {
        abort();
    }
    if (strcmp(h.which, "Host") == 0 && strcmp(s, "example.test") != 0
        && v == RP_BYPASS_NONE) {
        abort();
    }
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
    rp_url_t u = { "http", "example.com", 80, "/p", NULL, ignore, 4, NULL };
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
    /* read in two steps at a comma, the same names as read whole */
    {
        char *head = apr_pstrdup(p, s), *comma = strchr(head, ',');
        const char **names2;
        rp_vary_t v;
        int n2;

        rp_vary_init(&v);
        if (comma != NULL) {
            *comma = '\0';
            rp_vary_read(&v, head);
            rp_vary_read(&v, comma + 1);
        }
        else {
            rp_vary_read(&v, head);
        }
        n2 = rp_vary_names(p, &v, &names2);
        if (n2 != n) {
            abort();
        }
        for (i = 0; i < n; i++) {
            if (strcmp(names[i], names2[i]) != 0) {
                abort();
            }
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
    {
        /* the verdict's facts: what the store filter acts on */
        rp_response_facts_t f;
        rp_nostore_t why = rp_response_verdict(&ri, 1700000000, 60, &f);

        if (f.fresh_s != fresh || f.grace_s < 0 || f.stale_if_error_s < 0
            || f.grace_s > RP_MAX_FRESHNESS_S || f.stale_if_error_s > RP_MAX_FRESHNESS_S
            || (why == RP_NOSTORE_NONE && (f.cc.private_ || f.cc.no_store
                                           || f.vary.rc != RP_VARY_OK
                                           || f.vary.has_private))) {
            abort();
        }
    }

    check_request(data, size, s);
    check_private_never_stored(s);
    check_personal_cookie(s);
    (void)rules;
    (void)refresh;

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
