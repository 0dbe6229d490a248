"""Sixth review: inputs of a request that reach the backend and change its
answer but are not in the key, and what a slow memcached or a hung backend
costs every request.  Each test fails on the code it was written against."""
import threading
import time

import pytest
import requests

from test_safety import site, xc, hit, STATUS

# ------------------------------------------- 1. the query's order

# CGI.pm (as Plack and Rack 2) splits a query on ';' as on '&', and
# param() answers the first value of a name
PERL_CGI = r"""#!/usr/bin/perl
use strict;
use CGI;
my $q = CGI->new;
my $n = time() . "-" . $$ . "-" . int(rand(1000000));
print "Content-Type: text/plain\r\n\r\n";
print "lang=" . ($q->param('lang') // '') . " nonce=$n\n";
"""


@pytest.mark.parametrize("mode", ["handler", "quick"])
def test_query_pieces_holding_a_semicolon_keep_their_place(apache_factory,
                                                            memcached,
                                                            backend, mode):
    # "?lang=de&a=1;lang=en" and "?a=1;lang=en&lang=de" are one key (the
    # pieces are sorted by name: "a=1;lang=en" is named "a"), but to a
    # backend that splits on ';' the first lang is de in one, en in the
    # other
    a = site(apache_factory, memcached, "event", mode, start=False, extra="""
<Location /cgi-bin/>
    ReqPerfCache On
</Location>
""")
    a.write_file("cgi-bin/page.pl", PERL_CGI, mode=0o755)
    a.start()
    first = requests.get(a.url("/cgi-bin/page.pl?a=1;lang=en&lang=de"))
    assert first.status_code == 200 and first.text.startswith("lang=en"), \
        first.text
    assert xc(first) == "MISS"
    second = requests.get(a.url("/cgi-bin/page.pl?lang=de&a=1;lang=en"))
    # the backend would say de here
    assert second.text.startswith("lang=de"), (xc(second), second.text)


# ------------------------------------------- 2. a memcached just under the timeout

from test_faults import SlowProxy, behind_slow_memcached


def test_slow_memcached_costs_a_varied_tagged_miss_few_calls(apache_factory,
                                                             memcached,
                                                             backend):
    # every answer 40 ms late, under ReqPerfCacheTimeout 50ms: no call
    # fails, so the breaker never opens.  A miss of a varied, tagged page
    # made 15 calls or more, each waiting most of the timeout; its lookup
    # and its store are each held to the timeout together now (counts of
    # the calls memcached was sent, not times)
    proxy = SlowProxy(memcached.port, 0.04)
    try:
        a = behind_slow_memcached(apache_factory, proxy, "50ms", mpm="event")
        calls = []
        for i in range(6):
            before = proxy.requests
            r = requests.get(a.url("/app/slow/%d?header=Vary:Accept-Language"
                                   "&header=X-ReqPerf-Tags:t%d+shared"
                                   % (i, i)), timeout=30)
            assert r.status_code == 200
            calls.append((proxy.requests - before, xc(r)))
        # the lookup's run: two calls or three; the store's as many; the
        # lock given back
        assert max(n for n, _ in calls) <= 7, calls
        assert backend.hits("/slow/0") == 1
    finally:
        proxy.stop()


# ------------------------------------------- 3. a backend that hangs

