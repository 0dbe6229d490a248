"""The statistics and the reqperf-status page, against a real apache2
under prefork and event (the exact-count tests under worker too): exact
counts across processes and threads, percentiles against the exact values
of what was measured, routes, the slow log, graceful and full restarts,
and hostile input in every format.
"""
import concurrent.futures
import json
import re
import socket
import threading
import time

import pytest
import requests

from conftest import MPMS, MPMS_ALL, parse_access_line
from harness import parse_prom, promtool_check

STATUS = """
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
"""
PROXY = """
ProxyPass /app/ ${BACKEND}/
"""

SPEC_TOP = {"version", "uptime_s", "requests", "slow_requests", "phases",
            "routes", "slow", "cache"}
SPEC_PHASE = {"count", "avg_us", "p50_us", "p95_us", "p99_us", "max_us"}
SPEC_ROUTE = {"route", "method", "count", "slow", "errors", "total_us",
              "avg_us", "p50_us", "p95_us", "p99_us", "max_us", "phases",
              "cache", "recent"}
SPEC_SLOW = {"time", "method", "uri", "route", "status", "total_us",
             "phases", "cache"}
SPEC_CACHE = {"hit", "miss", "stale", "bypass", "store", "store_skipped",
              "errors", "servers", "local"}
SPEC_LOCAL = {"hit", "memcached_hit", "evictions", "bytes_used", "entries"}


def status_json(a, query=""):
    r = requests.get(a.url("/reqperf-status?format=json" + query))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return json.loads(r.content.decode("utf-8"))


def settled(a, requests_expected, query="", timeout=10.0):
    """The status JSON once `requests_expected` requests are counted.
    A request is counted in its log phase, which runs after the client
    has its response (under event possibly a moment later), so a test
    waits for the count instead of racing it; it never waits forever."""
    deadline = time.monotonic() + timeout
    while True:
        d = status_json(a, query)
        if d["requests"] >= requests_expected or time.monotonic() > deadline:
            return d
        time.sleep(0.02)


def routes_by_key(d):
    return {(x["route"], x["method"]): x for x in d["routes"]}


