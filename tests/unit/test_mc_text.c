/*
 * test_mc_text.c: memcached's text protocol as rp_mc_text.c speaks it.
 * The commands are byte for byte what memcached expects, keys memcached
 * would refuse are never sent, and a reply is read the same whether it
 * arrives in one piece or cut at every byte; whatever a server sends
 * that is not a reply to what was asked (a value not asked for, twice,
 * longer than allowed, without its CRLF, an endless line, garbage, the
 * stream ending midway) is an error, never a value.
 */
/* RTLD_NEXT: _GNU_SOURCE comes from apr-1-config --cppflags */
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/unit/rp_test.h"
#include "cache/rp_mc_text.h"
#include "cache/rp_mc.h"

/* The reader's first buffer: small (a value comes in pieces and is
 * copied), or big (it arrives whole and is used where it lies). */
static size_t bufsize = 600;
static size_t in_place = 1;       /* values this long may stay in the buffer */
static apr_pool_t *gp;

/* A reply in memory, handed out at most `chunk` bytes per call. */
typedef struct {
    const char *data;
    size_t len, at, chunk;
    int end_rc;                    /* what recv says once it is all read */
} feed_t;

static long feed_recv(void *baton, char *buf, size_t len)
{
    feed_t *f = baton;
    size_t n = f->len - f->at;

    if (n == 0) {
        return f->end_rc;
    }
    if (n > len) {
        n = len;
    }
    if (n > f->chunk) {
        n = f->chunk;
    }
    memcpy(buf, f->data + f->at, n);
    f->at += n;
    return (long)n;
}

typedef struct {
    rp_store_item_t items[3];
    size_t idx[3];
} ask_t;

static void ask(ask_t *a, const char *k0, const char *k1, const char *k2)
{
    const char *keys[3] = { k0, k1, k2 };
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 0; i < 3; i++) {
        a->items[i].key = keys[i];
        a->items[i].key_len = strlen(keys[i]);
        a->items[i].rc = RP_ST_NOTFOUND;
        a->idx[i] = (size_t)i;
    }
}

static rp_mct_rc_t read_all(apr_pool_t *p, const char *reply, size_t len,
                            size_t chunk, ask_t *a, size_t max_value,
                            int *pending)
{
    feed_t f = { reply, len, 0, chunk, 0 };
    rp_mct_reader_t r;
    rp_mct_rc_t rc;

    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
    rc = rp_mct_read_values(&r, p, a->items, a->idx, 3, max_value);
    if (pending != NULL) {
        *pending = rp_mct_reader_pending(&r) || f.at < f.len;
    }
    return rc;
}

static void test_requests(void **state)
{
    char out[1024];
    const char *keys[2] = { "rp:e:abc", "rp:u:def" };
    size_t lens[2] = { 8, 8 }, n;
    (void)state;

    n = rp_mct_get_request(out, sizeof(out), keys, lens, 2);
    assert_int_equal(n, strlen("get rp:e:abc rp:u:def\r\n"));
    assert_memory_equal(out, "get rp:e:abc rp:u:def\r\n", n);
    n = rp_mct_store_header(out, sizeof(out), 0, "k", 1, 3600, 14336);
    assert_memory_equal(out, "set k 0 3600 14336\r\n", n);
    n = rp_mct_store_header(out, sizeof(out), 1, "k", 1, 0, 0);
    assert_memory_equal(out, "add k 0 0 0\r\n", n);
    n = rp_mct_delete_request(out, sizeof(out), "rp:l:x", 6);
    assert_memory_equal(out, "delete rp:l:x\r\n", n);
    n = rp_mct_incr_request(out, sizeof(out), "g", 1, 18446744073709551615u);
    assert_memory_equal(out, "incr g 18446744073709551615\r\n", n);
    /* too small a buffer: nothing, not a cut command */
    assert_int_equal(rp_mct_get_request(out, 10, keys, lens, 2), 0);
    assert_int_equal(rp_mct_delete_request(out, 9, "rp:l:x", 6), 0);
    assert_int_equal(rp_mct_get_request(out, sizeof(out), keys, lens, 0), 0);
}

