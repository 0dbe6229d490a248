/*
 * test_override.c: the names path of rp_request_verdict and the
 * first-letter filter of rp_override_header, checked against an independent copy of the list and
 * against the get() path, for every override name in many case spellings,
 * truncated, extended, first byte changed, listed in Vary or not, at any
 * position among many headers; and rp_port_text against "%u" for every
 * port.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rp_test.h"
#include "cache/rp_rules.h"

static const char *const ref[] = {
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Original-URL",
    "X-Rewrite-URL", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Port",
    "X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Uri", "X-Forwarded-Server",
    "X-Forwarded-Protocol", "X-Host", "X-Original-Host", "X-Original-URI",
    "X-Original-Path", "X-Url-Scheme", "X-Scheme", "Front-End-Https",
    "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
    "X-Envoy-Original-Path", "X-ProxyUser-Ip",
    "X-Proxied-Https", "Proxy-Ssl-Id", "X-Arr-Ssl", "X-Forwarded-Https",
    "X-Script-Name"
};
#define NREF (sizeof(ref) / sizeof(ref[0]))

static int in_ref(const char *n)
{
    size_t i;
    for (i = 0; i < NREF; i++) {
        if (strcasecmp(ref[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

#define NH 40
typedef struct {
    const char *names[NH];
    const char *values[NH];
    int n;
} hd_t;

static const char *get(void *baton, const char *name)
{
    hd_t *h = baton;
    int i;
    for (i = 0; i < h->n; i++) {
        if (strcasecmp(h->names[i], name) == 0) {
            return h->values[i];
        }
    }
    return NULL;
}

static rp_bypass_t run(hd_t *h, const rp_request_rules_t *rules, int with_names)
{
    rp_request_t rq;
    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    rq.get = get;
    rq.baton = h;
    rq.names = with_names ? h->names : NULL;
    rq.n_names = with_names ? h->n : 0;
    rq.hostname = "example.test";
    rq.default_port = 80;
    return rp_request_verdict(&rq, rules, NULL);
}

static void spell(char *out, const char *in, unsigned mask)
{
    size_t k;
    for (k = 0; in[k]; k++) {
        char c = in[k];
        if (c >= 'a' && c <= 'z' && (mask >> (k % 31) & 1)) c = (char)(c - 32);
        else if (c >= 'A' && c <= 'Z' && (mask >> (k % 31) & 1)) c = (char)(c + 32);
        out[k] = c;
    }
    out[k] = '\0';
}

static void check(const char *name, const rp_request_rules_t *rules, int pos)
{
    static const char *filler[] = { "Accept", "Accept-Encoding", "User-Agent",
        "Referer", "Cache-Control", "X-Requested-With", "X-Forwarded-For",
        "Fastly-Client", "X-Real-IP", "If-None-Match" };
    hd_t h;
    int i, expect_override;
    rp_bypass_t a, b;

    memset(&h, 0, sizeof(h));
    h.names[h.n] = "Host"; h.values[h.n++] = "example.test";
    for (i = 0; i < pos; i++) {
        h.names[h.n] = filler[i % 10]; h.values[h.n++] = "v";
    }
    h.names[h.n] = name; h.values[h.n++] = "";   /* empty value: still sent */
    for (i = 0; i < 3; i++) {
        h.names[h.n] = filler[(i + 3) % 10]; h.values[h.n++] = "v";
    }
    expect_override = in_ref(name) && strchr(name, '_') == NULL;
    if (expect_override && rules != NULL) {
        int j;
        for (j = 0; j < rules->n_vary; j++) {
            if (strcasecmp(rules->vary[j], name) == 0) expect_override = 0;
        }
    }
    assert_int_equal(rp_override_header(name), in_ref(name));
    a = run(&h, rules, 1);
    b = run(&h, rules, 0);
    if (strchr(name, '_') == NULL) {
        assert_int_equal(a, b);
    }
    if (strchr(name, '_') != NULL) {
        assert_int_equal(a, RP_BYPASS_UNKEYED_HEADER);
    }
    else {
        if (a != (expect_override ? RP_BYPASS_UNKEYED_HEADER : RP_BYPASS_NONE)) {
            fail_msg("%s pos %d: %d", name, pos, a);
        }
    }
}

static void test_every_override_spelling(void **state)
{
    static const char *vary[] = { "x-forwarded-proto", "FORWARDED", "X-HTTP-Method" };
    rp_request_rules_t none = { NULL, 0, NULL, 0 };
    rp_request_rules_t some = { NULL, 0, vary, 3 };
    char buf[64], buf2[64];
    size_t i, k;
    unsigned m;
    int pos;

    (void)state;
    for (i = 0; i < NREF; i++) {
        for (m = 0; m < 200; m++) {
            unsigned mask = m * 2654435761u;
            spell(buf, ref[i], mask);
            for (pos = 0; pos < 30; pos += 7) {
                check(buf, &none, pos);
                check(buf, &some, pos);
                check(buf, NULL, pos);
            }
        }
        /* truncated, extended, first byte changed, underscores */
        for (k = 1; k < strlen(ref[i]); k++) {
            memcpy(buf, ref[i], k);
            buf[k] = '\0';
            check(buf, &none, 3);
        }
        snprintf(buf, sizeof(buf), "%sx", ref[i]);
        check(buf, &none, 3);
        snprintf(buf, sizeof(buf), " %s", ref[i]);
        check(buf, &none, 3);
        strcpy(buf2, ref[i]);
        for (k = 0; k < 256; k++) {
            buf2[0] = (char)k;
            if (k == 0) continue;
            check(buf2, &none, 3);
        }
        strcpy(buf2, ref[i]);
        for (k = 0; buf2[k]; k++) if (buf2[k] == '-') buf2[k] = '_';
        check(buf2, &none, 3);
    }
    check("", &none, 2);
}

/* host_is_canonical through the verdict: "h:<port>" canonical exactly when
 * it is "%u" of the port, for every port and a few wrong spellings */
static void test_every_port(void **state)
{
    unsigned port;
    char host[64];
    (void)state;
    for (port = 1; port <= 65535; port++) {
        hd_t h;
        rp_request_t rq;
        int variant;
        for (variant = 0; variant < 3; variant++) {
            if (variant == 0) snprintf(host, sizeof(host), "h.test:%u", port);
            else if (variant == 1) snprintf(host, sizeof(host), "h.test:0%u", port);
            else snprintf(host, sizeof(host), "h.test:%u0", port);
            memset(&h, 0, sizeof(h));
            h.names[0] = "Host"; h.values[0] = host; h.n = 1;
            memset(&rq, 0, sizeof(rq));
            rq.method = "GET"; rq.get = get; rq.baton = &h;
            rq.names = h.names; rq.n_names = 1;
            rq.hostname = "h.test"; rq.host_port = port; rq.default_port = 80;
            if (rp_request_verdict(&rq, NULL, NULL)
                != (variant == 0 && port != 80 ? RP_BYPASS_NONE : RP_BYPASS_HOST)) {
                fail_msg("port %u host %s", port, host);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_every_override_spelling),
        RP_TEST(test_every_port),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_terminate();
    return rc;
}