def nearest_rank(values, p):
    v = sorted(values)
    rank = max(1, -(-len(v) * p // 100))
    return v[int(rank) - 1]


# ---------------------------------------------------------------- shape

@pytest.mark.parametrize("mpm", MPMS_ALL)
def test_json_shape_and_headers(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + """
ReqPerfSlowThreshold 50ms
<Location /index.html>
    ReqPerfSlowThreshold 1h
</Location>
""")
    requests.get(a.url("/app/x?sleep_ms=80"))
    requests.get(a.url("/index.html"))
    settled(a, 2)
    r = requests.get(a.url("/reqperf-status?format=json"))
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    d = r.json()
    assert SPEC_TOP <= set(d)
    assert d["version"] == 1
    assert d["requests"] == 2 and d["slow_requests"] == 1
    for name, ph in d["phases"].items():
        assert SPEC_PHASE <= set(ph), name
    assert {"read", "handler", "ttfb", "log"} <= set(d["phases"])
    for x in d["routes"]:
        assert SPEC_ROUTE <= set(x)
        assert set(x["cache"]) >= {"hit", "miss", "stale", "bypass"}
        assert x["recent"]["window_s"] == 60
        assert x["recent"]["count"] == x["count"]
    for s in d["slow"]:
        assert SPEC_SLOW <= set(s)
    assert SPEC_CACHE <= set(d["cache"])
    assert SPEC_LOCAL <= set(d["cache"]["local"])
    assert d["slow"][0]["uri"] == "/app/x"
    assert d["slow"][0]["phases"]["handler"] >= 80000
    # the status page itself is not counted
    assert status_json(a)["requests"] == 2


@pytest.mark.parametrize("mpm", MPMS)
def test_html_page(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + "ReqPerfSlowThreshold 10ms\n")
    for i in range(3):
        requests.get(a.url("/app/invoices/%d?sleep_ms=20" % i))
    settled(a, 3)
    r = requests.get(a.url("/reqperf-status"))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script" not in csp
    html = r.text
    assert "<script" not in html.lower()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<svg" in html and 'id="routes"' in html and 'id="slow"' in html
    assert 'id="phases"' in html and 'id="cache"' in html
    # (routes and URIs may break after each '/': <wbr>)
    assert "/app/invoices/{id}" in html.replace("<wbr>", "")
    for key in ("count", "p95", "p99", "max"):
        assert "?sort=%s" % key in html
    r = requests.get(a.url("/reqperf-status?refresh=5&sort=p99"))
    assert '<meta http-equiv="refresh" content="5">' in r.text
    assert "sorted by p99" in r.text
    assert requests.head(a.url("/reqperf-status")).status_code == 200
    assert requests.post(a.url("/reqperf-status")).status_code == 405
    assert requests.get(a.url("/reqperf-status?sort=bogus")).status_code == 400
    assert settled(a, 3)["requests"] == 3


@pytest.mark.parametrize("mpm", MPMS)
def test_auto_and_server_status(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + """
<Location /server-status>
    SetHandler server-status
</Location>
""")
    for _ in range(4):
        requests.get(a.url("/index.html"))
    settled(a, 4)
    text = requests.get(a.url("/reqperf-status?auto")).text
    kv = dict(line.split(": ", 1) for line in text.strip().splitlines())
    assert kv["requests"] == "4"
    assert "cache_hit" in kv and "phase_handler_p95_us" in kv
    assert int(kv["uptime_s"]) >= 0
    st = requests.get(a.url("/server-status?auto")).text
    assert "ReqPerfRequests: 4" in st
    html = requests.get(a.url("/server-status")).text
    assert "<h2>mod_reqperf</h2>" in html and "/index.html" in html


# The mod_status keys older than the table of figures (stats/rp_counters.h
# names them in its status_key column); every other key is "ReqPerf" and
# the ?auto key in CamelCase.
LEGACY_STATUS_KEYS = {"cache_hit": "ReqPerfCacheHits",
                      "cache_miss": "ReqPerfCacheMisses",
                      "total_p95_us": "ReqPerfP95Us",
                      "total_p99_us": "ReqPerfP99Us"}
FIGURE_ROW = re.compile(r'<tr><th>([a-z0-9_]+)</th><td class="n" '
                        r'data-k="([^"]+)" data-v="(\d+)">')


def status_key(auto_key):
    return LEGACY_STATUS_KEYS.get(auto_key) or "ReqPerf" + "".join(
        w[:1].upper() + w[1:] for w in auto_key.split("_"))


def json_at(d, pointer):
    for token in pointer.strip("/").split("/"):
        d = d[token]
    return int(d)


def test_every_figure_in_five_outputs(apache_factory, memcached):
    """Every figure the HTML page lists (its rows come from the tables of
    counters and gauges) has the same value in JSON, ?auto, mod_status's
    ?auto and mod_status's page, and the local tier's gauges are in
    Prometheus too: a live server, its cache and local tier in use."""
    a = apache_factory(mpm="event", conf=STATUS + PROXY + """
ReqPerfCacheServers %s
ReqPerfCacheTimeout 2s
ReqPerfCacheLocal 1M
<Location /app/>
    ReqPerfCache On
</Location>
<Location /server-status>
    SetHandler server-status
    ReqPerf Off
</Location>
""" % memcached.address)
    for _ in range(3):
        assert requests.get(a.url("/app/figures?cc=max-age%3D60")).status_code == 200
    settled(a, 3)
    d = status_json(a)
    html = requests.get(a.url("/reqperf-status")).text
    auto = dict(line.split(": ", 1) for line in requests.get(
        a.url("/reqperf-status?auto")).text.strip().splitlines())
    prom = parse_prom(requests.get(
        a.url("/reqperf-status?format=prometheus")).text)
    st_auto = dict(line.split(": ", 1) for line in requests.get(
        a.url("/server-status?auto")).text.strip().splitlines()
        if line.startswith("ReqPerf"))
    st_html = requests.get(a.url("/server-status")).text
    assert status_json(a)["requests"] == 3      # none of these was counted

    rows = FIGURE_ROW.findall(html)
    st_rows = FIGURE_ROW.findall(st_html)
    assert len(rows) > 50 and sorted(rows) == sorted(st_rows)
    keys = [k for k, _, _ in rows]
    assert len(set(keys)) == len(keys)
    for key, pointer, value in rows:
        if key == "uptime_s":                 # a clock: it moves on
            continue
        assert json_at(d, pointer) == int(value), key
        assert auto[key] == value, key
        assert st_auto[status_key(key)] == value, key
    # the tiers as the cache counted them, and the local tier's gauges
    assert auto["cache_local_hit"] == "2" and auto["cache_miss"] == "1"
    assert int(auto["cache_local_entries"]) == 1
    assert int(auto["cache_local_bytes_used"]) > 0
    assert auto["cache_servers_up"] == "1" and auto["routes"] == "1"
    for key, metric in (("cache_local_entries", "reqperf_cache_local_entries"),
                        ("cache_local_bytes_used", "reqperf_cache_local_bytes"),
                        ("routes", "reqperf_routes_tracked")):
        assert prom[(metric, frozenset())] == float(auto[key]), metric


# ---------------------------------------------------------------- exactness

def hammer(a, paths, clients, per_client, close_every=0):
    def client(k):
        s = requests.Session()
        sent = {}
        for i in range(per_client):
            p = paths[(k + i) % len(paths)]
            headers = {}
            if close_every and i % close_every == 0:
                headers["Connection"] = "close"
            r = s.get(a.url(p), headers=headers, timeout=30)
            assert r.status_code in (200, 404)
            sent[p] = sent.get(p, 0) + 1
        return sent
    total = {}
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        for sent in ex.map(client, range(clients)):
            for p, n in sent.items():
                total[p] = total.get(p, 0) + n
    return total


@pytest.mark.parametrize("mpm", MPMS_ALL)
def test_counts_exact_under_concurrency_and_recycling(apache_factory, mpm):
    # children are recycled many times during the run (event's children
    # hold 25 threads each, so they are given more connections)
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + """
MaxConnectionsPerChild %d
""" % (100 if mpm == "prefork" else 250))
    a.write_file("htdocs/a/1.html", "a1")
    a.write_file("htdocs/a/2.html", "a2")
    a.write_file("htdocs/b.txt", "b")
    paths = ["/a/1.html", "/a/2.html", "/b.txt", "/index.html",
             "/missing/17", "/app/api/9"]
    # a new connection per request: a child that reaches
    # MaxConnectionsPerChild may close an idle keep-alive connection just
    # as a client reuses it, and the client could not tell whether the
    # request was served
    sent = hammer(a, paths, clients=16, per_client=250, close_every=1)
    assert sum(sent.values()) == 4000
    d = settled(a, 4000)
    by = routes_by_key(d)
    assert d["requests"] == 4000
    assert by[("/a/1.html", "GET")]["count"] == sent["/a/1.html"]
    assert by[("/a/2.html", "GET")]["count"] == sent["/a/2.html"]
    assert by[("/b.txt", "GET")]["count"] == sent["/b.txt"]
    assert by[("/index.html", "GET")]["count"] == sent["/index.html"]
    assert by[("/missing/{id}", "GET")]["count"] == sent["/missing/17"]
    assert by[("/missing/{id}", "GET")]["errors"] == 0
    assert by[("/app/api/{id}", "GET")]["count"] == sent["/app/api/9"]
    assert sum(x["count"] for x in d["routes"]) == 4000
    assert d["phases"]["log"]["count"] == 4000
    # the parent's dummy connections (OPTIONS *) are not counted
    assert not any(x["route"] == "*" for x in d["routes"])


@pytest.mark.parametrize("mpm", MPMS_ALL)
def test_percentiles_within_ten_percent(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY)
    sleeps = [5 + (i * 37) % 200 for i in range(120)]

    def one(ms):
        assert requests.get(a.url("/app/pct?sleep_ms=%d" % ms)).status_code == 200
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        list(ex.map(one, sleeps))
    lines = a.wait_access_lines(120)
    totals = [parse_access_line(l)["total"] for l in lines
              if "/app/pct" in l]
    assert len(totals) == 120
    d = settled(a, 120)
    x = routes_by_key(d)[("/app/pct", "GET")]
    assert x["count"] == 120
    for p, key in ((50, "p50_us"), (95, "p95_us"), (99, "p99_us")):
        exact = nearest_rank(totals, p)
        assert abs(x[key] - exact) <= 0.10 * exact, (key, x[key], exact)
    assert abs(x["max_us"] - max(totals)) <= 0.10 * max(totals)
    assert x["total_us"] >= sum(totals)


# ---------------------------------------------------------------- routes

@pytest.mark.parametrize("mpm", MPMS)
def test_routes_grouping_and_overflow(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + r"""
ReqPerfMaxRoutes 5
ReqPerfRoute "^/app/report/(daily|weekly)/.*$" "/app/report/$1"
""")
    for p in ["/app/invoices/123", "/app/invoices/456?token=a",
              "/app/report/daily/2026-11-25", "/app/report/daily/x",
              "/app/report/weekly/48"]:
        requests.get(a.url(p))
    requests.post(a.url("/app/invoices/789"))
    for i in range(6):                          # more routes than room
        requests.get(a.url("/app/extra%d" % i))
    d = settled(a, 12)
    by = routes_by_key(d)
    assert by[("/app/invoices/{id}", "GET")]["count"] == 2
    assert by[("/app/invoices/{id}", "POST")]["count"] == 1
    assert by[("/app/report/daily", "GET")]["count"] == 2
    assert by[("/app/report/weekly", "GET")]["count"] == 1
    # 4 routes so far: one more fits, the other five go to __other__
    tracked = [k for k in by if k[0] != "__other__"]
    assert len(tracked) == 5
    assert by[("__other__", "GET")]["count"] == 5
    assert d["routes_overflow"] == 5
    assert d["requests"] == 12
    assert not any("token" in x["route"] for x in d["routes"])


# ---------------------------------------------------------------- slow log

@pytest.mark.parametrize("mpm", MPMS)
def test_slow_log_ring(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + """
ReqPerfSlowThreshold 100ms
ReqPerfSlowLogSize 5
<Location /app/fast>
    ReqPerfSlowThreshold 10s
</Location>
<Location /index.html>
    ReqPerfSlowThreshold 10s
</Location>
""")
    for i in range(8):
        requests.get(a.url("/app/slow/%d?sleep_ms=110&secret=%d" % (i, i)))
    requests.get(a.url("/app/fast/1?sleep_ms=150"))   # slow, but not here
    requests.get(a.url("/index.html"))                  # fast
    d = settled(a, 10)
    assert d["slow_requests"] == 8
    uris = [s["uri"] for s in d["slow"]]
    assert uris == ["/app/slow/7", "/app/slow/6", "/app/slow/5",
                    "/app/slow/4", "/app/slow/3"]
    for s in d["slow"]:
        assert s["route"] == "/app/slow/{id}"
        assert s["method"] == "GET" and s["status"] == 200
        assert s["total_us"] >= 110000
        assert s["phases"]["handler"] >= 110000
        assert "secret" not in s["uri"]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", s["time"])
    assert routes_by_key(d)[("/app/slow/{id}", "GET")]["slow"] == 8
    assert routes_by_key(d)[("/app/fast/{id}", "GET")]["slow"] == 0


@pytest.mark.parametrize("mpm", MPMS)
def test_slow_log_concurrent_entries_consistent(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + """
ReqPerfSlowThreshold 1ms
ReqPerfSlowLogSize 8
""")
    stop = threading.Event()
    bad = []

    def reader():
        while not stop.is_set():
            for s in status_json(a)["slow"]:
                m = re.match(r"^/app/w(\d+)/(\d+)$", s["uri"])
                if not m or s["route"] != "/app/w%s/{id}" % m.group(1) \
                        or s["total_us"] < 1000:
                    bad.append(s)
    t = threading.Thread(target=reader)
    t.start()
    try:
        def one(i):
            requests.get(a.url("/app/w%d/%d?sleep_ms=2" % (i % 7, i)))
        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            list(ex.map(one, range(300)))
    finally:
        stop.set()
        t.join()
    assert not bad, bad[:3]
    assert len(settled(a, 300)["slow"]) == 8


# ---------------------------------------------------------------- restarts

@pytest.mark.parametrize("mpm", MPMS)
def test_graceful_keeps_full_restart_resets(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS)
    for _ in range(7):
        requests.get(a.url("/index.html"))
    assert settled(a, 7)["requests"] == 7
    a.graceful()
    requests.get(a.url("/index.html"))
    d = settled(a, 8)
    assert d["requests"] == 8
    assert routes_by_key(d)[("/index.html", "GET")]["count"] == 8
    a.restart()
    d = status_json(a)
    assert d["requests"] == 0 and d["routes"] == []
    requests.get(a.url("/index.html"))
    assert settled(a, 1)["requests"] == 1


# ---------------------------------------------------------------- hostile

HOSTILE = [
    "/app/<script>alert(1)</script>",
    "/app/\"quoted'\"",
    "/app/back\\slash",
    "/app/%ff%fe/bad-utf8",
    "/app/%c3%28/overlong",
    "/app/%e2%80%ae/rtl",
    "/app/%0d%0aInjected:%20header",
    "/app/%01%1f%7f/ctl",
    "/app/%00/nul",
    "/app/" + "long/" * 1500,
]


@pytest.mark.parametrize("mpm", MPMS)
def test_hostile_uris_in_every_format(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + "ReqPerfSlowThreshold 0\n")
    for p in HOSTILE:
        with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       % p).encode("latin-1"))
            while s.recv(65536):
                pass
    settled(a, len(HOSTILE))
    # JSON: valid, whatever the bytes were
    raw = requests.get(a.url("/reqperf-status?format=json")).content
    d = json.loads(raw.decode("utf-8"))
    assert d["requests"] == len(HOSTILE)
    assert any("<script>" in x["route"] for x in d["routes"])
    assert all(len(x["route"].encode()) < 128 for x in d["routes"])
    assert all(len(s["uri"].encode()) < 256 for s in d["slow"])
    # HTML: nothing request-derived comes through unescaped
    html = requests.get(a.url("/reqperf-status")).text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.replace("<wbr>", "")
    assert "\"quoted'\"" not in html
    assert "\r" not in html and "\x01" not in html and "\x7f" not in html
    # Prometheus: parseable, labels escaped
    prom = requests.get(a.url("/reqperf-status?format=prometheus")).text
    promtool_check(prom)
    parse_prom(prom)
    assert "\\\"quoted'\\\"" in prom
    auto = requests.get(a.url("/reqperf-status?auto")).text
    assert "requests: %d" % len(HOSTILE) in auto


