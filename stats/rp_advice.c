/*
 * rp_advice.c: the cache advisor's counters and its record of recently seen
 * keys (see rp_advice.h for what is counted, the record's size and error,
 * and who writes what).
 */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "rp_advice.h"

const rp_advice_reason_info_t rp_advice_reason_info[RP_ADV_N_REASONS] = {
#define RP_ADV_R_INFO(id, json, side, phrase, named) \
    { json, RP_ADV_SIDE_##side, phrase, named },
    RP_ADVICE_REASONS(RP_ADV_R_INFO)
#undef RP_ADV_R_INFO
};

const char *const rp_advice_outcome_name[RP_ADV_N_OUTCOMES] = {
#define RP_ADV_OUT_NAME(id, json, help) json,
    RP_ADVICE_OUTCOMES(RP_ADV_OUT_NAME)
#undef RP_ADV_OUT_NAME
};

const char *const rp_advice_outcome_help[RP_ADV_N_OUTCOMES] = {
#define RP_ADV_OUT_HELP(id, json, help) help,
    RP_ADVICE_OUTCOMES(RP_ADV_OUT_HELP)
#undef RP_ADV_OUT_HELP
};

uint32_t rp_advice_tables_for(uint32_t rec_cap)
{
    return rec_cap < RP_ADVICE_TABLES_MAX ? rec_cap : RP_ADVICE_TABLES_MAX;
}

uint64_t rp_advice_key_hash(const char *key, size_t len)
{
    uint64_t h = XXH3_64bits(key, len);

    return h ? h : 1;
}

void rp_advice_sample_init(rp_advice_sample_t *s, unsigned mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->lookup_reason = RP_ADV_R_NONE;
    s->store_reason = RP_ADV_R_NONE;
}

void rp_advice_sample_name(rp_advice_sample_t *s, int reason, const char *name,
                           size_t len)
{
    if (s->n_found >= RP_ADVICE_SAMPLE_NAMES || name == NULL || len == 0) {
        return;
    }
    s->found[s->n_found].reason = reason;
    s->found[s->n_found].s = name;
    s->found[s->n_found].len = len;
    s->n_found++;
}

/* ---------------------------------------------------------------- */
/* the record of recently seen keys                                  */

/* A word: fingerprint (31 bits) | used since it was written (1 bit) |
 * fresh until (32 bits, Unix seconds). */
#define USED_BIT (1ULL << 32)

static uint32_t fingerprint(uint64_t key)
{
    uint32_t fp = (uint32_t)(key >> 33);

    return fp ? fp : 1;                /* 0 is an empty word */
}

static uint32_t fp_of(uint64_t w)
{
    return (uint32_t)(w >> 33);
}

static uint64_t *set_of(rp_advice_keys_t *t, uint64_t key)
{
    return &t->w[(key & (RP_ADVICE_SETS - 1)) * RP_ADVICE_WAYS];
}

static uint32_t until_of(uint64_t w)
{
    return (uint32_t)w;
}

static uint32_t clamp_s(int64_t s)
{
    return s <= 0 ? 0 : s >= (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

int rp_advice_probe(rp_advice_keys_t *t, uint64_t key, int64_t now_s)
{
    uint64_t *set = set_of(t, key);
    uint32_t fp = fingerprint(key);
    int i;

    for (i = 0; i < RP_ADVICE_WAYS; i++) {
        uint64_t w = __atomic_load_n(&set[i], __ATOMIC_RELAXED);
        if (fp_of(w) == fp) {
            if ((int64_t)until_of(w) <= now_s) {
                return 0;
            }
            if (!(w & USED_BIT)) {
                /* a second chance when room is made (CLOCK): a key in use
                 * outlives a flood of keys seen once */
                __atomic_fetch_or(&set[i], USED_BIT, __ATOMIC_RELAXED);
            }
            return 1;
        }
    }
    return 0;
}

int rp_advice_put(rp_advice_keys_t *t, uint64_t key, int64_t until_s,
                  int64_t now_s)
{
    uint64_t *set = set_of(t, key);
    uint32_t fp = fingerprint(key);
    uint64_t word = ((uint64_t)fp << 33) | clamp_s(until_s);
    int tries, i;

    for (tries = 0; tries < 4; tries++) {
        /* its own word, else an empty one, else an expired one, else the
         * fresh one expiring soonest among those not used since written,
         * else (all used) the one expiring soonest, the others losing
         * their mark */
        int pick = -1, rank = 5;
        uint64_t old = 0;

        for (i = 0; i < RP_ADVICE_WAYS; i++) {
            uint64_t w = __atomic_load_n(&set[i], __ATOMIC_RELAXED);
            int r = fp_of(w) == fp ? 0
                    : w == 0 ? 1
                    : (int64_t)until_of(w) <= now_s ? 2
                    : (w & USED_BIT) ? 4 : 3;
            if (r < rank || (r == rank && r >= 3
                             && until_of(w) < until_of(old))) {
                pick = i;
                rank = r;
                old = w;
                if (r == 0) {
                    break;
                }
            }
        }
        if (rank == 4) {
            for (i = 0; i < RP_ADVICE_WAYS; i++) {
                if (i != pick) {
                    __atomic_fetch_and(&set[i], ~USED_BIT, __ATOMIC_RELAXED);
                }
            }
        }
        if (__atomic_compare_exchange_n(&set[pick], &old, word, 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            return rank >= 3;
        }
    }
    return 0;                          /* others kept writing this set */
}

uint32_t rp_advice_fresh_keys(const rp_advice_keys_t *t, int64_t now_s)
{
    uint32_t n = 0, i;

    for (i = 0; i < RP_ADVICE_KEYS; i++) {
        uint64_t w = __atomic_load_n(&t->w[i], __ATOMIC_RELAXED);
        n += w != 0 && (int64_t)until_of(w) > now_s;
    }
    return n;
}

rp_advice_keys_t *rp_advice_table(const rp_advice_pool_t *pool,
                                  rp_advice_rec_t *rec)
{
    uint32_t state = __atomic_load_n(&rec->table_state, __ATOMIC_ACQUIRE);
    uint32_t n;
    int spins;

    if (state == RP_ADV_FREE
        && __atomic_compare_exchange_n(&rec->table_state, &state,
                                       RP_ADV_CLAIMING, 0, __ATOMIC_ACQUIRE,
                                       __ATOMIC_ACQUIRE)) {
        n = __atomic_fetch_add(pool->used, 1, __ATOMIC_RELAXED);
        if (n >= pool->n_tables) {
            __atomic_store_n(&rec->table_state, RP_ADV_NO_TABLE,
                             __ATOMIC_RELEASE);
            return NULL;
        }
        /* (a table is zeroed when claimed: the pages of tables never
         * claimed are never touched) */
        memset(&pool->tables[n], 0, sizeof(pool->tables[n]));
        rec->table = n;
        __atomic_store_n(&rec->table_state, RP_ADV_READY, __ATOMIC_RELEASE);
        return &pool->tables[n];
    }
    /* another thread is zeroing it: a few microseconds */
    for (spins = 0; state == RP_ADV_CLAIMING && spins < 4096; spins++) {
        state = __atomic_load_n(&rec->table_state, __ATOMIC_ACQUIRE);
    }
    return state == RP_ADV_READY && rec->table < pool->n_tables
           ? &pool->tables[rec->table] : NULL;
}

/* ---------------------------------------------------------------- */
/* counting                                                          */

static void add(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* A name as kept: visible ASCII (other bytes become '?'), cut. */
static size_t clean_name(const char *s, size_t len, char *out)
{
    size_t i;

    if (len > RP_ADVICE_NAME_MAX) {
        len = RP_ADVICE_NAME_MAX;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x21 && c <= 0x7e ? (char)c : '?';
    }
    return len;
}

static void count_name(rp_advice_rec_t *rec, int reason, const char *s,
                       size_t len)
{
    char name[RP_ADVICE_NAME_MAX];
    int k;

    len = clean_name(s, len, name);
    for (k = 0; k < RP_ADVICE_NAMES; k++) {
        rp_advice_name_t *slot = &rec->names[k];
        uint32_t state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);

        if (state == RP_ADV_FREE
            && __atomic_compare_exchange_n(&slot->state, &state,
                                           RP_ADV_CLAIMING, 0,
                                           __ATOMIC_ACQUIRE,
                                           __ATOMIC_ACQUIRE)) {
            slot->reason = (uint16_t)reason;
            slot->len = (uint16_t)len;
            memcpy(slot->name, name, len);
            __atomic_store_n(&slot->state, RP_ADV_READY, __ATOMIC_RELEASE);
            add(&slot->count, 1);
            return;
        }
        /* (CLAIMING by someone else: passed by, as in rp_stats.c) */
        if (state == RP_ADV_READY && slot->reason == reason
            && slot->len == len && memcmp(slot->name, name, len) == 0) {
            add(&slot->count, 1);
            return;
        }
    }
    /* every slot taken: counted under the reason alone */
}

static void count_reason(rp_advice_rec_t *rec, const rp_advice_sample_t *s,
                         int reason)
{
    int i;

    if (reason < 0 || reason >= RP_ADV_N_REASONS) {
        return;
    }
    add(&rec->n[RP_ADV_REASON_IDX(reason)], 1);
    for (i = 0; i < s->n_found; i++) {
        if (s->found[i].reason == reason) {
            count_name(rec, reason, s->found[i].s, s->found[i].len);
        }
    }
}

void rp_advice_record(const rp_advice_pool_t *pool, rp_advice_rec_t *rec,
                      rp_advice_rec_t *keys_rec, const rp_advice_sample_t *s)
{
    rp_advice_keys_t *t = NULL;
    int hit = 0;

    if (rec == NULL || s == NULL) {
        return;
    }
    __atomic_fetch_or(&rec->modes, s->mode, __ATOMIC_RELAXED);
    add(&rec->n[RP_ADV_REQUESTS], 1);
    count_reason(rec, s, s->lookup_reason);
    if ((s->key != 0 || s->reduced_key != 0) && keys_rec != NULL
        && pool != NULL) {
        t = rp_advice_table(pool, keys_rec);
    }
    if (s->looked_up) {
        add(&rec->n[RP_ADV_OBSERVED], 1);
        if (s->mode == RP_ADVICE_MODE_ON) {
            hit = s->served;
        }
        else {
            hit = t != NULL && s->key != 0
                  && rp_advice_probe(t, s->key, s->lookup_s);
        }
        if (hit) {
            uint64_t n = __atomic_load_n(&rec->backend_n, __ATOMIC_RELAXED);
            add(&rec->n[RP_ADV_WOULD_HIT], 1);
            /* On: what the route's misses have cost so far, on average */
            add(&rec->saved_us, s->mode == RP_ADVICE_MODE_ON
                ? (n ? __atomic_load_n(&rec->backend_us, __ATOMIC_RELAXED) / n
                     : 0)
                : s->backend_us);
        }
        else {
            if (t != NULL && s->reduced_key != 0 && s->reduced_key != s->key
                && rp_advice_probe(t, s->reduced_key, s->lookup_s)) {
                count_reason(rec, s, RP_ADV_R_QUERY_BUSTING);
            }
            if (s->mode == RP_ADVICE_MODE_ON) {
                add(&rec->backend_us, s->backend_us);
                add(&rec->backend_n, 1);
            }
        }
    }
    if (s->examined) {
        add(&rec->n[RP_ADV_EXAMINED], 1);
        if (s->store_reason == RP_ADV_R_NONE) {
            add(&rec->n[RP_ADV_STORABLE], 1);
        }
        else {
            count_reason(rec, s, s->store_reason);
        }
    }
    /* a miss (or a refresh) whose answer would be stored: its key is
     * fresh from now on, and so is its reduced key (the entry the cache
     * would hold with the tracking parameters ignored) */
    if (t != NULL && !hit && s->examined && s->store_reason == RP_ADV_R_NONE
        && s->fresh_s > 0) {
        int64_t until = s->judged_s + s->fresh_s;
        uint64_t ev = 0;
        if (s->key != 0) {
            ev += (uint64_t)rp_advice_put(t, s->key, until, s->judged_s);
        }
        if (s->reduced_key != 0 && s->reduced_key != s->key
            && !rp_advice_probe(t, s->reduced_key, s->judged_s)) {
            ev += (uint64_t)rp_advice_put(t, s->reduced_key, until,
                                          s->judged_s);
        }
        if (ev) {
            add(&keys_rec->evicted_fresh, ev);
        }
    }
}

/* ---------------------------------------------------------------- */
/* the page's copy                                                   */

void rp_advice_snapshot(const rp_advice_pool_t *pool, const rp_advice_rec_t *rec,
                        int64_t now_s, rp_advice_view_t *out)
{
    int k, i, j;

    memset(out, 0, sizeof(*out));
    out->modes = __atomic_load_n(&rec->modes, __ATOMIC_RELAXED);
    for (k = 0; k < RP_ADV_COUNTERS; k++) {
        out->n[k] = __atomic_load_n(&rec->n[k], __ATOMIC_RELAXED);
    }
    out->saved_us = __atomic_load_n(&rec->saved_us, __ATOMIC_RELAXED);
    out->evicted_fresh = __atomic_load_n(&rec->evicted_fresh,
                                         __ATOMIC_RELAXED);
    out->table_state = (int)__atomic_load_n(&rec->table_state,
                                            __ATOMIC_ACQUIRE);
    if (out->table_state == RP_ADV_READY && pool != NULL
        && rec->table < pool->n_tables) {
        out->fresh_keys = rp_advice_fresh_keys(&pool->tables[rec->table],
                                               now_s);
    }
    for (k = 0; k < RP_ADVICE_NAMES; k++) {
        const rp_advice_name_t *slot = &rec->names[k];
        rp_advice_name_view_t *v;
        size_t len;

        if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) != RP_ADV_READY
            || slot->reason >= RP_ADV_N_REASONS) {
            continue;
        }
        len = slot->len <= RP_ADVICE_NAME_MAX ? slot->len : RP_ADVICE_NAME_MAX;
        /* two slots of one name (claimed at the same instant): one row */
        for (i = 0; i < out->n_names; i++) {
            if (out->names[i].reason == slot->reason
                && strlen(out->names[i].name) == len
                && memcmp(out->names[i].name, slot->name, len) == 0) {
                break;
            }
        }
        v = &out->names[i];
        if (i == out->n_names) {
            out->n_names++;
            v->reason = slot->reason;
            memcpy(v->name, slot->name, len);
            v->name[len] = '\0';
        }
        v->count += __atomic_load_n(&slot->count, __ATOMIC_RELAXED);
    }
    /* by count, highest first (at most 8: insertion sort) */
    for (i = 1; i < out->n_names; i++) {
        rp_advice_name_view_t tmp = out->names[i];
        for (j = i; j > 0 && out->names[j - 1].count < tmp.count; j--) {
            out->names[j] = out->names[j - 1];
        }
        out->names[j] = tmp;
    }
}

/* ---------------------------------------------------------------- */
/* what helps                                                        */

/* "prefix*" or an exact name: all the patterns below need. */
static int name_matches(const char *pattern, const char *s, size_t len)
{
    size_t pl = strlen(pattern);

    if (pl > 0 && pattern[pl - 1] == '*') {
        return len >= pl - 1 && memcmp(pattern, s, pl - 1) == 0;
    }
    return len == pl && memcmp(pattern, s, len) == 0;
}

/* Query parameters that name a campaign, a click or a cache-buster: the
 * page does not depend on them, every visitor brings another value. */
static const char *const busting_patterns[] = {
    "utm_*", "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid",
    "yclid", "twclid", "ttclid", "igshid", "mc_cid", "mc_eid", "_hsenc",
    "_hsmi", "mkt_tok", "_ga", "_gl", "_", "cachebust*", "nocache"
};
#define N_BUSTING (sizeof(busting_patterns) / sizeof(busting_patterns[0]))

const char *const *rp_advice_busting_patterns(int *n)
{
    *n = (int)N_BUSTING;
    return busting_patterns;
}

/* The first pattern of a table that matches a name, or NULL. */
static const char *pattern_of(const char *const *table, size_t n,
                              const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (name_matches(table[i], s, len)) {
            return table[i];
        }
    }
    return NULL;
}

static const char *busting_pattern_of(const char *s, size_t len)
{
    return pattern_of(busting_patterns, N_BUSTING, s, len);
}

void rp_advice_busting_param(const char *query, const char **name, size_t *len)
{
    const char *s = query;

    *name = NULL;
    *len = 0;
    while (s != NULL && *s != '\0') {
        size_t piece = strcspn(s, "&"), n = strcspn(s, "=&");

        if (n > piece) {
            n = piece;
        }
        if (n > 0 && busting_pattern_of(s, n) != NULL) {
            *name = s;
            *len = n;
            return;
        }
        s += piece;
        if (*s == '&') {
            s++;
        }
    }
}

void rp_advice_set_cookie_name(const char *value, const char **name,
                               size_t *len)
{
    const char *s = value, *end;

    *name = NULL;
    *len = 0;
    if (s == NULL) {
        return;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    end = s + strcspn(s, "=;");
    if (*end != '=') {
        return;                        /* no name=value */
    }
    while (end > s && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    *name = s;
    *len = (size_t)(end - s);
}

/* Cookies of analytics scripts: set by JavaScript, read by JavaScript;
 * the page does not depend on them. */
static const char *const analytics_cookies[] = {
    "_ga*", "_gid", "_gcl_*", "__utm*", "_fbp", "_fbc", "_hj*", "_pk_*",
    "_clck", "_clsk", "_uetsid", "_uetvid", "ajs_*", "mp_*", "amplitude_*",
    "hubspotutk", "__hs*", "_ttp", "_pin_unauth"
};
#define N_ANALYTICS (sizeof(analytics_cookies) / sizeof(analytics_cookies[0]))

static const char *analytics_span_of(const char *name, size_t len)
{
    return pattern_of(analytics_cookies, N_ANALYTICS, name, len);
}

static const char *analytics_pattern_of(const char *name)
{
    return analytics_span_of(name, strlen(name));
}

void rp_advice_sample_cookies(rp_advice_sample_t *s, const char *const *names,
                              const size_t *lens, int n)
{
    int i, personal = 0;

    for (i = 0; i < n; i++) {
        personal |= analytics_span_of(names[i], lens[i]) == NULL;
    }
    for (i = 0; i < n; i++) {
        if (!personal || analytics_span_of(names[i], lens[i]) == NULL) {
            rp_advice_sample_name(s, RP_ADV_R_COOKIE, names[i], lens[i]);
        }
    }
}

const char *rp_advice_directive(int reason, const char *name, char *buf,
                                size_t bufsize)
{
    const char *pattern = NULL, *directive = NULL;

    if (name == NULL || bufsize == 0) {
        return NULL;
    }
    if (reason == RP_ADV_R_COOKIE) {
        pattern = analytics_pattern_of(name);
        directive = "ReqPerfCacheIgnoreCookie";
    }
    else if (reason == RP_ADV_R_QUERY_BUSTING) {
        pattern = busting_pattern_of(name, strlen(name));
        directive = "ReqPerfCacheIgnoreQuery";
    }
    if (pattern == NULL) {
        return NULL;
    }
    snprintf(buf, bufsize, "%s %s", directive, pattern);
    return buf;
}

static const struct {
    int reason;
    const char *pattern;
    const char *hint;
} name_hints[] = {
    { RP_ADV_R_COOKIE, "csrftoken",
      "Django's CSRF cookie: a page with a form needs it" },
    { RP_ADV_R_COOKIE, "sessionid", "Django's session: a page per user" },
    { RP_ADV_R_COOKIE, "PHPSESSID", "PHP's session: a page per user" },
    { RP_ADV_R_COOKIE, "JSESSIONID", "a Java session: a page per user" },
    { RP_ADV_R_COOKIE, "laravel_session", "Laravel's session: a page per user" },
    { RP_ADV_R_COOKIE, "XSRF-TOKEN", "a CSRF cookie (Laravel, Angular)" },
    { RP_ADV_R_SET_COOKIE, "csrftoken",
      "Django sets it on every page that renders {% csrf_token %} or calls "
      "get_token(); a public page without a form should not" },
    { RP_ADV_R_SET_COOKIE, "sessionid",
      "Django writes the session here (SESSION_SAVE_EVERY_REQUEST, or a view "
      "that stores something in it)" },
    { RP_ADV_R_SET_COOKIE, "PHPSESSID",
      "PHP starts a session here (session_start() on a public page)" },
    { RP_ADV_R_QUERY_BUSTING, "_", "jQuery's cache: false" },
};

const char *rp_advice_name_hint(int reason, const char *name)
{
    size_t i;

    if (name == NULL) {
        return NULL;
    }
    for (i = 0; i < sizeof(name_hints) / sizeof(name_hints[0]); i++) {
        if (name_hints[i].reason == reason
            && name_matches(name_hints[i].pattern, name, strlen(name))) {
            return name_hints[i].hint;
        }
    }
    if (reason == RP_ADV_R_COOKIE && analytics_pattern_of(name) != NULL) {
        return "an analytics cookie: the page does not depend on it";
    }
    if (reason == RP_ADV_R_QUERY_BUSTING
        && busting_pattern_of(name, strlen(name)) != NULL) {
        return "a campaign or click parameter: the page does not depend on it";
    }
    return NULL;
}
