"""An adversarial review of ReqPerfCache Observe and the cache advisor
(issue 16), against a real apache2, a real memcached and the counting
backend.

The promises attacked: under Observe a client gets exactly what Off gives
(status, headers, body, interim responses, HEAD, Range, 304, streamed and
large bodies, HTTP/2), with no body held back; memcached sees no command
from an Observe location (whatever the neighbouring locations, the unsafe
methods and ReqPerfCacheQuick); the advisor's counts are exact under
concurrency and its reasons are the right ones; the names it shows are
bounded and escaped in HTML, JSON and Prometheus; nothing crashes on odd
input.

Each server serves the same backend pages under an Observe prefix and an
Off prefix (`/o/` and `/f/` both proxy to the backend's `/p/`; `/os/` and
`/fs/` are the same static files; `/ocgi/` and `/fcgi/` the same CGI
scripts), so two answers of one server can be compared byte for byte.
One prefork and one event server (with ReqPerfCacheQuick On and HTTP/2)
are shared by every test of the module.

Failing before the fix in the same commit: the streamed CGI page (the
REQPERF_OBSERVE filter read a pipe with a blocking read and held what it
had read until the script ended, where Off passes each part on).
"""
import json
import os
import re
import socket
import time

import pytest
import requests

import h2client
from conftest import MPMS, stop_and_check
from harness import (Apache, Memcached, parse_prom, promtool_check, raw,
                     run_load)

MC_WATCHED = ("curr_items", "total_items", "cmd_get", "cmd_set",
              "cmd_touch", "cmd_flush", "get_hits", "get_misses",
              "incr_hits", "incr_misses", "decr_hits", "decr_misses",
              "delete_hits", "delete_misses", "cas_hits", "cas_misses",
              "touch_hits", "touch_misses")

CONF = """
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
ReqPerfCacheQuick {quick}
ReqPerfServerTiming On

ProxyPass /o/ ${{BACKEND}}/p/
ProxyPass /f/ ${{BACKEND}}/p/
ProxyPass /po/ ${{BACKEND}}/p/
ProxyPass /op/ ${{BACKEND}}/p/
<Location /o/>
    ReqPerfCache Observe
    ReqPerfCacheTTL 300
    ReqPerfCacheMaxSize 100000
</Location>
<Location /f/>
    ReqPerfCache Off
</Location>
# a parent On with a child Observe, and the other way round
<Location /po/>
    ReqPerfCache On
</Location>
<Location /po/obs/>
    ReqPerfCache Observe
</Location>
<Location /op/>
    ReqPerfCache Observe
</Location>
<Location /op/on/>
    ReqPerfCache On
</Location>

Alias /os/ {root}/htdocs/
Alias /fs/ {root}/htdocs/
<Location /os/>
    ReqPerfCache Observe
</Location>
ScriptAlias /ocgi/ {root}/cgi-bin/
ScriptAlias /fcgi/ {root}/cgi-bin/
<Location /ocgi/>
    ReqPerfCache Observe
</Location>

<Location /reqperf-status>
    SetHandler reqperf-status
    ReqPerfCache Off
</Location>
"""

# prints a first part, then waits (at most 10 s) for the test to say go on
STREAM_CGI = """#!/usr/bin/python3
import os, sys, time
flag = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flags",
                    os.environ.get("QUERY_STRING", "x"))
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n")
sys.stdout.write("part one\\n")
sys.stdout.flush()
deadline = time.monotonic() + 10
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.02)
sys.stdout.write("part two\\n")
sys.stdout.flush()
"""


class Site:
    def __init__(self, a, mc):
        self.a = a
        self.mc = mc

    def url(self, path):
        return self.a.url(path)


