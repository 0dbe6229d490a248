"""HTTP/2 (mod_http2, event MPM): h2c with prior knowledge and by Upgrade,
h2 over TLS.  Each stream is a request of its own on a secondary
connection; these tests check that each is timed as itself (its own
queue and read, its own total beside a slow neighbour), counted once
(an h2c Upgrade too), cached and purged, and that resets and dropped
connections leave nothing behind.

Bounds are about ordering and counts, never about how fast this machine
is: a stream's total is compared with what its client saw and with its
slow neighbour's, never with a fixed number of milliseconds.
"""
import concurrent.futures
import json
import time

import pytest
import requests

from conftest import parse_access_line
from h2client import H2Conn, get as h2get
from test_cache import site, xc
from test_status import PROXY, STATUS, settled, status_json, routes_by_key

PURGE = """
<Location /reqperf-purge>
    SetHandler reqperf-purge
</Location>
"""


def log_by_uri(a, n):
    lines = a.wait_access_lines(n)
    assert len(lines) >= n, (len(lines), n)
    return {e["uri"]: e for e in map(parse_access_line, lines)}


def spent(e):
    """What the phases add up to (ttfb is a point inside handler)."""
    return sum(v for k, v in e["phases"].items() if k != "ttfb")


# ------------------------------------------------------------ timing

def test_fast_streams_beside_a_slow_one_keep_their_own_total(apache_factory):
    """Defect (a): mod_http2 sometimes runs a finished stream's log hooks
    only when a slower stream on the same connection ends.  A fast stream
    must still report its own total, not one running to the slow one's
    end."""
    a = apache_factory(h2=True, conf=STATUS + PROXY)
    # it happens to about 1 fast stream in 200 (when the connection's
    # thread closes a stream before its worker has reported it done):
    # enough of them to see it in nearly every run
    conns, rounds, fast_n = 4, 6, 40
    seen = []                                 # (fast stream, slow stream)

    def client(w):
        for k in range(rounds):
            with H2Conn(a.port) as c:
                slow = c.request("/app/slow/%d/%d?sleep_ms=300" % (w, k))
                fast = [c.request("/app/fast/%d/%d/%d" % (w, k, i))
                        for i in range(fast_n)]
                c.wait(timeout=60)
                assert slow.status == 200
                seen.extend((s, slow) for s in fast)
    with concurrent.futures.ThreadPoolExecutor(conns) as ex:
        list(ex.map(client, range(conns)))
    n = conns * rounds * (fast_n + 1)
    assert settled(a, n)["requests"] == n
    log = log_by_uri(a, n)
    late, checked = [], 0
    for s, slow in seen:
        e = log[s.path]
        assert s.status == 200
        assert {"queue", "read", "handler"} <= set(e["phases"]), e
        assert spent(e) <= e["total"], e
        # The server's total lies within what its client saw (request sent
        # to last byte), give or take its worker's last steps.  Running to
        # the slow stream's end would put it past the midpoint between the
        # two ends the client saw.  (A fast stream that ended after the
        # slow one, having waited for a worker, cannot have waited for it.)
        gap_us = (slow.ended_at - s.ended_at) * 1e6
        if gap_us <= 0:
            continue
        checked += 1
        if e["total"] >= s.client_us + gap_us / 2:
            late.append((e["raw"], s.client_us, int(gap_us)))
    assert checked >= len(seen) / 4, (checked, len(seen))
    assert not late, "%d of %d fast streams report the slow one's time: %s" \
        % (len(late), checked, late[:3])


