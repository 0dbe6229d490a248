/*
 * rp_ssi.c: what a page's server-side includes read of the request (see
 * rp_ssi.h).  One byte at a time, in any pieces, with no allocation: a
 * KMP match of the start tag runs beside a small machine that reads the
 * tokens which name a variable or a header.
 */
#include <string.h>
#include <strings.h>

#include "cache/rp_ssi.h"

enum {
    S_TEXT = 0,
    S_ELEM,          /* an element's name, after the start tag */
    S_IDENT,         /* a word: a function's name, or "var" */
    S_AFTER_IDENT,   /* spaces after it, before '(' or '=' */
    S_FUNC_SP,       /* spaces after "v(", before the literal */
    S_LITERAL,       /* 'NAME' */
    S_VAR_SP,        /* spaces after "var=" */
    S_VAR_VAL,       /* its value, quoted or not */
    S_DOLLAR,        /* after '$' */
    S_DOLLAR_NAME,   /* $NAME */
    S_DOLLAR_BRACE,  /* ${NAME} */
    S_PCT,           /* after '%' */
    S_PCT_BRACE,     /* %{NAME}, %{func:arg} */
    S_DASH,          /* '-' in an #if: -R 'cidr' tests the client address */
    S_DASH_R
};

/* what a literal names */
enum { F_NONE = 0, F_VAR, F_HEADER };

/* how far past an #if or #elif its expression is watched for -R */
#define EXPR_WATCH 8192

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_name(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
           || c == '\v';
}

static int is_tchar(char c)
{
    return is_name(c) || (c != '\0' && strchr("!#$%&'*+-.^`|~", c) != NULL);
}

static int tok_is(const rp_ssi_t *s, const char *w)
{
    return !s->tok_long && s->tok_len == strlen(w)
           && strncasecmp(s->tok, w, s->tok_len) == 0;
}

static void tok_reset(rp_ssi_t *s)
{
    s->tok_len = 0;
    s->tok_long = 0;
}

static void tok_add(rp_ssi_t *s, char c)
{
    if (s->tok_len < sizeof(s->tok)) {
        s->tok[s->tok_len++] = c;
    }
    else {
        s->tok_long = 1;
    }
}

static int has_prefix(const char *name, size_t len, const char *p)
{
    size_t n = strlen(p);

    return len >= n && strncasecmp(name, p, n) == 0;
}

static int equals(const char *name, size_t len, const char *w)
{
    return len == strlen(w) && strncasecmp(name, w, len) == 0;
}

/* A header named as sent (req('X-Lang'), %{HTTP:X-Lang}). */
static void header_named(rp_ssi_t *s, const char *name, size_t len)
{
    size_t i;

    if (len == 0 || equals(name, len, "Cookie")) {
        s->personal = 1;               /* the cookies a lookup ignores */
        return;
    }
    for (i = 0; i < len; i++) {
        if (!is_tchar(name[i])) {
            s->personal = 1;
            return;
        }
    }
    s->on_header(s->ctx, name, len);
}

/* An environment variable, or an ap_expr variable, by name. */
static void variable_named(rp_ssi_t *s, const char *name, size_t len)
{
    static const char *const whose_prefix[] = {
        "REMOTE_", "SSL_", "CONN_", "H2_", NULL
    };
    static const char *const whose[] = {
        "AUTH_TYPE", "UNIQUE_ID", "SERVER_PROTOCOL", "THE_REQUEST", "HTTP2",
        "H2PUSH", "IPV6", "REQUEST_LOG_ID", NULL
    };
    char hdr[RP_SSI_TOKEN_MAX];
    size_t i;

    for (i = 0; i < len; i++) {
        if (!is_name(name[i])) {
            s->personal = 1;           /* not a name we can read */
            return;
        }
    }
    while (has_prefix(name, len, "REDIRECT_")) {
        name += 9;                     /* the variable of the request before */
        len -= 9;
    }
    if (has_prefix(name, len, "HTTP_")) {
        if (len == 5 || len - 5 > sizeof(hdr)) {
            s->personal = 1;
            return;
        }
        for (i = 5; i < len; i++) {
            hdr[i - 5] = name[i] == '_' ? '-' : name[i];
        }
        header_named(s, hdr, len - 5);
        return;
    }
    for (i = 0; whose_prefix[i] != NULL; i++) {
        if (has_prefix(name, len, whose_prefix[i])) {
            s->personal = 1;
            return;
        }
    }
    for (i = 0; whose[i] != NULL; i++) {
        if (equals(name, len, whose[i])) {
            s->personal = 1;
            return;
        }
    }
}

