/*
 * rp_rules.c: storability, freshness and bypass rules (see rp_rules.h).
 *
 * Header values here come from clients and backends alike, so every scanner
 * walks the string once, bounded by its length, and counts what it keeps; none
 * allocates per input byte. Where RFC 9111 leaves a choice, the choice that
 * caches less was taken, and the header says which.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "rp_glob.h"
#include "rp_rules.h"
#include "rp_util.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- Cache-Control ---- */

/* Skips a quoted string starting at the opening quote; returns just past its
 * end, or at the NUL when it is not closed (then *open, if given, is set). */
static const char *skip_quoted_ex(const char *s, int *open)
{
    s++;
    while (*s != '\0' && *s != '"') {
        s += (s[0] == '\\' && s[1] != '\0') ? 2 : 1;
    }
    if (*s == '"') {
        return s + 1;
    }
    if (open != NULL) {
        *open = 1;
    }
    return s;
}

static const char *skip_quoted(const char *s)
{
    return skip_quoted_ex(s, NULL);
}

/*
 * Delta-seconds of max-age / s-maxage. Missing, empty, signed, escaped or
 * otherwise non-digit values give 0, so a response we cannot read is never
 * fresh for longer than it meant.
 */
static int64_t parse_delta(const char *v, size_t len, int has_value)
{
    int64_t n = 0;
    size_t i;

    if (!has_value || len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return 0;
        }
        if (n <= RP_MAX_FRESHNESS_S) {
            n = n * 10 + (v[i] - '0');
        }
    }
    return n > RP_MAX_FRESHNESS_S ? RP_MAX_FRESHNESS_S : n;
}

static void set_delta(int64_t *field, int64_t v)
{
    /* Repeated directives: RFC 9111 4.2.1 allows treating them as stale; keep the smallest. */
    if (*field < 0 || v < *field) {
        *field = v;
    }
}

void rp_cc_parse(const char *value, rp_cc_t *cc)
{
    const char *s = value;
    int count = 0;

    memset(cc, 0, sizeof(*cc));
    cc->max_age = -1;
    cc->s_maxage = -1;
    cc->stale_while_revalidate = -1;
    cc->stale_if_error = -1;
    if (s == NULL) {
        return;
    }
    for (;;) {
        const char *name, *val = NULL;
        size_t nlen, vlen = 0;
        int has_value = 0;

        while (is_ows(*s) || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        if (++count > RP_CC_MAX_DIRECTIVES) {
            cc->invalid = 1;            /* but read on: "private" may follow */
        }
        name = s;
        while (*s != '\0' && *s != '=' && *s != ',' && *s != '"' && !is_ows(*s)) {
            s++;
        }
        nlen = (size_t)(s - name);
        if (!rp_is_token(name, nlen)) {
            cc->invalid = 1;
        }
        while (is_ows(*s)) {
            s++;
        }
        if (*s == '=') {
            s++;
            while (is_ows(*s)) {
                s++;
            }
            has_value = 1;
            if (*s == '"') {
                int open = 0;
                const char *end = skip_quoted_ex(s, &open);

                if (open) {
                    cc->invalid = 1;    /* unterminated */
                }
                val = s + 1;
                vlen = (size_t)(end - val);
                if (!open && vlen > 0) {
                    vlen--;             /* the closing quote */
                }
                s = end;
            }
            else {
                val = s;
                while (*s != '\0' && *s != ',' && !is_ows(*s)) {
                    s++;
                }
                vlen = (size_t)(s - val);
                if (!rp_is_token(val, vlen)) {
                    cc->invalid = 1;    /* "max-age=" or a stray '"' */
                }
            }
        }
        /* Only spaces may come before the next comma: "public private"
         * is invalid, and its second word is read as a directive too, so
         * junk never hides one. */
        while (is_ows(*s)) {
            s++;
        }
        if (*s != '\0' && *s != ',') {
            cc->invalid = 1;
            if (*s == '"') {
                s = skip_quoted(s);     /* the only byte a name cannot start */
            }
        }

        if (rp_span_ieq(name, nlen, "no-store")) {
            cc->no_store = 1;
        }
        else if (rp_span_ieq(name, nlen, "no-cache")) {
            cc->no_cache = 1;   /* no-cache="field" too: we do not strip fields */
        }
        else if (rp_span_ieq(name, nlen, "private")) {
            cc->private_ = 1;   /* private="field" too */
        }
        else if (rp_span_ieq(name, nlen, "public")) {
            cc->public_ = 1;
        }
        else if (rp_span_ieq(name, nlen, "must-revalidate")
                 || rp_span_ieq(name, nlen, "proxy-revalidate")) {
            /* for a shared cache proxy-revalidate means the same */
            cc->must_revalidate = 1;
        }
        else if (rp_span_ieq(name, nlen, "max-age")) {
            set_delta(&cc->max_age, parse_delta(val, vlen, has_value));
        }
        else if (rp_span_ieq(name, nlen, "s-maxage")) {
            set_delta(&cc->s_maxage, parse_delta(val, vlen, has_value));
        }
        else if (rp_span_ieq(name, nlen, "stale-while-revalidate")) {
            set_delta(&cc->stale_while_revalidate, parse_delta(val, vlen, has_value));
        }
        else if (rp_span_ieq(name, nlen, "stale-if-error")) {
            set_delta(&cc->stale_if_error, parse_delta(val, vlen, has_value));
        }
    }
}

/* ---- HTTP dates ---- */

static const char *const rp_day_short[7] = {
    "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};
static const char *const rp_day_long[7] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
};
static const char *const rp_month_name[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static int word_in(const char *s, size_t len, const char *const *words, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0) {
            return i;
        }
    }
    return -1;
}

