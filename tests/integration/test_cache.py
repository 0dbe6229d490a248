"""The memcached page cache against a real apache2 (prefork and event), a
real memcached and the counting backend: hits that never reach the
backend, every rule that keeps a private page private, the stampede lock
and grace, and a site that stays up when memcached is down or hung.

The backend's X-Backend-Count says how often a path reached it, and each
of its bodies carries a fresh nonce: equal nonces mean one backend answer.
"""
import concurrent.futures
import json
import socket
import threading
import time

import pytest
import requests

from conftest import MPMS, parse_access_line, raw, raw_get

STATUS = """
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
"""


def site(apache_factory, memcached, mpm, extra="", location_extra="",
         server_extra="", workers=0, **kw):
    # prefork serves one request per process: tests of concurrency start
    # enough of them up front
    extra_global = ""
    if workers and mpm == "prefork":
        extra_global = ("StartServers %d\nMinSpareServers %d\n"
                        "MaxSpareServers %d\n" % (workers, workers,
                                                   workers + 10))
    return apache_factory(mpm=mpm, extra_global=extra_global, **kw, conf="""
ReqPerfCacheServers {mc}
# (not the 50 ms default: on a loaded machine a reply can take longer, and
# these tests mean "memcached is up"; the timeout tests set their own)
ReqPerfCacheTimeout 2s
{server_extra}
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
    {location_extra}
</Location>
{status}
{extra}
""".format(mc=memcached.address, server_extra=server_extra,
           location_extra=location_extra, status=STATUS, extra=extra))


def get(a, path, **kw):
    r = requests.get(a.url(path), **kw)
    return r


def xc(r):
    return r.headers.get("X-Cache", "")


def nonce(r):
    return r.json()["nonce"]


def stats(a):
    return requests.get(a.url("/reqperf-status?format=json")).json()


# ---------------------------------------------------------------- basics