# ---------------------------------------------------------------- prometheus

@pytest.mark.parametrize("mpm", MPMS)
def test_prometheus(apache_factory, mpm):
    # slow or not by configuration, not by how fast this machine is
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + """
ReqPerfSlowThreshold 1h
<LocationMatch "^/app/p/[234]$">
    ReqPerfSlowThreshold 0
</LocationMatch>
""")
    for i in range(5):
        requests.get(a.url("/app/p/%d?sleep_ms=%d" % (i, i * 10)))
    requests.get(a.url("/app/err?status=503"))
    settled(a, 6)
    r = requests.get(a.url("/reqperf-status?format=prometheus"))
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    promtool_check(r.text)
    m = parse_prom(r.text)
    lab = lambda **kw: frozenset(kw.items())
    assert m[("reqperf_requests_total",
              lab(route="/app/p/{id}", method="GET", status_class="2xx"))] == 5
    assert m[("reqperf_requests_total",
              lab(route="/app/err", method="GET", status_class="5xx"))] == 1
    inf = m[("reqperf_request_duration_seconds_bucket",
             lab(route="/app/p/{id}", method="GET", le="+Inf"))]
    count = m[("reqperf_request_duration_seconds_count",
               lab(route="/app/p/{id}", method="GET"))]
    assert inf == count == 5
    assert m[("reqperf_request_duration_seconds_bucket",
              lab(route="/app/p/{id}", method="GET", le="0.005"))] <= 2
    assert m[("reqperf_request_duration_seconds_sum",
              lab(route="/app/p/{id}", method="GET"))] >= 0.1
    assert m[("reqperf_slow_requests_total",
              lab(route="/app/p/{id}", method="GET"))] == 3
    assert m[("reqperf_phase_duration_seconds_count",
              lab(phase="handler"))] == 6
    for res in ("hit", "miss", "stale", "bypass"):
        assert ("reqperf_cache_requests_total", lab(result=res)) in m
    assert ("reqperf_cache_stores_total", lab(outcome="stored")) in m
    assert m[("reqperf_start_time_seconds", frozenset())] > 1.7e9