static int read_digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "HH:MM:SS" at s (8 bytes present). */
static int read_time(const char *s, int *h, int *m, int *sec)
{
    if (s[2] != ':' || s[5] != ':' || read_digits(s, 2, h) < 0
        || read_digits(s + 3, 2, m) < 0 || read_digits(s + 6, 2, sec) < 0) {
        return -1;
    }
    return (*h <= 23 && *m <= 59 && *sec <= 60) ? 0 : -1;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return days[month - 1] + (month == 2 && leap);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (year >= 1970). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t make_time(int year, int month, int day, int h, int m, int s)
{
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        return -1;
    }
    if (year < 1970) {
        return 0;
    }
    return days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s;
}

int64_t rp_http_date_parse(const char *str)
{
    const char *s, *comma;
    size_t len;
    int year, month, day, h, m, sec, dn;

    if (str == NULL) {
        return -1;
    }
    while (is_ows(*str)) {
        str++;
    }
    len = strnlen(str, 64);
    if (str[len] != '\0') {
        return -1;  /* longer than any date with some spaces around it */
    }
    while (len > 0 && is_ows(str[len - 1])) {
        len--;
    }
    s = str;
    if (len == 29 && s[3] == ',') {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (word_in(s, 3, rp_day_short, 7) < 0 || s[4] != ' ' || s[7] != ' '
            || s[11] != ' ' || s[16] != ' ' || memcmp(s + 25, " GMT", 4) != 0
            || read_digits(s + 5, 2, &day) < 0 || read_digits(s + 12, 4, &year) < 0
            || read_time(s + 17, &h, &m, &sec) < 0
            || (month = word_in(s + 8, 3, rp_month_name, 12)) < 0) {
            return -1;
        }
        return make_time(year, month + 1, day, h, m, sec);
    }
    if (len == 24 && s[3] == ' ') {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (word_in(s, 3, rp_day_short, 7) < 0 || s[7] != ' ' || s[10] != ' '
            || s[19] != ' ' || (month = word_in(s + 4, 3, rp_month_name, 12)) < 0
            || read_time(s + 11, &h, &m, &sec) < 0 || read_digits(s + 20, 4, &year) < 0) {
            return -1;
        }
        if (s[8] == ' ') {
            if (read_digits(s + 9, 1, &day) < 0) {
                return -1;
            }
        }
        else if (read_digits(s + 8, 2, &day) < 0) {
            return -1;
        }
        return make_time(year, month + 1, day, h, m, sec);
    }
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    comma = memchr(s, ',', len);
    if (comma == NULL || (dn = word_in(s, (size_t)(comma - s), rp_day_long, 7)) < 0) {
        return -1;
    }
    s = comma + 1;
    len -= (size_t)(s - str);
    if (len != 23 || s[0] != ' ' || s[3] != '-' || s[7] != '-' || s[10] != ' '
        || memcmp(s + 19, " GMT", 4) != 0 || read_digits(s + 1, 2, &day) < 0
        || (month = word_in(s + 4, 3, rp_month_name, 12)) < 0
        || read_digits(s + 8, 2, &year) < 0 || read_time(s + 11, &h, &m, &sec) < 0) {
        return -1;
    }
    year += year < 70 ? 2000 : 1900;
    return make_time(year, month + 1, day, h, m, sec);
}

