/*
 * mod_reqperf_cache_key.c: whose page a request asks for, and its key.
 *
 * THE SAFETY MODEL.  Every input of a request that reaches the backend and
 * can change its answer is either part of the key, or makes the request
 * BYPASS the cache, or provably cannot change the answer:
 *
 *  in the key     scheme; the Host exactly as the client sent it (and only
 *                 when that is Apache's own normalised spelling); the port
 *                 it named; the virtual host that answered (ServerName and
 *                 <VirtualHost> addresses) and the port Apache builds its
 *                 own URLs with (UseCanonicalPhysicalPort: the one the
 *                 connection reached); the path exactly as sent; the query
 *                 as sent (less ReqPerfCacheIgnoreQuery parameters, pieces
 *                 sorted by name); the values, as the backend is sent them
 *                 (after mod_headers' early edits), of the ReqPerfCacheVary
 *                 headers, of every header a Vary names (the backend's own,
 *                 as it sent it, before mod_headers' output edits; with
 *                 Accept-Encoding for an encoded answer, named or not;
 *                 any Vary Apache set before the handler, mod_rewrite's,
 *                 and an included part's: Vary only grows), of the headers
 *                 mod_rewrite and ap_expr read anywhere in the virtual
 *                 host's configuration (<If>, Header "expr=%{req:Origin}",
 *                 and those a Header echo pattern names) and in the
 *                 .htaccess files Apache applied to the request; the
 *                 environment variables mod_setenvif sets there
 *                 (BrowserMatch Mobile mobile); the client's address where
 *                 a Header says who is asking.
 *  BYPASS         a method other than GET/HEAD, or Upgrade; Authorization or
 *                 Proxy-Authorization; a user any module authenticated
 *                 (r->user) or any TLS client certificate; a cookie
 *                 not in ReqPerfCacheIgnoreCookie, or a Cookie header that
 *                 is not RFC 6265's grammar; a body on GET/HEAD; a Host that
 *                 is missing or not in Apache's normalised form; override
 *                 headers (X-Forwarded-Host/-Proto/-Prefix/..., Forwarded,
 *                 X-Original-URL, X-HTTP-Method-Override, ... unless in
 *                 ReqPerfCacheVary); any header name holding '_'; a
 *                 Connection header naming another header; Range; client
 *                 no-cache (which refreshes the entry instead).
 *  not stored     besides the response rules of rp_rules.h: a request that
 *                 turned out authenticated (r->user after the lookup, as in
 *                 ReqPerfCacheQuick); a request whose keyed headers or
 *                 environment the server changed after the key was taken
 *                 (RequestHeader, SetEnvIf in a directory: the key must be
 *                 what the backend saw; in the handler phase such a
 *                 request is not even looked up); an error document (the
 *                 request failed); a page an included part (mod_include)
 *                 keeps from being stored; a page whose server-side
 *                 includes read who is asking (mod_reqperf_cache_ssi.c;
 *                 the headers they read are its Vary); in the quick mode, a response
 *                 produced where <Directory>, <Proxy> or <Files> settings
 *                 of the key differ from the <Location> ones it saw, or
 *                 whose .htaccess files read what its key does not hold.
 *  cannot change  what Apache derives from the above alone (the vhost's
 *                 configuration, rewrites on the URL); ignored query
 *                 parameters and cookies, which the administrator declared
 *                 irrelevant; hop-by-hop headers the backend never sees.
 *
 * The decision is taken on the request as the client sent it, copied when
 * it has been read (post_read_request, before any module's hook), and on
 * Apache's own verdict (r->user), in both lookup modes: a module that later
 * removes Authorization or a cookie (the usual "RequestHeader unset
 * Authorization" in front of a backend) cannot make a personal request
 * public.  What this leaves to the administrator: configuration that picks
 * content by something that is not a request header (the client's address,
 * the time, environment variables set from other sources) and that the
 * backend does not name in Vary.
 *
 * URL generations (purges) are keyed on the resource alone, the normalised
 * path and query, so one purge or unsafe method reaches every host name,
 * scheme and spelling under which the page was stored.
 */
#include "apr_strings.h"
#include "apr_lib.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "util_cfgtree.h"

#include "mod_reqperf_cache.h"
#include "cache/rp_ssi.h"

static void add_word(apr_array_header_t *a, const char *w);

static const char **list_of(const apr_array_header_t *a, int *n)
{
    *n = a ? a->nelts : 0;
    return a ? (const char **)a->elts : NULL;
}

/* ---------------------------------------------------------------- */
/* the request as sent                                               */