def test_each_stream_has_its_own_queue_and_read(apache_factory):
    a = apache_factory(h2=True, conf=STATUS + PROXY
                       + "ReqPerfServerTiming On\n")
    idle_s = 1.0
    with H2Conn(a.port) as c:
        first = c.request("/index.html?first")
        c.wait([first])
        time.sleep(idle_s)                    # the connection idles
        later = c.request("/app/later?sleep_ms=20")
        c.wait([later])
    log = log_by_uri(a, 2)
    for path in ("/index.html?first", "/app/later?sleep_ms=20"):
        e = log[path]
        assert {"queue", "read", "post_read", "translate", "handler",
                "ttfb"} <= set(e["phases"]), e
        assert spent(e) <= e["total"], e
    e = log["/app/later?sleep_ms=20"]
    # the idle second is in no stream: not in its queue, read or total
    assert e["total"] < idle_s * 1e6 / 2, e
    assert e["phases"]["handler"] >= 20000
    assert e["total"] >= e["phases"]["queue"] + e["phases"]["read"] \
        + e["phases"]["handler"]
    # Server-Timing names the HTTP/2 phases too
    st = dict(x.strip().split(";dur=") for x in
              later.header("server-timing").split(","))
    assert {"queue", "read", "ttfb", "total"} <= set(st), st
    assert float(st["total"]) >= float(st["ttfb"]) + float(st["queue"])

    # the phase is in every output
    d = settled(a, 2)
    assert d["phases"]["queue"]["count"] == 2
    assert d["phases"]["read"]["count"] == 2
    assert all("queue" in x["phases"] for x in d["routes"])
    prom = requests.get(a.url("/reqperf-status?format=prometheus")).text
    assert 'reqperf_phase_duration_seconds_count{phase="queue"} 2' in prom
    auto = requests.get(a.url("/reqperf-status?auto")).text
    assert "phase_queue_p95_us: " in auto
    html = requests.get(a.url("/reqperf-status")).text
    assert "</i> queue</th>" in html and "waiting for an h2 worker" in html
    # HTTP/1.1 requests have no queue phase
    requests.get(a.url("/index.html?h1"))
    # the status requests above are logged too: wait for this one's line
    # (written after its response), not for a count of lines
    deadline = time.monotonic() + 10
    log = log_by_uri(a, 3)
    while "/index.html?h1" not in log and time.monotonic() < deadline:
        time.sleep(0.02)
        log = log_by_uri(a, 3)
    assert "queue" not in log["/index.html?h1"]["phases"]


def test_queue_is_the_wait_for_an_h2_worker(apache_factory):
    """With one h2 worker, a stream sent while it is busy waits: that
    wait is its queue phase (and in its total), not its handler."""
    a = apache_factory(h2=True, conf=PROXY + "H2MinWorkers 1\n"
                       "H2MaxWorkers 1\n")
    with H2Conn(a.port) as c:
        slow = c.request("/app/busy?sleep_ms=400")
        time.sleep(0.05)
        waiting = c.request("/index.html?waiting")
        c.wait(timeout=30)
    assert slow.status == waiting.status == 200
    log = log_by_uri(a, 2)
    s, w = log["/app/busy?sleep_ms=400"], log["/index.html?waiting"]
    assert w["phases"]["queue"] > w["phases"]["handler"], w
    assert w["phases"]["queue"] >= s["phases"]["handler"] / 2, (w, s)
    assert w["total"] >= w["phases"]["queue"]
    assert s["phases"]["queue"] < s["phases"]["handler"] / 2, s


def test_h2c_upgrade_is_counted_once(apache_factory):
    """Defect (b): an h2c Upgrade request is one request: not a 101 on
    HTTP/1.1 (whose fixups would hold the stream's whole time) plus a
    200 on HTTP/2."""
    a = apache_factory(h2=True, conf=STATUS + PROXY)
    with H2Conn(a.port, mode="upgrade",
                upgrade_path="/app/up?sleep_ms=100") as c:
        # (Apache closes an upgraded connection once it is idle: ask now)
        others = [c.request("/index.html?after-upgrade"),
                  c.request("/app/other")]
        c.wait(timeout=30)
    assert c.upgrade_status == 101
    assert c.streams[1].status == 200 and b'"path": "/up"' in c.streams[1].body
    assert all(s.status == 200 for s in others)
    d = settled(a, 3)
    time.sleep(0.3)                           # a fourth would show now
    d = status_json(a)
    assert d["requests"] == 3, d["routes"]
    assert routes_by_key(d)[("/app/up", "GET")]["count"] == 1
    entries = [parse_access_line(l) for l in a.wait_access_lines(4)]
    up = sorted((e for e in entries if e["uri"] == "/app/up?sleep_ms=100"),
                key=lambda e: e["status"])
    assert [e["status"] for e in up] == [101, 200]
    switched, answered = up
    assert switched["total"] is None and switched["phases"] == {}
    # one timeline: read and the phases before the switch on HTTP/1.1,
    # then queue and the rest on the h2 worker
    assert {"read", "fixups", "queue", "handler"} <= set(answered["phases"])
    assert answered["phases"]["handler"] >= 100000
    assert answered["phases"]["fixups"] < answered["phases"]["handler"] / 2
    assert spent(answered) <= answered["total"]