def make_site(backend, mpm, quick, h2):
    mc = Memcached()
    a = Apache(mpm=mpm, backend=backend, h2=h2)
    a.conf_body = CONF.format(mc=mc.address, root=a.root,
                              quick="On" if quick else "Off")
    os.makedirs(a.path("cgi-bin/flags"))
    os.chmod(a.path("cgi-bin/flags"), 0o777)
    a.write_file("cgi-bin/stream", STREAM_CGI, mode=0o755)
    a.write_file("htdocs/big.txt", "".join("line %06d\n" % i
                                           for i in range(30000)))
    try:
        a.start()
    except Exception:
        mc.stop()
        raise
    return Site(a, mc)


def close_site(s):
    try:
        stop_and_check(s.a)
    finally:
        s.mc.stop()


@pytest.fixture(scope="module")
def sites(backend):
    made = {}
    try:
        made["prefork"] = make_site(backend, "prefork", quick=False, h2=False)
        made["event"] = make_site(backend, "event", quick=True, h2=True)
        yield made
    finally:
        for s in made.values():
            close_site(s)


def mc_state(s):
    st = s.mc.stats()
    return {k: int(st.get(k, 0)) for k in MC_WATCHED}


def mc_settled(s, timeout=5.0):
    """memcached's counters once the requests before have done with it (a
    fill lock is let go when the request's pool goes, after its answer)."""
    last = mc_state(s)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = mc_state(s)
        if now == last:
            return now
        last = now
    return last


def exchange(s, target, headers="", method="GET", body=b"", prefix=None):
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s" % (method, target,
                                                        headers))
    if body:
        head += "Content-Length: %d\r\n" % len(body)
    data = (head + "Connection: close\r\n\r\n").encode("latin-1") + body
    return raw(s.a, data, timeout=20)


def normal(answer):
    """An answer with what differs between any two answers (the date, the
    timing figures) blanked; the phase names of Server-Timing stay, but
    ttfb, which is there only when the backend's first bytes came with its
    headers (a race of the backend's, Off against Off too)."""
    answer = re.sub(r"\r\nDate: [^\r]*", "\r\nDate: -", answer)
    answer = re.sub(r"dur=[0-9.]+", "dur=-", answer)
    return answer.replace("ttfb;dur=-, ", "")


def pair(s, path, headers="", method="GET", body=b"", obs="/o/", off="/f/"):
    """The answers to the same request under the Observe and the Off
    prefix."""
    a = exchange(s, obs + path, headers, method, body)
    b = exchange(s, off + path, headers, method, body)
    return a, b


def raw_pair(s, target, headers=b""):
    """pair() for bytes no client library would send: target (after the
    prefix) and header lines as given."""
    out = []
    for prefix in (b"/o/", b"/f/"):
        out.append(normal(raw(s.a, b"GET " + prefix + target + b" HTTP/1.1"
                              b"\r\nHost: 127.0.0.1\r\n" + headers
                              + b"Connection: close\r\n\r\n")))
    return out


def assert_same(a, b, what):
    head = a.split("\r\n\r\n", 1)[0].lower()
    assert "x-cache" not in head and "x-reqperf" not in head, (what, head)
    assert "cache;dur" not in head, (what, head)
    assert normal(a) == normal(b), (what, a[:1500], b[:1500])


def status(s):
    r = requests.get(s.url("/reqperf-status?format=json"), timeout=10)
    return json.loads(r.text)


def advice(st, route, method="GET"):
    for r in st["routes"]:
        if r["route"] == route and r["method"] == method:
            return r.get("advice")
    return None


def wait_route(s, route, n, method="GET", timeout=10.0):
    """The advisor counts a request when it is logged, after its answer."""
    deadline = time.monotonic() + timeout
    adv = None
    while time.monotonic() < deadline:
        adv = advice(status(s), route, method)
        if adv is not None and adv["requests"] >= n:
            return adv
        time.sleep(0.05)
    raise AssertionError("route %s %s: %r after %.0f s" % (method, route,
                                                           adv, timeout))


def counts(adv):
    return {k: adv[k] for k in ("requests", "observed", "examined",
                                "storable", "would_hit")}


# ------------------------------------------------------- what the client sees