void reqperf_cache_snapshot(request_rec *r, reqperf_cache_req_t *cr)
{
    reqperf_sent_t *s = &cr->sent;

    s->method = r->method;
    s->unparsed_uri = r->unparsed_uri;
    s->args = r->args ? apr_pstrdup(r->pool, r->args) : NULL;
    s->hostname = r->hostname;
    s->host_port = r->parsed_uri.port_str ? r->parsed_uri.port : 0;
    s->scheme = ap_run_http_scheme(r);
    if (s->scheme == NULL) {
        s->scheme = "http";
    }
    s->headers = apr_table_copy(r->pool, r->headers_in);
    s->keyed = s->headers;
    s->client = r->useragent_ip;
    s->pool = r->pool;
}

void reqperf_cache_snapshot_keyed(request_rec *r, reqperf_cache_req_t *cr)
{
    cr->sent.keyed = apr_table_copy(r->pool, r->headers_in);
    cr->sent.client = r->useragent_ip;
}

/* The value the key holds for a header: as the backend is sent it after
 * Apache's early edits.  While a handler-phase lookup runs (sent.live), a
 * value the server changed since (RequestHeader in a directory) cannot be
 * keyed: "\x02" is one no key accepts, so such a request finds nothing,
 * and its answer is not stored either (inputs changed). */
static const char *keyed_header(void *baton, const char *name)
{
    const reqperf_cache_req_t *cr = baton;
    const char *v = apr_table_getm(cr->sent.pool, cr->sent.keyed, name);

    if (cr->sent.live != NULL) {
        const char *now = apr_table_getm(cr->sent.pool,
                                         cr->sent.live->headers_in, name);
        if ((v == NULL) != (now == NULL) || (v && strcmp(v, now) != 0)) {
            return "\x02";
        }
    }
    if (strcasecmp(name, "X-Forwarded-For") == 0) {
        /* mod_proxy appends the client's address before the backend
         * sees it (ProxyAddHeaders, on by default): keyed as sent, so a
         * page that varies on it is one client's, never every client's
         * that sent none (keyed so whether proxied or not: the quick
         * mode cannot tell yet, and a finer key is never a wrong one) */
        const char *ip = cr->sent.client ? cr->sent.client : "";

        return v != NULL ? apr_pstrcat(cr->sent.pool, v, ", ", ip, NULL)
                         : ip;
    }
    return v;
}

const rp_header_get_fn reqperf_keyed_header = keyed_header;

/* Every value of a header the client sent, joined as Apache joins them. */
const char *reqperf_sent_header(const reqperf_cache_req_t *cr,
                                const char *name)
{
    /* most names asked for are absent: one plain lookup says so, where
     * apr_table_getm walks the table with a callback and allocates */
    if (apr_table_get(cr->sent.headers, name) == NULL) {
        return NULL;
    }
    return apr_table_getm(cr->sent.pool, cr->sent.headers, name);
}

static const char *sent_header(void *baton, const char *name)
{
    return reqperf_sent_header(baton, name);
}

static int push_name(void *baton, const char *name, const char *value)
{
    (void)value;
    *(const char **)apr_array_push(baton) = name;
    return 1;
}

/* A TLS client certificate names a user as much as r->user, verified or
 * not (optional_no_ca says GENEROUS: the application may still read it). */
static int client_certificate(request_rec *r)
{
    conn_rec *c = r->connection->master ? r->connection->master
                                        : r->connection;
    const char *v;

    if (!ap_ssl_conn_is_ssl(c)) {
        return 0;
    }
    v = ap_ssl_var_lookup(r->pool, r->server, c, r, "SSL_CLIENT_VERIFY");
    return v != NULL && *v != '\0' && strcmp(v, "NONE") != 0;
}

int reqperf_cache_request_authenticated(request_rec *r)
{
    request_rec *p;

    for (p = r; p != NULL; p = p->prev) {
        if (p->user != NULL) {
            return 1;
        }
    }
    return client_certificate(r);
}

rp_bypass_t reqperf_cache_whose(request_rec *r, const reqperf_cache_req_t *cr,
                                const reqperf_dir_conf_t *d, int *refresh)
{
    rp_request_rules_t rules;
    rp_request_t rq;
    apr_array_header_t *names = apr_array_make(r->pool, 24, sizeof(char *));

    apr_table_do(push_name, names, cr->sent.headers, NULL);
    memset(&rq, 0, sizeof(rq));
    rq.method = cr->sent.method;
    rq.get = sent_header;
    rq.baton = (void *)cr;
    rq.names = (const char *const *)names->elts;
    rq.n_names = names->nelts;
    rq.authenticated = reqperf_cache_request_authenticated(r);
    rq.hostname = cr->sent.hostname;
    rq.host_port = cr->sent.host_port;
    rq.default_port = strcmp(cr->sent.scheme, "https") == 0 ? 443 : 80;
    rules.ignore_cookie = list_of(d->cache_ignore_cookie,
                                  &rules.n_ignore_cookie);
    rules.vary = list_of(d->cache_vary, &rules.n_vary);
    return rp_request_verdict(&rq, &rules, refresh);
}

/* ---------------------------------------------------------------- */
/* paths                                                             */

