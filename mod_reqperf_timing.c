/*
 * mod_reqperf_timing.c: per-phase timing of every request.
 *
 * How a request is measured (see stats/rp_timeline.h for the rules):
 *
 *  - "read" starts when the first byte of the request arrives.  A
 *    connection filter, at the first read after httpd created the
 *    request_rec, waits for one byte with a speculative read (the core
 *    hands a line up only once it is whole: a request line trickled
 *    over seconds would otherwise be in no request) and stamps then, so
 *    the idle wait of a keep-alive connection (prefork blocks in that
 *    read; event waits in its poll set) is never counted.
 *  - Every later phase is observed at its start by an
 *    APR_HOOK_REALLY_FIRST hook that only takes the time and declines;
 *    a phase lasts until the next one starts.  Hooks at the end of a
 *    phase would be skipped whenever another module answers OK first.
 *  - "handler" runs from the handler hook until the end-of-stream bucket
 *    has been passed down the output filters (the handler's last
 *    ap_pass_brigade returns); "ttfb" from the handler hook until the
 *    first brigade with data passes the same filter, as mod_logio's
 *    %^FB does (AP_FTYPE_RESOURCE, right after the handler).
 *  - The time between that end of stream and the log hooks (the core
 *    writing out what is left) belongs to no phase but to the total.
 *  - "log" is the log_transaction hooks themselves.  The notes are set
 *    when logging starts, so mod_log_config can write them: they hold
 *    everything up to that point, and the log phase only reaches the
 *    statistics.
 *
 * HTTP/2 (mod_http2) runs each stream as a request on a secondary
 * connection of its own (c2: c->master set, an empty conn_config, our
 * pre_connection hook called by the h2 worker that took the stream up):
 *
 *  - "queue" runs from the stream's HEADERS frame (r->request_time) to
 *    that pre_connection: the wait for an h2 worker.  "read" runs from
 *    there to post_read_request (mod_http2 turning the frame into a
 *    request); no byte of the request head passes a connection filter.
 *  - The request ends when the worker passes the end-of-request bucket
 *    (EOR) down the c2's filters (REQPERF_H2_END): mod_http2 runs the
 *    log hooks only when it releases the stream, which on a busy
 *    connection can wait for another stream; that wait is no one's.
 *  - An h2c Upgrade is counted once: the HTTP/1.1 request (its 101) is
 *    not counted, and stream 1, which answers it, carries on its
 *    timeline (read and the phases before the switch, then queue, read
 *    again and the rest on the h2 worker).
 *
 * TLS (mod_ssl) sits below our connection filter: the handshake and idle
 * time before a request's first decrypted byte are in no request.
 *
 * Subrequests (mod_include, DirectoryIndex lookups) are ignored: their
 * time belongs to the parent's phase that made them.  Internal redirects
 * (ErrorDocument, mod_rewrite [PT] ...) continue the original request's
 * timeline, which lives in the original request_rec's request_config.
 *
 * Cost per request: a few clock reads (vDSO, no system call), one
 * allocation from r->pool, no lock.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_log.h"
#include "util_filter.h"
#include "http_connection.h"

#include "mod_http2.h"

#include "mod_reqperf.h"
#include "stats/rp_route.h"

APLOG_USE_MODULE(reqperf);

static ap_filter_rec_t *reqperf_in_filter;
static ap_filter_rec_t *reqperf_out_filter;
static ap_filter_rec_t *reqperf_h2_end_filter;
static APR_OPTIONAL_FN_TYPE(http2_var_lookup) *h2_var;

request_rec *reqperf_original_request(request_rec *r)
{
    while (r->main) {
        r = r->main;
    }
    while (r->prev) {
        r = r->prev;
    }
    return r;
}

static request_rec *final_request(request_rec *r)
{
    while (r->next) {
        r = r->next;
    }
    return r;
}

reqperf_req_t *reqperf_req(request_rec *r)
{
    return ap_get_module_config(reqperf_original_request(r)->request_config,
                                &reqperf_module);
}

static reqperf_dir_conf_t *dir_conf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &reqperf_module);
}

static int is_sub(request_rec *r)
{
    return r->main != NULL;
}

/* --- the connection: when does a request start arriving? ------------ */

static reqperf_conn_t *conn_state(conn_rec *c)
{
    return ap_get_module_config(c->conn_config, &reqperf_module);
}

