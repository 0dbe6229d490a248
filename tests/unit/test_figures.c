/*
 * test_figures.c: every row of the two tables of rp_counters.h (the
 * counters and the gauges) appears in all five outputs with the same
 * value: JSON (at its section's object and name), Prometheus (its metric
 * and label), ?auto (prefix and name), the HTML page (data-k/data-v) and
 * the mod_status section (?auto lines and HTML).  The rows are read from
 * the tables themselves and the names derived by the rule rp_counters.h
 * documents, so a row added there is checked here without a word added.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <strings.h>
#include <jansson.h>

#include "rp_test.h"
#include "stats/rp_report.h"

static apr_pool_t *pool;                   /* the test's (rp_test.h) */

/* The documented names of a section: JSON object, ?auto prefix. */
static const char *json_path[] = { "", "/total", "/cache", "/cache/purges",
                                   "/cache/local", "/app_timing" };
static const char *auto_prefix[] = { "", "total_", "cache_", "cache_purge_",
                                     "cache_local_", "app_timing_" };

typedef struct {
    const char *text[6];               /* json prom auto html st_auto st_html */
    json_t *json;
} outputs_t;

enum { O_JSON, O_PROM, O_AUTO, O_HTML, O_ST_AUTO, O_ST_HTML };

static void render_all(rp_report_t *r, const rp_report_opts_t *o,
                       outputs_t *out)
{
    void (*fn[6])(rp_buf_t *, const rp_report_t *, const rp_report_opts_t *) = {
        rp_render_json, rp_render_prometheus, rp_render_auto, rp_render_html,
        rp_render_status_auto, rp_render_status_html
    };
    json_error_t err;
    int k;

    for (k = 0; k < 6; k++) {
        rp_buf_t b;
        rp_buf_init(&b, pool, 1024);
        fn[k](&b, r, o);
        out->text[k] = rp_buf_cstr(&b);
    }
    out->json = json_loads(out->text[O_JSON], 0, &err);
    assert_non_null(out->json);
}

static json_t *json_at(json_t *root, const char *pointer)
{
    char buf[128], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", pointer);
    for (tok = strtok_r(buf, "/", &save); tok && root;
         tok = strtok_r(NULL, "/", &save)) {
        root = json_object_get(root, tok);
    }
    return root;
}

/* A whole line of text, at its start or after a newline. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p;

    for (p = strstr(text, line); p; p = strstr(p + 1, line)) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n') {
            return 1;
        }
    }
    return 0;
}

/* A "Key: value" line whose key is want_key, or (want_key NULL) whose
 * key is "ReqPerf" and auto_key in CamelCase: the same letters, '_'
 * and case aside, each word capitalised. */
static int has_status_line(const char *text, const char *want_key,
                           const char *auto_key, unsigned long long v)
{
    char line[256], flat[128], key[128];
    const char *p = text, *nl;
    size_t i, n = 0;

    for (i = 0; auto_key[i] && n + 1 < sizeof(flat); i++) {
        if (auto_key[i] != '_') {
            flat[n++] = auto_key[i];
        }
    }
    flat[n] = '\0';
    for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        unsigned long long got;
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        if (sscanf(line, "%127[^:]: %llu", key, &got) != 2 || got != v) {
            continue;
        }
        if (want_key != NULL ? strcmp(key, want_key) == 0
            : (strncmp(key, "ReqPerf", 7) == 0 && isupper((unsigned char)key[7])
               && strcasecmp(key + 7, flat) == 0)) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    int section;
    const char *json_name, *auto_key, *status_key, *prom, *label;
    int shown, is_bool;
} row_t;

/* One row: its JSON value, then the same value everywhere else it is
 * shown (and nowhere in the text formats when it is not). */