/* The path of a request-target: from an origin-form target up to '?', or
 * after the authority of an absolute-form one ("/" when it ends there:
 * http://host?a=/b asks for "/").  NULL when it has no path. */
static const char *target_path(apr_pool_t *p, const char *u)
{
    const char *end;

    if (u == NULL) {
        return NULL;
    }
    if (*u != '/') {
        const char *at = ap_strstr_c(u, "://");
        if (at == NULL) {
            return NULL;
        }
        at += 3;
        at += strcspn(at, "/?#");
        u = *at == '/' ? at : "/";
    }
    end = u + strcspn(u, "?#");
    return apr_pstrmemdup(p, u, (apr_size_t)(end - u));
}

/* A path normalised the way httpd normalises one before mapping it: dot
 * segments resolved, unreserved characters decoded, slashes merged unless
 * MergeSlashes Off, the remaining escapes in upper case.  NULL if unusable
 * (not "/...", or above the root). */
static const char *normalised_path(request_rec *r, const char *in)
{
    core_server_config *core;
    unsigned flags = AP_NORMALIZE_NOT_ABOVE_ROOT
                     | AP_NORMALIZE_DECODE_UNRESERVED;
    char *path, *q;

    if (in == NULL || *in != '/') {
        return NULL;
    }
    path = apr_pstrdup(r->pool, in);
    core = ap_get_core_module_config(r->server->module_config);
    if (core->merge_slashes != AP_CORE_CONFIG_OFF) {
        flags |= AP_NORMALIZE_MERGE_SLASHES;
    }
    if (!ap_normalize_path(path, flags)) {
        return NULL;
    }
    for (q = path; (q = strchr(q, '%')) != NULL; q++) {
        if (apr_isxdigit(q[1]) && apr_isxdigit(q[2])) {
            q[1] = (char)apr_toupper(q[1]);
            q[2] = (char)apr_toupper(q[2]);
        }
    }
    return path;
}

const char *reqperf_cache_resource(request_rec *r, const char *path,
                                   const char *query,
                                   const reqperf_dir_conf_t *d)
{
    int n;
    const char **ignore = list_of(d->cache_ignore_query, &n);

    if ((path = normalised_path(r, path)) == NULL) {
        return NULL;
    }
    return rp_key_resource(r->pool, path, query, ignore, n);
}

/* Shorter values are not looked for: they would be found by chance in
 * most pages ("1", "yes"), and carry no payload worth the name.  Pieces
 * of a value (an application writes the client id out of "GA1.2.<id>")
 * are looked for from a little longer. */
#define COOKIE_VALUE_MIN 3
#define COOKIE_PIECE_MIN 6
/* Each is searched for in the whole answer: more, and the answer is not
 * stored at all (a Cookie header of a thousand pieces must not cost a
 * miss a thousand passes over a megabyte). */
#define COOKIE_NEEDLES_MAX 64

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *out;
    int over;
} needles_t;

static void look_for(needles_t *nd, const char *s, size_t len, size_t min)
{
    if (len < min) {
        return;
    }
    if (nd->out->nelts >= COOKIE_NEEDLES_MAX) {
        nd->over = 1;
        return;
    }
    APR_ARRAY_PUSH(nd->out, const char *) = apr_pstrmemdup(nd->p, s, len);
}

/* A value as an application may write it: whole, its runs of letters and
 * digits, and HTML-escaped. */
static void look_for_value(needles_t *nd, const char *v)
{
    size_t n = strlen(v), i, start = 0;
    const char *esc;

    look_for(nd, v, n, COOKIE_VALUE_MIN);
    for (i = 0; i <= n; i++) {
        if (i == n || !apr_isalnum(v[i])) {
            if (i > start && i - start < n) {
                look_for(nd, v + start, i - start, COOKIE_PIECE_MIN);
            }
            start = i + 1;
        }
    }
    esc = ap_escape_html2(nd->p, v, 1);
    if (strcmp(esc, v) != 0) {
        look_for(nd, esc, strlen(esc), COOKIE_VALUE_MIN);
    }
}

int reqperf_cache_cookies_sent(request_rec *r, const reqperf_dir_conf_t *d,
                               reqperf_cache_req_t *cr)
{
    int n;
    const char **ignore = list_of(d->cache_ignore_cookie, &n);
    const char *live = apr_table_getm(r->pool, r->headers_in, "Cookie");

    cr->cookies_sent = live;
    return live != NULL && rp_cookie_is_personal(live, ignore, n);
}