class HangingBackend:
    """A backend that answers a fresh page (max-age=1) until told to hang;
    then every request is held until released (or 25 s)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        outer = self
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hits = 0
        self.lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with outer.lock:
                    outer.hits += 1
                    n = outer.hits
                if outer.hang.is_set():
                    outer.release.wait(25)
                body = ("page %d\n" % n).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Cache-Control", "max-age=1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass                # the proxy gave up on it

        class S(ThreadingHTTPServer):
            daemon_threads = True

        self.srv = S(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


def test_waiter_with_a_stale_copy_never_joins_a_hung_fill(apache_factory,
                                                          memcached):
    hb = HangingBackend()
    try:
        a = apache_factory(mpm="event", conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
ProxyPass /hang/ http://127.0.0.1:{port}/ timeout=12
<Location /hang/>
    ReqPerfCache On
    ReqPerfCacheStaleIfError 300
</Location>
{status}
""".format(mc=memcached.address, port=hb.port, status=STATUS))
        first = requests.get(a.url("/hang/page"))
        assert first.text == "page 1\n" and xc(first) == "MISS"
        time.sleep(2.2)                 # expired; stale-if-error holds it
        hb.hang.set()
        results = {}

        def get(name):
            t = time.monotonic()
            r = requests.get(a.url("/hang/page"), timeout=40)
            results[name] = (round(time.monotonic() - t, 2), xc(r), r.text)

        filler = threading.Thread(target=get, args=("filler",))
        filler.start()
        # the filler holds the lock once its request reaches the backend
        for _ in range(100):
            if hb.hits >= 2:
                break
            time.sleep(0.05)
        assert hb.hits == 2
        waiters = [threading.Thread(target=get, args=("waiter%d" % i,))
                   for i in range(3)]
        for w in waiters:
            w.start()
            time.sleep(0.2)
        for w in waiters:
            w.join(40)
        hb.release.set()
        filler.join(40)
        # the filler hangs (nothing can be done for it); each waiter, who
        # holds a stale copy, gets it when its wait runs out, and none of
        # them goes to the hung backend when the filler's lock expires
        for i in range(3):
            took, cache, text = results["waiter%d" % i]
            assert text == "page 1\n", results
            # the filler's lock ran out first: its fill failed
            assert cache in ("STALE error", "STALE timeout"), results
        assert hb.hits == 2, (hb.hits, results)
    finally:
        hb.stop()


# ------------------------------------------- 4. a tag purge while one memcached is down

def test_tag_purge_holds_while_the_epoch_server_is_down(apache_factory,
                                                        memcached_factory,
                                                        backend):
    # two memcached servers; the one holding the tag epoch (rp:g:tags)
    # dies.  A tag purge then fails at its first step (moving the epoch)
    # and is queued, "this server's copies gone at once"; but a page whose
    # entry, URL generation and tag generation all live on the other
    # server is still read from there: its tags are read, they did not
    # move, and it is served as a HIT after its purge
    m1, m2 = memcached_factory(), memcached_factory()
    a = apache_factory(mpm="event", conf="""
ReqPerfCacheServers {m1} {m2}
ReqPerfCacheTimeout 300ms
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{status}
""".format(m1=m1.address, m2=m2.address, status=STATUS))
    n = 48
    url = lambda i: a.url("/app/tp/%d?header=X-ReqPerf-Tags:tag-%d" % (i, i))
    for i in range(n):
        assert xc(requests.get(url(i))) == "MISS"
    assert all(hit(requests.get(url(i))) for i in range(n))
    epoch_on = m1 if m1.get("rp:g:tags") is not None else m2
    assert epoch_on.get("rp:g:tags") is not None
    epoch_on.stop()
    answers = []
    for i in range(n):
        p = requests.post(a.url("/reqperf-purge"), data={"tag": "tag-%d" % i})
        answers.append(p.status_code)
    served = []
    for i in range(n):
        r = requests.get(url(i))
        if hit(r):
            served.append((i, xc(r)))
    assert served == [], (served, answers)


# ------------------------------------------- 5. more queued purges than one request makes

def test_queued_purges_are_all_made_before_a_page_is_served(apache_factory,
                                                            memcached,
                                                            backend):
    # memcached stops answering (paused: it keeps its data) while 24 URLs
    # are purged: each purge is queued.  When it answers again, a request
    # makes at most 8 queued purges before its own lookup; a page whose
    # purge is still queued is served from memcached, after its purge
    a = apache_factory(mpm="event", conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 200ms
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{status}
""".format(mc=memcached.address, status=STATUS))
    n = 24
    url = lambda i: a.url("/app/q/%d" % i)
    for i in range(n):
        assert xc(requests.get(url(i))) == "MISS"
    assert all(hit(requests.get(url(i))) for i in range(n))
    memcached.pause()
    try:
        for i in range(n):
            requests.post(a.url("/reqperf-purge"), data={"url": "/app/q/%d" % i})
    finally:
        memcached.resume()
    time.sleep(2.5)                     # the breaker probes again
    served = []
    for i in reversed(range(n)):
        r = requests.get(url(i))
        if hit(r):
            served.append((i, xc(r)))
    assert served == [], served
    # memcached was reached again: every queued purge was made, and the
    # pages are cached again (a page stored while its purge still waited
    # was purged with it, once more: one more miss)
    d = requests.get(a.url("/reqperf-status?format=json")).json()
    assert d["cache"]["purges"]["late"] == n, d["cache"]["purges"]
    for i in range(n):
        requests.get(url(i))
    assert all(hit(requests.get(url(i))) for i in range(n))