static void test_keys_memcached_refuses_are_not_sent(void **state)
{
    char out[1024], longkey[RP_MCT_KEY_MAX + 2];
    const char *bad[] = { "", "a b", "a\r\nflush_all", "a\tb", "a\x7f" };
    size_t i, n;
    (void)state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *k = bad[i];
        n = strlen(k);
        assert_false(rp_mct_key_ok(k, n));
        assert_int_equal(rp_mct_get_request(out, sizeof(out), &k, &n, 1), 0);
        assert_int_equal(rp_mct_store_header(out, sizeof(out), 0, k, n, 1, 1),
                         0);
        assert_int_equal(rp_mct_delete_request(out, sizeof(out), k, n), 0);
        assert_int_equal(rp_mct_incr_request(out, sizeof(out), k, n, 1), 0);
    }
    memset(longkey, 'k', sizeof(longkey));
    assert_true(rp_mct_key_ok(longkey, RP_MCT_KEY_MAX));
    assert_false(rp_mct_key_ok(longkey, RP_MCT_KEY_MAX + 1));
    /* a NUL inside the length is a control byte */
    assert_false(rp_mct_key_ok("a\0b", 3));
    /* every byte value at every place of keys to 40 bytes (the check
     * reads eight at a time): refused exactly below 33 and at 127 */
    {
        char k[40];
        size_t len, at;
        int c;

        for (len = 1; len <= sizeof(k); len++) {
            for (at = 0; at < len; at++) {
                for (c = 0; c < 256; c++) {
                    memset(k, at % 2 ? '~' : '\x80', len);
                    k[at] = (char)c;
                    assert_int_equal(rp_mct_key_ok(k, len),
                                     !(c <= 32 || c == 127));
                }
            }
        }
    }
}

static void test_values_in_any_cut(void **state)
{
    apr_pool_t *p = *state;
    char reply[20000], body[14336];
    size_t len, chunk, i;
    ask_t a;

    for (i = 0; i < sizeof(body); i++) {
        body[i] = (char)(i * 31 + 7);  /* every byte value, CR and LF too */
    }
    len = (size_t)snprintf(reply, sizeof(reply),
                           "VALUE rp:u:def 0 3\r\n123\r\nVALUE rp:e:abc 5 %zu"
                           " 99\r\n", sizeof(body));
    memcpy(reply + len, body, sizeof(body));
    len += sizeof(body);
    memcpy(reply + len, "\r\nEND\r\n", 7);
    len += 7;
    for (chunk = 1; chunk <= len; chunk = chunk < 16 ? chunk + 1 : chunk * 3) {
      for (bufsize = 600; bufsize <= 65536; bufsize *= 109) {
       for (in_place = 0; in_place < 3; in_place++) {
        int pending;
        ask(&a, "rp:e:abc", "rp:u:def", "rp:t:none");
        assert_int_equal(read_all(p, reply, len, chunk, &a, 1 << 20,
                                  &pending), RP_MCT_OK);
        assert_false(pending);
        assert_int_equal(a.items[0].rc, RP_ST_OK);
        assert_int_equal(a.items[0].value_len, sizeof(body));
        assert_memory_equal(a.items[0].value, body, sizeof(body));
        assert_int_equal(a.items[0].value[sizeof(body)], '\0');
        assert_int_equal(a.items[1].rc, RP_ST_OK);
        assert_string_equal(a.items[1].value, "123");
        assert_int_equal(a.items[2].rc, RP_ST_NOTFOUND);
        assert_null(a.items[2].value);
       }
      }
    }
    bufsize = 600;
    in_place = 1;
    /* a short value used where it lies stays whole while the reader goes
     * on into new buffers for the long one after it */
    {
        static const char two[] = "VALUE rp:u:def 0 3\r\n456\r\n"
                                  "VALUE rp:e:abc 0 700\r\n";
        char *r2 = apr_palloc(p, sizeof(two) - 1 + 700 + 7);
        memcpy(r2, two, sizeof(two) - 1);
        memset(r2 + sizeof(two) - 1, 'z', 700);
        memcpy(r2 + sizeof(two) - 1 + 700, "\r\nEND\r\n", 7);
        for (chunk = 40; chunk <= 2000; chunk *= 7) {
            ask(&a, "rp:e:abc", "rp:u:def", "rp:t:none");
            assert_int_equal(read_all(p, r2, sizeof(two) - 1 + 707, chunk, &a,
                                      1 << 20, NULL), RP_MCT_OK);
            assert_string_equal(a.items[1].value, "456");
            assert_int_equal(a.items[0].value_len, 700);
            assert_int_equal(a.items[0].value[0], 'z');
            assert_int_equal(a.items[0].value[699], 'z');
            assert_int_equal(a.items[0].value[700], '\0');
        }
    }
    /* nothing found; an empty value */
    ask(&a, "a", "b", "c");
    assert_int_equal(read_all(p, "END\r\n", 5, 1, &a, 10, NULL), RP_MCT_OK);
    assert_int_equal(a.items[0].rc, RP_ST_NOTFOUND);
    ask(&a, "a", "b", "c");
    assert_int_equal(read_all(p, "VALUE b 0 0\r\n\r\nEND\r\n", 20, 3, &a, 10,
                              NULL), RP_MCT_OK);
    assert_int_equal(a.items[1].rc, RP_ST_OK);
    assert_int_equal(a.items[1].value_len, 0);
}