static int reqperf_pre_connection(conn_rec *c, void *csd)
{
    reqperf_conn_t *cs;

    (void)csd;
    if (c->outgoing) {
        return DECLINED;               /* mod_proxy's backend connections */
    }
    cs = apr_pcalloc(c->pool, sizeof(*cs));
    ap_set_module_config(c->conn_config, &reqperf_module, cs);
    if (c->master != NULL) {
        /* an HTTP/2 stream, just taken up by an h2 worker */
        cs->read_start_us = rp_now_us();
        ap_add_output_filter_handle(reqperf_h2_end_filter, cs, NULL, c);
        return DECLINED;
    }
    ap_add_input_filter_handle(reqperf_in_filter, cs, NULL, c);
    return DECLINED;
}

static apr_status_t reqperf_in(ap_filter_t *f, apr_bucket_brigade *bb,
                               ap_input_mode_t mode, apr_read_type_e block,
                               apr_off_t readbytes)
{
    reqperf_conn_t *cs = f->ctx;
    apr_status_t rv;

    if (cs->awaiting && block == APR_BLOCK_READ
        && (mode == AP_MODE_GETLINE || mode == AP_MODE_READBYTES
            || mode == AP_MODE_EXHAUSTIVE)) {
        /* The core hands a line up only once it is whole: a request line
         * trickled over seconds would leave here at its end.  So first
         * what has come, without waiting: when anything has (the event
         * MPM hands a connection over once it is readable), that is the
         * read itself, the time of its first bytes, and a line handed up
         * in part is read on by its caller (ap_rgetline asks until LF). */
        rv = ap_get_brigade(f->next, bb, mode, APR_NONBLOCK_READ, readbytes);
        if (rv == APR_SUCCESS && !APR_BRIGADE_EMPTY(bb)) {
            cs->read_start_us = rp_now_us();
            cs->awaiting = 0;
            return rv;
        }
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
            return rv;                 /* EOF, an error: what a read gets */
        }
        /* Nothing yet (an idle keep-alive connection under prefork):
         * wait for the first byte without consuming it (the core keeps
         * what it read for the real read below). */
        rv = ap_get_brigade(f->next, bb, AP_MODE_SPECULATIVE, block, 1);
        if (rv == APR_SUCCESS && !APR_BRIGADE_EMPTY(bb)) {
            cs->read_start_us = rp_now_us();
            cs->awaiting = 0;
        }
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
            return rv;                 /* timeout, EOF: what the read gets */
        }
    }
    rv = ap_get_brigade(f->next, bb, mode, block, readbytes);

    if (cs->awaiting && rv == APR_SUCCESS && mode != AP_MODE_SPECULATIVE
        && !APR_BRIGADE_EMPTY(bb)) {
        cs->read_start_us = rp_now_us();
        cs->awaiting = 0;
    }
    return rv;
}

static apr_status_t forget_stream_req(void *data)
{
    ((reqperf_conn_t *)data)->stream_req = NULL;
    return APR_SUCCESS;
}

static int reqperf_create_request(request_rec *r)
{
    reqperf_conn_t *cs;
    reqperf_req_t *rs;

    if (r->main || r->prev) {
        return DECLINED;
    }
    rs = apr_pcalloc(r->pool, sizeof(*rs));
    rs->tl.current = RP_PHASE_NONE;
    ap_set_module_config(r->request_config, &reqperf_module, rs);
    cs = conn_state(r->connection);
    if (cs == NULL) {
        return DECLINED;
    }
    if (r->connection->master != NULL) {
        /* the one request of an HTTP/2 stream, for REQPERF_H2_END */
        cs->stream_req = rs;
        apr_pool_cleanup_register(r->pool, cs, forget_stream_req,
                                  apr_pool_cleanup_null);
        return DECLINED;
    }
    cs->awaiting = 1;
    cs->read_start_us = 0;
    return DECLINED;
}

/* Stream 1 of an h2c Upgrade takes over the upgraded request's timeline
 * (at most once: the flag is cleared by the one that takes it). */
