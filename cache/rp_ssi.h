/*
 * rp_ssi.h: what a page's server-side includes read of the request.
 *
 * mod_include gives a page the whole CGI environment of the request that
 * asked for it: <!--#echo var="HTTP_USER_AGENT" -->, an #if on
 * %{HTTP:X-Lang} or v('REMOTE_ADDR'), #printenv.  Apache names none of it
 * in Vary (ap_expr does for %{HTTP_*} and req(), not for echo, v() or
 * $NAME), so a stored page would show its first client's headers, or
 * address, to every other.  This scanner reads the page's source as
 * mod_include is given it and says:
 *
 *  - the request headers it reads (HTTP_ACCEPT_LANGUAGE, %{HTTP:X-Lang},
 *    req('X-Lang')): the page is stored as a variant of them, as if it
 *    had named them in Vary;
 *  - "personal": it reads who is asking (REMOTE_*, SSL_*, the cookie,
 *    the protocol, #printenv, #exec, an unknown element, a variable named
 *    at run time): it is never stored.
 *
 * It errs on one side only.  References are looked for in the whole
 * source, inside a directive or not, so text that merely looks like one
 * costs a variant or the page's storing, never a wrong page.  Elements
 * are read wherever the start tag appears, quoted or not.
 */
#ifndef RP_SSI_H
#define RP_SSI_H

#include <stddef.h>

#define RP_SSI_TAG_MAX 32
#define RP_SSI_TOKEN_MAX 256

/* A request header the page reads: name[0..len), as sent ("X-Lang"). */
typedef void rp_ssi_header_fn(void *ctx, const char *name, size_t len);

typedef struct {
    char start[RP_SSI_TAG_MAX];         /* SSIStartTag, "<!--#" */
    size_t start_len;
    size_t fail[RP_SSI_TAG_MAX];        /* its KMP failure function */
    size_t matched;                     /* bytes of it matched so far */
    int state;
    char tok[RP_SSI_TOKEN_MAX];         /* the token being read */
    size_t tok_len;
    int tok_long;                       /* it ran past RP_SSI_TOKEN_MAX */
    char quote;                         /* the quote of a literal */
    int func;                           /* what the literal names */
    char prev;                          /* the byte before the token */
    size_t expr_left;                   /* bytes of an #if still to watch */
    int personal;                       /* reads who is asking */
    rp_ssi_header_fn *on_header;
    void *ctx;
} rp_ssi_t;

/* 0, or -1 when the start tag is empty or longer than RP_SSI_TAG_MAX - 1
 * (then every page is personal). */
int rp_ssi_init(rp_ssi_t *s, const char *start_tag, rp_ssi_header_fn *fn,
                void *ctx);

/* The next n bytes of the source, in any pieces. */
void rp_ssi_feed(rp_ssi_t *s, const char *data, size_t n);

/* At the source's end: 1 when the page is personal, else 0. */
int rp_ssi_finish(rp_ssi_t *s);

#endif /* RP_SSI_H */