/* ---- freshness and storability ---- */

static int64_t clamp_fresh(int64_t v)
{
    if (v < 0) {
        return 0;
    }
    return v > RP_MAX_FRESHNESS_S ? RP_MAX_FRESHNESS_S : v;
}

int64_t rp_freshness_s(const rp_cc_t *cc, const char *expires, const char *date,
               int64_t now_s, int64_t default_ttl_s)
{
    if (cc != NULL && cc->s_maxage >= 0) {
        return clamp_fresh(cc->s_maxage);
    }
    if (cc != NULL && cc->max_age >= 0) {
        return clamp_fresh(cc->max_age);
    }
    if (expires != NULL) {
        int64_t exp = rp_http_date_parse(expires);
        int64_t base = rp_http_date_parse(date);

        if (exp < 0) {
            return 0;   /* "Expires: 0" and other junk mean "already expired" */
        }
        return clamp_fresh(exp - (base >= 0 ? base : now_s));
    }
    return clamp_fresh(default_ttl_s);
}

enum { RP_VARY_OK = 0, RP_VARY_STAR = -1, RP_VARY_INVALID = -2, RP_VARY_TOO_MANY = -3 };

/*
 * Walks a Vary list once, collecting distinct names (case-insensitively) into
 * names[]. Stops at the first "*", non-token item or name beyond the limit. Sets
 * *has_private when Cookie or Authorization was seen before stopping. Work is
 * bounded by length times RP_VARY_MAX_NAMES.
 */