/* %{...}: an ap_expr variable, or a function's literal argument. */
static void percent_braced(rp_ssi_t *s)
{
    const char *t = s->tok, *colon = memchr(t, ':', s->tok_len);
    size_t flen, alen;

    if (colon == NULL) {
        variable_named(s, t, s->tok_len);
        return;
    }
    flen = (size_t)(colon - t);
    alen = s->tok_len - flen - 1;
    if (equals(t, flen, "http") || equals(t, flen, "req")
        || equals(t, flen, "req_novary")) {
        header_named(s, colon + 1, alen);
    }
    else if (equals(t, flen, "env") || equals(t, flen, "v")
             || equals(t, flen, "reqenv")) {
        variable_named(s, colon + 1, alen);
    }
}

static int func_kind(const rp_ssi_t *s)
{
    if (tok_is(s, "v") || tok_is(s, "env") || tok_is(s, "reqenv")) {
        return F_VAR;
    }
    if (tok_is(s, "req") || tok_is(s, "http") || tok_is(s, "req_novary")) {
        return F_HEADER;
    }
    return F_NONE;
}

static void element_named(rp_ssi_t *s)
{
    static const char *const known[] = {
        "include", "echo", "set", "if", "elif", "else", "endif", "config",
        "fsize", "flastmod", "comment", NULL
    };
    int i;

    if (s->tok_len == 0) {
        return;                        /* mod_include's own error text */
    }
    if (tok_is(s, "if") || tok_is(s, "elif")) {
        s->expr_left = EXPR_WATCH;
    }
    for (i = 0; known[i] != NULL; i++) {
        if (tok_is(s, known[i])) {
            return;
        }
    }
    s->personal = 1;                   /* #printenv, #exec, a module's own */
}

int rp_ssi_init(rp_ssi_t *s, const char *start_tag, rp_ssi_header_fn *fn,
                void *ctx)
{
    size_t n = start_tag ? strlen(start_tag) : 0, i, k;

    memset(s, 0, sizeof(*s));
    s->on_header = fn;
    s->ctx = ctx;
    if (n == 0 || n >= sizeof(s->start)) {
        s->personal = 1;
        return -1;
    }
    memcpy(s->start, start_tag, n);
    s->start_len = n;
    for (i = 1, k = 0; i < n; i++) {
        while (k > 0 && s->start[i] != s->start[k]) {
            k = s->fail[k - 1];
        }
        if (s->start[i] == s->start[k]) {
            k++;
        }
        s->fail[i] = k;
    }
    return 0;
}

/* Whether c completes the start tag. */
static int start_tag_done(rp_ssi_t *s, char c)
{
    while (s->matched > 0 && c != s->start[s->matched]) {
        s->matched = s->fail[s->matched - 1];
    }
    if (c == s->start[s->matched]) {
        s->matched++;
    }
    if (s->matched == s->start_len) {
        s->matched = s->fail[s->start_len - 1];
        return 1;
    }
    return 0;
}