static int take_upgrade(request_rec *r, reqperf_req_t *rs)
{
    reqperf_conn_t *c1s = conn_state(r->connection->master);
    const char *id;

    if (c1s == NULL || h2_var == NULL
        || !__atomic_load_n(&c1s->upgrade_pending, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    id = h2_var(r->pool, r->server, r->connection, r, "H2_STREAM_ID");
    if (id == NULL || strcmp(id, "1") != 0
        || !__atomic_exchange_n(&c1s->upgrade_pending, 0, __ATOMIC_ACQ_REL)) {
        return 0;
    }
    rs->tl = c1s->upgrade_tl;
    return 1;
}

/* An HTTP/2 stream: queue from its HEADERS frame (r->request_time, wall
 * clock) to the worker taking it up, read from then to now. */
static void begin_stream(request_rec *r, reqperf_req_t *rs,
                         reqperf_conn_t *cs, apr_int64_t now)
{
    apr_int64_t taken = cs->read_start_us > 0 && cs->read_start_us <= now
                        ? cs->read_start_us : now;
    apr_int64_t queued = taken;

    if (r->request_time > 0) {
        /* since HEADERS, less the time since the worker took it */
        apr_int64_t waited = (apr_int64_t)(apr_time_now() - r->request_time)
                             - (now - taken);
        if (waited > 0) {
            queued = taken - waited;
        }
    }
    if (take_upgrade(r, rs)) {
        rp_timeline_enter(&rs->tl, RP_PHASE_QUEUE, queued);
    }
    else {
        rp_timeline_begin(&rs->tl, queued, RP_PHASE_QUEUE);
    }
    rp_timeline_enter(&rs->tl, RP_PHASE_READ, taken);
}

static void begin(request_rec *r, reqperf_req_t *rs, apr_int64_t now)
{
    reqperf_conn_t *cs = conn_state(r->connection);

    if (cs != NULL && r->connection->master != NULL) {
        begin_stream(r, rs, cs, now);
    }
    else if (cs != NULL && !cs->awaiting && cs->read_start_us > 0
             && cs->read_start_us <= now) {
        rp_timeline_begin(&rs->tl, cs->read_start_us, RP_PHASE_READ);
    }
    else {
        /* no byte seen by our filter (another protocol module): the
         * request starts here and "read" is not reported */
        rp_timeline_begin(&rs->tl, now, RP_PHASE_NONE);
    }
    rs->begun = 1;
}

/* --- phase starts ------------------------------------------------------ */

static void enter(request_rec *r, int phase)
{
    reqperf_req_t *rs;
    apr_int64_t now;

    if (is_sub(r) || (rs = reqperf_req(r)) == NULL) {
        return;
    }
    if (rs->begun && rs->tl.current == phase && !rs->tl.ended) {
        /* the phase goes on (translate after pre_translate, access_ex
         * after access): one clock read per phase boundary, not per hook */
        return;
    }
    now = rp_now_us();
    if (!rs->begun) {
        begin(r, rs, now);
    }
    rp_timeline_enter(&rs->tl, phase, now);
}

void reqperf_phase_enter(request_rec *r, int phase)
{
    enter(r, phase);
}

void reqperf_skip(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);

    if (rs != NULL) {
        rs->skip = 1;
    }
}

static int reqperf_post_read(request_rec *r)
{
    enter(r, RP_PHASE_POST_READ);
    return DECLINED;
}

static int reqperf_pre_translate(request_rec *r)
{
    enter(r, RP_PHASE_TRANSLATE);
    return DECLINED;
}

static int reqperf_translate(request_rec *r)
{
    reqperf_req_t *rs;

    enter(r, RP_PHASE_TRANSLATE);
    /* the path as requested, decoded and normalised, before DirectoryIndex
     * or rewrites change r->uri: the route and the slow log use it */
    if (!is_sub(r) && r->prev == NULL && (rs = reqperf_req(r)) != NULL
        && rs->uri == NULL) {
        rs->uri = r->uri;
    }
    return DECLINED;
}

static int reqperf_map_storage(request_rec *r)
{
    enter(r, RP_PHASE_MAP_STORAGE);
    return DECLINED;
}

static int reqperf_header_parser(request_rec *r)
{
    enter(r, RP_PHASE_HEADER_PARSER);
    return DECLINED;
}

static int reqperf_access(request_rec *r)
{
    enter(r, RP_PHASE_ACCESS);
    return DECLINED;
}

static int reqperf_authn(request_rec *r)
{
    enter(r, RP_PHASE_AUTHN);
    return DECLINED;
}

static int reqperf_authz(request_rec *r)
{
    enter(r, RP_PHASE_AUTHZ);
    return DECLINED;
}

static int reqperf_type(request_rec *r)
{
    enter(r, RP_PHASE_TYPE);
    return DECLINED;
}

static int reqperf_fixups(request_rec *r)
{
    enter(r, RP_PHASE_FIXUPS);
    return DECLINED;
}

static int reqperf_handler(request_rec *r)
{
    enter(r, RP_PHASE_HANDLER);
    return DECLINED;
}

static void reqperf_insert_filter(request_rec *r)
{
    if (!is_sub(r) && reqperf_req(r) != NULL) {
        ap_add_output_filter_handle(reqperf_out_filter, NULL, r,
                                    r->connection);
    }
}

/* A response Apache writes itself (ap_send_error_response: a 404, the
 * 401 of authentication, a 403, a 304) starts the output filters afresh
 * from the protocol ones: REQPERF_OUT again, marked (its ctx) as an
 * error response's. */
static char error_response_mark;

static void reqperf_insert_error_filter(request_rec *r)
{
    if (!is_sub(r) && reqperf_req(r) != NULL) {
        ap_add_output_filter_handle(reqperf_out_filter, &error_response_mark,
                                    r, r->connection);
    }
}

/* --- first byte, end of stream, Server-Timing ----------------------- */

/* now: the time, or 0 to read the clock (only when the header is on) */
static void add_server_timing(request_rec *r, reqperf_req_t *rs,
                              apr_int64_t now)
{
    reqperf_dir_conf_t *d = dir_conf(r);
    char buf[1024];

    if (!reqperf_enabled(d) || !reqperf_server_timing(d) || rs->skip) {
        return;
    }
    if (now == 0) {
        now = rp_now_us();
    }
    rp_timeline_format_server_timing(&rs->tl, now, buf, sizeof(buf));
    /* after the application's own entries, never instead of them: a line
     * of its own at the end (merged into the first of several backend
     * lines, it would land between them) */
    apr_table_add(r->headers_out, "Server-Timing", buf);
}

static int brigade_has_data_or_eos(apr_bucket_brigade *bb)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)
            || (!APR_BUCKET_IS_METADATA(b) && b->length != 0)) {
            return 1;
        }
    }
    return 0;
}