# (path under /o/ and /f/, request headers)
PROXIED = [
    ("same/1?static=1", ""),
    ("same/1?static=1", ""),                       # a would-be hit
    ("same/2?static=1&cookie=csrftoken=abc", ""),
    ("same/3?static=1&header=Vary:Cookie", ""),
    ("same/4?static=1&header=Vary:Accept-Encoding", "Accept-Encoding: gzip\r\n"),
    ("same/5?static=1&cc=private", ""),
    ("same/6?static=1&cc=max-age=30&header=Age:7", ""),
    ("same/7?static=1&early=Link:</s.css>;rel=preload", ""),
    ("same/8?static=1&early=X-ReqPerf-Tags:t1&header=X-ReqPerf-Tags:t2", ""),
    ("same/9?static=1&status=404", ""),
    ("same/10?static=1&status=500", ""),
    ("same/11?static=1&status=302&header=Location:/x", ""),
    ("same/12?chunk_at=0,20,40&static=1", ""),
    ("same/13?static=1&size=300000", ""),                   # past MaxSize
    ("same/14?static=1", "Range: bytes=2-5\r\n"),
    ("same/15?static=1", "If-None-Match: \"x\"\r\n"),
    ("same/16?static=1", "Cookie: sessionid=1; _ga=2\r\n"),
    ("same/17?static=1", "Authorization: Basic dTpw\r\n"),
    ("same/18?static=1", "Cache-Control: no-cache\r\n"),
    ("same/19?static=1&utm_source=x", ""),
    ("same/20?static=1", "X-Forwarded-Host: evil.example\r\n"),
    ("same/21?static=1&header=Vary:*", ""),
    ("same/22?static=1", "Expect: 100-continue\r\n"),
]


@pytest.mark.parametrize("mpm", MPMS)
def test_answers_are_those_of_off(sites, mpm):
    s = sites[mpm]
    before = mc_settled(s)
    for path, headers in PROXIED:
        a, b = pair(s, path, headers)
        assert_same(a, b, path)
        if "size=" in path:
            assert len(a) > 300000
        if "early=" in path:
            assert a.startswith("HTTP/1.1 103 "), a[:300]
    for method in ("HEAD", "GET"):
        a, b = pair(s, "same/1?static=1", method=method)
        assert_same(a, b, method)
    # static files: HEAD, Range, validators, 304, multiple ranges
    r = requests.get(s.url("/fs/static.txt"), timeout=10)
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
    for method, headers in [
            ("GET", ""), ("HEAD", ""), ("GET", "Range: bytes=0-9\r\n"),
            ("GET", "Range: bytes=0-1,5-9\r\n"),
            ("GET", "If-None-Match: %s\r\n" % etag),
            ("GET", "If-Modified-Since: %s\r\n" % lm),
            ("HEAD", "If-None-Match: %s\r\n" % etag),
            ("GET", "If-Range: %s\r\nRange: bytes=3-4\r\n" % etag),
            ("GET", "Accept-Encoding: gzip\r\n")]:
        a, b = pair(s, "static.txt", headers, method, obs="/os/", off="/fs/")
        assert_same(a, b, (method, headers))
    a, b = pair(s, "big.txt", obs="/os/", off="/fs/")
    assert_same(a, b, "big.txt")
    assert len(a) > 300000
    a, b = pair(s, "index.html", "If-None-Match: %s\r\n" % etag,
                obs="/os/", off="/fs/")
    assert_same(a, b, "index")
    # Observe touched no memcached (Off with ReqPerfCacheServers does not
    # either, for these)
    assert mc_settled(s) == before