static int vary_scan(const char *vary, rp_substr_t names[RP_VARY_MAX_NAMES], int *n, int *has_private)
{
    const char *s = vary;

    *n = 0;
    *has_private = 0;
    if (s == NULL) {
        return RP_VARY_OK;
    }
    while (*s != '\0') {
        const char *start, *end;
        size_t len;
        int i, dup = 0;

        while (is_ows(*s) || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        start = s;
        while (*s != '\0' && *s != ',') {
            s++;
        }
        end = s;
        while (end > start && is_ows(end[-1])) {
            end--;
        }
        len = (size_t)(end - start);
        if (len == 1 && *start == '*') {
            return RP_VARY_STAR;
        }
        if (!rp_is_token(start, len)) {
            return RP_VARY_INVALID;
        }
        if (rp_span_ieq(start, len, "cookie") || rp_span_ieq(start, len, "authorization")) {
            *has_private = 1;
        }
        for (i = 0; i < *n && !dup; i++) {
            dup = names[i].len == len && rp_mem_ieq(names[i].s, start, len);
        }
        if (dup) {
            continue;
        }
        if (*n == RP_VARY_MAX_NAMES) {
            return RP_VARY_TOO_MANY;
        }
        names[*n].s = start;
        names[*n].len = len;
        (*n)++;
    }
    return RP_VARY_OK;
}

int rp_vary_parse(apr_pool_t *p, const char *vary, const char ***names)
{
    rp_substr_t spans[RP_VARY_MAX_NAMES];
    const char **out;
    int n, has_private, i, j;

    *names = NULL;
    if (vary_scan(vary, spans, &n, &has_private) != RP_VARY_OK) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    out = apr_palloc(p, (size_t)(n + 1) * sizeof(*out));
    for (i = 0; i < n; i++) {
        char *name = apr_pstrmemdup(p, spans[i].s, spans[i].len);
        size_t k;

        for (k = 0; k < spans[i].len; k++) {
            name[k] = (char)rp_ascii_lower((unsigned char)name[k]);
        }
        /* Insertion sort as we go: at most 16 names. */
        for (j = i; j > 0 && strcmp(out[j - 1], name) > 0; j--) {
            out[j] = out[j - 1];
        }
        out[j] = name;
    }
    out[n] = NULL;
    *names = out;
    return n;
}

static int status_storable(int status)
{
    switch (status) {
    case 200: case 203: case 300: case 301: case 404: case 410:
        return 1;
    default:
        return 0;
    }
}

rp_nostore_t rp_response_storable(const rp_response_info_t *ri, int64_t now_s,
                     int64_t default_ttl_s, int64_t *fresh_s)
{
    rp_substr_t spans[RP_VARY_MAX_NAMES];
    rp_cc_t cc, pragma;
    int64_t fresh;
    int n, has_private, vrc;

    if (fresh_s != NULL) {
        *fresh_s = 0;
    }
    if (ri == NULL) {
        return RP_NOSTORE_STATUS;
    }
    if (ri->request_authenticated) {
        return RP_NOSTORE_AUTH;
    }
    if (ri->input_changed) {
        return RP_NOSTORE_INPUT_CHANGED;
    }
    if (ri->status == 206 || ri->has_content_range) {
        return RP_NOSTORE_PARTIAL;
    }
    if (!status_storable(ri->status)) {
        return RP_NOSTORE_STATUS;
    }
    if (ri->has_set_cookie) {
        return RP_NOSTORE_SET_COOKIE;
    }
    rp_cc_parse(ri->cache_control, &cc);
    rp_cc_parse(ri->pragma, &pragma);
    if (cc.private_) {
        return RP_NOSTORE_PRIVATE;
    }
    if (cc.no_store) {
        return RP_NOSTORE_NO_STORE;
    }
    if (cc.no_cache || pragma.no_cache) {
        return RP_NOSTORE_NO_CACHE;
    }
    if (cc.invalid) {
        return RP_NOSTORE_CC_INVALID;
    }
    vrc = vary_scan(ri->vary, spans, &n, &has_private);
    if (vrc == RP_VARY_STAR) {
        return RP_NOSTORE_VARY_STAR;
    }
    if (has_private) {
        return RP_NOSTORE_VARY_PRIVATE;
    }
    if (vrc != RP_VARY_OK) {
        return RP_NOSTORE_VARY_STAR;    /* cannot key on it: as good as "*" */
    }
    if (ri->incomplete) {
        return RP_NOSTORE_INCOMPLETE;
    }
    fresh = rp_freshness_s(&cc, ri->expires, ri->date, now_s, default_ttl_s);
    /* what an upstream cache already used of it (RFC 9111 4.2.3) */
    fresh = fresh > ri->age_s ? fresh - ri->age_s : 0;
    if (fresh_s != NULL) {
        *fresh_s = fresh;
    }
    if (fresh == 0) {
        int64_t grace, sie;

        rp_stale_windows(&cc, ri->grace_s, ri->stale_if_error_s, &grace, &sie);
        if (grace <= 0 && sie <= 0) {
            return RP_NOSTORE_EXPIRED;
        }
    }
    return RP_NOSTORE_NONE;
}

int64_t rp_age_parse(const char *value)
{
    size_t len;

    if (value == NULL) {
        return 0;
    }
    while (is_ows(*value)) {
        value++;
    }
    len = strlen(value);
    while (len > 0 && is_ows(value[len - 1])) {
        len--;
    }
    return parse_delta(value, len, 1);
}

void rp_stale_windows(const rp_cc_t *cc, int64_t conf_grace_s, int64_t conf_sie_s,
                      int64_t *grace_s, int64_t *sie_s)
{
    int forbid = cc->must_revalidate || cc->s_maxage >= 0;
    int64_t g = cc->stale_while_revalidate >= 0 ? cc->stale_while_revalidate : conf_grace_s;
    int64_t e = cc->stale_if_error >= 0 ? cc->stale_if_error : conf_sie_s;

    if (forbid) {
        g = 0;
        if (cc->stale_if_error < 0) {
            e = 0;
        }
    }
    *grace_s = clamp_fresh(g);
    *sie_s = clamp_fresh(e);
}

const char *rp_nostore_name(rp_nostore_t why)
{
    switch (why) {
    case RP_NOSTORE_NONE:          return "none";
    case RP_NOSTORE_STATUS:        return "status";
    case RP_NOSTORE_SET_COOKIE:    return "set-cookie";
    case RP_NOSTORE_PRIVATE:       return "private";
    case RP_NOSTORE_NO_STORE:      return "no-store";
    case RP_NOSTORE_NO_CACHE:      return "no-cache";
    case RP_NOSTORE_VARY_STAR:     return "vary-star";
    case RP_NOSTORE_VARY_PRIVATE:  return "vary-private";
    case RP_NOSTORE_PARTIAL:       return "partial";
    case RP_NOSTORE_EXPIRED:       return "expired";
    case RP_NOSTORE_CC_INVALID:    return "cache-control";
    case RP_NOSTORE_AUTH:          return "auth";
    case RP_NOSTORE_INPUT_CHANGED: return "input-changed";
    case RP_NOSTORE_INCOMPLETE:    return "incomplete";
    case RP_NOSTORE_TOO_LARGE:     return "too-large";
    case RP_NOSTORE_TAGS:          return "tags";
    case RP_NOSTORE_STREAM:        return "stream";
    }
    return "unknown";
}

int rp_nostore_is_about_the_page(rp_nostore_t why, int status)
{
    if (why == RP_NOSTORE_AUTH || why == RP_NOSTORE_INPUT_CHANGED
        || why == RP_NOSTORE_INCOMPLETE) {
        return 0;
    }
    if (status == 304 || (status >= 400 && status < 500 && status != 404 && status != 410)) {
        return 0;
    }
    return status >= 200;
}

/* ---- request side ---- */

/*
 * Headers that make a backend (or a framework in front of it) build another
 * page, another link or another method, and that are not part of our key:
 * forwarded host, scheme, port, prefix and client-chosen URLs and methods.
 * The client's IP (X-Forwarded-For, X-Real-IP) is not among them: every
 * request has one, mod_proxy appends the real one, and a page that depends
 * on it cannot be cached by any shared cache.
 */
static const char *const rp_override_headers[] = {
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Original-URL",
    "X-Rewrite-URL", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Port",
    "X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Uri", "X-Forwarded-Server",
    "X-Forwarded-Protocol", "X-Host", "X-Original-Host", "X-Original-URI",
    "X-Original-Path", "X-Url-Scheme", "X-Scheme", "Front-End-Https",
    "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
    "X-Envoy-Original-Path", "X-ProxyUser-Ip"
};
#define RP_N_OVERRIDE (sizeof(rp_override_headers) / sizeof(rp_override_headers[0]))

static int name_listed(const char *name, const char *const *list, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (list[i] != NULL && rp_str_ieq(list[i], name)) {
            return 1;
        }
    }
    return 0;
}