static apr_status_t reqperf_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    reqperf_req_t *rs = reqperf_req(r);
    apr_status_t rv;
    apr_int64_t now = 0;
    int eos;

    if (rs == NULL || !rs->begun || rs->eos) {
        return ap_pass_brigade(f->next, bb);
    }
    if (f->ctx == &error_response_mark
        && !rp_timeline_ran(&rs->tl, RP_PHASE_HANDLER)) {
        /* an error before any handler (401, 403): the phase that failed
         * ends here, and there is no first byte of a handler's */
        if (!rs->headers_sent && !APR_BRIGADE_EMPTY(bb)) {
            now = rp_now_us();
            rp_timeline_enter(&rs->tl, RP_PHASE_NONE, now);
        }
    }
    else if (!rs->first_byte && brigade_has_data_or_eos(bb)) {
        now = rp_now_us();
        rs->first_byte = 1;
        rp_timeline_first_byte(&rs->tl, now);
    }
    if (!rs->headers_sent && !APR_BRIGADE_EMPTY(bb)) {
        /* HTTP_HEADER, further down, sends the headers with the first
         * brigade of any kind (mod_proxy flushes them alone when the
         * backend's body is late; then ttfb is not known yet) */
        rs->headers_sent = 1;
        reqperf_cache_strip(r);
        /* the backend's Server-Timing, before the module adds its own */
        reqperf_app_read(r, rs);
        add_server_timing(r, rs, now);
    }
    eos = !APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb));
    rv = ap_pass_brigade(f->next, bb);
    if (eos) {
        rs->eos = 1;
        if (rs->tl.current == RP_PHASE_HANDLER) {
            rp_timeline_enter(&rs->tl, RP_PHASE_NONE, rp_now_us());
        }
    }
    return rv;
}

/* A response that does not pass through REQPERF_OUT (a cache hit is sent
 * straight to the protocol filters): its first byte and its end. */
void reqperf_response_start(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);
    apr_int64_t now;

    if (rs == NULL || !rs->begun) {
        return;
    }
    now = rp_now_us();
    if (!rs->first_byte) {
        rs->first_byte = 1;
        rp_timeline_first_byte(&rs->tl, now);
    }
    if (!rs->headers_sent) {
        rs->headers_sent = 1;
        add_server_timing(r, rs, now);
    }
}