def test_http2_answers_are_those_of_off(sites):
    s = sites["event"]
    before = mc_settled(s)
    paths = ["same/1?static=1", "same/2?static=1&cookie=csrftoken=a",
             "same/6?static=1&cc=max-age=30",
             "same/8?static=1&header=X-ReqPerf-Tags:t2"]
    for p in paths:
        so, sf = h2client.get(s.a.port, ["/o/" + p, "/f/" + p])
        assert (so.status, so.body) == (sf.status, sf.body), p
        ho = {k: v for k, v in so.headers.items()
              if k not in ("date", "server-timing")}
        hf = {k: v for k, v in sf.headers.items()
              if k not in ("date", "server-timing")}
        assert ho == hf, (p, ho, hf)
        assert so.header("x-cache") is None
    assert mc_settled(s) == before


def read_until(sock, needle, timeout):
    sock.settimeout(timeout)
    got = b""
    try:
        while needle not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    return got


def streamed_first_part(s, prefix, name):
    """Whether the first part of the CGI page reached the client before
    the script was told to write the rest."""
    sock = socket.create_connection(("127.0.0.1", s.a.port), timeout=20)
    flag = s.a.path("cgi-bin/flags/" + name)
    try:
        sock.sendall(("GET %sstream?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Connection: close\r\n\r\n" % (prefix, name)).encode())
        got = read_until(sock, b"part one", 5)
        early = b"part one" in got
        open(flag, "w").close()
        got += read_until(sock, b"\r\n0\r\n\r\n", 15)
    finally:
        if not os.path.exists(flag):
            open(flag, "w").close()
        sock.close()
    assert b"part two" in got, got
    return early


@pytest.mark.parametrize("mpm", MPMS)
def test_streamed_body_is_not_held(sites, mpm):
    s = sites[mpm]
    assert streamed_first_part(s, "/fcgi/", "off-" + mpm)
    assert streamed_first_part(s, "/ocgi/", "obs-" + mpm), \
        "under Observe the first part only came with the last"
    # proxied chunks as they come: the first before the end
    for prefix in ("/o/",):
        sock = socket.create_connection(("127.0.0.1", s.a.port), timeout=20)
        try:
            sock.sendall(b"GET " + prefix.encode() + b"stream/1?static=1&"
                         b"chunk_at=0,3000 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Connection: close\r\n\r\n")
            got = read_until(sock, b"page", 10)
            assert b"page" in got and not got.endswith(b"0\r\n\r\n"), \
                (prefix, got)
            got += read_until(sock, b"\r\n0\r\n\r\n", 10)
            assert got.endswith(b"0\r\n\r\n"), got
        finally:
            sock.close()


# ------------------------------------------------------- memcached untouched

@pytest.mark.parametrize("mpm", MPMS)
def test_memcached_untouched_whatever_the_neighbours(sites, mpm):
    s = sites[mpm]
    before = mc_settled(s)
    targets = ["/o/mc/1?static=1", "/po/obs/1?static=1", "/op/1?static=1",
               "/po/obs/1?static=1&cookie=a=b", "/o/mc/1?static=1"]
    for t in targets:
        a = exchange(s, t)
        assert a.startswith("HTTP/1.1 200"), a[:200]
        assert "x-cache" not in a.lower(), (t, a[:500])
    # unsafe methods to an Observe location purge nothing: Off does not,
    # and Observe stores nothing a purge would be for
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for t in ("/o/mc/1?static=1", "/po/obs/1?static=1", "/op/1"):
            a = exchange(s, t, method=method, body=b"x=1")
            assert a.startswith("HTTP/1.1 200"), a[:200]
    assert mc_settled(s) == before

    # the same requests under On do reach memcached (the test can see it)
    a = exchange(s, "/op/on/1?static=1")
    assert "X-Cache: MISS" in a, a[:500]
    mid = mc_state(s)
    assert mid != before
    exchange(s, "/po/1?static=1", method="POST", body=b"x=1")
    assert mc_state(s) != mid