def test_exact_counts_over_many_multiplexed_streams(apache_factory):
    a = apache_factory(h2=True, tls=True, conf=STATUS + PROXY)
    a.write_file("htdocs/a/1.html", "a1")
    a.write_file("htdocs/b.txt", "b")
    paths = ["/a/1.html", "/b.txt", "/missing/17", "/app/api/9"]
    per_conn, wave = 120, 40                  # under H2MaxSessionStreams
    sent = {}

    def one_connection(mode):
        with H2Conn(a.tls_port if mode == "tls" else a.port, mode=mode) as c:
            for w in range(0, per_conn, wave):
                streams = [c.request(paths[i % len(paths)])
                           for i in range(w, w + wave)]
                c.wait(streams, timeout=60)
                for s in streams:
                    assert s.status in (200, 404), (s.path, s.status)
            return [s.path for s in c.streams.values()]
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        for got in ex.map(one_connection, ["prior", "prior", "tls"]):
            for p in got:
                sent[p] = sent.get(p, 0) + 1
    assert sum(sent.values()) == 360
    d = settled(a, 360)
    assert d["requests"] == 360
    by = routes_by_key(d)
    assert by[("/a/1.html", "GET")]["count"] == sent["/a/1.html"]
    assert by[("/b.txt", "GET")]["count"] == sent["/b.txt"]
    assert by[("/missing/{id}", "GET")]["count"] == sent["/missing/17"]
    assert by[("/app/api/{id}", "GET")]["count"] == sent["/app/api/9"]
    assert d["phases"]["log"]["count"] == 360
    assert d["phases"]["queue"]["count"] == 360


# ------------------------------------------------------------ cache

@pytest.mark.parametrize("quick", ["Off", "On"])
def test_cache_hits_stores_and_purges_over_h2(apache_factory, memcached,
                                              backend, quick):
    a = site(apache_factory, memcached, "event", extra=PURGE,
             server_extra="ReqPerfCacheQuick %s\nReqPerfCacheTimeout 2s"
             % quick, h2=True, tls=True)
    miss = h2get(a.port, ["/app/h2page"])[0]
    assert miss.status == 200 and xc_of(miss).startswith("MISS")
    nonce = json.loads(miss.body)["nonce"]
    # another connection, and another protocol on the same URL: one entry
    hit = h2get(a.port, ["/app/h2page", "/app/h2page"])
    assert [xc_of(s)[:3] for s in hit] == ["HIT", "HIT"], (
        [xc_of(s) for s in hit], status_json(a)["cache"], a.access_lines())
    assert all(json.loads(s.body)["nonce"] == nonce for s in hit)
    r = requests.get(a.url("/app/h2page"))
    assert xc(r).startswith("HIT") and r.json()["nonce"] == nonce
    assert backend.hits("/h2page") == 1
    # a HIT's headers are the stored ones, and it is timed as one
    assert hit[0].header("x-backend-count") == "1"
    # h2 over TLS: https is a key of its own
    tls = h2get(a.tls_port, ["/app/h2page"], mode="tls")[0]
    assert xc_of(tls).startswith("MISS")
    assert json.loads(tls.body)["nonce"] != nonce
    assert xc_of(h2get(a.tls_port, ["/app/h2page"], mode="tls")[0]) \
        .startswith("HIT")
    assert backend.hits("/h2page") == 2
    # purge over h2, with a form body on the stream
    with H2Conn(a.port) as c:
        p = c.request("/reqperf-purge", method="POST", headers=[
            ("content-type", "application/x-www-form-urlencoded")],
            body=b"url=/app/h2page")
        c.wait([p])
    assert p.status == 200, p.body
    assert json.loads(p.body)["purged"]["url"], p.body
    again = h2get(a.port, ["/app/h2page"])[0]
    assert xc_of(again).startswith("MISS")
    assert backend.hits("/h2page") == 3
    d = settled(a, 8)
    assert d["requests"] == 8                 # the purge is a request too
    assert d["cache"]["hit"] == 4 and d["cache"]["store"] == 3, d["cache"]
    route = routes_by_key(d)[("/app/h2page", "GET")]
    assert route["count"] == 7
    assert route["cache"]["hit"] == 4 and route["cache"]["miss"] == 3
    assert "cache" in route["phases"]

    # an h2c Upgrade is answered by stream 1, which looks the page up
    # itself; a first visit's HTTP/1.1 request holds no fill lock for it
    # to wait on (the quick handler leaves Upgrade requests alone)
    for path, result in (("/app/h2page", "HIT"), ("/app/fresh", "MISS")):
        with H2Conn(a.port, mode="upgrade", upgrade_path=path) as c:
            c.wait()
        assert xc_of(c.streams[1]).startswith(result), (path, xc_of(c.streams[1]))
    d = settled(a, 10)
    assert d["requests"] == 10
    assert d["cache"]["lock_waits"] == 0
    assert d["cache"]["hit"] == 5 and d["cache"]["miss"] == 4


