/*
 * rp_http.c: the header grammars the cache reads (see rp_http.h).
 *
 * Header values here come from clients and backends alike, so every scanner
 * walks the string once, bounded by its length, and counts what it keeps; none
 * allocates per input byte. What the values mean for the cache is decided in
 * rp_rules.c, not here.
 */
#include <limits.h>
#include <string.h>

#include <apr_strings.h>

#include "rp_glob.h"
#include "rp_http.h"
#include "rp_util.h"

/* ---- lists ---- */

/*
 * The next item of a comma-separated header list at *s: spaces, tabs and
 * empty items skipped, then the bytes up to the next ',' (for a list of
 * words, up to a space or tab too), trailing spaces trimmed. Returns its
 * start with its length in *len and moves *s past it; NULL at the end.
 */
static const char *list_item(const char **s, int words, size_t *len)
{
    const char *p = *s, *start, *end;

    while (rp_is_ows(*p) || *p == ',') {
        p++;
    }
    if (*p == '\0') {
        *s = p;
        return NULL;
    }
    start = p;
    while (*p != '\0' && *p != ',' && !(words && rp_is_ows(*p))) {
        p++;
    }
    end = p;
    while (end > start && rp_is_ows(end[-1])) {
        end--;
    }
    *s = p;
    *len = (size_t)(end - start);
    return start;
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

        while (rp_is_ows(*s) || *s == ',') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        if (++count > RP_CC_MAX_DIRECTIVES) {
            cc->invalid = 1;            /* but read on: "private" may follow */
        }
        name = s;
        while (*s != '\0' && *s != '=' && *s != ',' && *s != '"' && !rp_is_ows(*s)) {
            s++;
        }
        nlen = (size_t)(s - name);
        if (!rp_is_token(name, nlen)) {
            cc->invalid = 1;
        }
        s = rp_skip_ows(s);
        if (*s == '=') {
            s++;
            s = rp_skip_ows(s);
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
                while (*s != '\0' && *s != ',' && !rp_is_ows(*s)) {
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
        s = rp_skip_ows(s);
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
    str = rp_skip_ows(str);
    len = strnlen(str, 64);
    if (str[len] != '\0') {
        return -1;  /* longer than any date with some spaces around it */
    }
    while (len > 0 && rp_is_ows(str[len - 1])) {
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

/* ---- Age ---- */

int64_t rp_age_parse(const char *value)
{
    size_t len;

    if (value == NULL) {
        return 0;
    }
    value = rp_skip_ows(value);
    len = strlen(value);
    while (len > 0 && rp_is_ows(value[len - 1])) {
        len--;
    }
    return parse_delta(value, len, 1);
}


/* ---- Vary ---- */

void rp_vary_init(rp_vary_t *v)
{
    v->n = 0;
    v->has_private = 0;
    v->rc = RP_VARY_OK;
}

/*
 * Walks a Vary list once, adding distinct names (case-insensitively) to
 * v->names. Stops at the first "*", non-token item or name beyond the limit.
 * Work is bounded by length times RP_VARY_MAX_NAMES.
 */
void rp_vary_read(rp_vary_t *v, const char *vary)
{
    const char *s = vary, *start;
    size_t len;

    if (s == NULL || v->rc != RP_VARY_OK) {
        return;
    }

    while ((start = list_item(&s, 0, &len)) != NULL) {
        int i, dup = 0;

        if (len == 1 && *start == '*') {
            v->rc = RP_VARY_STAR;
            return;
        }
        if (!rp_is_token(start, len)) {
            v->rc = RP_VARY_INVALID;
            return;
        }
        if (rp_span_ieq(start, len, "cookie") || rp_span_ieq(start, len, "authorization")) {
            v->has_private = 1;
        }
        for (i = 0; i < v->n && !dup; i++) {
            dup = v->names[i].len == len && rp_mem_ieq(v->names[i].s, start, len);
        }
        if (dup) {
            continue;
        }
        if (v->n == RP_VARY_MAX_NAMES) {
            v->rc = RP_VARY_TOO_MANY;
            return;
        }
        v->names[v->n].s = start;
        v->names[v->n].len = len;
        v->n++;
    }
}

int rp_vary_names(apr_pool_t *p, const rp_vary_t *v, const char ***names)
{
    const char **out;
    int i, j;

    *names = NULL;
    if (v->rc != RP_VARY_OK) {
        return -1;
    }
    if (v->n == 0) {
        return 0;
    }
    out = apr_palloc(p, (size_t)(v->n + 1) * sizeof(*out));
    for (i = 0; i < v->n; i++) {
        char *name = apr_pstrmemdup(p, v->names[i].s, v->names[i].len);
        size_t k;

        for (k = 0; k < v->names[i].len; k++) {
            name[k] = (char)rp_ascii_lower((unsigned char)name[k]);
        }
        /* Insertion sort as we go: at most 16 names. */
        for (j = i; j > 0 && strcmp(out[j - 1], name) > 0; j--) {
            out[j] = out[j - 1];
        }
        out[j] = name;
    }
    out[v->n] = NULL;
    *names = out;
    return v->n;
}

int rp_vary_parse(apr_pool_t *p, const char *vary, const char ***names)
{
    rp_vary_t v;

    rp_vary_init(&v);
    rp_vary_read(&v, vary);
    return rp_vary_names(p, &v, names);
}

/* ---- Connection ---- */

int rp_connection_names_a_header(const char *value)
{
    static const char *const own[] = { "close", "keep-alive", "upgrade", "te",
                                       "http2-settings" };
    const char *s = value, *start;
    size_t len, i;

    if (s == NULL) {
        return 0;
    }

    while ((start = list_item(&s, 1, &len)) != NULL) {
        int known = 0;

        for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
            known |= rp_span_ieq(start, len, own[i]);
        }
        if (!known) {
            return 1;
        }
    }
    return 0;
}

/* ---- cookies ---- */

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

/* The next ';' piece of a Cookie header at *s, without the white space
 * around it, in [*start, *end); *s moves past it.  0 at the end. */
static int next_cookie(const char **s, const char **start, const char **end)
{
    const char *p = *s, *e;

    while (rp_is_ows(*p) || *p == ';') {
        p++;
    }
    if (*p == '\0') {
        *s = p;
        return 0;
    }
    *start = p;
    while (*p != '\0' && *p != ';') {
        p++;
    }
    *s = p;
    e = p;
    while (e > *start && rp_is_ows(e[-1])) {
        e--;
    }
    *end = e;
    return 1;
}

int rp_cookie_personal_names(const char *cookie_header, const char *const *ignore,
                             int n_ignore, rp_substr_t *names, int max)
{
    const char *s = cookie_header, *start, *end, *eq;
    int pieces = 0, found = 0;

    if (s == NULL) {
        return 0;
    }
    if (ignore == NULL) {
        n_ignore = 0;
    }
    while (next_cookie(&s, &start, &end)) {
        if (++pieces > RP_COOKIE_MAX_PIECES) {
            return -1;
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
    return found;
}

int rp_cookie_values(const char *cookie_header, rp_substr_t *vals, int max)
{
    const char *s = cookie_header, *start, *end, *eq;
    int n = 0;

    if (s == NULL || vals == NULL) {
        return 0;
    }
    while (n < max && next_cookie(&s, &start, &end)) {
        eq = memchr(start, '=', (size_t)(end - start));
        if (eq == NULL) {
            continue;
        }
        start = eq + 1;
        if (end - start >= 2 && start[0] == '"' && end[-1] == '"') {
            start++;
            end--;
        }
        vals[n].s = start;
        vals[n].len = (size_t)(end - start);
        n++;
    }
    return n;
}

int rp_cookie_is_personal(const char *cookie_header, const char *const *ignore, int n_ignore)
{
    return rp_cookie_personal_names(cookie_header, ignore, n_ignore, NULL, 0) != 0;
}

/* ---- tags ---- */

int rp_tag_ok(const char *tag, size_t len)
{
    size_t i;

    if (len == 0 || len > RP_ENTRY_MAX_TAG_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!rp_is_vchar((unsigned char)tag[i]) || tag[i] == ',') {
            return 0;
        }
    }
    return 1;
}

int rp_tags_parse(apr_pool_t *p, const char *header, const char ***tags, int *dropped)
{
    rp_substr_t kept[RP_ENTRY_MAX_TAGS];
    const char *s = header, *start;
    const char **out;
    size_t len;
    int n = 0, lost = 0, i;

    *tags = NULL;
    if (dropped != NULL) {
        *dropped = 0;
    }
    if (s == NULL) {
        return 0;
    }

    while ((start = list_item(&s, 1, &len)) != NULL) {
        int ok, dup = 0;

        ok = rp_tag_ok(start, len);
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

