/*
 * mod_reqperf_cache_ssi.c: what a stored page's server-side includes read
 * of the request (cache/rp_ssi.h).
 *
 * REQPERF_SSI stands just before mod_include's INCLUDES filter of a page,
 * or of a part, being stored, and reads the source INCLUDES is given: the
 * request headers it reads are added to the page's Vary (as an included
 * part's Vary is), and a page that reads who is asking (its address, its
 * cookies, #printenv, #exec) is not stored (vary-private).  A filter that
 * stands between it and INCLUDES could write directives it cannot see: the
 * page is not stored either.  INCLUDES run some other way (mod_filter's
 * FilterProvider) leaves mod_include's variables behind: a page that has
 * them and was not read here is not stored.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "util_filter.h"
#include "util_cfgtree.h"

#include "mod_reqperf_cache.h"
#include "cache/rp_ssi.h"

/* the start tags in use: mod_include's default and every SSIStartTag */
#define SSI_TAGS_MAX 4
static const char *ssi_tags[SSI_TAGS_MAX] = { "<!--#" };
static int n_ssi_tags = 1;
static int ssi_tags_unknown;           /* more tags than we follow */

static ap_filter_rec_t *ssi_filter_handle;

typedef struct {
    rp_ssi_t scan[SSI_TAGS_MAX];
    int n;
    reqperf_cache_req_t *cr;
    apr_array_header_t *heard;         /* the headers added to Vary */
} ssi_ctx_t;

static void walk_tags(apr_pool_t *p, const ap_directive_t *d)
{
    int i;

    for (; d != NULL; d = d->next) {
        if (strcasecmp(d->directive, "SSIStartTag") == 0 && d->args) {
            const char *args = d->args;
            const char *tag = ap_getword_conf(p, &args);

            for (i = 0; i < n_ssi_tags && strcmp(ssi_tags[i], tag) != 0; i++) {
            }
            if (i == n_ssi_tags) {
                if (n_ssi_tags < SSI_TAGS_MAX) {
                    ssi_tags[n_ssi_tags++] = tag;
                }
                else {
                    ssi_tags_unknown = 1;
                }
            }
        }
        if (d->first_child != NULL) {
            walk_tags(p, d->first_child);
        }
    }
}

void reqperf_cache_ssi_config(apr_pool_t *p)
{
    n_ssi_tags = 1;
    ssi_tags_unknown = 0;
    walk_tags(p, ap_conftree);
}

static void personal(reqperf_cache_req_t *cr)
{
    cr->ssi_personal = 1;
    if (cr->sub_nostore == RP_NOSTORE_NONE) {
        cr->sub_nostore = RP_NOSTORE_VARY_PRIVATE;
    }
}

static void heard(void *data, const char *name, size_t len)
{
    ssi_ctx_t *x = data;
    reqperf_cache_req_t *cr = x->cr;
    char *h;
    int i;

    for (i = 0; i < x->heard->nelts; i++) {
        const char *was = APR_ARRAY_IDX(x->heard, i, const char *);

        if (strlen(was) == len && strncasecmp(was, name, len) == 0) {
            return;
        }
    }
    h = apr_pstrmemdup(cr->lk.pool, name, len);
    APR_ARRAY_PUSH(x->heard, const char *) = h;
    cr->server_vary = cr->server_vary
                      ? apr_pstrcat(cr->lk.pool, cr->server_vary, ", ", h, NULL)
                      : h;
}

static int is_ours(const ap_filter_t *f)
{
    return strncasecmp(f->frec->name, "reqperf_", 8) == 0;
}

/* Whether INCLUDES is below f in f's request, and what stands between:
 * 0 none, 1 right below (ours aside), -1 with another filter between. */
static int includes_below(const ap_filter_t *f)
{
    const ap_filter_t *n;
    int between = 0;

    for (n = f->next; n != NULL && n->r == f->r
                      && n->frec->ftype < AP_FTYPE_PROTOCOL; n = n->next) {
        if (strcasecmp(n->frec->name, "includes") == 0) {
            return between ? -1 : 1;
        }
        if (!is_ours(n)) {
            between = 1;
        }
    }
    return 0;
}

static apr_status_t ssi_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ssi_ctx_t *x = f->ctx;
    apr_bucket *b;
    int i;

    if (x == NULL) {
        reqperf_cache_req_t *cr = reqperf_cache_req(f->r);
        int below;

        if (cr == NULL || !(cr->capture || cr->observing) || cr->gave_up
            || (below = includes_below(f)) == 0) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        if (f->r->main == NULL) {
            cr->ssi_read = 1;          /* (a part's own variables are its) */
        }
        if (below < 0 || ssi_tags_unknown) {
            personal(cr);              /* what INCLUDES is given is not seen */
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        f->ctx = x = apr_pcalloc(f->r->pool, sizeof(*x));
        x->cr = cr;
        x->heard = apr_array_make(f->r->pool, 4, sizeof(char *));
        for (i = 0; i < n_ssi_tags; i++) {
            if (rp_ssi_init(&x->scan[i], ssi_tags[i], heard, x) != 0) {
                personal(cr);
            }
        }
        x->n = n_ssi_tags;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(b)) {
            for (i = 0; i < x->n; i++) {
                if (rp_ssi_finish(&x->scan[i])) {
                    personal(x->cr);
                }
            }
            x->n = 0;
            break;
        }
        if (APR_BUCKET_IS_METADATA(b) || x->n == 0) {
            continue;
        }
        if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
            personal(x->cr);           /* INCLUDES fails the same read */
            continue;
        }
        for (i = 0; i < x->n; i++) {
            rp_ssi_feed(&x->scan[i], data, len);
        }
    }
    return ap_pass_brigade(f->next, bb);
}

void reqperf_cache_ssi_add_filter(request_rec *r)
{
    ap_add_output_filter_handle(ssi_filter_handle, NULL, r, r->connection);
}

/* At the page's end: mod_include's variables without a reading here. */
void reqperf_cache_ssi_judge(request_rec *r, reqperf_cache_req_t *cr)
{
    if (!cr->ssi_read && r->subprocess_env != NULL
        && apr_table_get(r->subprocess_env, "DOCUMENT_NAME") != NULL) {
        personal(cr);
    }
}

void reqperf_cache_ssi_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* before every resource filter: INCLUDES is one, added by mod_mime
     * (AddOutputFilter) before the insert_filter hooks run */
    ssi_filter_handle = ap_register_output_filter(
        "REQPERF_SSI", ssi_filter, NULL,
        (ap_filter_type)(AP_FTYPE_RESOURCE - 1));
}