static void step(rp_ssi_t *s, char c)
{
again:
    switch (s->state) {
    case S_TEXT:
        if (c == '$') {
            tok_reset(s);
            s->state = S_DOLLAR;
        }
        else if (c == '%') {
            s->state = S_PCT;
        }
        else if (is_alpha(c) && !is_name(s->prev) && s->prev != '.'
                 && s->prev != '$') {
            tok_reset(s);
            tok_add(s, c);
            s->state = S_IDENT;
        }
        else if (c == '-' && s->expr_left > 0
                 && (is_space(s->prev) || s->prev == '(' || s->prev == '!'
                     || s->prev == '"' || s->prev == '\'')) {
            s->state = S_DASH;
        }
        break;
    case S_ELEM:
        if (s->tok_len == 0 && is_space(c)) {
            break;
        }
        if (is_name(c)) {
            tok_add(s, c);
            break;
        }
        element_named(s);
        s->state = S_TEXT;
        goto again;
    case S_IDENT:
        if (is_name(c)) {
            tok_add(s, c);
            break;
        }
        s->state = S_AFTER_IDENT;
        /* fall through */
    case S_AFTER_IDENT:
        if (is_space(c)) {
            break;
        }
        if (c == '(' && (s->func = func_kind(s)) != F_NONE) {
            s->state = S_FUNC_SP;
            break;
        }
        if (c == '=' && tok_is(s, "var")) {
            s->state = S_VAR_SP;
            break;
        }
        s->state = S_TEXT;
        goto again;
    case S_FUNC_SP:
        if (is_space(c)) {
            break;
        }
        if (c == '\'' || c == '"') {
            s->quote = c;
            tok_reset(s);
            s->state = S_LITERAL;
            break;
        }
        s->personal = 1;               /* a name computed at run time */
        s->state = S_TEXT;
        goto again;
    case S_LITERAL:
        if (c != s->quote) {
            tok_add(s, c);
            break;
        }
        if (s->tok_long) {
            s->personal = 1;
        }
        else if (s->func == F_VAR) {
            variable_named(s, s->tok, s->tok_len);
        }
        else {
            header_named(s, s->tok, s->tok_len);
        }
        s->state = S_TEXT;
        break;
    case S_VAR_SP:
        if (is_space(c)) {
            break;
        }
        tok_reset(s);
        s->quote = (c == '"' || c == '\'' || c == '`') ? c : '\0';
        s->state = S_VAR_VAL;
        if (s->quote) {
            break;
        }
        /* fall through */
    case S_VAR_VAL:
        if (s->quote ? c != s->quote : is_name(c) || c == '$' || c == '{'
                                           || c == '}') {
            tok_add(s, c);
            break;
        }
        if (s->tok_long || memchr(s->tok, '$', s->tok_len) != NULL) {
            s->personal = 1;           /* echo var="$name": named at run time */
        }
        else if (s->tok_len > 0) {
            variable_named(s, s->tok, s->tok_len);
        }
        s->state = S_TEXT;
        if (s->quote) {
            break;
        }
        goto again;
    case S_DOLLAR:
        if (c == '{') {
            s->state = S_DOLLAR_BRACE;
            break;
        }
        if (is_name(c)) {
            tok_add(s, c);
            s->state = S_DOLLAR_NAME;
            break;
        }
        s->state = S_TEXT;
        goto again;
    case S_DOLLAR_NAME:
        if (is_name(c)) {
            tok_add(s, c);
            break;
        }
        if (s->tok_long) {
            s->personal = 1;
        }
        else {
            variable_named(s, s->tok, s->tok_len);
        }
        s->state = S_TEXT;
        goto again;
    case S_DOLLAR_BRACE:
    case S_PCT_BRACE:
        if (c != '}') {
            tok_add(s, c);
            break;
        }
        if (s->tok_long) {
            s->personal = 1;
        }
        else if (s->state == S_PCT_BRACE) {
            percent_braced(s);
        }
        else {
            variable_named(s, s->tok, s->tok_len);
        }
        s->state = S_TEXT;
        break;
    case S_PCT:
        if (c == '{') {
            tok_reset(s);
            s->state = S_PCT_BRACE;
            break;
        }
        s->state = S_TEXT;
        goto again;
    case S_DASH:
        if (c == 'R') {
            s->state = S_DASH_R;
            break;
        }
        s->state = S_TEXT;
        goto again;
    case S_DASH_R:
        if (is_space(c) || c == '\'' || c == '"') {
            s->personal = 1;           /* -R '10.0.0.0/8': who is asking */
        }
        s->state = S_TEXT;
        goto again;
    }
}

void rp_ssi_feed(rp_ssi_t *s, const char *data, size_t n)
{
    size_t i;

    if (s->start_len == 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        char c = data[i];

        if (s->expr_left > 0) {
            s->expr_left--;
        }
        if (start_tag_done(s, c)) {
            /* what was being read is given up: the tag starts anew */
            tok_reset(s);
            s->expr_left = 0;
            s->state = S_ELEM;
        }
        else {
            step(s, c);
        }
        s->prev = c;
    }
}

int rp_ssi_finish(rp_ssi_t *s)
{
    static const char nl = '\n';

    /* a token the source ends in is read to its end; a literal or a
     * braced name left open is mod_include's error, and read as personal */
    if (s->state == S_LITERAL || s->state == S_DOLLAR_BRACE
        || s->state == S_PCT_BRACE
        || (s->state == S_VAR_VAL && s->quote)) {
        s->personal = 1;
    }
    else if (s->start_len > 0) {
        rp_ssi_feed(s, &nl, 1);
    }
    return s->personal;
}