int rp_override_header(const char *name)
{
    return name != NULL && name_listed(name, rp_override_headers, (int)RP_N_OVERRIDE);
}

int rp_unkeyed_spelling(const char *name)
{
    size_t i, k;

    if (name == NULL || strchr(name, '_') == NULL) {
        return 0;
    }
    for (i = 0; i < RP_N_OVERRIDE; i++) {
        const char *u = rp_override_headers[i];
        for (k = 0; u[k] != '\0' && name[k] != '\0'; k++) {
            char c = name[k] == '_' ? '-' : name[k];
            if (rp_ascii_lower((unsigned char)c) != rp_ascii_lower((unsigned char)u[k])) {
                break;
            }
        }
        if (u[k] == '\0' && name[k] == '\0') {
            return 1;
        }
    }
    return 0;
}

/* Connection options a proxy consumes itself; any other token names a
 * header the proxy drops before the backend sees it. */
static int connection_names_a_header(const char *value)
{
    static const char *const own[] = { "close", "keep-alive", "upgrade", "te",
                                       "http2-settings" };
    const char *s = value;

    if (s == NULL) {
        return 0;
    }
    for (;;) {
        const char *start;
        size_t len, i;
        int known = 0;

        while (is_ows(*s) || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            return 0;
        }
        start = s;
        while (*s != '\0' && *s != ',' && !is_ows(*s)) {
            s++;
        }
        len = (size_t)(s - start);
        for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
            known |= rp_span_ieq(start, len, own[i]);
        }
        if (!known) {
            return 1;
        }
    }
}

/* A body the backend will read: Content-Length other than 0 (any spelling
 * of zero is zero), or any Transfer-Encoding. */
static int has_body(rp_header_get_fn get, void *baton)
{
    const char *cl = get(baton, "Content-Length");

    if (get(baton, "Transfer-Encoding") != NULL) {
        return 1;
    }
    if (cl == NULL) {
        return 0;
    }
    while (is_ows(*cl)) {
        cl++;
    }
    while (*cl == '0') {
        cl++;
    }
    while (is_ows(*cl)) {
        cl++;
    }
    return *cl != '\0';
}

/* The Host the client sent is exactly what Apache made of it: the
 * normalised name (brackets around an IPv6 literal), then ":port" only
 * when a port other than the scheme's default was named. */