void reqperf_response_end(request_rec *r)
{
    reqperf_req_t *rs = reqperf_req(r);

    if (rs != NULL && rs->begun && !rs->eos) {
        rs->eos = 1;
        if (rs->tl.current == RP_PHASE_HANDLER) {
            rp_timeline_enter(&rs->tl, RP_PHASE_NONE, rp_now_us());
        }
    }
}

/* HTTP/2: the stream's worker hands its end-of-request bucket to
 * mod_http2; the request is complete, whenever its log hooks run. */
static apr_status_t reqperf_h2_end(ap_filter_t *f, apr_bucket_brigade *bb)
{
    reqperf_conn_t *cs = f->ctx;
    apr_bucket *b;

    if (cs->stream_req != NULL) {
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            if (AP_BUCKET_IS_EOR(b)) {
                reqperf_req_t *rs = cs->stream_req;

                /* passing the EOR down may free the request */
                cs->stream_req = NULL;
                if (rs->begun) {
                    rp_timeline_end(&rs->tl, rp_now_us());
                }
                break;
            }
        }
    }
    return ap_pass_brigade(f->next, bb);
}

/* An HTTP/1.1 request whose connection switches to h2c (an Upgrade,
 * after its 101) is answered by stream 1, a request of its own: this one
 * is not counted, and hands its timeline to that one. */
static int reqperf_protocol_switch(conn_rec *c, request_rec *r,
                                   server_rec *s, const char *protocol)
{
    reqperf_conn_t *cs;
    reqperf_req_t *rs;

    (void)s;
    if (r == NULL || c->master != NULL || strcmp(protocol, "h2c") != 0
        || is_sub(r)
        || (rs = reqperf_req(r)) == NULL || rs->skip || !rs->begun
        || (cs = conn_state(c)) == NULL) {
        return DECLINED;
    }
    rp_timeline_enter(&rs->tl, RP_PHASE_NONE, rp_now_us());
    cs->upgrade_tl = rs->tl;
    __atomic_store_n(&cs->upgrade_pending, 1, __ATOMIC_RELEASE);
    rs->skip = 1;
    return DECLINED;
}

static void reqperf_optional_fns(void)
{
    h2_var = APR_RETRIEVE_OPTIONAL_FN(http2_var_lookup);
}

/* --- the end: notes, then statistics --------------------------------- */

static void set_note(request_rec *orig, request_rec *fin, const char *name,
                     const char *value)
{
    /* added, not set: they are set once, when logging starts, and
     * apr_table_setn would compare each with the others (they share
     * their first four bytes, apr_table's checksum) */
    apr_table_addn(fin->notes, name, value);
    if (orig != fin) {
        apr_table_addn(orig->notes, name, value);
    }
}

/* The parent's "internal dummy connection" (OPTIONS * sent to wake a
 * child it wants to stop) is not a request of the site. */
static int is_dummy(request_rec *r)
{
    const char *ua;

    if (r->method_number != M_OPTIONS || r->uri == NULL
        || strcmp(r->uri, "*") != 0) {
        return 0;
    }
    ua = apr_table_get(r->headers_in, "User-Agent");
    return ua != NULL && ap_strstr_c(ua, "(internal dummy connection)");
}

static int reqperf_log_first(request_rec *r)
{
    reqperf_req_t *rs;
    request_rec *fin;
    apr_int64_t now;
    char *total, *phases;

    if (is_sub(r) || (rs = reqperf_req(r)) == NULL) {
        return DECLINED;
    }
    fin = final_request(r);
    if (rs->skip || !reqperf_enabled(dir_conf(fin)) || is_dummy(r)) {
        rs->skip = 1;
        return DECLINED;
    }
    now = rp_now_us();
    if (!rs->begun) {
        begin(r, rs, now);             /* failed while reading */
    }
    rp_timeline_enter(&rs->tl, RP_PHASE_NONE, now);

    /* both numeric notes from one allocation, without printf */
    total = apr_palloc(r->pool, RP_FMT_UINT_MAX + 1 + RP_TIMELINE_NOTES_MAX);
    total[rp_fmt_uint(total, (uint64_t)rp_timeline_total_us(&rs->tl,
                                                            now))] = '\0';
    phases = total + RP_FMT_UINT_MAX + 1;
    rp_timeline_format_notes(&rs->tl, now, phases, RP_TIMELINE_NOTES_MAX);
    set_note(r, fin, "reqperf-total-us", total);
    set_note(r, fin, "reqperf-route", reqperf_route(r));
    set_note(r, fin, "reqperf-phases", phases);
    set_note(r, fin, "reqperf-cache",
             rs->cache_outcome.x_cache ? rs->cache_outcome.x_cache : "");

    rp_timeline_enter(&rs->tl, RP_PHASE_LOG, now);
    return DECLINED;
}