static void test_values_outlive_a_buffer_used_again(void **state)
{
    apr_pool_t *p = *state;
    static const char reply[] = "VALUE b 0 5\r\nhello\r\n"
                                "VALUE a 0 7\r\nwonders\r\nEND\r\n";
    char buf[RP_MCT_LINE_MAX + 2 + 100];
    feed_t f = { reply, sizeof(reply) - 1, 0, 4096, 0 };
    rp_mct_reader_t r;
    ask_t a;

    /* a buffer of the caller's, the whole reply in it, and values of 6
     * bytes or more left where they lie: the short one is copied out,
     * the long one is in buf, which says it is now the value's */
    ask(&a, "a", "b", "c");
    rp_mct_reader_init(&r, feed_recv, &f, p, buf, sizeof(buf), 6);
    assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 100),
                     RP_MCT_OK);
    assert_true(r.pinned);
    assert_true(a.items[0].value >= buf && a.items[0].value < buf + sizeof(buf));
    assert_true(a.items[1].value < buf || a.items[1].value >= buf + sizeof(buf));
    assert_string_equal(a.items[0].value, "wonders");
    /* none left in place: buf can be the next call's */
    ask(&a, "a", "b", "c");
    f.at = 0;
    rp_mct_reader_init(&r, feed_recv, &f, p, buf, sizeof(buf), 0);
    assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 100),
                     RP_MCT_OK);
    assert_false(r.pinned);
    memset(buf, 'Q', sizeof(buf));
    assert_string_equal(a.items[0].value, "wonders");
    assert_string_equal(a.items[1].value, "hello");
}

static void test_a_long_value_in_pieces(void **state)
{
    apr_pool_t *p = *state;
    size_t n = (3u << 20) + 12345, len, i;
    char *reply = apr_palloc(p, n + 64);
    ask_t a;

    /* past 1 MB a value is read into a buffer that grows as its bytes
     * come: the bytes are the same */
    len = (size_t)sprintf(reply, "VALUE b 0 %zu\r\n", n);
    for (i = 0; i < n; i++) {
        reply[len + i] = (char)(i * 131 + (i >> 16));
    }
    memcpy(reply + len + n, "\r\nEND\r\n", 7);
    ask(&a, "a", "b", "c");
    assert_int_equal(read_all(p, reply, len + n + 7, 65536, &a, 4u << 20,
                              NULL), RP_MCT_OK);
    assert_int_equal(a.items[1].value_len, n);
    assert_memory_equal(a.items[1].value, reply + len, n);
    /* announced long, cut short: an error, never part of a value */
    ask(&a, "a", "b", "c");
    assert_int_equal(read_all(p, reply, len + (2u << 20), 65536, &a, 4u << 20,
                              NULL), RP_MCT_IO);
    assert_int_equal(a.items[1].rc, RP_ST_NOTFOUND);
}