static int host_is_canonical(const rp_request_t *rq)
{
    const char *raw = rq->get(rq->baton, "Host"), *h = rq->hostname;
    size_t hlen;
    int v6;
    char port[8];
    size_t plen = 0;

    if (raw == NULL || h == NULL || *h == '\0') {
        return 0;
    }
    if (rq->host_port != 0) {
        if (rq->host_port == rq->default_port || rq->host_port > 65535) {
            return 0;
        }
        plen = (size_t)snprintf(port, sizeof(port), "%u", rq->host_port);
    }
    hlen = strlen(h);
    v6 = memchr(h, ':', hlen) != NULL;
    if (v6) {
        if (raw[0] != '[' || strncmp(raw + 1, h, hlen) != 0 || raw[1 + hlen] != ']') {
            return 0;
        }
        raw += hlen + 2;
    }
    else {
        if (strncmp(raw, h, hlen) != 0) {
            return 0;
        }
        raw += hlen;
    }
    if (plen == 0) {
        return *raw == '\0';
    }
    return raw[0] == ':' && strncmp(raw + 1, port, plen) == 0 && raw[1 + plen] == '\0';
}

rp_bypass_t rp_request_verdict(const rp_request_t *rq, const rp_request_rules_t *rules,
                               int *refresh)
{
    const char *const *ignore_cookie = rules ? rules->ignore_cookie : NULL;
    const char *const *vary = rules ? rules->vary : NULL;
    int n_ignore_cookie = (rules && rules->ignore_cookie) ? rules->n_ignore_cookie : 0;
    int n_vary = (rules && rules->vary) ? rules->n_vary : 0;
    rp_header_get_fn get = rq ? rq->get : NULL;
    rp_cc_t cc, pragma;
    size_t i;
    int k;

    if (refresh != NULL) {
        *refresh = 0;
    }
    if (rq == NULL || rq->method == NULL
        || (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)) {
        return RP_BYPASS_METHOD;
    }
    if (get == NULL) {
        return RP_BYPASS_HOST;          /* no headers at all: no Host */
    }
    if (get(rq->baton, "Upgrade") != NULL) {
        return RP_BYPASS_METHOD;        /* a tunnel (WebSocket, h2c), not a page */
    }
    if (rq->authenticated || get(rq->baton, "Authorization") != NULL
        || get(rq->baton, "Proxy-Authorization") != NULL) {
        return RP_BYPASS_AUTHORIZATION;
    }
    if (rp_cookie_is_personal(get(rq->baton, "Cookie"), ignore_cookie, n_ignore_cookie)) {
        return RP_BYPASS_COOKIE;
    }
    if (has_body(get, rq->baton)) {
        return RP_BYPASS_BODY;
    }
    if (!host_is_canonical(rq)) {
        return RP_BYPASS_HOST;
    }
    for (i = 0; i < RP_N_OVERRIDE; i++) {
        if (get(rq->baton, rp_override_headers[i]) != NULL
            && !name_listed(rp_override_headers[i], vary, n_vary)) {
            return RP_BYPASS_UNKEYED_HEADER;
        }
    }
    for (k = 0; rq->names != NULL && k < rq->n_names; k++) {
        if (rq->names[k] != NULL && strchr(rq->names[k], '_') != NULL) {
            return RP_BYPASS_UNKEYED_HEADER;
        }
    }
    if (connection_names_a_header(get(rq->baton, "Connection"))) {
        return RP_BYPASS_UNKEYED_HEADER;
    }
    if (get(rq->baton, "Range") != NULL || get(rq->baton, "If-Range") != NULL) {
        return RP_BYPASS_RANGE;         /* before no-cache: never a refresh */
    }
    rp_cc_parse(get(rq->baton, "Cache-Control"), &cc);
    rp_cc_parse(get(rq->baton, "Pragma"), &pragma);
    if (cc.no_cache || pragma.no_cache) {
        if (refresh != NULL) {
            *refresh = 1;
        }
        return RP_BYPASS_NO_CACHE;
    }
    if (cc.invalid) {
        return RP_BYPASS_NO_CACHE;      /* we cannot tell what it asked */
    }
    return RP_BYPASS_NONE;
}