static void check_row(const outputs_t *out, const row_t *row)
{
    char pointer[128], akey[128], want[320];
    json_t *j;
    unsigned long long v;

    snprintf(pointer, sizeof(pointer), "%s/%s", json_path[row->section],
             row->json_name);
    if (row->auto_key) {
        snprintf(akey, sizeof(akey), "%s", row->auto_key);
    }
    else {
        snprintf(akey, sizeof(akey), "%s%s", auto_prefix[row->section],
                 row->json_name);
    }
    j = json_at(out->json, pointer);
    if (j == NULL) {
        fail_msg("JSON has no %s", pointer);
    }
    if (row->is_bool) {
        assert_true(json_is_boolean(j));
        v = json_is_true(j);
    }
    else {
        assert_true(json_is_integer(j));
        v = (unsigned long long)json_integer_value(j);
    }
    snprintf(want, sizeof(want), "%s: %llu", akey, v);
    assert_int_equal(has_line(out->text[O_AUTO], want), row->shown);
    assert_int_equal(has_status_line(out->text[O_ST_AUTO], row->status_key,
                                     akey, v), row->shown);
    snprintf(want, sizeof(want), "data-k=\"%s\" data-v=\"%llu\"", pointer, v);
    assert_int_equal(strstr(out->text[O_HTML], want) != NULL, row->shown);
    assert_int_equal(strstr(out->text[O_ST_HTML], want) != NULL, row->shown);
    if (row->prom != NULL) {
        snprintf(want, sizeof(want), "%s%s%s%s %llu", row->prom,
                 row->label ? "{" : "", row->label ? row->label : "",
                 row->label ? "}" : "", v);
        assert_int_equal(has_line(out->text[O_PROM], want), row->shown);
    }
}

/* Every counter and gauge row, read from the tables. */
static int check_tables(const outputs_t *out, int local)
{
    row_t row;
    int k, n = 0;

    for (k = 0; k < RP_CTR_COUNT; k++, n++) {
        const rp_counter_info_t *ci = &rp_counter_info[k];
        row = (row_t){ ci->section, ci->json_name, NULL, ci->status_key,
                       ci->prom_metric, ci->prom_label, 1, 0 };
        check_row(out, &row);
    }
    for (k = 0; k < RP_GAUGE_COUNT; k++, n++) {
        const rp_gauge_info_t *gi = &rp_gauge_info[k];
        row = (row_t){ gi->section, gi->json_name, gi->auto_key,
                       gi->status_key, gi->prom_metric, NULL,
                       gi->shown == RP_SHOWN_ALWAYS || local,
                       gi->kind == RP_KIND_BOOL };
        check_row(out, &row);
    }
    return n;
}

static rp_stats_t *make_stats(void **mem)
{
    rp_stats_params_t p = { 50, 10, 8, 2 };
    size_t size = rp_stats_size(&p);

    *mem = calloc(1, size);
    return rp_stats_init(*mem, size, &p, 1700000000000000LL, 1000);
}

static void test_every_row_in_every_output(void **state)
{
    rp_report_server_t servers[2] = { { "127.0.0.1:11211", "up" },
                                      { "127.0.0.1:11212", "down" } };
    rp_report_opts_t o;
    outputs_t out;
    rp_report_t *r;
    void *mem;
    rp_stats_t *st = make_stats(&mem);
    int k, local;

    pool = *state;
    /* distinct values: a figure shown under another's name fails */
    for (k = 0; k < RP_CTR_COUNT; k++) {
        rp_stats_count(st, (rp_counter_t)k, 1000 + (uint64_t)k);
    }
    for (local = 1; local >= 0; local--) {
        memset(&o, 0, sizeof(o));
        o.cache_configured = 1;
        o.servers = servers;
        o.n_servers = 2;
        o.local_configured = local;
        o.local_bytes_used = 4321;
        o.local_bytes_total = 8388608;
        o.local_entries = 77;
        r = rp_report_build(pool, st, RP_SORT_TIME, 1700000005000000LL,
                            5001000);
        render_all(r, &o, &out);
        assert_int_equal(check_tables(&out, local),
                         RP_CTR_COUNT + RP_GAUGE_COUNT);
        /* the gauges carry what the cache said */
        assert_int_equal(json_integer_value(json_at(out.json,
                                                    "/cache/local/entries")), 77);
        assert_int_equal(json_integer_value(json_at(out.json,
                                                    "/cache/servers_up")), 1);
        assert_int_equal(json_integer_value(json_at(out.json, "/uptime_s")), 5);
        assert_int_equal(json_integer_value(json_at(out.json, "/requests")),
                         1000);
        /* mod_status's keys older than the tables keep their names */
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfRequests: 1000"));
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfSlowRequests: 1001"));
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfRoutes: 0"));
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfP95Us: 0"));
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfP99Us: 0"));
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfCacheHits: 1004"));
        assert_true(has_line(out.text[O_ST_AUTO], "ReqPerfCacheMisses: 1005"));
        json_decref(out.json);
    }
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_every_row_in_every_output),
    };

    apr_initialize();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