@pytest.mark.parametrize("mpm", MPMS)
def test_backend_purge_under_observe_is_the_same_as_under_off(sites, mpm):
    """X-ReqPerf-Purge is the application's word about other pages (the
    README: "to any method"): honoured under Off, so under Observe too
    (else turning Observe on would leave stale pages in the On parts);
    memcached moves exactly as under Off, and the header never leaves."""
    s = sites[mpm]
    ref = exchange(s, "/po/purged/1?static=1")
    assert "X-Cache: MISS" in ref
    assert "X-Cache: HIT" in exchange(s, "/po/purged/1?static=1")
    deltas = []
    for prefix in ("/f/", "/o/"):
        before = mc_settled(s)
        a = exchange(s, prefix + "purge/1?static=1&header=X-ReqPerf-Purge:"
                     "url=/po/purged/1?static=1", method="POST", body=b"x")
        assert "x-reqperf" not in a.split("\r\n\r\n")[0].lower(), a[:400]
        after = mc_settled(s)
        deltas.append({k: after[k] - before[k] for k in after})
        assert "X-Cache: HIT" not in exchange(s, "/po/purged/1?static=1")
        exchange(s, "/po/purged/1?static=1")
    # the same commands (whether the generation's incr hit or created the
    # key, total_items, is memcached's state, not the purge's)
    def commands(d):
        return (d["cmd_get"], d["cmd_set"], d["cmd_touch"],
                d["incr_hits"] + d["incr_misses"],
                d["decr_hits"] + d["decr_misses"],
                d["delete_hits"] + d["delete_misses"])
    assert commands(deltas[0]) == commands(deltas[1]), deltas
    assert commands(deltas[0]) != (0, 0, 0, 0, 0, 0), deltas


# ------------------------------------------------------- exact counts

@pytest.mark.parametrize("mpm", MPMS)
def test_counts_exact_under_concurrency(sites, mpm):
    s = sites[mpm]
    paths = ["/o/conc%s/%d?static=1" % (mpm, i) for i in range(10)]
    # (the same client as the load: Accept-Encoding is part of the key)
    ok, failures, _ = run_load(s.a, paths, clients=1, per_client=len(paths))
    assert failures == [] and ok == len(paths)
    route = "/o/conc%s/{id}" % mpm
    wait_route(s, route, len(paths))
    ok, failures, _ = run_load(s.a, paths, clients=12, per_client=25)
    assert failures == [] and ok == 300
    total = len(paths) + ok
    adv = wait_route(s, route, total)
    assert counts(adv) == {"requests": total, "observed": total,
                           "examined": total, "storable": total,
                           "would_hit": ok}, adv
    assert adv["reasons"] == {}
    assert adv["saved_us"] > 0
    assert adv["keys"]["fresh"] == len(paths)
    timing = [r for r in status(s)["routes"] if r["route"] == route][0]
    assert timing["count"] == total


def test_saved_time_is_the_would_be_hits_backend_time(sites):
    """saved_us under Observe: the handler time of the would-be hits, each
    at least the backend's 100 ms, and no more than the client waited for
    them."""
    s = sites["prefork"]
    t = "/o/slow/1?static=1&sleep_ms=100"
    exchange(s, t)
    start = time.monotonic()
    for _ in range(3):
        exchange(s, t)
    waited_us = (time.monotonic() - start) * 1e6
    adv = wait_route(s, "/o/slow/{id}", 4)
    assert counts(adv) == {"requests": 4, "observed": 4, "examined": 4,
                           "storable": 4, "would_hit": 3}, adv
    assert 3 * 100000 <= adv["saved_us"] <= waited_us, (adv, waited_us)


