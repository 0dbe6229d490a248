"""The application's own Server-Timing, read per route, against a real
apache2 under prefork and event: through mod_proxy (the counting backend
sends the header lines it is told to), mod_wsgi (daemon mode), CGI and
FastCGI (mod_proxy_fcgi and a small responder).

The numbers in the status page's JSON are compared with what the backend
was told to send: counts exactly, averages and percentiles within the 10%
SPEC promises.  Hide, ReqPerfAppTiming Off, the per-route cap with 20
names, malformed headers (which change nothing but a counter) and cache
hits (which add nothing) are each checked.
"""
import concurrent.futures
import re
import time

import pytest
import requests

from apps import install_cgi, install_wsgi, start_fcgi
from conftest import MPMS, free_port
from test_status import (STATUS, PROXY, nearest_rank, parse_prom,
                         promtool_check, routes_by_key, settled, status_json)


def counted(a, requests_expected, key, at_least, timeout=10.0):
    """settled(), and app_timing[key] >= at_least: a request's metrics are
    added just after it is counted, so a test waits for both."""
    deadline = time.monotonic() + timeout
    while True:
        d = settled(a, requests_expected)
        if d["app_timing"][key] >= at_least or time.monotonic() > deadline:
            return d
        time.sleep(0.02)


def app_of(d, route, method="GET"):
    return routes_by_key(d)[(route, method)]["app"]


def st_params(*lines):
    """Query parameters that make backend.py send these Server-Timing
    lines (one header line each)."""
    return [("header", "Server-Timing:" + line) for line in lines]


def assert_dist(got, durations_ms):
    """A metric's JSON against the durations (ms) really sent."""
    us = [round(ms * 1000) for ms in durations_ms]
    assert got["count"] == len(us)
    assert got["total_us"] == sum(us)
    avg = sum(us) / len(us)
    assert abs(got["avg_us"] - avg) <= 0.10 * avg, (got, avg)
    for p in (50, 95, 99):
        exact = nearest_rank(us, p)
        assert abs(got["p%d_us" % p] - exact) <= 0.10 * exact, (p, got, exact)
    assert got["max_us"] == max(us)


# ---------------------------------------------------------------- mod_proxy