static void test_what_is_not_a_reply(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *reply;
        rp_mct_rc_t rc;
    } cases[] = {
        { "VALUE x 0 1\r\na\r\nEND\r\n", RP_MCT_PROTOCOL },   /* not asked */
        { "VALUE a 0 1\r\na\r\nVALUE a 0 1\r\nb\r\nEND\r\n",
          RP_MCT_PROTOCOL },                                 /* twice */
        { "VALUE a 0 11\r\n01234567890\r\nEND\r\n",
          RP_MCT_PROTOCOL },                                 /* > max */
        { "VALUE a 0 3\r\nabcXYEND\r\n", RP_MCT_PROTOCOL },    /* no CRLF */
        { "VALUE a 0 3\r\nabc\n\rEND\r\n", RP_MCT_PROTOCOL },
        { "VALUE a 0 -1\r\n", RP_MCT_PROTOCOL },
        { "VALUE a 0 3x\r\nabc\r\nEND\r\n", RP_MCT_PROTOCOL },
        { "VALUE a 0 99999999999999999999999\r\n", RP_MCT_PROTOCOL },
        { "VALUE a 4294967296 1\r\na\r\nEND\r\n", RP_MCT_PROTOCOL }, /* flags */
        { "VALUE a 0 1 2 3\r\na\r\nEND\r\n", RP_MCT_PROTOCOL },
        { "VALUE a  0 1\r\na\r\nEND\r\n", RP_MCT_PROTOCOL },
        { "VALUE  a 0 1\r\na\r\nEND\r\n", RP_MCT_PROTOCOL },
        { "VALUE a\r\n", RP_MCT_PROTOCOL },
        { "END\n", RP_MCT_PROTOCOL },       /* a bare LF ends no line */
        { "ENDX\r\n", RP_MCT_PROTOCOL },
        { "\r\n", RP_MCT_PROTOCOL },
        { "HTTP/1.1 400 Bad Request\r\n", RP_MCT_PROTOCOL },
        { "SERVER_ERROR out of memory\r\n", RP_MCT_SERVER_ERROR },
        { "CLIENT_ERROR bad command line format\r\n", RP_MCT_CLIENT_ERROR },
        { "ERROR\r\n", RP_MCT_CLIENT_ERROR },
        { "VALUE a 0 5\r\nab", RP_MCT_IO },  /* the stream ends midway */
        { "VALUE a 0 1\r\na\r\n", RP_MCT_IO },
        { "", RP_MCT_IO },
    };
    size_t i, chunk;
    ask_t a;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (chunk = 1; chunk <= 64; chunk *= 4) {
            ask(&a, "a", "b", "c");
            assert_int_equal(read_all(p, cases[i].reply,
                                      strlen(cases[i].reply), chunk, &a, 10,
                                      NULL), cases[i].rc);
        }
    }
}

static void test_an_endless_line_is_cut_short(void **state)
{
    apr_pool_t *p = *state;
    static char reply[100000];
    ask_t a;

    /* no CRLF anywhere: refused once a line could not be one, not read to
     * the end */
    memset(reply, 'V', sizeof(reply));
    ask(&a, "a", "b", "c");
    {
        feed_t f = { reply, sizeof(reply), 0, 4096, 0 };
        rp_mct_reader_t r;
        rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
        assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 10),
                         RP_MCT_PROTOCOL);
        assert_true(f.at <= 2 * RP_MCT_LINE_MAX + 4096);
    }
    /* a line of exactly the limit is one */
    {
        char line[RP_MCT_LINE_MAX + 3];
        feed_t f;
        rp_mct_reader_t r;
        memset(line, 'x', sizeof(line));
        memcpy(line, "SERVER_ERROR ", 13);
        memcpy(line + RP_MCT_LINE_MAX, "\r\n", 2);
        f.data = line;
        f.len = RP_MCT_LINE_MAX + 2;
        f.at = 0;
        f.chunk = 7;
        f.end_rc = 0;
        rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
        assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 10),
                         RP_MCT_SERVER_ERROR);
        line[RP_MCT_LINE_MAX] = 'x';
        memcpy(line + RP_MCT_LINE_MAX + 1, "\r\n", 2);
        f.len = RP_MCT_LINE_MAX + 3;
        f.at = 0;
        rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
        assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 10),
                         RP_MCT_PROTOCOL);
    }
}

static void test_timeout_and_errors_of_the_source(void **state)
{
    apr_pool_t *p = *state;
    ask_t a;
    feed_t f = { "VALUE a 0 4\r\nab", 15, 0, 100, -2 };
    rp_mct_reader_t r;

    ask(&a, "a", "b", "c");
    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
    assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 10),
                     RP_MCT_TIMEOUT);
    assert_int_equal(a.items[0].rc, RP_ST_NOTFOUND);   /* never half a value */
    f.at = 0;
    f.end_rc = -1;
    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
    assert_int_equal(rp_mct_read_values(&r, p, a.items, a.idx, 3, 10),
                     RP_MCT_IO);
}