@pytest.mark.parametrize("mpm", MPMS)
def test_miss_then_hit_head_and_age(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    r1 = get(a, "/app/basic/page?x=1")
    assert r1.status_code == 200 and xc(r1) == "MISS"
    r2 = get(a, "/app/basic/page?x=1")
    assert xc(r2).startswith("HIT")
    assert nonce(r2) == nonce(r1)
    assert r2.headers["Content-Type"] == "application/json"
    assert int(r2.headers["Age"]) >= 0
    assert backend.hits("/basic/page") == 1
    h = requests.head(a.url("/app/basic/page?x=1"))
    assert h.status_code == 200 and xc(h).startswith("HIT")
    assert h.content == b""
    assert int(h.headers["Content-Length"]) == len(r1.content)
    assert backend.hits("/basic/page") == 1
    # another query string is another page
    assert xc(get(a, "/app/basic/page?x=2")) == "MISS"
    assert backend.hits("/basic/page") == 2
    # the note and the cache phase reach the log and the statistics
    lines = [parse_access_line(l) for l in a.wait_access_lines(4)]
    hit = [e for e in lines if e["cache"] == "HIT" or e["cache"].startswith("HIT")]
    assert hit and "cache" in hit[0]["phases"]
    time.sleep(0.3)
    d = stats(a)
    route = [x for x in d["routes"] if x["route"] == "/app/basic/page"
             and x["method"] == "GET"][0]
    assert route["cache"]["hit"] == 1 and route["cache"]["miss"] == 2
    assert d["cache"]["store"] == 2
    assert d["phases"]["cache"]["count"] >= 4


@pytest.mark.parametrize("mpm", MPMS)
def test_conditional_requests_answered_from_cache(apache_factory, memcached,
                                                  backend, mpm):
    a = site(apache_factory, memcached, mpm)
    path = ('/app/cond?header=ETag:"v1"'
            '&header=Last-Modified:Wed, 21 Oct 2015 07:28:00 GMT')
    assert xc(get(a, path)) == "MISS"
    r = get(a, path, headers={"If-None-Match": '"v1"'})
    assert r.status_code == 304 and xc(r).startswith("HIT")
    assert r.content == b""
    r = get(a, path, headers={"If-Modified-Since": "Thu, 22 Oct 2015 07:28:00 GMT"})
    assert r.status_code == 304
    r = get(a, path, headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and xc(r).startswith("HIT")
    assert backend.hits("/cond") == 1
    # a conditional request on a miss still fills the cache with the page
    p2 = '/app/cond2?header=ETag:"v2"'
    r = get(a, p2, headers={"If-None-Match": '"v2"'})
    assert r.status_code == 200 and xc(r) == "MISS"
    assert get(a, p2, headers={"If-None-Match": '"v2"'}).status_code == 304
    assert backend.hits("/cond2") == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_chunked_response_cached(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    r1 = get(a, "/app/stream?chunk_at=20,60,100")
    assert xc(r1) == "MISS"
    r2 = get(a, "/app/stream?chunk_at=20,60,100")
    assert xc(r2).startswith("HIT")
    assert r2.content == r1.content
    assert backend.hits("/stream") == 1


def test_slow_chunked_response_streams_whole_and_is_stored_whole(
        apache_factory, memcached, backend):
    # its parts come 600 ms apart: past the half second a miss is held,
    # it streams on; the client and the stored copy both get every byte,
    # once (the rest was dropped, and the held part stored twice)
    a = site(apache_factory, memcached, "event")
    path = "/app/slowparts?chunk_at=20,600,1200"
    r1 = get(a, path)
    r2 = get(a, path)
    assert xc(r1) == "MISS" and xc(r2).startswith("HIT")
    assert r1.json()["path"] == "/slowparts"          # whole: it parses
    assert r2.content == r1.content
    assert backend.hits("/slowparts") == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_too_large_passed_through_and_counted(apache_factory, memcached,
                                              backend, mpm):
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheMaxSize 1000")
    for want in ("MISS", "MISS uncacheable"):
        r = get(a, "/app/big?size=5000")
        assert r.status_code == 200 and len(r.content) == 5000
        assert xc(r) == want
    assert backend.hits("/big") == 2
    r = get(a, "/app/bigchunks?size=5000&chunk_at=1,2,3,4")
    assert len(r.content) == 5000
    assert xc(get(a, "/app/small?size=900")) == "MISS"
    assert xc(get(a, "/app/small?size=900")).startswith("HIT")
    time.sleep(0.3)
    assert stats(a)["cache"]["store_skipped"] >= 2


# ---------------------------------------------------------------- never store

NEVER_STORED = [
    ("setcookie", "cookie=sid=secret"),
    ("private", "cc=private, max-age=60"),
    ("nostore", "cc=no-store"),
    ("nocache", "cc=no-cache"),
    ("s500", "status=500"),
    ("s302", "status=302&header=Location:/elsewhere"),
    ("s206", "status=206&header=Content-Range:bytes 0-9/100"),
    ("varystar", "header=Vary:*"),
    ("varycookie", "header=Vary:Cookie"),
    ("varyauth", "header=Vary:Accept-Encoding, Authorization"),
]


@pytest.mark.parametrize("mpm", MPMS)
def test_never_stored(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    for name, query in NEVER_STORED:
        path = "/app/never/%s?%s" % (name, query)
        r1 = requests.get(a.url(path), allow_redirects=False)
        r2 = requests.get(a.url(path), allow_redirects=False)
        # the first finds it cannot be stored; the second goes straight
        # to the backend (hit-for-pass)
        assert xc(r1) == "MISS", (name, xc(r1))
        assert xc(r2) in ("MISS", "MISS uncacheable"), (name, xc(r2))
        assert backend.hits("/never/" + name) == 2, name
    # and what may be stored is: 404, 410, 301
    for status in (404, 410, 301):
        path = "/app/ok/%d?status=%d&header=Location:/x" % (status, status)
        requests.get(a.url(path), allow_redirects=False)
        r = requests.get(a.url(path), allow_redirects=False)
        assert r.status_code == status and xc(r).startswith("HIT"), status


@pytest.mark.parametrize("mpm", MPMS)
def test_set_cookie_never_replayed(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    r1 = get(a, "/app/login?cookie=sid=alice-secret")
    assert "alice-secret" in r1.headers["Set-Cookie"]
    r2 = requests.get(a.url("/app/login?cookie=sid=alice-secret"))
    assert xc(r2) == "MISS uncacheable"
    assert backend.hits("/login") == 2
    # a cacheable page never carries another response's cookie
    r3 = get(a, "/app/plain")
    r4 = get(a, "/app/plain")
    assert xc(r4).startswith("HIT") and "Set-Cookie" not in r4.headers


# ---------------------------------------------------------------- never serve

@pytest.mark.parametrize("mpm", MPMS)
def test_two_users_never_see_each_others_page(apache_factory, memcached,
                                              backend, mpm):
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheIgnoreCookie _ga* consent")
    alice = get(a, "/app/account", cookies={"sessionid": "alice"})
    bob = get(a, "/app/account", cookies={"sessionid": "bob"})
    assert xc(alice) == "BYPASS cookie" and xc(bob) == "BYPASS cookie"
    assert alice.json()["cookie"] == "sessionid=alice"
    assert bob.json()["cookie"] == "sessionid=bob"
    # an anonymous visitor fills the cache; users still never get it
    anon = get(a, "/app/account")
    assert xc(get(a, "/app/account")).startswith("HIT")
    alice2 = get(a, "/app/account", cookies={"sessionid": "alice"})
    assert alice2.json()["cookie"] == "sessionid=alice"
    assert nonce(alice2) != nonce(anon)
    # analytics cookies do not make a request personal
    ga = get(a, "/app/account", cookies={"_ga": "GA1.2.3", "consent": "yes"})
    assert xc(ga).startswith("HIT") and nonce(ga) == nonce(anon)
    # one personal cookie among ignored ones does
    mixed = get(a, "/app/account", cookies={"_ga": "1", "sessionid": "carol"})
    assert xc(mixed) == "BYPASS cookie"
    assert "carol" in mixed.json()["cookie"]
    # Authorization is always personal
    auth = get(a, "/app/account", auth=("dave", "pw"))
    assert xc(auth) == "BYPASS auth"
    assert auth.json()["authorization"].startswith("Basic ")
    # malformed cookie headers are personal too
    odd = get(a, "/app/account", headers={"Cookie": "garbage-without-equals"})
    assert xc(odd) == "BYPASS cookie"


@pytest.mark.parametrize("mpm", MPMS)
def test_client_no_cache_refreshes(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    r1 = get(a, "/app/fresh")
    r2 = get(a, "/app/fresh", headers={"Cache-Control": "no-cache"})
    assert xc(r2) == "BYPASS no-cache"
    assert nonce(r2) != nonce(r1)
    r3 = get(a, "/app/fresh")
    assert xc(r3).startswith("HIT") and nonce(r3) == nonce(r2)
    r4 = get(a, "/app/fresh", headers={"Pragma": "no-cache"})
    assert nonce(r4) != nonce(r2)
    assert backend.hits("/fresh") == 3


@pytest.mark.parametrize("mpm", MPMS)
def test_vary_keeps_variants_apart(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    path = "/app/v?header=Vary:Accept-Encoding"
    gz = get(a, path, headers={"Accept-Encoding": "gzip"})
    ident = get(a, path, headers={"Accept-Encoding": "identity"})
    assert gz.json()["accept_encoding"] == "gzip"
    assert ident.json()["accept_encoding"] == "identity"
    gz2 = get(a, path, headers={"Accept-Encoding": "gzip"})
    ident2 = get(a, path, headers={"Accept-Encoding": "identity"})
    assert xc(gz2).startswith("HIT") and xc(ident2).startswith("HIT")
    assert nonce(gz2) == nonce(gz) and nonce(ident2) == nonce(ident)
    assert gz2.json()["accept_encoding"] == "gzip"
    assert ident2.json()["accept_encoding"] == "identity"
    assert backend.hits("/v") == 2


@pytest.mark.parametrize("mpm", MPMS)
def test_forwarded_headers_never_poison(apache_factory, memcached, backend,
                                        mpm):
    a = site(apache_factory, memcached, mpm, extra="""
<Location /app/keyed/>
    ReqPerfCacheVary X-Forwarded-Host
</Location>
""")
    # (mod_proxy appends the real host to X-Forwarded-Host itself, so the
    # backend always sees one; "evil" only comes from the client)
    def fwd(r):
        return r.json()["x_forwarded_host"] or ""
    evil = {"X-Forwarded-Host": "evil.example"}
    r = get(a, "/app/home", headers=evil)
    assert xc(r) == "BYPASS unkeyed-header"
    assert "evil.example" in fwd(r)
    clean = get(a, "/app/home")
    assert xc(clean) == "MISS" and "evil" not in fwd(clean)
    assert xc(get(a, "/app/home")).startswith("HIT")
    # the poisoned request neither got into nor came out of the cache
    r = get(a, "/app/home", headers=evil)
    assert xc(r) == "BYPASS unkeyed-header"
    assert "evil.example" in fwd(r)
    r = get(a, "/app/home")
    assert "evil" not in fwd(r)
    for h in ("X-Forwarded-Proto", "Forwarded", "X-Original-URL",
              "X-Rewrite-URL"):
        r = get(a, "/app/home", headers={h: "x"})
        assert xc(r) == "BYPASS unkeyed-header", h
    # listed in ReqPerfCacheVary, the header is part of the key instead
    k1 = get(a, "/app/keyed/p", headers=evil)
    assert xc(k1) == "MISS"
    k2 = get(a, "/app/keyed/p")
    assert xc(k2) == "MISS" and "evil" not in fwd(k2)
    k3 = get(a, "/app/keyed/p", headers=evil)
    assert xc(k3).startswith("HIT") and "evil.example" in fwd(k3)
    assert xc(get(a, "/app/keyed/p")).startswith("HIT")


@pytest.mark.parametrize("mpm", MPMS)
def test_host_is_part_of_the_key(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    one = get(a, "/app/h", headers={"Host": "one.example"})
    two = get(a, "/app/h", headers={"Host": "two.example"})
    assert xc(two) == "MISS" and nonce(one) != nonce(two)
    assert get(a, "/app/h", headers={"Host": "one.example"}).json()["nonce"] \
        == nonce(one)


@pytest.mark.parametrize("mpm", MPMS)
def test_ignored_query_parameters_and_order(apache_factory, memcached,
                                            backend, mpm):
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheIgnoreQuery utm_* fbclid")
    # a request with an ignored parameter is not stored (the backend saw
    # it): the page is the one a request without them stored, and it
    # answers every spelling of the query
    assert xc(get(a, "/app/q?a=1&b=2&utm_source=x")) == "MISS"
    r1 = get(a, "/app/q?b=2&a=1")
    assert xc(r1) == "MISS"
    r2 = get(a, "/app/q?b=2&a=1&utm_medium=y&fbclid=z")
    assert xc(r2).startswith("HIT") and nonce(r2) == nonce(r1)
    assert nonce(get(a, "/app/q?a=1&b=2")) == nonce(r1)
    assert xc(get(a, "/app/q?a=1&b=3")) == "MISS"


# ---------------------------------------------------------------- access

@pytest.mark.parametrize("mpm", MPMS)
def test_access_control_guards_cached_pages(apache_factory, memcached,
                                            backend, mpm):
    conf = """
SetEnvIf X-Allow "^yes$" allowed
<Location /app/guarded/>
    Require env allowed
</Location>
"""
    a = site(apache_factory, memcached, mpm, extra=conf)
    r = get(a, "/app/guarded/p", headers={"X-Allow": "yes"})
    assert r.status_code == 200
    assert xc(get(a, "/app/guarded/p", headers={"X-Allow": "yes"})).startswith("HIT")
    denied = get(a, "/app/guarded/p")
    assert denied.status_code == 403
    assert nonce(r) not in denied.text


@pytest.mark.parametrize("mpm", MPMS)
def test_quick_handler(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm,
             server_extra="ReqPerfCacheQuick On", extra="""
<Location /app/nocache/>
    ReqPerfCache Off
</Location>
""")
    r1 = get(a, "/app/quick")
    assert xc(r1) == "MISS"
    r2 = get(a, "/app/quick")
    assert xc(r2).startswith("HIT") and nonce(r2) == nonce(r1)
    # <Location> settings are honoured before translation too
    get(a, "/app/nocache/p")
    r = get(a, "/app/nocache/p")
    assert "X-Cache" not in r.headers
    assert backend.hits("/nocache/p") == 2
    e = [parse_access_line(l) for l in a.wait_access_lines(4)]
    quick_hit = [x for x in e if x["uri"] == "/app/quick"
                 and x["cache"].startswith("HIT")][0]
    # served before translation: no translate phase
    assert "cache" in quick_hit["phases"]
    assert "translate" not in quick_hit["phases"]


# ---------------------------------------------------------------- unsafe

@pytest.mark.parametrize("mpm", MPMS)
def test_unsafe_method_invalidates(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    r1 = get(a, "/app/invoice/7")
    assert xc(get(a, "/app/invoice/7")).startswith("HIT")
    p = requests.post(a.url("/app/invoice/7"), data="paid=1")
    assert p.status_code == 200 and xc(p) == "BYPASS method"
    r2 = get(a, "/app/invoice/7")
    assert xc(r2) == "MISS" and nonce(r2) != nonce(r1)
    # a failed POST leaves the page alone
    get(a, "/app/invoice/8")
    requests.post(a.url("/app/invoice/8?status=500"))
    assert xc(get(a, "/app/invoice/8")).startswith("HIT")
    for method in ("PUT", "PATCH", "DELETE"):
        get(a, "/app/doc/1")
        assert xc(get(a, "/app/doc/1")).startswith("HIT")
        requests.request(method, a.url("/app/doc/1"))
        assert xc(get(a, "/app/doc/1")) == "MISS", method


# ---------------------------------------------------------------- stampede

@pytest.mark.parametrize("mpm", MPMS)
def test_stampede_reaches_backend_once(apache_factory, memcached, backend,
                                       mpm):
    # the lock is under test, not the timeout: 55 processes (under ASan in
    # CI) waking at once on two cores can take memcached past the 50 ms
    # default, and a timed-out call rightly sends a request to the backend
    a = site(apache_factory, memcached, mpm, workers=55,
             server_extra="ReqPerfCacheTimeout 2s")
    start = threading.Barrier(50)

    def one(i):
        start.wait()
        r = get(a, "/app/cold?sleep_ms=500")
        return r.status_code, xc(r), nonce(r)
    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        out = list(ex.map(one, range(50)))
    assert all(s == 200 for s, _, _ in out)
    assert backend.hits("/cold") == 1, sorted(x for _, x, _ in out)
    assert len({n for _, _, n in out}) == 1
    assert sum(1 for _, x, _ in out if x == "MISS") == 1
    time.sleep(0.3)
    c = stats(a)["cache"]
    assert c["hit"] == 49 and c["miss"] == 1
    # those that came while the backend worked waited for its answer
    assert c["lock_waits"] >= 1


@pytest.mark.parametrize("mpm", MPMS)
def test_lock_off_lets_every_miss_through(apache_factory, memcached, backend,
                                          mpm):
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheLock Off", workers=8)
    start = threading.Barrier(5)

    def one(i):
        start.wait()
        return xc(get(a, "/app/cold-nolock?sleep_ms=300"))
    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        out = list(ex.map(one, range(5)))
    assert out.count("MISS") == 5
    assert backend.hits("/cold-nolock") == 5


@pytest.mark.parametrize("mpm", MPMS)
def test_uncacheable_page_is_not_serialized(apache_factory, memcached,
                                            backend, mpm):
    """hit-for-pass: once a URL answered something that cannot be stored,
    its next misses go straight to the backend instead of queueing on the
    stampede lock one after the other."""
    a = site(apache_factory, memcached, mpm, workers=8)
    path = "/app/uncacheable?cc=no-store&sleep_ms=300"
    assert xc(get(a, path)) == "MISS"
    start = threading.Barrier(5)

    def one(i):
        start.wait()
        return xc(get(a, path))
    with concurrent.futures.ThreadPoolExecutor(5) as ex:
        out = list(ex.map(one, range(5)))
    assert out == ["MISS uncacheable"] * 5
    assert backend.hits("/uncacheable") == 6
    time.sleep(0.3)
    assert stats(a)["cache"]["lock_waits"] == 0
    # a purge of the URL ends the pass: the next miss takes the lock again
    requests.post(a.url("/app/uncacheable?cc=no-store&sleep_ms=300"))
    assert xc(get(a, path)) == "MISS"


@pytest.mark.parametrize("mpm", MPMS)
def test_grace_serves_stale_while_one_refreshes(apache_factory, memcached,
                                                backend, mpm):
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheGrace 60", workers=8)
    path = "/app/graceful?cc=max-age=1&sleep_ms=600"
    first = get(a, path)
    assert xc(first) == "MISS"
    time.sleep(1.5)                             # expired, within grace
    refresher = {}

    def refresh():
        refresher["r"] = get(a, path)
    t = threading.Thread(target=refresh)
    t.start()
    time.sleep(0.2)                             # the refresher holds the lock
    stale = [get(a, path) for _ in range(3)]
    t.join()
    for s in stale:
        assert xc(s) == "STALE grace" and nonce(s) == nonce(first)
    assert xc(refresher["r"]) == "MISS"
    assert nonce(refresher["r"]) != nonce(first)
    after = get(a, path)
    assert xc(after).startswith("HIT") and nonce(after) == nonce(refresher["r"])
    assert backend.hits("/graceful") == 2


# ---------------------------------------------------------------- faults

@pytest.mark.parametrize("mpm", MPMS)
def test_memcached_down_then_back(apache_factory, memcached, backend, mpm):
    # memcached alone (the local tier would serve its copies a moment)
    a = site(apache_factory, memcached, mpm, server_extra="ReqPerfCacheLocal 0")
    get(a, "/app/fault")
    assert xc(get(a, "/app/fault")).startswith("HIT")
    memcached.stop()
    for i in range(10):
        r = get(a, "/app/fault")
        assert r.status_code == 200, r.status_code
        assert xc(r) == "BYPASS down"
    time.sleep(0.3)
    d = stats(a)
    assert d["cache"]["servers"][0]["state"] in ("down", "retrying")
    memcached.start_again()
    deadline = time.monotonic() + 15
    seen = []
    while time.monotonic() < deadline:
        seen.append(xc(get(a, "/app/fault")))
        if seen[-1].startswith("HIT"):
            break
        time.sleep(0.2)
    assert seen[-1].startswith("HIT"), seen
    assert stats(a)["cache"]["servers"][0]["state"] == "up"


class HungServer:
    """Accepts connections and never answers (a memcached that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.t.join()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("mpm", MPMS)
def test_hung_memcached_costs_at_most_the_timeout(apache_factory, backend,
                                                  mpm):
    hung = HungServer()
    try:
        a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers 127.0.0.1:%d
ReqPerfCacheTimeout 100ms
ProxyPass /app/ ${BACKEND}/
<Location /app/>
    ReqPerfCache On
</Location>
%s
""" % (hung.port, STATUS))
        durations = []
        for i in range(12):
            t0 = time.monotonic()
            r = get(a, "/app/hung?i=%d" % i, timeout=20)
            durations.append(time.monotonic() - t0)
            assert r.status_code == 200
        # never a hang: each request is bounded by a few timeouts (the
        # first ones pay the lookup and the store), and once the breaker
        # has opened a request does not wait for memcached at all
        assert max(durations) < 3.0, durations
        assert xc(r) == "BYPASS down"
        d = stats(a)
        assert d["cache"]["servers"][0]["state"] in ("down", "retrying")
        assert d["cache"]["bypass_down"] >= 1
    finally:
        hung.close()


@pytest.mark.parametrize("mpm", MPMS)
@pytest.mark.parametrize("dead", ["hung", "refused"])
def test_one_dead_server_among_two(apache_factory, memcached, backend, mpm,
                                   dead):
    # keys spread over a live and a dead memcached (one that hangs, or one
    # that refuses connections): the dead one's breaker opens (its failures
    # are not hidden behind the live one's answers), requests stay bounded,
    # and pages whose keys all live on the live server still hit.  The
    # timeout is 300 ms, not 100: on a loaded machine (an ASan run beside
    # other work) three answers of the live server in a row took longer
    # than 100 ms and opened its breaker too
    hung = HungServer()
    if dead == "refused":
        hung.close()                   # its port now refuses connections
    try:
        a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers %s 127.0.0.1:%d
ReqPerfCacheTimeout 300ms
ReqPerfCacheLocal 0
ProxyPass /app/ ${BACKEND}/
<Location /app/>
    ReqPerfCache On
</Location>
%s
""" % (memcached.address, hung.port, STATUS))
        durations, results = [], {}
        for rnd in range(3):
            # a page hits only when its entry and URL generation both
            # live on the live server (1 in 4): 40 pages leave a 1e-5
            # chance that none does
            for i in range(40):
                t0 = time.monotonic()
                r = get(a, "/app/spread/%d" % i, timeout=20)
                durations.append(time.monotonic() - t0)
                assert r.status_code == 200
                results.setdefault(i, []).append(xc(r))
        assert max(durations) < 3.0, durations
        time.sleep(0.3)
        d = stats(a)
        states = {s["address"]: s["state"] for s in d["cache"]["servers"]}
        assert states[memcached.address] == "up", states
        assert states["127.0.0.1:%d" % hung.port] in ("down", "retrying"), \
            states
        assert d["cache"]["bypass_down"] >= 1
        # with ketama some pages have all their keys on the live server
        assert any(x[-1].startswith("HIT") for x in results.values()), \
            sorted(set(x[-1] for x in results.values()))
    finally:
        hung.close()


@pytest.mark.parametrize("mpm", MPMS)
def test_garbage_in_memcached_is_a_miss(apache_factory, memcached, backend,
                                        mpm):
    a = site(apache_factory, memcached, mpm, server_extra="ReqPerfCacheLocal 0")
    get(a, "/app/victim")
    assert xc(get(a, "/app/victim")).startswith("HIT")
    entries = memcached.keys_like("rp:e:")
    assert len(entries) == 1
    good = memcached.get(entries[0])
    for bad in (b"garbage", good[:len(good) // 2], good[:-1],
                good[:40] + bytes([good[40] ^ 0xFF]) + good[41:], b"",
                b"\x00" * 5000):
        memcached.set(entries[0], bad)
        r = get(a, "/app/victim")
        assert r.status_code == 200
        assert xc(r) == "MISS", bad[:20]
        assert r.json()["path"] == "/victim"
        memcached.set(entries[0], bad)
    time.sleep(0.3)
    assert stats(a)["cache"]["invalid_entries"] >= 5


def test_slow_readers_do_not_hold_memcached_connections(apache_factory,
                                                        memcached, backend):
    """The event MPM finishes writing a response after its worker has moved
    on (write completion), with the request still alive.  A hit must not
    keep its memcached connection until then: one child of 4 threads has 5
    connections, and 8 clients that never read would take them all, so
    every later request would read memcached as down.  (Event only:
    prefork has no write completion.)"""
    a = apache_factory(mpm="event", extra_global="""
ServerLimit 1
StartServers 1
ThreadsPerChild 4
MinSpareThreads 1
MaxSpareThreads 4
MaxRequestWorkers 4
SendBufferSize 4096
""", conf="""
ReqPerfCacheServers %s
ReqPerfCacheTimeout 2s
ReqPerfCacheLocal 0
ProxyPass /app/ ${BACKEND}/
<Location /app/>
    ReqPerfCache On
</Location>
%s
""" % (memcached.address, STATUS))
    page = "/app/big?size=40000&cc=max-age%3D60"
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % page).encode()

    def raw_get():
        # the same request (and so the same variant) as the stalled ones
        answer = raw(a, request + b"Connection: close\r\n\r\n")
        for line in answer.split("\r\n\r\n", 1)[0].split("\r\n"):
            if line.lower().startswith("x-cache:"):
                return line.split(":", 1)[1].strip()
        return answer[:200]

    assert raw_get() == "MISS"
    assert raw_get() == "HIT memcached"
    stalled = []
    try:
        for _ in range(8):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.connect(("127.0.0.1", a.port))
            s.sendall(request + b"\r\n")
            stalled.append(s)
            time.sleep(0.05)
        time.sleep(0.3)
        results = [raw_get() for _ in range(4)]
        assert results == ["HIT memcached"] * 4, results
        assert backend.hits("/big") == 1
    finally:
        for s in stalled:
            s.close()


# ---------------------------------------------------------------- spellings

@pytest.mark.parametrize("mpm", MPMS)
def test_cache_control_on_two_lines_is_read_whole(apache_factory, memcached,
                                                  backend, mpm):
    # "public" on one line, "private" on the next: private wins, as it
    # would for any cache that reads the header field whole
    a = site(apache_factory, memcached, mpm)
    for second in ("private", "no-store", "no-cache"):
        path = ("/app/cc2/%s?header=Cache-Control:public, max-age=60"
                "&header=Cache-Control:%s" % (second, second))
        r1 = get(a, path)
        r2 = get(a, path)
        assert not xc(r2).startswith("HIT"), (second, xc(r2))
        assert nonce(r2) != nonce(r1), second
        assert backend.hits("/cc2/%s" % second) == 2


@pytest.mark.parametrize("mpm", MPMS)
def test_absolute_form_without_a_path_keys_as_slash(apache_factory,
                                                    memcached, backend, mpm):
    # GET http://host?utm_x=/victim is a request for "/": it must not be
    # stored under the key of /victim
    a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers %s
ReqPerfCacheTimeout 2s
ReqPerfCacheIgnoreQuery utm_*
ProxyPass / ${BACKEND}/
<Location />
    ReqPerfCache On
</Location>
""" % memcached.address)
    host = "127.0.0.1:%d" % a.port
    raw(a, ("GET http://%s?utm_x=/victim HTTP/1.1\r\nHost: %s\r\n"
            "Connection: close\r\n\r\n" % (host, host)).encode())
    r = get(a, "/victim")
    assert r.json()["path"] == "/victim"
    assert xc(r) == "MISS"


@pytest.mark.parametrize("mpm", MPMS)
def test_quick_handler_sees_through_other_spellings(apache_factory,
                                                    memcached, backend, mpm):
    # a guarded <Location> with the cache off stays off, and guarded,
    # whatever spelling of its path a client uses
    a = site(apache_factory, memcached, mpm,
             server_extra="ReqPerfCacheQuick On", extra="""
SetEnvIf X-Allow "^yes$" allowed
<Location /app/admin/>
    ReqPerfCache Off
    Require env allowed
</Location>
""")
    assert get(a, "/app/admin/report").status_code == 403
    for spelling in ("/app/%61dmin/report", "/app/./admin/report",
                     "/app/x/../admin/report", "/app//admin/report"):
        ok = raw_get(a, spelling, "X-Allow: yes\r\n")
        assert ok.startswith("HTTP/1.1 200"), (spelling, ok[:200])
        assert "X-Cache: HIT" not in ok, spelling
        denied = raw_get(a, spelling)
        assert denied.startswith("HTTP/1.1 403"), (spelling, denied[:300])
    # plain public paths are still served by the quick handler
    get(a, "/app/public/page")
    assert xc(get(a, "/app/public/page")).startswith("HIT")


@pytest.mark.parametrize("mpm", MPMS)
def test_spellings_of_one_path_are_purged_together(apache_factory, memcached,
                                                   backend, mpm):
    # the key holds the path as sent (a backend behind "ProxyPass nocanon",
    # or one reading REQUEST_URI, sees that spelling), so each spelling has
    # its own entry; one purge or unsafe method reaches every spelling
    a = site(apache_factory, memcached, mpm)
    spellings = ("/app/%64oc/1", "/app/doc/1", "/app/./doc/1", "/app//doc/1",
                 "/app/x/../doc/1")
    for spelling in spellings:
        assert "X-Cache: MISS" in raw_get(a, spelling), spelling
        r = raw_get(a, spelling)
        assert "X-Cache: HIT" in r, (spelling, r[:300])
    assert backend.hits("/doc/1") == len(spellings)
    # an unsafe method on one spelling drops them all
    assert requests.post(a.url("/app/doc/1"), data="x").status_code == 200
    for spelling in spellings:
        again = raw_get(a, spelling)
        assert "X-Cache: MISS" in again, (spelling, again[:300])


@pytest.mark.parametrize("mpm", MPMS)
def test_host_as_sent_is_the_key_under_canonical_name(apache_factory,
                                                      memcached, backend,
                                                      mpm):
    # UseCanonicalName On makes Apache's own URLs name ServerName, but the
    # backend still sees the Host the client sent (X-Forwarded-Host) and
    # may build links from it: each Host has its own entry, never
    # ServerName's, whether a ServerAlias wildcard matched it or not
    a = site(apache_factory, memcached, mpm, server_extra="""
<VirtualHost *>
    ServerName 127.0.0.1
    ServerAlias *.alias.test
    UseCanonicalName On
</VirtualHost>
""")
    evil = get(a, "/app/home", headers={"Host": "evil.alias.test"})
    assert xc(evil) == "MISS"
    assert "evil.alias.test" in evil.json()["x_forwarded_host"]
    for host in ("www.alias.test", "127.0.0.1:%d" % a.port, "127.0.0.1:1"):
        r = get(a, "/app/home", headers={"Host": host})
        assert xc(r) == "MISS", host
        assert "evil" not in r.json()["x_forwarded_host"], host
        again = get(a, "/app/home", headers={"Host": host})
        assert xc(again).startswith("HIT") and nonce(again) == nonce(r)
    assert nonce(get(a, "/app/home", headers={"Host": "evil.alias.test"})) \
        == nonce(evil)


@pytest.mark.parametrize("mpm", MPMS)
def test_parameter_cloaking_stays_keyed(apache_factory, memcached, backend,
                                        mpm):
    # "utm_x=1;id=evil": a backend that splits on ';' sees id=evil, so the
    # piece is keyed even though utm_* is ignored
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheIgnoreQuery utm_*")
    get(a, "/app/cloak?utm_x=1;id=evil")
    r = get(a, "/app/cloak")
    assert xc(r) == "MISS"
    assert r.json()["query"] == ""
    # a plain ignored parameter still shares the entry
    assert xc(get(a, "/app/cloak?utm_source=news")).startswith("HIT")


@pytest.mark.parametrize("mpm", MPMS)
def test_an_answer_to_preconditions_leaves_no_pass_marker(apache_factory,
                                                          memcached, backend,
                                                          mpm):
    # one client's 412 (its own If-Match failed) must not make the page
    # uncacheable for everyone
    a = site(apache_factory, memcached, mpm)
    r = get(a, "/app/precond?status=412")
    assert r.status_code == 412 and xc(r) == "MISS"
    r = get(a, "/app/precond?status=412")
    assert xc(r) == "MISS", "a 412 left a hit-for-pass marker"
    # whereas an uncacheable answer does leave one
    get(a, "/app/nostore?header=Cache-Control:no-store")
    assert xc(get(a, "/app/nostore?header=Cache-Control:no-store")) \
        == "MISS uncacheable"


@pytest.mark.parametrize("mpm", MPMS)
def test_underscore_spelling_of_an_unkeyed_header(apache_factory, memcached,
                                                  backend, mpm):
    a = site(apache_factory, memcached, mpm)
    r = raw_get(a, "/app/under", "X_Forwarded_Host: evil.example\r\n")
    assert "X-Cache: BYPASS unkeyed-header" in r, r[:400]
    assert xc(get(a, "/app/under")) == "MISS"