apr_array_header_t *reqperf_cache_cookie_needles(request_rec *r,
                                                 const char *cookies,
                                                 int *over)
{
    rp_substr_t *vals = apr_palloc(r->pool,
                                   sizeof(*vals) * RP_COOKIE_MAX_PIECES);
    needles_t nd;
    int k, m;

    nd.p = r->pool;
    nd.out = apr_array_make(r->pool, 8, sizeof(char *));
    nd.over = 0;
    m = rp_cookie_values(cookies, vals, RP_COOKIE_MAX_PIECES);
    for (k = 0; k < m && !nd.over; k++) {
        char *v = apr_pstrmemdup(r->pool, vals[k].s, vals[k].len), *dec;

        look_for_value(&nd, v);
        /* as an application that decodes it would write it */
        if (strchr(v, '%') != NULL || strchr(v, '+') != NULL) {
            dec = apr_pstrdup(r->pool, v);
            if (ap_unescape_urlencoded(dec) == OK && strcmp(dec, v) != 0) {
                look_for_value(&nd, dec);
            }
        }
    }
    *over = nd.over;
    return m > 0 ? nd.out : NULL;
}

int reqperf_cache_query_ignored(const reqperf_cache_req_t *cr,
                                const reqperf_dir_conf_t *d)
{
    int n;
    const char **ignore = list_of(d->cache_ignore_query, &n);

    return rp_key_query_ignores(cr->sent.args, ignore, n);
}

/* ---------------------------------------------------------------- */
/* the key                                                           */

const char *reqperf_cache_request_resource(request_rec *r,
                                           const reqperf_cache_req_t *cr,
                                           const reqperf_dir_conf_t *d)
{
    const char *path = target_path(r->pool, cr->sent.unparsed_uri);

    return path ? reqperf_cache_resource(r, path, cr->sent.args, d) : NULL;
}

/* The virtual host as its configuration names it: ServerName and the
 * addresses of its <VirtualHost> ("-" for the main server). */
static const char *vhost_id(apr_pool_t *p, server_rec *sv)
{
    const char *id = sv->server_hostname ? sv->server_hostname : "-";
    server_addr_rec *a;

    if (!sv->is_virtual) {
        return apr_pstrcat(p, id, "@-", NULL);
    }
    for (a = sv->addrs; a != NULL; a = a->next) {
        id = apr_psprintf(p, "%s%c%s:%u", id, a == sv->addrs ? '@' : ',',
                          a->virthost ? a->virthost : "?",
                          (unsigned)a->host_port);
    }
    return id;
}

static void add_words(apr_array_header_t *to, const apr_array_header_t *a)
{
    int i;

    for (i = 0; a != NULL && i < a->nelts; i++) {
        add_word(to, APR_ARRAY_IDX(a, i, const char *));
    }
}

/* The request headers a "Header echo" pattern names, as sent. */
static void add_echoed(apr_array_header_t *all, const reqperf_cache_req_t *cr,
                       const apr_array_header_t *echo)
{
    const apr_array_header_t *t = apr_table_elts(cr->sent.keyed);
    const apr_table_entry_t *e = (const apr_table_entry_t *)t->elts;
    int i, j;

    for (i = 0; i < t->nelts; i++) {
        for (j = 0; e[i].key != NULL && j < echo->nelts; j++) {
            if (ap_regexec(APR_ARRAY_IDX(echo, j, ap_regex_t *), e[i].key,
                           0, NULL, 0) == 0) {
                add_word(all, e[i].key);
                break;
            }
        }
    }
}

/* ReqPerfCacheVary, the headers the configuration reads and those the
 * .htaccess files of the lookup read (below). */
static const char **keyed_names(request_rec *r, const reqperf_dir_conf_t *d,
                                const reqperf_cache_req_t *cr, int *n)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                  &reqperf_module);
    apr_array_header_t *all;

    if ((sc->reads.headers == NULL || sc->reads.headers->nelts == 0)
        && (cr->ht.reads.headers == NULL || cr->ht.reads.headers->nelts == 0)
        && sc->reads.echo == NULL) {
        return list_of(d->cache_vary, n);
    }
    all = apr_array_make(r->pool, 8, sizeof(char *));
    add_words(all, d->cache_vary);
    add_words(all, sc->reads.headers);
    add_words(all, cr->ht.reads.headers);
    if (sc->reads.echo != NULL && cr->sent.keyed != NULL) {
        add_echoed(all, cr, sc->reads.echo);
    }
    *n = all->nelts;
    return (const char **)all->elts;
}