static rp_mct_rc_t status_of(const char *reply)
{
    feed_t f = { reply, strlen(reply), 0, 2, 0 };
    rp_mct_reader_t r;
    apr_pool_t *p = gp;

    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
    return rp_mct_read_status(&r);
}

static rp_mct_rc_t incr_of(apr_pool_t *p, const char *reply, uint64_t *v)
{
    feed_t f = { reply, strlen(reply), 0, 5, 0 };
    rp_mct_reader_t r;

    rp_mct_reader_init(&r, feed_recv, &f, p, NULL, bufsize, in_place);
    return rp_mct_read_incr(&r, v);
}

static void test_status_and_incr(void **state)
{
    uint64_t v = 0;
    apr_pool_t *p = *state;

    assert_int_equal(status_of("STORED\r\n"), RP_MCT_OK);
    assert_int_equal(status_of("DELETED\r\n"), RP_MCT_OK);
    assert_int_equal(status_of("NOT_STORED\r\n"), RP_MCT_NOTSTORED);
    assert_int_equal(status_of("EXISTS\r\n"), RP_MCT_EXISTS);
    assert_int_equal(status_of("NOT_FOUND\r\n"), RP_MCT_NOTFOUND);
    assert_int_equal(status_of("SERVER_ERROR object too large\r\n"),
                     RP_MCT_SERVER_ERROR);
    assert_int_equal(status_of("STORED"), RP_MCT_IO);
    assert_int_equal(status_of("STOREDX\r\n"), RP_MCT_PROTOCOL);
    assert_int_equal(status_of("VALUE a 0 1\r\n"), RP_MCT_PROTOCOL);

    assert_int_equal(incr_of(p, "18446744073709551615\r\n", &v), RP_MCT_OK);
    assert_true(v == 18446744073709551615u);
    /* more than 64 bits */
    assert_int_equal(incr_of(p, "18446744073709551616\r\n", &v),
                     RP_MCT_PROTOCOL);
    assert_int_equal(incr_of(p, "NOT_FOUND\r\n", &v), RP_MCT_NOTFOUND);
    assert_int_equal(incr_of(p, "CLIENT_ERROR cannot increment or decrement "
                                "non-numeric value\r\n", &v),
                     RP_MCT_CLIENT_ERROR);
    assert_int_equal(incr_of(p, "12x\r\n", &v), RP_MCT_PROTOCOL);
    assert_int_equal(incr_of(p, "12  \r\n", &v), RP_MCT_OK);
    assert_true(v == 12);
}

/* --- the client over sockets (rp_mc.c), against fakes in this process -- */

/* A resolver of the test's own for names ending in ".test" (rp_mc.c's
 * getaddrinfo resolves to this one: it is linked into the program): each
 * says 127.0.0.1 at the ports dns_ports[0..dns_n), in that order.  The
 * next dns_fail lookups fail (EAI_AGAIN); while dns_hang, a lookup waits
 * (a resolver that does not answer). */
static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dns_cv = PTHREAD_COND_INITIALIZER;
static unsigned short dns_ports[4];
static int dns_n, dns_fail, dns_hang, dns_lookups;

