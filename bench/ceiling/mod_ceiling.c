/*
 * mod_ceiling.c: two ceilings for the cache benchmarks, not for use.
 *
 * `SetHandler`-free quick handlers that do the least a cache hit can do,
 * so the benchmark can say how close mod_reqperf comes to it:
 *
 *   CeilingMemcached host:port key   every request fetches one key from
 *                                    memcached with libmemcached (a pool
 *                                    per child) and sends it; no key
 *                                    building, no checks
 *   CeilingMemory file               the file's bytes, read at start-up,
 *                                    sent from memory
 *
 * Both answer only URIs under /ceiling/, from the quick handler, or with
 *
 *   CeilingPhase handler             from the handler hook (first), after
 *                                    the whole request pipeline has run,
 *                                    as a cache in handler mode does
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "apr_file_io.h"
#include <libmemcached/memcached.h>
#include <libmemcached/util.h>

module AP_MODULE_DECLARE_DATA ceiling_module;

typedef struct {
    const char *mc_server;
    const char *mc_key;
    const char *file;
    char *page;
    apr_size_t page_len;
    int in_handler;
} ceiling_conf_t;

static memcached_pool_st *pool;

static void *create_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(ceiling_conf_t));
}

static const char *set_mc(cmd_parms *cmd, void *d, const char *server,
                          const char *key)
{
    ceiling_conf_t *c = ap_get_module_config(cmd->server->module_config,
                                             &ceiling_module);
    (void)d;
    c->mc_server = server;
    c->mc_key = key;
    return NULL;
}

static const char *set_mem(cmd_parms *cmd, void *d, const char *file)
{
    ceiling_conf_t *c = ap_get_module_config(cmd->server->module_config,
                                             &ceiling_module);
    apr_file_t *f;
    apr_finfo_t fi;

    (void)d;
    c->file = file;
    if (apr_file_open(&f, file, APR_READ, 0, cmd->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        return "CeilingMemory: cannot read the file";
    }
    c->page_len = (apr_size_t)fi.size;
    c->page = apr_palloc(cmd->pool, c->page_len);
    apr_file_read_full(f, c->page, c->page_len, NULL);
    apr_file_close(f);
    return NULL;
}

static const char *set_phase(cmd_parms *cmd, void *d, const char *phase)
{
    ceiling_conf_t *c = ap_get_module_config(cmd->server->module_config,
                                             &ceiling_module);

    (void)d;
    if (strcmp(phase, "handler") == 0) {
        c->in_handler = 1;
    }
    else if (strcmp(phase, "quick") != 0) {
        return "CeilingPhase: quick or handler";
    }
    return NULL;
}

static void child_init(apr_pool_t *p, server_rec *s)
{
    ceiling_conf_t *c = ap_get_module_config(s->module_config,
                                             &ceiling_module);
    memcached_st *m;
    char *host, *colon;
    int threads = 1;

    (void)p;
    if (c->mc_server == NULL) {
        return;
    }
    host = apr_pstrdup(p, c->mc_server);
    colon = strrchr(host, ':');
    *colon = '\0';
    m = memcached_create(NULL);
    memcached_server_add(m, host, (in_port_t)atoi(colon + 1));
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    pool = memcached_pool_create(m, 1, threads > 0 ? threads + 1 : 2);
}

static int serve(request_rec *r)
{
    ceiling_conf_t *c = ap_get_module_config(r->server->module_config,
                                             &ceiling_module);
    apr_bucket_brigade *bb;
    const char *body;
    apr_size_t len;

    if (strncmp(r->uri, "/ceiling/", 9) != 0) {
        return DECLINED;
    }
    if (c->page != NULL) {
        body = c->page;
        len = c->page_len;
    }
    else if (pool != NULL) {
        memcached_return_t rc;
        memcached_st *m = memcached_pool_pop(pool, true, &rc);
        uint32_t flags;
        size_t vlen;
        char *v = memcached_get(m, c->mc_key, strlen(c->mc_key), &vlen,
                                &flags, &rc);
        memcached_pool_push(pool, m);
        if (v == NULL) {
            return HTTP_NOT_FOUND;
        }
        body = apr_pmemdup(r->pool, v, vlen);
        len = vlen;
        free(v);
    }
    else {
        return DECLINED;
    }
    ap_set_content_type(r, "text/html");
    ap_set_content_length(r, (apr_off_t)len);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(
        body, len, r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
        r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    return OK;
}

static int quick(request_rec *r, int lookup)
{
    ceiling_conf_t *c = ap_get_module_config(r->server->module_config,
                                             &ceiling_module);

    return lookup || c->in_handler ? DECLINED : serve(r);
}

static int handler(request_rec *r)
{
    ceiling_conf_t *c = ap_get_module_config(r->server->module_config,
                                             &ceiling_module);

    return c->in_handler && r->main == NULL ? serve(r) : DECLINED;
}

static const command_rec cmds[] = {
    AP_INIT_TAKE2("CeilingMemcached", set_mc, NULL, RSRC_CONF,
                  "host:port key"),
    AP_INIT_TAKE1("CeilingMemory", set_mem, NULL, RSRC_CONF, "file"),
    AP_INIT_TAKE1("CeilingPhase", set_phase, NULL, RSRC_CONF,
                  "quick (the default) or handler"),
    { NULL }
};

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(quick, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
}

AP_DECLARE_MODULE(ceiling) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, create_conf, NULL, cmds,
    register_hooks
};