REASONS = [
    # (route part, query, request headers, reason, side)
    ("setcookie", "cookie=csrftoken=abc", "", "set-cookie", "store"),
    ("private", "cc=private", "", "private", "store"),
    ("nostore", "cc=no-store", "", "no-store", "store"),
    ("nocache", "cc=no-cache", "", "no-cache", "store"),
    ("varycookie", "header=Vary:Cookie", "", "vary-cookie", "store"),
    ("varyauth", "header=Vary:Authorization", "", "vary-authorization",
     "store"),
    ("varystar", "header=Vary:*", "", "vary-star", "store"),
    ("status", "status=302&header=Location:/x", "", "status", "store"),
    ("expired", "cc=max-age=0", "", "expired", "store"),
    ("toolarge", "size=200000", "", "too-large", "store"),
    ("cookie", "", "Cookie: sessionid=abc\r\n", "cookie", "lookup"),
    ("auth", "", "Authorization: Basic dTpw\r\n", "authorization", "lookup"),
    ("unkeyed", "", "X-Forwarded-Host: evil.example\r\n", "unkeyed-header",
     "lookup"),
    ("range", "", "Range: bytes=0-3\r\n", "range", "lookup"),
]


@pytest.mark.parametrize("mpm", MPMS)
def test_reasons_attributed_exactly(sites, mpm):
    s = sites[mpm]
    n = 3
    for part, q, headers, _, _ in REASONS:
        for i in range(n):
            t = "/o/r%s%s/%d?static=1&%s" % (mpm, part, i, q)
            assert exchange(s, t, headers).startswith("HTTP/1.1 ")
    # a reload: not looked up, its answer storable
    for i in range(n):
        exchange(s, "/o/r%sreload/%d?static=1" % (mpm, i),
                 "Cache-Control: no-cache\r\n")
    # campaign parameters: each misses, and would hit without them
    exchange(s, "/o/r%sbust/1?static=1" % mpm)
    for src in ("a", "b", "c"):
        exchange(s, "/o/r%sbust/1?static=1&utm_source=%s" % (mpm, src))
    wait_route(s, "/o/r%sbust/{id}" % mpm, 4)
    st = status(s)
    for part, q, headers, reason, side in REASONS:
        adv = advice(st, "/o/r%s%s/{id}" % (mpm, part))
        assert adv is not None, part
        if side == "store":
            want = {"requests": n, "observed": n, "examined": n,
                    "storable": 0, "would_hit": 0}
        else:
            want = {"requests": n, "observed": 0, "examined": 0,
                    "storable": 0, "would_hit": 0}
        assert (counts(adv), adv["reasons"]) == (want, {reason: n}), \
            (part, adv)
    adv = advice(st, "/o/r%sreload/{id}" % mpm)
    assert (counts(adv), adv["reasons"]) == (
        {"requests": n, "observed": 0, "examined": n, "storable": n,
         "would_hit": 0}, {"client-no-cache": n}), adv
    adv = advice(st, "/o/r%sbust/{id}" % mpm)
    assert (counts(adv), adv["reasons"]) == (
        {"requests": 4, "observed": 4, "examined": 4, "storable": 4,
         "would_hit": 0}, {"query-busting": 3}), adv
    assert [(x["name"], x["count"], x["directive"]) for x in adv["names"]] \
        == [("utm_source", 3, "ReqPerfCacheIgnoreQuery utm_*")]
    names = advice(st, "/o/r%ssetcookie/{id}" % mpm)["names"]
    assert [(x["name"], x["count"]) for x in names] == [("csrftoken", n)]


def test_head_counts_on_the_gets_keys(sites):
    s = sites["prefork"]
    exchange(s, "/o/head/1?static=1")
    exchange(s, "/o/head/1?static=1", method="HEAD")
    exchange(s, "/o/head/1?static=1", method="HEAD")
    adv = wait_route(s, "/o/head/{id}", 2, method="HEAD")
    assert counts(adv) == {"requests": 2, "observed": 2, "examined": 0,
                           "storable": 0, "would_hit": 2}, adv


# ------------------------------------------------------- names, escaped

EVIL_SET_COOKIES = [
    "<script>alert(1)</script>=1",
    'q"uo\\te=1',
    "L" * 300 + "=1",
    "</td><img src=x onerror=alert(2)>=1",
]