static void dns_say(int n, unsigned short p0, unsigned short p1)
{
    pthread_mutex_lock(&dns_mu);
    dns_n = n;
    dns_ports[0] = p0;
    dns_ports[1] = p1;
    pthread_mutex_unlock(&dns_mu);
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    size_t nl = node != NULL ? strlen(node) : 0;
    struct addrinfo *head = NULL, **tail = &head;
    int i, rc = 0;

    if (nl <= 5 || strcmp(node + nl - 5, ".test") != 0) {
        int (*real)(const char *, const char *, const struct addrinfo *,
                    struct addrinfo **)
            = (int (*)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
        return real(node, service, hints, res);
    }
    pthread_mutex_lock(&dns_mu);
    dns_lookups++;
    while (dns_hang) {
        pthread_cond_wait(&dns_cv, &dns_mu);
    }
    if (dns_fail > 0) {
        dns_fail--;
        rc = EAI_AGAIN;
    }
    else if (dns_n == 0) {
        rc = EAI_NONAME;
    }
    for (i = 0; rc == 0 && i < dns_n; i++) {
        /* one block, as glibc's freeaddrinfo frees it */
        struct addrinfo *ai = calloc(1, sizeof(*ai)
                                        + sizeof(struct sockaddr_in));
        struct sockaddr_in *sin = (struct sockaddr_in *)(ai + 1);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(dns_ports[i]);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ai->ai_family = AF_INET;
        ai->ai_socktype = SOCK_STREAM;
        ai->ai_protocol = IPPROTO_TCP;
        ai->ai_addrlen = sizeof(*sin);
        ai->ai_addr = (struct sockaddr *)sin;
        *tail = ai;
        tail = &ai->ai_next;
    }
    pthread_mutex_unlock(&dns_mu);
    *res = head;
    return rc;
}

/* A memcached that answers set and add with STORED, get with END (or,
 * blackhole: a listening socket whose queue is full, so that a connect
 * to it is never answered, as to a host that drops packets). */
typedef struct {
    int lfd;
    unsigned short port;
    pthread_t acceptor;
    pthread_mutex_t mu;
    int fds[64];
    pthread_t servers[64];
    int n;                             /* connections accepted */
    int stopping;
    int fill[4];                       /* blackhole: what fills its queue */
} fake_mc_t;

/* 1: a get is never answered (a memcached that hangs mid-request) */
static int fake_mute_gets;

static void *fake_serve(void *data)
{
    int fd = (int)(intptr_t)data;
    char buf[8192];
    size_t have = 0, skip = 0;

    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
        char *lf;
        if (n <= 0) {
            break;
        }
        have += (size_t)n;
        for (;;) {
            size_t take = skip < have ? skip : have;
            memmove(buf, buf + take, have - take);
            have -= take;
            skip -= take;
            if (skip > 0 || (lf = memchr(buf, '\n', have)) == NULL) {
                break;
            }
            *lf = '\0';
            if (strncmp(buf, "set ", 4) == 0 || strncmp(buf, "add ", 4) == 0) {
                char k[256];
                unsigned f, t;
                size_t vl = 0;
                if (sscanf(buf + 4, "%255s %u %u %zu", k, &f, &t, &vl) == 4) {
                    skip = vl + 2;
                }
                (void)send(fd, "STORED\r\n", 8, MSG_NOSIGNAL);
            }
            else if (strncmp(buf, "get ", 4) == 0) {
                if (!__atomic_load_n(&fake_mute_gets, __ATOMIC_ACQUIRE)) {
                    (void)send(fd, "END\r\n", 5, MSG_NOSIGNAL);
                }
            }
            else {
                (void)send(fd, "NOT_FOUND\r\n", 11, MSG_NOSIGNAL);
            }
            skip += (size_t)(lf - buf) + 1;
        }
        if (have == sizeof(buf)) {
            break;
        }
    }
    return NULL;
}

static void *fake_accept(void *data)
{
    fake_mc_t *f = data;

    for (;;) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) {
            return NULL;               /* shut down */
        }
        pthread_mutex_lock(&f->mu);
        if (f->stopping || f->n == 64) {
            pthread_mutex_unlock(&f->mu);
            close(fd);
            continue;
        }
        f->fds[f->n] = fd;
        pthread_create(&f->servers[f->n], NULL, fake_serve,
                       (void *)(intptr_t)fd);
        f->n++;
        pthread_mutex_unlock(&f->mu);
    }
}

static fake_mc_t *fake_start(int blackhole)
{
    fake_mc_t *f = calloc(1, sizeof(*f));
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int one = 1, i;

    pthread_mutex_init(&f->mu, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(f->lfd, blackhole ? 0 : 64), 0);
    getsockname(f->lfd, (struct sockaddr *)&sin, &sl);
    f->port = ntohs(sin.sin_port);
    if (blackhole) {
        for (i = 0; i < 4; i++) {
            f->fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            (void)connect(f->fill[i], (struct sockaddr *)&sin, sizeof(sin));
        }
        usleep(100 * 1000);            /* the handshakes done: queue full */
    }
    else {
        pthread_create(&f->acceptor, NULL, fake_accept, f);
    }
    return f;
}