static int reqperf_log_last(request_rec *r)
{
    reqperf_req_t *rs;
    request_rec *fin;
    rp_stats_t *st = reqperf_stats();
    apr_int64_t now, total;
    apr_int64_t phase_us[RP_PHASE_COUNT];
    rp_sample_t s;

    if (is_sub(r) || (rs = reqperf_req(r)) == NULL || rs->skip
        || !rs->begun) {
        return DECLINED;
    }
    now = rp_now_us();
    rp_timeline_enter(&rs->tl, RP_PHASE_NONE, now);
    if (st == NULL) {
        return DECLINED;
    }
    fin = final_request(r);
    total = rp_timeline_total_us(&rs->tl, now);
    rp_timeline_durations(&rs->tl, now, phase_us);
    s.route = reqperf_route(r);
    s.method = rp_route_method(r->method);
    s.uri = reqperf_request_path(r);
    if (s.uri == NULL) {
        s.uri = "";
    }
    s.status = fin->status;
    s.wall_us = r->request_time;
    s.total_us = total;
    s.phase_us = (const int64_t *)phase_us;
    s.slow = total >= reqperf_slow_threshold_us(dir_conf(fin));
    s.cache = rs->cache_outcome.result;
    s.cache_flags = rs->cache_outcome.flags;
    s.x_cache = rs->cache_outcome.x_cache;
    s.lock_wait_us = rs->cache_outcome.lock_wait_us;
    s.app_values = rs->app_values ? (const char *const *)rs->app_values->elts
                                  : NULL;
    s.n_app_values = rs->app_values ? rs->app_values->nelts : 0;
    rp_stats_record(st, &s);
    return DECLINED;
}

void reqperf_timing_register_hooks(apr_pool_t *p)
{
    (void)p;
    reqperf_in_filter = ap_register_input_filter("REQPERF_IN", reqperf_in,
                                                 NULL, AP_FTYPE_CONNECTION);
    reqperf_out_filter = ap_register_output_filter("REQPERF_OUT", reqperf_out,
                                                   NULL, AP_FTYPE_RESOURCE);
    reqperf_h2_end_filter = ap_register_output_filter(
        "REQPERF_H2_END", reqperf_h2_end, NULL, AP_FTYPE_CONNECTION);

    ap_hook_pre_connection(reqperf_pre_connection, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_create_request(reqperf_create_request, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_post_read_request(reqperf_post_read, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_pre_translate_name(reqperf_pre_translate, NULL, NULL,
                               APR_HOOK_REALLY_FIRST);
    ap_hook_translate_name(reqperf_translate, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_map_to_storage(reqperf_map_storage, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_header_parser(reqperf_header_parser, NULL, NULL,
                          APR_HOOK_REALLY_FIRST);
    ap_hook_check_access(reqperf_access, NULL, NULL, APR_HOOK_REALLY_FIRST,
                         AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_access_ex(reqperf_access, NULL, NULL,
                            APR_HOOK_REALLY_FIRST, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(reqperf_authn, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authz(reqperf_authz, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_type_checker(reqperf_type, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(reqperf_fixups, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(reqperf_insert_filter, NULL, NULL,
                          APR_HOOK_REALLY_FIRST);
    ap_hook_insert_error_filter(reqperf_insert_error_filter, NULL, NULL,
                                APR_HOOK_REALLY_FIRST);
    ap_hook_handler(reqperf_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_protocol_switch(reqperf_protocol_switch, NULL, NULL,
                            APR_HOOK_REALLY_FIRST);
    ap_hook_optional_fn_retrieve(reqperf_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_log_transaction(reqperf_log_first, NULL, NULL,
                            APR_HOOK_REALLY_FIRST);
    ap_hook_log_transaction(reqperf_log_last, NULL, NULL,
                            APR_HOOK_REALLY_LAST);
}