@pytest.mark.parametrize("mpm", MPMS)
def test_names_are_bounded_and_escaped(sites, mpm):
    s = sites[mpm]
    from urllib.parse import quote
    route = "/o/n%s/{id}" % mpm
    for i, c in enumerate(EVIL_SET_COOKIES + EVIL_SET_COOKIES[:1] * 2):
        a, b = pair(s, "n%s/%d?static=1&cookie=%s" % (mpm, i, quote(c, "")))
        assert_same(a, b, c)
    # cookies and query names the client sends, raw bytes included
    raw_cookies = [
        b"Cookie: <b>x</b>=1; \"q\\=2; \xff\xfe=3; =4; ;;; a\r\n",
        b"Cookie: " + b"C" * 4000 + b"=1\r\n",
        b"Cookie: \x7f\x01=1\r\n",
    ]
    for h in raw_cookies:
        x, y = raw_pair(s, b"n" + mpm.encode() + b"/9?static=1", h)
        assert x == y, (h, x[:300], y[:300])
    for q in ('utm_<script>"x\\=1', "utm_%FF%0A=1", "utm_" + "u" * 200 + "=1",
              "utm_\xff\xfe=1"):
        x, y = raw_pair(s, ("n%s/1?static=1&%s" % (mpm, q)).encode("latin-1"))
        assert x == y, (q, x[:300], y[:300])
    adv = wait_route(s, route, 1)
    deadline = time.monotonic() + 10
    while adv["requests"] < 6 + 3 + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
        adv = advice(status(s), route)

    # JSON: strict, names visible ASCII, at most 32 bytes
    text = requests.get(s.url("/reqperf-status?format=json"), timeout=10)
    st = json.loads(text.content.decode("utf-8"), strict=True)
    adv = advice(st, route)
    assert adv["names"], adv
    for x in adv["names"]:
        assert 0 < len(x["name"]) <= 32, x
        assert all(0x21 <= ord(ch) <= 0x7e for ch in x["name"]), x
    assert len(adv["names"]) <= 8
    got = {x["name"] for x in adv["names"]}
    assert "<script>alert(1)</script>" in got, got
    # HTML: no markup of theirs, valid UTF-8
    page = requests.get(s.url("/reqperf-status"), timeout=10).content
    html = page.decode("utf-8")
    assert "<script>alert" not in html
    assert "<img src=x" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the route's own page too
    rp = requests.get(s.url("/reqperf-status"), params={
        "route": route, "method": "GET"}, timeout=10).content.decode("utf-8")
    assert "<script>alert" not in rp
    # Prometheus: valid
    promtool_check(requests.get(s.url("/reqperf-status?format=prometheus"),
                                timeout=10).text)
    auto = requests.get(s.url("/reqperf-status?auto"), timeout=10).text
    assert re.search(r"^cache_advice_observed: \d+$", auto, re.M), auto


def test_odd_routes_in_prometheus_labels(sites):
    s = sites["prefork"]
    for t in (b"%FF%FE/x?static=1", b"a%22b%5Cc/x?static=1",
              b"nl%0Aline/x?static=1", b"\xc3\x28/x?static=1"):
        x, y = raw_pair(s, t)
        assert x == y, (t, x[:300], y[:300])
    time.sleep(0.3)
    text = requests.get(s.url("/reqperf-status?format=prometheus"),
                        timeout=10).text
    promtool_check(text)
    parse_prom(text)
    json.loads(requests.get(s.url("/reqperf-status?format=json"),
                            timeout=10).content.decode("utf-8"))
    requests.get(s.url("/reqperf-status"), timeout=10).content.decode("utf-8")


# ------------------------------------------------------- odd input