static int fake_accepted(fake_mc_t *f)
{
    int n;

    pthread_mutex_lock(&f->mu);
    n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* Gone: nothing listens at its port, its connections are closed. */
static void fake_stop(fake_mc_t *f)
{
    int i, blackhole = f->fill[0] > 0;

    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    pthread_mutex_unlock(&f->mu);
    shutdown(f->lfd, SHUT_RDWR);
    if (!blackhole) {
        pthread_join(f->acceptor, NULL);
    }
    close(f->lfd);
    for (i = 0; i < f->n; i++) {
        shutdown(f->fds[i], SHUT_RDWR);
        pthread_join(f->servers[i], NULL);
        close(f->fds[i]);
    }
    for (i = 0; blackhole && i < 4; i++) {
        close(f->fill[i]);
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static rp_mc_t *mc_for(apr_pool_t *p, const char *server, int64_t timeout_us)
{
    const char *err = NULL;
    rp_mc_t *mc = rp_mc_create(p, &server, 1, timeout_us, 2, NULL, &err);

    assert_non_null(mc);
    return mc;
}

static void test_a_name_that_moves_is_looked_up_again(void **state)
{
    apr_pool_t *p = *state;
    fake_mc_t *a = fake_start(0), *b = fake_start(0);
    rp_store_t s;
    int i, ok = 0;

    /* memcached's host is replaced: the name now says another address,
     * the old one is refused.  libmemcached looked the name up again
     * once every address it had failed; so must this client, or the
     * cache is off until Apache restarts */
    dns_say(1, a->port, 0);
    rp_mc_acquire(mc_for(p, "mc.test:11211", 300 * 1000), p, &s);
    assert_int_equal(rp_store_set(&s, "k", 1, "v", 1, 0), RP_ST_OK);
    fake_stop(a);
    dns_say(1, b->port, 0);
    for (i = 0; i < 3 && !ok; i++) {
        ok = rp_store_set(&s, "k", 1, "v", 1, 0) == RP_ST_OK;
    }
    assert_true(ok);
    assert_int_equal(fake_accepted(b), 1);
    rp_mc_release(&s);
    fake_stop(b);
}

static void test_an_address_that_never_answers_is_not_always_first(
    void **state)
{
    apr_pool_t *p = *state;
    fake_mc_t *dead = fake_start(1), *live = fake_start(0);
    rp_store_t s;
    int i, ok = 0;

    /* the name's first address drops packets (an IPv6 route that goes
     * nowhere, say), the second one works: after a connect to the first
     * timed out, the next attempt goes on to the second (libmemcached
     * did), rather than spend every call's time on the first again */
    dns_say(2, dead->port, live->port);
    rp_mc_acquire(mc_for(p, "two.test:11211", 200 * 1000), p, &s);
    for (i = 0; i < 3 && !ok; i++) {
        ok = rp_store_set(&s, "k", 1, "v", 1, 0) == RP_ST_OK;
    }
    assert_true(ok);
    assert_int_equal(fake_accepted(live), 1);
    rp_mc_release(&s);
    fake_stop(live);
    fake_stop(dead);
}

static void test_a_call_of_many_keys_is_one_failure(void **state)
{
    apr_pool_t *p = *state;
    fake_mc_t *a = fake_start(0);
    rp_breaker_t brk[1];
    const char *server, *err = NULL;
    char name[32];
    rp_store_item_t it[3];
    rp_store_t s;
    rp_mc_t *mc;
    int i;

    /* a lookup asks three or four keys in one call; a call that times
     * out is one failure of its server, or one slow answer would open
     * the breaker (three in a row) and send every request to the
     * backend for the next two seconds */
    memset(brk, 0, sizeof(brk));
    snprintf(name, sizeof(name), "127.0.0.1:%u", a->port);
    server = name;
    mc = rp_mc_create(p, &server, 1, 100 * 1000, 2, brk, &err);
    assert_non_null(mc);
    rp_mc_acquire(mc, p, &s);
    __atomic_store_n(&fake_mute_gets, 1, __ATOMIC_RELEASE);
    for (i = 1; i <= RP_BREAKER_THRESHOLD; i++) {
        memset(it, 0, sizeof(it));
        it[0].key = "k1";
        it[1].key = "k2";
        it[2].key = "k3";
        it[0].key_len = it[1].key_len = it[2].key_len = 2;
        assert_int_not_equal(rp_store_mget(&s, p, it, 3), RP_ST_OK);
        assert_int_equal(brk[0].total_failures, (uint64_t)i);
        assert_int_equal(rp_breaker_state(&brk[0]),
                         i < RP_BREAKER_THRESHOLD ? RP_BRK_UP : RP_BRK_DOWN);
    }
    /* open: the next call is not made, and counts as one skip */
    memset(it, 0, sizeof(it));
    it[0].key = "k1";
    it[1].key = "k2";
    it[0].key_len = it[1].key_len = 2;
    assert_int_equal(rp_store_mget(&s, p, it, 2), RP_ST_DOWN);
    assert_int_equal(brk[0].total_skipped, 1);
    __atomic_store_n(&fake_mute_gets, 0, __ATOMIC_RELEASE);
    rp_mc_release(&s);
    fake_stop(a);
}

static int watchdog_done, watchdog_released;

static void *dns_watchdog(void *data)
{
    struct timespec until;

    (void)data;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&dns_mu);
    while (!watchdog_done) {
        if (pthread_cond_timedwait(&dns_cv, &dns_mu, &until) != 0) {
            break;
        }
    }
    if (dns_hang) {
        watchdog_released = 1;         /* the call was still waiting */
        dns_hang = 0;
        pthread_cond_broadcast(&dns_cv);
    }
    pthread_mutex_unlock(&dns_mu);
    return NULL;
}

static void test_a_resolver_that_hangs_costs_a_call_its_timeout(void **state)
{
    apr_pool_t *p = *state;
    fake_mc_t *a = fake_start(0);
    pthread_t wd;
    rp_store_t s;
    rp_st_rc_t rc;
    int released, i, ok = 0;

    /* the name did not resolve when the child started (the resolver was
     * down), and when the first call comes the resolver does not answer
     * at all: the call ends at its timeout, as every call does, not when
     * the resolver gives up (seconds, by resolv.conf) */
    pthread_mutex_lock(&dns_mu);
    dns_n = 1;
    dns_ports[0] = a->port;
    dns_fail = 1;
    watchdog_done = 0;
    watchdog_released = 0;
    pthread_mutex_unlock(&dns_mu);
    rp_mc_acquire(mc_for(p, "slow.test:11211", 200 * 1000), p, &s);
    pthread_mutex_lock(&dns_mu);
    dns_hang = 1;
    pthread_mutex_unlock(&dns_mu);
    pthread_create(&wd, NULL, dns_watchdog, NULL);
    rc = rp_store_set(&s, "k", 1, "v", 1, 0);
    pthread_mutex_lock(&dns_mu);
    released = watchdog_released;      /* 1: the call outwaited the dog */
    watchdog_done = 1;
    dns_hang = 0;
    pthread_cond_broadcast(&dns_cv);
    pthread_mutex_unlock(&dns_mu);
    pthread_join(wd, NULL);
    assert_int_equal(released, 0);
    assert_int_equal(rc, RP_ST_DOWN);
    /* once the resolver answers, the name's address is used */
    for (i = 0; i < 3 && !ok; i++) {
        ok = rp_store_set(&s, "k", 1, "v", 1, 0) == RP_ST_OK;
    }
    assert_true(ok);
    rp_mc_release(&s);
    fake_stop(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RP_TEST(test_requests),
        RP_TEST(test_keys_memcached_refuses_are_not_sent),
        RP_TEST(test_values_in_any_cut),
        RP_TEST(test_values_outlive_a_buffer_used_again),
        RP_TEST(test_a_long_value_in_pieces),
        RP_TEST(test_what_is_not_a_reply),
        RP_TEST(test_an_endless_line_is_cut_short),
        RP_TEST(test_timeout_and_errors_of_the_source),
        RP_TEST(test_status_and_incr),
        RP_TEST(test_a_name_that_moves_is_looked_up_again),
        RP_TEST(test_an_address_that_never_answers_is_not_always_first),
        RP_TEST(test_a_resolver_that_hangs_costs_a_call_its_timeout),
        RP_TEST(test_a_call_of_many_keys_is_one_failure),
    };

    int rc;

    apr_initialize();
    apr_pool_create(&gp, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(gp);
    return rc;
}