def xc_of(stream):
    return stream.header("x-cache") or ""


# ------------------------------------------------------------ resets

def test_reset_streams_and_dropped_connections(apache_factory, memcached,
                                               backend):
    """RST_STREAM in the middle of responses (some of them being
    captured for the cache) and a connection dropped with streams in
    flight: no crash (the harness reads the error log and the sanitizer
    reports), no fill lock left behind, every logged stream counted."""
    a = site(apache_factory, memcached, "event",
             server_extra="ReqPerfCacheTimeout 2s", h2=True)
    # (a miss being stored reaches its client once it has been held half
    # a second: from the chunk at 600 ms on)
    streamed = "/app/r/%d?chunk_at=30,600,1200"
    with H2Conn(a.port) as c:
        streams = [c.request(streamed % i) for i in range(6)]
        whole = c.request("/static.txt")
        c.pump(lambda: all(s.headers_at for s in streams[:3]), timeout=20)
        # in the middle of their responses (one that a loaded machine let
        # finish before its turn is left be)
        reset = [s for s in streams[:3] if not s.done]
        for s in reset:
            c.reset(s)
        c.wait(timeout=30)
    assert reset, "no stream was still answering"
    assert all(s.status == 200 for s in streams[3:])
    assert len(whole.body) == 14000
    # a connection dropped while its streams are answered
    c = H2Conn(a.port)
    dropped = [c.request("/app/d/%d?chunk_at=30,600,1200" % i) for i in range(4)]
    c.pump(lambda: any(s.headers_at for s in dropped), timeout=20)
    c.close(graceful=False)
    # the reset pages hold no fill lock, and are whole if they were stored
    # (the backend's answer was complete, whoever stopped reading it)
    with concurrent.futures.ThreadPoolExecutor(len(streams)) as ex:
        again = list(ex.map(lambda s: requests.get(a.url(s.path), timeout=20),
                            streams))
    for s, r in zip(streams, again):
        assert r.status_code == 200
        assert xc(r).split()[0] in (("MISS", "HIT") if s in reset
                                    else ("HIT",)), (s.path, xc(r))
        assert r.json()["path"] == s.path.split("?")[0][len("/app"):]
    # every request Apache logged is counted once: the 7 streams, the 6
    # HTTP/1.1 requests, and those of the dropped connection's streams
    # that a worker had started (at least the one that answered)
    deadline, last = time.monotonic() + 15, None
    while True:
        timed = [e for e in map(parse_access_line, a.access_lines())
                 if e["total"] is not None]
        now = (len(timed), status_json(a)["requests"])
        if (now == last and now[0] >= 14) or time.monotonic() > deadline:
            break
        last = now
        time.sleep(0.3)                     # settled: the same twice
    assert 14 <= len(timed) <= 17, "\n".join(a.access_lines())
    assert now[1] == len(timed), now
    assert status_json(a)["cache"]["lock_waits"] == 0