int reqperf_cache_key(request_rec *r, const reqperf_cache_req_t *cr,
                      const reqperf_dir_conf_t *d, const char **resource,
                      const char **full)
{
    const reqperf_sent_t *s = &cr->sent;
    reqperf_srv_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                  &reqperf_module);
    const char *path = target_path(r->pool, s->unparsed_uri);
    const char **names;
    rp_header_t *h;
    rp_url_t u;
    const char *url;
    int n, i;

    *resource = *full = NULL;
    if (path == NULL || s->hostname == NULL
        || (*resource = reqperf_cache_request_resource(r, cr, d)) == NULL) {
        return -1;
    }
    memset(&u, 0, sizeof(u));
    u.scheme = s->scheme;
    u.host = strchr(s->hostname, ':')
             ? apr_pstrcat(r->pool, "[", s->hostname, "]", NULL)
             : s->hostname;
    u.port = s->host_port ? s->host_port
                          : (strcmp(s->scheme, "https") == 0 ? 443 : 80);
    u.path = path;
    u.query = s->args;
    u.ignore_query = list_of(d->cache_ignore_query, &u.n_ignore_query);
    /* the virtual host that answered: two may answer one Host
     * differently (<VirtualHost *:80> and <VirtualHost *:8080> of one
     * ServerName); the same on every server of a farm.  And the port
     * Apache puts in the URLs it builds itself (redirects,
     * ProxyPassReverse, SERVER_PORT): UseCanonicalPhysicalPort makes it
     * the port the connection reached */
    u.context = apr_pstrcat(r->pool,
                            sc->vhost_id_of == r->server
                                ? sc->vhost_id
                                : vhost_id(r->pool, r->server),
                            "/", apr_itoa(r->pool, ap_get_server_port(r)),
                            NULL);
    if ((url = rp_key_url(r->pool, &u)) == NULL) {
        return -1;
    }
    names = keyed_names(r, d, cr, &n);
    h = apr_palloc(r->pool, sizeof(*h) * (apr_size_t)(n + 3));
    for (i = 0; i < n; i++) {
        h[i].name = names[i];
        h[i].value = keyed_header((void *)cr, names[i]);
    }
    if (cr->env_key != NULL) {
        h[n].name = "x-reqperf-env";    /* not a header: no client sets it */
        h[n++].value = cr->env_key;
    }
    if (sc->reads.client || sc->reads.unknown) {
        /* a response header that says who is asking (Header set X-Client
         * "expr=%{REMOTE_ADDR}"): one entry per client address */
        h[n].name = "x-reqperf-client";
        h[n++].value = r->useragent_ip ? r->useragent_ip : "";
    }
    rp_key_sort_headers(h, n);
    *full = rp_key_full(r->pool, url, h, n);
    return *full != NULL ? 0 : -1;
}

/* ---------------------------------------------------------------- */
/* what the configuration reads of a request                         */

/*
 * Apache's configuration can pick a page by request headers without any
 * module naming them in Vary: "BrowserMatch Mobile mobile" then
 * "RewriteCond %{ENV:mobile}", or a RewriteRule that copies %{HTTP:X-Lang}
 * into the backend's URL.  The configuration tree says which headers
 * mod_rewrite reads (%{HTTP:Name}, %{HTTP_NAME}) and which environment
 * variables mod_setenvif sets from the request: the key holds those
 * headers' values and those variables' values, for the virtual host whose
 * configuration has them (a directive outside any <VirtualHost> counts for
 * all).  Debian's own BrowserMatch lines set variables only for old
 * browsers, so the key of every other visitor is the same.
 */

static void add_word(apr_array_header_t *a, const char *w)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        if (strcasecmp(APR_ARRAY_IDX(a, i, const char *), w) == 0) {
            return;
        }
    }
    APR_ARRAY_PUSH(a, const char *) = w;
}

/* %{HTTP:Name} and %{HTTP_NAME} (mod_rewrite's forms) in text. */
static void scan_http_vars(apr_pool_t *p, const char *text,
                           apr_array_header_t *headers)
{
    const char *s = text;

    while ((s = ap_strstr_c(s, "%{HTTP")) != NULL) {
        const char *end = strchr(s, '}');
        char *name;
        apr_size_t i;

        if (end == NULL) {
            return;
        }
        if (s[6] == ':') {
            name = apr_pstrmemdup(p, s + 7, (apr_size_t)(end - s - 7));
        }
        else if (s[6] == '_') {
            name = apr_pstrmemdup(p, s + 7, (apr_size_t)(end - s - 7));
            for (i = 0; name[i] != '\0'; i++) {
                if (name[i] == '_') {
                    name[i] = '-';
                }
            }
        }
        else {
            s = end;                    /* %{HTTPS}, %{HTTP2} ... */
            continue;
        }
        if (*name != '\0' && strcasecmp(name, "Host") != 0
            && strcasecmp(name, "Cookie") != 0) {
            add_word(headers, name);    /* (Host and Cookie: keyed or personal) */
        }
        s = end;
    }
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *headers;
} expr_reads_t;

static void expr_header(void *ctx, const char *name, size_t len)
{
    expr_reads_t *x = ctx;

    if (!(len == 4 && strncasecmp(name, "Host", 4) == 0)) {
        add_word(x->headers, apr_pstrmemdup(x->p, name, len));
    }
}

/* The request headers an ap_expr (or mod_rewrite's %{HTTP:..}) reads in
 * text: %{HTTP:X}, %{HTTP_X}, %{req:X}, req('X'), http('X'), v('HTTP_X')
 * (cache/rp_ssi.c's reader, with no start tag to find); 1 when it also
 * reads who is asking (%{REMOTE_ADDR}, -R). */
