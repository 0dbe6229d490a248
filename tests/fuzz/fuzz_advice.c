/*
 * fuzz_advice.c: libFuzzer harness for what the cache advisor reads of
 * request and response bytes: the tracking-parameter finder and the
 * Set-Cookie name (stats/rp_advice.c), the personal cookies' names
 * (cache/rp_rules.c), and the names kept and shown (bounded, visible
 * ASCII, HTML-escaped on the page, valid JSON).
 *
 * Beyond "no crash": every span found lies inside its input, the cookie
 * names agree with rp_cookie_is_personal(), and a recorded name never
 * grows a route's name slots past RP_ADVICE_NAMES.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "cache/rp_rules.h"
#include "stats/rp_advice.h"
#include "stats/rp_advice_report.h"

static apr_pool_t *root_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    return 0;
}

static void inside(const char *base, size_t n, const char *s, size_t len)
{
    if (len > 0 && (s < base || s + len > base + n)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ignore[] = { "_ga*", "consent" };
    char *s = malloc(size + 1);
    const char *name;
    size_t len;
    rp_substr_t names[RP_ADVICE_SAMPLE_NAMES];
    rp_advice_rec_t rec;
    rp_advice_sample_t sample;
    rp_advice_view_t view;
    int n, i;

    memcpy(s, data, size);
    s[size] = '\0';
    size = strlen(s);

    rp_advice_busting_param(s, &name, &len);
    inside(s, size, name, len);
    rp_advice_set_cookie_name(s, &name, &len);
    inside(s, size, name, len);

    n = rp_cookie_personal_names(s, ignore, 2, names, RP_ADVICE_SAMPLE_NAMES);
    if ((n != 0) != rp_cookie_is_personal(s, ignore, 2)) {
        abort();
    }
    memset(&rec, 0, sizeof(rec));
    rp_advice_sample_init(&sample, RP_ADVICE_MODE_OBSERVE);
    sample.lookup_reason = RP_ADV_R_COOKIE;
    for (i = 0; i < n && i < RP_ADVICE_SAMPLE_NAMES; i++) {
        inside(s, size, names[i].s, names[i].len);
        rp_advice_sample_name(&sample, RP_ADV_R_COOKIE, names[i].s,
                              names[i].len);
    }
    /* the whole input as a name too: any bytes */
    rp_advice_sample_name(&sample, RP_ADV_R_SET_COOKIE, s, size);
    sample.examined = 1;
    sample.store_reason = RP_ADV_R_SET_COOKIE;
    rp_advice_record(NULL, &rec, &rec, &sample);
    rp_advice_snapshot(NULL, &rec, 0, &view);
    if (view.n_names > RP_ADVICE_NAMES) {
        abort();
    }
    for (i = 0; i < view.n_names; i++) {
        char help[128];
        const char *c;
        if (strlen(view.names[i].name) > RP_ADVICE_NAME_MAX) {
            abort();
        }
        for (c = view.names[i].name; *c; c++) {
            if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
                abort();
            }
        }
        rp_advice_directive(view.names[i].reason, view.names[i].name, help,
                            sizeof(help));
        rp_advice_name_hint(view.names[i].reason, view.names[i].name);
    }
    free(s);
    return 0;
}