@pytest.mark.parametrize("mpm", MPMS)
def test_odd_input_crashes_nothing_and_changes_nothing(sites, mpm):
    s = sites[mpm]
    before = mc_settled(s)
    long_q = "&".join("utm_p%d=%d" % (i, i) for i in range(600))
    many_cookies = "&".join("cookie=c%d=v" % i for i in range(120))
    cases = [
        ("odd/1?static=1&" + long_q, ""),
        ("odd/2?static=1&" + many_cookies, ""),
        ("odd/3?static=1", "Cookie: ;;;=;=;;\r\n"),
        ("odd/4?static=1", "Cookie: " + "a=b; " * 800 + "\r\n"),
        ("odd/5?static=1", "Cookie: _ga=1\r\nCookie: _gid=2\r\n"),
        ("odd/6?static=1&header=Vary:", ""),
        ("odd/7?static=1&header=Vary:,,,Cookie,,", ""),
        ("odd/8?static=1&cc=max-age=99999999999999999999", ""),
        ("odd/9?static=1&cc=s-maxage=-5,max-age=abc", ""),
        ("odd/10?static=1&header=Expires:garbage", ""),
        ("odd/11?static=1&header=Cache-Control:", ""),
        ("odd/12?static=1&header=Content-Type:text/event-stream", ""),
        ("odd/13?static=1&header=X-ReqPerf-Tags:" + "t " * 200, ""),
        ("odd/14?" + "&".join(["_=1"] * 300) + "&static=1", ""),
        ("odd/15?static=1&=&&&=x&utm_=", ""),
        ("odd/16?static=1", "If-None-Match: *\r\nIf-Modified-Since: x\r\n"),
        ("odd/17?static=1", "Range: bytes=-\r\n"),
        ("odd/18?static=1", "Authorization:\r\n"),
    ]
    for path, headers in cases:
        a, b = pair(s, path, headers)
        assert_same(a, b, path[:80])
    # something in-flight when the client goes away
    for i in range(5):
        sock = socket.create_connection(("127.0.0.1", s.a.port), timeout=5)
        sock.sendall(b"GET /o/gone/%d?static=1&chunk_at=0,300 HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\n\r\n" % i)
        sock.recv(10)
        sock.close()
    time.sleep(0.5)
    assert mc_settled(s) == before
    # still answering, with the advisor's pages
    assert requests.get(s.url("/reqperf-status"), timeout=10).status_code \
        == 200
    promtool_check(requests.get(s.url("/reqperf-status?format=prometheus"),
                                timeout=10).text)


# ------------------------------------------------------- bounded memory

def test_routes_past_max_routes(apache_factory, backend):
    """More routes than ReqPerfMaxRoutes, each under Observe: the rest go
    under __other__, which still counts exactly; the status page stays
    whole."""
    a = apache_factory(mpm="prefork", conf="""
ReqPerfMaxRoutes 16
ProxyPass /o/ ${BACKEND}/p/
<Location /o/>
    ReqPerfCache Observe
</Location>
<Location /reqperf-status>
    SetHandler reqperf-status
    ReqPerfCache Off
</Location>
""")
    n = 60
    for i in range(n):
        x = raw(a, ("GET /o/route%c%c/page?static=1 HTTP/1.1\r\nHost: "
                    "127.0.0.1\r\nConnection: close\r\n\r\n"
                    % (chr(97 + i % 26), chr(97 + i // 26))).encode())
        assert x.startswith("HTTP/1.1 200"), x[:200]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = json.loads(requests.get(a.url("/reqperf-status?format=json"),
                                     timeout=10).text)
        total = sum(r["advice"]["requests"] for r in st["routes"]
                    if r.get("advice"))
        if total >= n:
            break
        time.sleep(0.05)
    assert total == n, st["routes"]
    adv = [r for r in st["routes"] if r.get("advice")]
    # sixteen routes of their own, and the rest together
    assert len(adv) == 17, [r["route"] for r in adv]
    other = [r for r in adv if r["route"] == "__other__"]
    assert len(other) == 1 and other[0]["advice"]["requests"] == n - 16
    assert other[0]["advice"]["observed"] == n - 16
    assert all(r["advice"]["keys"]["tracked"] for r in adv)
    promtool_check(requests.get(a.url("/reqperf-status?format=prometheus"),
                                timeout=10).text)