@pytest.mark.parametrize("mpm", MPMS)
def test_proxy_numbers_match_what_the_backend_sent(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY)
    n = 160
    db = [0.25 + ((i * 37) % 200) * 1.5 for i in range(n)]      # ms

    def one(i):
        lines = ['db;dur=%.3f;desc="SELECT a, b; \\"c\\"", tpl;dur=3' % db[i]]
        if i % 2:
            lines.append("CacheMiss")          # a second line, no dur
        r = requests.get(a.url("/app/invoices/%d" % i),
                         params=st_params(*lines), timeout=30)
        assert r.status_code == 200
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    d = counted(a, n, "entries", 2 * n + n // 2)
    assert d["requests"] == n
    app = app_of(d, "/app/invoices/{id}")
    assert set(app) == {"db", "tpl", "cachemiss"}
    assert_dist(app["db"], db)
    assert app["db"]["requests"] == n
    assert_dist(app["tpl"], [3] * n)
    assert app["cachemiss"]["count"] == n // 2
    assert app["cachemiss"]["requests"] == n // 2
    assert app["cachemiss"]["total_us"] == 0
    # over all routes: the same, there being one route
    assert d["app"]["db"]["count"] == n
    assert d["app"]["db"]["total_us"] == app["db"]["total_us"]
    assert d["app_timing"]["responses"] == n
    assert d["app_timing"]["entries"] == 2 * n + n // 2
    assert d["app_timing"]["malformed"] == 0
    assert d["app_timing"]["names_overflow"] == 0

    prom = requests.get(a.url("/reqperf-status?format=prometheus")).text
    promtool_check(prom)
    m = parse_prom(prom)
    lab = frozenset({"route": "/app/invoices/{id}", "method": "GET",
                     "metric": "db"}.items())
    assert m[("reqperf_app_duration_seconds_count", lab)] == n
    assert m[("reqperf_app_duration_seconds_bucket",
              lab | {("le", "+Inf")})] == n
    assert abs(m[("reqperf_app_duration_seconds_sum", lab)]
               - sum(round(x * 1000) for x in db) / 1e6) < 1e-6
    assert m[("reqperf_app_duration_seconds_bucket", lab | {("le", "0.001")})] \
        == sum(1 for x in db if x <= 1.0)
    assert m[("reqperf_app_timing_entries_total", frozenset())] \
        == 2 * n + n // 2
    auto = dict(line.split(": ", 1) for line in
                requests.get(a.url("/reqperf-status?auto")).text.splitlines())
    assert auto["app_db_count"] == str(n)
    assert auto["app_timing_responses"] == str(n)


# ---------------------------------------------------------------- mod_wsgi

@pytest.mark.parametrize("mpm", MPMS)
def test_wsgi_numbers_match_what_the_application_sent(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS, start=False)
    a.conf_body += install_wsgi(a)
    a.start()
    n = 80
    sql = [[0.5 + (i * 7 + k * 3) % 40 / 4.0 for k in range(1 + i % 5)]
           for i in range(n)]

    def one(i):
        params = [("server_timing", ", ".join("sql;dur=%.2f" % x
                                              for x in sql[i])),
                  ("server_timing", "view;dur=%d" % (10 + i % 30))]
        r = requests.get(a.url("/wsgi/report"), params=params, timeout=30)
        assert r.status_code == 200 and b"wsgi done" in r.content
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    d = counted(a, n, "responses", n)
    app = app_of(d, "/wsgi/report")
    # one entry per query: the count is the number of queries
    assert_dist(app["sql"], [x for q in sql for x in q])
    assert app["sql"]["requests"] == n
    assert_dist(app["view"], [10 + i % 30 for i in range(n)])
    assert d["app_timing"]["responses"] == n


# ---------------------------------------------------------------- where

@pytest.fixture
def fcgi():
    port = free_port()
    proc = start_fcgi(port)
    yield port
    proc.terminate()
    proc.wait(5)


@pytest.mark.parametrize("mpm", MPMS)
def test_cgi_fastcgi_and_app_timing_off(apache_factory, fcgi, mpm):
    a = apache_factory(mpm=mpm, start=False, modules=["proxy_fcgi"],
                       conf=STATUS + PROXY + """
ProxyPass /fcgi/ fcgi://127.0.0.1:%d/
<Location /app/off/>
    ReqPerfAppTiming Off
</Location>
""" % fcgi)
    install_cgi(a)
    a.start()
    for _ in range(3):
        r = requests.get(a.url("/cgi-bin/app.py?server_timing=db;dur=4,tpl"))
        assert r.status_code == 200
        r = requests.get(a.url("/fcgi/page?server_timing=db;dur=2.5"
                               "&server_timing=view;dur=1"))
        assert r.status_code == 200 and r.text == "fcgi done\n"
    r = requests.get(a.url("/app/off/x"), params=st_params("db;dur=9"))
    # not read, but passed on untouched
    assert r.headers["Server-Timing"] == "db;dur=9"
    d = counted(a, 7, "entries", 12)
    app = app_of(d, "/cgi-bin/app.py")
    assert app["db"]["count"] == 3 and app["db"]["total_us"] == 12000
    assert app["tpl"]["count"] == 3
    app = app_of(d, "/fcgi/page")
    assert app["db"]["count"] == 3 and app["db"]["total_us"] == 7500
    assert app["view"]["total_us"] == 3000
    assert app_of(d, "/app/off/x") == {}
    assert d["app_timing"]["entries"] == 12


# ---------------------------------------------------------------- hide

def test_hide(apache_factory):
    a = apache_factory(conf=STATUS + PROXY + """
ReqPerfServerTiming On
<Location /app/hidden/>
    ReqPerfAppTimingHide On
</Location>
<Location /app/quiet/>
    ReqPerfAppTimingHide On
    ReqPerfServerTiming Off
</Location>
""")
    shown = requests.get(a.url("/app/shown/1"),
                         params=st_params("db;dur=5", "tpl;dur=1"))
    hidden = requests.get(a.url("/app/hidden/1"),
                          params=st_params("db;dur=5", "tpl;dur=1"))
    quiet = requests.get(a.url("/app/quiet/1"), params=st_params("db;dur=5"))
    # Off: the backend's metrics first, then the module's
    names = [x.strip().split(";")[0]
             for x in shown.headers["Server-Timing"].split(",")]
    assert names[:2] == ["db", "tpl"] and "total" in names
    # On: only the module's
    names = [x.strip().split(";")[0]
             for x in hidden.headers["Server-Timing"].split(",")]
    assert "db" not in names and "tpl" not in names and "total" in names
    assert "Server-Timing" not in quiet.headers
    # and still recorded
    d = counted(a, 3, "responses", 3)
    for route in ("/app/shown/{id}", "/app/hidden/{id}", "/app/quiet/{id}"):
        assert app_of(d, route)["db"]["count"] == 1, route
        assert app_of(d, route)["db"]["total_us"] == 5000, route


# ---------------------------------------------------------------- cap

def test_twenty_names_capped_per_route(apache_factory):
    a = apache_factory(conf=STATUS + PROXY)
    names = ["m%02d" % i for i in range(20)]
    line = ", ".join("%s;dur=%d" % (x, i + 1) for i, x in enumerate(names))
    for _ in range(2):
        requests.get(a.url("/app/many"), params=st_params(line))
    # another route has its own 8
    requests.get(a.url("/app/few"), params=st_params("m19;dur=1"))
    d = counted(a, 3, "entries", 41)
    app = app_of(d, "/app/many")
    assert sorted(app) == sorted(names[:8] + ["__other__"])
    assert all(app[x]["count"] == 2 for x in names[:8])
    assert app["__other__"]["count"] == 24
    assert app["__other__"]["requests"] == 2
    assert app["__other__"]["total_us"] == 2 * sum(range(9, 21)) * 1000
    assert d["app_timing"]["names_overflow"] == 24
    assert set(app_of(d, "/app/few")) == {"m19"}
    assert d["app_timing"]["max_names"] == 8
    prom = requests.get(a.url("/reqperf-status?format=prometheus")).text
    series = {labels for (name, labels) in parse_prom(prom)
              if name == "reqperf_app_duration_seconds_count"}
    assert len([s for s in series if ("route", "/app/many") in s]) == 9


# ---------------------------------------------------------------- junk

JUNK = [";;;", "db;dur=abc", "db;dur=-5", "db;dur=1e400", "db;dur=",
        "%ff%fe;dur=1", "<script>alert(1)</script>;dur=1",
        'db;desc="never closed', "db;dur=1;"]


@pytest.mark.parametrize("mpm", MPMS)
def test_malformed_headers_change_nothing_but_a_counter(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY, start=False)
    a.conf_body += install_wsgi(a)
    a.start()
    for junk in JUNK:
        r = requests.get(a.url("/wsgi/junk?server_timing=" + junk.replace(
            ";", "%3B").replace(" ", "%20").replace('"', "%22")))
        assert r.status_code == 200
        r = requests.get(a.url("/wsgi/plain"))
        assert r.status_code == 200
    # a 10 KB header line, 1024 malformed elements
    assert requests.get(a.url("/wsgi/junk?server_timing_junk_kb=10")) \
        .status_code == 200
    assert requests.get(a.url("/wsgi/plain")).status_code == 200
    # junk through mod_proxy too, on several lines
    requests.get(a.url("/app/junk"), params=st_params(";;;", "x;dur=1.2.3"))
    n = 2 * len(JUNK) + 3
    d = counted(a, n, "malformed", len(JUNK) + 1024 + 2)
    assert d["requests"] == n
    junk, plain = app_of(d, "/wsgi/junk"), app_of(d, "/wsgi/plain")
    assert junk == plain == {} and app_of(d, "/app/junk") == {}
    assert d["app"] == {}
    assert d["app_timing"]["entries"] == 0
    assert d["app_timing"]["responses"] == 0
    assert d["app_timing"]["malformed"] == len(JUNK) + 1024 + 2
    # the two routes differ in nothing the junk could have touched
    j = routes_by_key(d)[("/wsgi/junk", "GET")]
    p = routes_by_key(d)[("/wsgi/plain", "GET")]
    assert j["count"] == p["count"] and j["errors"] == p["errors"] == 0
    html = requests.get(a.url("/reqperf-status")).text
    assert "<script>alert" not in html
    assert "no backend has sent a Server-Timing metric yet" in html
    prom = requests.get(a.url("/reqperf-status?format=prometheus")).text
    promtool_check(prom)
    assert "reqperf_app_duration_seconds_count{" not in prom


def test_odd_names_escaped_everywhere(apache_factory):
    a = apache_factory(conf=STATUS + PROXY + "ReqPerfSlowThreshold 0\n")
    requests.get(a.url("/app/odd"),
                 params=st_params("a'b&c;dur=2, DB;dur=12.5, db;dur=12.5, "
                                  "db;dur=12.5",
                                  "Start_Processing.Action_Controller;dur=0"))
    d = counted(a, 1, "entries", 5)
    app = app_of(d, "/app/odd")
    assert app["a'b&c"]["count"] == 1 and app["db"]["count"] == 3
    # names are cut to 32 bytes
    assert app["start_processing.action_controll"]["count"] == 1
    # the slow log: each request's metrics, summed by name
    assert d["slow"][0]["app"] == {"a'b&c": 2000, "db": 37500,
                                   "start_processing.action_controll": 0}
    assert d["slow"][0]["app_count"] == {"a'b&c": 1, "db": 3,
                                         "start_processing.action_controll": 1}
    html = requests.get(a.url("/reqperf-status")).text
    assert "a'b&c" not in html and "a&#39;b&amp;c" in html
    assert "db=38&nbsp;ms&times;3" in html
    m = re.search(r'<h2 id="app">.*?</table>', html, re.S)
    # db: three entries in the one response
    assert m and "/app/odd" in m.group(0)
    # (each figure carries its JSON Pointer, data-k; see test_page.py)
    cells = re.sub(r' data-k="[^"]*" data-v="[^"]*"', "", m.group(0))
    assert '<td class="n">1</td><td class="n">3.0</td>' in cells
    promtool_check(requests.get(a.url("/reqperf-status?format=prometheus")).text)


# ---------------------------------------------------------------- cache

def test_cache_hit_adds_nothing(apache_factory, memcached):
    a = apache_factory(conf=STATUS + PROXY + """
ReqPerfCacheServers %s
ReqPerfCacheTimeout 2s
<Location /app/>
    ReqPerfCache On
</Location>
""" % memcached.address)
    params = st_params("db;dur=7") + [("cc", "max-age=60")]
    first = requests.get(a.url("/app/cached"), params=params)
    assert first.headers["X-Cache"].startswith("MISS")
    before = counted(a, 1, "entries", 1)
    for _ in range(3):
        r = requests.get(a.url("/app/cached"), params=params)
        assert r.headers["X-Cache"].startswith("HIT"), r.headers
        # never stored, so never replayed
        assert "db;dur" not in r.headers.get("Server-Timing", "")
    d = settled(a, 4)
    assert routes_by_key(d)[("/app/cached", "GET")]["count"] == 4
    assert app_of(d, "/app/cached") == app_of(before, "/app/cached")
    assert app_of(d, "/app/cached")["db"]["count"] == 1
    assert d["app_timing"] == before["app_timing"]
    assert status_json(a)["app"]["db"]["requests"] == 1