const char *rp_bypass_name(rp_bypass_t why)
{
    switch (why) {
    case RP_BYPASS_NONE:           return "none";
    case RP_BYPASS_METHOD:         return "method";
    case RP_BYPASS_AUTHORIZATION:  return "auth";
    case RP_BYPASS_COOKIE:         return "cookie";
    case RP_BYPASS_NO_CACHE:       return "no-cache";
    case RP_BYPASS_UNKEYED_HEADER: return "unkeyed-header";
    case RP_BYPASS_RANGE:          return "range";
    case RP_BYPASS_BODY:           return "body";
    case RP_BYPASS_HOST:           return "host";
    }
    return "unknown";
}

static int cookie_ignored(const char *name, size_t len, const char *const *ignore, int n_ignore)
{
    int i;

    for (i = 0; i < n_ignore; i++) {
        if (rp_glob_match(ignore[i], name, len)) {
            return 1;
        }
    }
    return 0;
}

/* RFC 6265 cookie-octet: visible ASCII but '"', ',', ';' and '\\'. */
static int cookie_octet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

static int cookie_value_ok(const char *v, size_t len)
{
    size_t i;

    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    for (i = 0; i < len; i++) {
        if (!cookie_octet((unsigned char)v[i])) {
            return 0;
        }
    }
    return 1;
}

int rp_cookie_personal_names(const char *cookie_header, const char *const *ignore,
                             int n_ignore, rp_substr_t *names, int max)
{
    const char *s = cookie_header;
    int pieces = 0, found = 0;

    if (s == NULL) {
        return 0;
    }
    if (ignore == NULL) {
        n_ignore = 0;
    }
    for (;;) {
        const char *start, *end, *eq;

        while (is_ows(*s) || *s == ';') {
            s++;
        }
        if (*s == '\0') {
            return found;
        }
        if (++pieces > RP_COOKIE_MAX_PIECES) {
            return -1;
        }
        start = s;
        while (*s != '\0' && *s != ';') {
            s++;
        }
        end = s;
        while (end > start && is_ows(end[-1])) {
            end--;
        }
        eq = memchr(start, '=', (size_t)(end - start));
        if (eq == NULL || !rp_is_token(start, (size_t)(eq - start))
            || !cookie_value_ok(eq + 1, (size_t)(end - eq - 1))) {
            return -1;
        }
        if (!cookie_ignored(start, (size_t)(eq - start), ignore, n_ignore)) {
            if (found < max && names != NULL) {
                names[found].s = start;
                names[found].len = (size_t)(eq - start);
            }
            found++;
            if (max <= 0 || names == NULL) {
                return found;           /* only "is it personal?" was asked */
            }
        }
    }
}

int rp_cookie_is_personal(const char *cookie_header, const char *const *ignore, int n_ignore)
{
    return rp_cookie_personal_names(cookie_header, ignore, n_ignore, NULL, 0) != 0;
}

int rp_tags_parse(apr_pool_t *p, const char *header, const char ***tags, int *dropped)
{
    rp_substr_t kept[RP_ENTRY_MAX_TAGS];
    const char *s = header;
    const char **out;
    int n = 0, lost = 0, i;

    *tags = NULL;
    if (dropped != NULL) {
        *dropped = 0;
    }
    if (s == NULL) {
        return 0;
    }
    for (;;) {
        const char *start;
        size_t len, k;
        int ok = 1, dup = 0;

        while (is_ows(*s) || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        start = s;
        while (*s != '\0' && *s != ',' && !is_ows(*s)) {
            s++;
        }
        len = (size_t)(s - start);
        if (len > RP_ENTRY_MAX_TAG_LEN) {
            ok = 0;
        }
        for (k = 0; ok && k < len; k++) {
            ok = rp_is_vchar((unsigned char)start[k]);
        }
        for (i = 0; ok && i < n && !dup; i++) {
            dup = kept[i].len == len && memcmp(kept[i].s, start, len) == 0;
        }
        if (dup) {
            continue;
        }
        if (!ok || n == RP_ENTRY_MAX_TAGS) {
            if (lost < INT_MAX) {
                lost++;
            }
            continue;
        }
        kept[n].s = start;
        kept[n].len = len;
        n++;
    }
    if (dropped != NULL) {
        *dropped = lost;
    }
    if (n == 0) {
        return 0;
    }
    out = apr_palloc(p, (size_t)(n + 1) * sizeof(*out));
    for (i = 0; i < n; i++) {
        out[i] = apr_pstrmemdup(p, kept[i].s, kept[i].len);
    }
    out[n] = NULL;
    *tags = out;
    return n;
}