static int scan_expr(apr_pool_t *p, const char *text,
                     apr_array_header_t *headers)
{
    expr_reads_t x;
    rp_ssi_t s;

    x.p = p;
    x.headers = headers;
    rp_ssi_init(&s, "\001\002", expr_header, &x);
    rp_ssi_feed(&s, text, strlen(text));
    return rp_ssi_finish(&s);
}

static int is_directive(const ap_directive_t *d, const char *name)
{
    return strcasecmp(d->directive, name) == 0;
}

/* Header's arguments: [always|onsuccess] action header ...; the action
 * "echo" copies the request headers a pattern names into the response. */
static void scan_header(apr_pool_t *p, const char *args, reqperf_config_reads_t *rd)
{
    const char *w = ap_getword_conf(p, &args);

    if (strcasecmp(w, "always") == 0 || strcasecmp(w, "onsuccess") == 0) {
        w = ap_getword_conf(p, &args);
    }
    if (strcasecmp(w, "echo") == 0) {
        const char *pat = ap_getword_conf(p, &args);
        ap_regex_t *re = *pat ? ap_pregcomp(p, pat, AP_REG_EXTENDED) : NULL;

        if (re == NULL) {
            rd->unknown = 1;            /* mod_headers would refuse it */
            return;
        }
        if (rd->echo == NULL) {
            rd->echo = apr_array_make(p, 2, sizeof(ap_regex_t *));
        }
        APR_ARRAY_PUSH(rd->echo, ap_regex_t *) = re;
    }
}

static void scan_directive(apr_pool_t *p, const ap_directive_t *d,
                           reqperf_config_reads_t *rd)
{
    const char *args = d->args ? d->args : "";
    apr_array_header_t *envs = rd->envs;
    int skip;

    if (is_directive(d, "RewriteCond") || is_directive(d, "RewriteRule")) {
        scan_http_vars(p, args, rd->headers);
        scan_expr(p, args, rd->headers);
        return;
    }
    if (is_directive(d, "<If") || is_directive(d, "<ElseIf")
        || is_directive(d, "RequestHeader")
        || is_directive(d, "FilterProvider")
        || ap_strstr_c(args, "expr=") != NULL) {
        /* picks the page, or what the backend is sent, by a header;
         * ap_expr names it in Vary only where it evaluates a condition */
        scan_expr(p, args, rd->headers);
    }
    if (is_directive(d, "Header")) {
        /* a response header built from the request: its headers are
         * keyed, and one built from who is asking keys on the client */
        if (scan_expr(p, args, rd->headers)) {
            rd->client = 1;
        }
        scan_header(p, args, rd);
        return;
    }
    if (strcasecmp(d->directive, "SetEnvIf") == 0
        || strcasecmp(d->directive, "SetEnvIfNoCase") == 0) {
        skip = 2;                       /* attribute regex env... */
    }
    else if (strcasecmp(d->directive, "BrowserMatch") == 0
             || strcasecmp(d->directive, "BrowserMatchNoCase") == 0
             || strcasecmp(d->directive, "SetEnvIfExpr") == 0) {
        skip = 1;                       /* regex|expr env... */
    }
    else {
        return;
    }
    for (;;) {
        char *w = ap_getword_conf(p, &args), *eq;

        if (*w == '\0') {
            return;
        }
        if (skip > 0) {
            skip--;
            continue;
        }
        if (*w == '!') {
            w++;
        }
        if ((eq = strchr(w, '=')) != NULL) {
            *eq = '\0';
        }
        if (*w != '\0') {
            add_word(envs, w);
        }
    }
}

static void walk_config(apr_pool_t *p, const ap_directive_t *d,
                        reqperf_config_reads_t *rd)
{
    for (; d != NULL; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost") == 0) {
            continue;                   /* its own, below */
        }
        scan_directive(p, d, rd);
        if (d->first_child != NULL) {
            walk_config(p, d->first_child, rd);
        }
    }
}

void reqperf_cache_config_reads(apr_pool_t *p, server_rec *s)
{
    reqperf_config_reads_t g;
    const ap_directive_t *d;
    server_rec *vs;

    memset(&g, 0, sizeof(g));
    g.headers = apr_array_make(p, 4, sizeof(char *));
    g.envs = apr_array_make(p, 4, sizeof(char *));
    walk_config(p, ap_conftree, &g);
    for (vs = s; vs != NULL; vs = vs->next) {
        reqperf_srv_conf_t *sc = ap_get_module_config(vs->module_config,
                                                      &reqperf_module);
        reqperf_config_reads_t *rd = &sc->reads;

        rd->headers = apr_array_copy(p, g.headers);
        rd->envs = apr_array_copy(p, g.envs);
        rd->echo = g.echo ? apr_array_copy(p, g.echo) : NULL;
        rd->client = g.client;
        rd->unknown = g.unknown;
        /* once, not per request; with the server it names, so that a
         * config struct shared by several servers (a module loaded without
         * AP_MODULE_FLAG_ALWAYS_MERGE) is never read as another's */
        sc->vhost_id = vhost_id(p, vs);
        sc->vhost_id_of = vs;
        if (!vs->is_virtual) {
            continue;
        }
        for (d = ap_conftree; d != NULL; d = d->next) {
            if (strcasecmp(d->directive, "<VirtualHost") == 0
                && (unsigned)d->line_num == (unsigned)vs->defn_line_number
                && vs->defn_name
                && d->filename && strcmp(d->filename, vs->defn_name) == 0) {
                walk_config(p, d->first_child, rd);
            }
        }
    }
}

/*
 * .htaccess files are not in the tree: Apache reads them while it walks a
 * request's directories, runs their directives and keeps nothing of their
 * text.  What it keeps is the list of the directories it looked in and
 * whether it found a file (r->htaccess).  A file it applied is read again
 * here, line by line with Apache's own reader, and scanned as the tree is;
 * a container line (<IfModule>, <Files>, <If>) is passed over and its
 * lines are scanned all the same, so a directive counts even where a
 * condition would skip it.  <If> conditions need nothing: ap_expr names
 * the headers it reads in Vary itself.  A file Apache applied that cannot
 * be read again (gone, or a line too long) reads as unknown: the request
 * is not looked up and its answer is not stored.
 */
static int has_word(const apr_array_header_t *a, const char *w)
{
    int i;

    for (i = 0; a != NULL && i < a->nelts; i++) {
        if (strcasecmp(APR_ARRAY_IDX(a, i, const char *), w) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The file ap_parse_htaccess() applied in dir: the first of
 * AccessFileName's names that opens.  0, or -1 when none can be read. */
static int scan_htaccess(request_rec *r, const char *dir,
                         reqperf_htaccess_reads_t *out)
{
    core_server_config *core = ap_get_core_module_config(
        r->server->module_config);
    const char *names = core->access_name ? core->access_name : "";
    char *line = apr_palloc(r->pool, MAX_STRING_LEN);

    while (*names != '\0') {
        const char *name = ap_getword_conf(r->pool, &names);
        ap_configfile_t *f;
        apr_status_t rv;

        if (*name == '\0') {
            break;
        }
        rv = ap_pcfg_openfile(&f, r->pool,
                              ap_make_full_path(r->pool, dir, name));
        if (APR_STATUS_IS_ENOENT(rv) || APR_STATUS_IS_ENOTDIR(rv)) {
            continue;                   /* Apache tried the next name too */
        }
        if (rv != APR_SUCCESS) {
            return -1;
        }
        while ((rv = ap_cfg_getline(line, MAX_STRING_LEN, f)) == APR_SUCCESS) {
            const char *args = line;
            ap_directive_t d;

            if (*line == '#' || *line == '\0'
                || (line[0] == '<' && line[1] == '/')) {
                continue;
            }
            memset(&d, 0, sizeof(d));
            d.directive = ap_getword_white(r->pool, &args);
            d.args = args;             /* (<If "expr">: its '>' is no read) */
            scan_directive(r->pool, &d, &out->reads);
        }
        ap_cfg_closefile(f);
        if (out->reads.echo != NULL || out->reads.client
            || out->reads.unknown) {
            return -1;                  /* keyed only from the tree */
        }
        return rv == APR_EOF ? 0 : -1;
    }
    return -1;                          /* Apache found one; it is gone */
}

/* What the .htaccess files applied to r so far read of the request. */
static void htaccess_reads(request_rec *r, reqperf_htaccess_reads_t *out)
{
    const struct htaccess_result *h;

    memset(out, 0, sizeof(*out));
    out->seen = r->htaccess;
    for (h = r->htaccess; h != NULL; h = h->next) {
        if (h->htaccess == NULL) {
            continue;                   /* looked, no file */
        }
        if (out->reads.headers == NULL) {
            out->reads.headers = apr_array_make(r->pool, 4, sizeof(char *));
            out->reads.envs = apr_array_make(r->pool, 4, sizeof(char *));
        }
        if (scan_htaccess(r, h->dir, out) != 0) {
            out->unreadable = 1;
            return;
        }
    }
}

int reqperf_cache_htaccess_take(request_rec *r, reqperf_cache_req_t *cr)
{
    htaccess_reads(r, &cr->ht);
    return cr->ht.unreadable ? -1 : 0;
}

/* Whether .htaccess files applied since the lookup read what its key does
 * not hold (the quick mode looks up before any is read). */
static int htaccess_reads_more(request_rec *r, const reqperf_cache_req_t *cr,
                               const reqperf_dir_conf_t *d)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                  &reqperf_module);
    reqperf_htaccess_reads_t now;
    const char **names;
    int n, i, j;

    if (r->htaccess == cr->ht.seen) {
        return 0;
    }
    htaccess_reads(r, &now);
    if (now.unreadable) {
        return 1;
    }
    names = keyed_names(r, d, cr, &n);
    for (i = 0; now.reads.headers != NULL && i < now.reads.headers->nelts; i++) {
        const char *w = APR_ARRAY_IDX(now.reads.headers, i, const char *);

        for (j = 0; j < n && strcasecmp(names[j], w) != 0; j++) {
        }
        if (j == n) {
            return 1;
        }
    }
    for (i = 0; now.reads.envs != NULL && i < now.reads.envs->nelts; i++) {
        const char *w = APR_ARRAY_IDX(now.reads.envs, i, const char *);

        if (!has_word(sc->reads.envs, w) && !has_word(cr->ht.reads.envs, w)) {
            return 1;
        }
    }
    return 0;
}

/* v with '%', ';' and '=' written %XX: a value that holds them cannot
 * spell other variables ("en;theme=dark" is not lang=en, theme=dark). */
static const char *env_value(apr_pool_t *p, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = 0, i, j;
    char *out;

    for (i = 0; v[i] != '\0'; i++) {
        n += (v[i] == '%' || v[i] == ';' || v[i] == '=') ? 3 : 1;
    }
    if (n == i) {
        return v;
    }
    out = apr_palloc(p, n + 1);
    for (i = 0, j = 0; v[i] != '\0'; i++) {
        if (v[i] == '%' || v[i] == ';' || v[i] == '=') {
            out[j++] = '%';
            out[j++] = hex[((unsigned char)v[i]) >> 4];
            out[j++] = hex[((unsigned char)v[i]) & 15];
        }
        else {
            out[j++] = v[i];
        }
    }
    out[j] = '\0';
    return out;
}

static const char *env_pair(request_rec *r, const char *out, const char *name)
{
    const char *v = apr_table_get(r->subprocess_env, name);

    return v != NULL ? apr_pstrcat(r->pool, out, name, "=",
                                   env_value(r->pool, v), ";", NULL)
                     : out;
}

/* The environment variables the key holds, "name=value;..." for those
 * set ("" when none is): those the configuration sets from the request,
 * then those the lookup's .htaccess files set. */
const char *reqperf_cache_env_key(request_rec *r,
                                  const reqperf_cache_req_t *cr)
{
    reqperf_srv_conf_t *sc = ap_get_module_config(r->server->module_config,
                                                  &reqperf_module);
    const char *out = "";
    int i;

    for (i = 0; sc->reads.envs && i < sc->reads.envs->nelts; i++) {
        out = env_pair(r, out, APR_ARRAY_IDX(sc->reads.envs, i, const char *));
    }
    for (i = 0; cr->ht.reads.envs != NULL && i < cr->ht.reads.envs->nelts; i++) {
        const char *name = APR_ARRAY_IDX(cr->ht.reads.envs, i, const char *);

        if (!has_word(sc->reads.envs, name)) {
            out = env_pair(r, out, name);
        }
    }
    return out;
}

/* ---------------------------------------------------------------- */
/* what Apache changed                                               */

/* The Vary that modules set before the handler ran (mod_rewrite adds the
 * headers its RewriteConds read); a proxied response replaces headers_out
 * and would lose it.  Over the chain of internal redirects. */
const char *reqperf_cache_server_vary(request_rec *r)
{
    const char *out = NULL;
    request_rec *p;

    for (p = r; p != NULL; p = p->prev) {
        const char *v = apr_table_getm(r->pool, p->headers_out, "Vary");
        if (v != NULL) {
            out = out ? apr_pstrcat(r->pool, out, ", ", v, NULL) : v;
        }
    }
    return out;
}

static int value_changed(request_rec *r, const reqperf_cache_req_t *cr,
                         const char *name)
{
    const char *sent = apr_table_getm(r->pool, cr->sent.keyed, name);
    const char *now = apr_table_getm(r->pool, r->headers_in, name);

    if (sent == NULL || now == NULL) {
        return sent != now;
    }
    return strcmp(sent, now) != 0;
}

int reqperf_cache_inputs_changed(request_rec *r,
                                 const reqperf_cache_req_t *cr,
                                 const reqperf_dir_conf_t *d,
                                 const char *vary)
{
    const char **names, **vnames = NULL;
    int n, i;

    names = keyed_names(r, d, cr, &n);
    for (i = 0; i < n; i++) {
        if (value_changed(r, cr, names[i])) {
            return 1;
        }
    }
    /* an environment variable set since the lookup (a SetEnvIf of a
     * <Location>, which the quick handler runs before) */
    if (cr->env_key != NULL
        && strcmp(cr->env_key, reqperf_cache_env_key(r, cr)) != 0) {
        return 1;
    }
    if (htaccess_reads_more(r, cr, d)) {
        return 1;
    }
    if (vary != NULL && (n = rp_vary_parse(r->pool, vary, &vnames)) > 0) {
        for (i = 0; i < n; i++) {
            if (value_changed(r, cr, vnames[i])) {
                return 1;
            }
        }
    }
    return 0;
}
