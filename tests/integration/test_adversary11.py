"""The eleventh review (2026-12-04): timing, counts and the status page,
attacked by clients, hostile backends and unusual configurations.  Each
finding below failed on 9d913c6 and passes with its fix; every other test
here is an attack that held there and stays as a regression test.

Findings (holes):

- a page that includes the status page (mod_include's
  `<!--#include virtual="/reqperf-status?auto" -->`, a dashboard page)
  was itself not counted: the status handler, run as a subrequest,
  marked the *parent* request as "not timed".  Fix: only a main request
  that is the status page is left out.
  (test_page_including_the_status_page_is_counted)
- the time a client takes to send its request line was in no request:
  the core reads a whole line before any byte leaves the connection's
  input filters, so a request line trickled over a second (slowloris,
  a slow mobile link) showed read=50 ms, and a 408 for a request line
  that never ended showed total=0 although it held a worker for the
  whole Timeout.  Fix: REQPERF_IN waits for the first byte with a
  one-byte speculative read (nothing is consumed) and stamps then.
  (test_request_line_sent_slowly_is_read_time,
   test_request_line_that_never_ends_is_timed)
- `ReqPerfServerTiming On` added no Server-Timing to any response that
  Apache wrote itself (404 of a missing file, 401 from authentication,
  403, 304): ap_send_error_response drops the resource filters, with
  REQPERF_OUT.  A 401 after a slow authentication provider is exactly
  the response whose timing one wants.  Those responses also had no
  ttfb and their handler ran to the log hooks.  Fix: REQPERF_OUT is
  inserted on error responses too (insert_error_filter); ttfb only once
  a handler ran.
  (test_server_timing_on_responses_apache_writes_itself)
- several threads bringing the same new route at the same instant (a
  burst of one new URL from many clients) each reserved a record and
  all but one were never used again: ReqPerfMaxRoutes routes no longer
  fitted, and once the 24 records kept for __other__ were gone, not even
  __other__ could be made and requests were counted in no route at all
  (the per-route counts no longer summed to "requests").  On a 2-core
  machine the window is too narrow to hit reliably through Apache; the
  proof is the unit test tests/unit/test_stats.c
  test_racing_creators_waste_no_record (eight threads released together
  on each new route: 1,264 of 2,880 requests in no route before the
  fix).  Fix: the loser gives its record back (spare[] in the header),
  the next creator takes it before reserving another.

Held (attacks that found nothing): pipelined requests (each counted once,
none charged the others' time), request lines and headers that fail
(400, 414, oversized or too many header fields, no Host), a client that
disconnects mid-body, an idle connection's 408, an h2c Upgrade whose
client vanishes or sends garbage for a preface (counted once), a graceful
restart after ReqPerfMaxRoutes changed (afresh, no crash) and one after
(kept), status page query oddities.
"""
import socket
import subprocess
import time

import pytest
import requests

from conftest import MPMS, parse_access_line
from test_status import PROXY, STATUS, routes_by_key, settled, status_json

mpms = pytest.mark.parametrize("mpm", MPMS)


def entries_by_uri(a, n, timeout=10.0):
    lines = a.wait_access_lines(n, timeout=timeout)
    assert len(lines) >= n, lines
    return {e["uri"]: e for e in map(parse_access_line, lines)}


def drain(s, limit=1 << 20):
    out = b""
    while len(out) < limit:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


# ---------------------------------------------------------------- findings

@mpms
def test_page_including_the_status_page_is_counted(apache_factory, mpm):
    a = apache_factory(mpm=mpm, start=False, conf=STATUS + """
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
""")
    a.write_file("htdocs/dash.shtml",
                 'dash <!--#include virtual="/reqperf-status?auto" --> end\n')
    a.start()
    r = requests.get(a.url("/dash.shtml"))
    assert r.status_code == 200 and "requests: " in r.text and "end" in r.text
    d = settled(a, 1)
    assert d["requests"] == 1, d["routes"]
    assert routes_by_key(d)[("/dash.shtml", "GET")]["count"] == 1
    e = entries_by_uri(a, 1)["/dash.shtml"]
    assert e["total"] is not None and "handler" in e["phases"], e
    # the status page asked directly is still not counted
    requests.get(a.url("/reqperf-status?auto"))
    time.sleep(0.3)
    assert status_json(a)["requests"] == 1


@pytest.mark.parametrize("mpm,modules", [("prefork", ()), ("event", ()),
                                         ("event", ("reqtimeout",))])
def test_request_line_sent_slowly_is_read_time(apache_factory, mpm, modules):
    a = apache_factory(mpm=mpm, modules=modules, conf=STATUS + (
        "RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500\n"
        if modules else ""))
    line = b"GET /index.html?trickled HTTP/1.1\r\n"
    pieces = [line[i:i + 4] for i in range(0, len(line), 4)]
    gap = 0.1
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        for p in pieces:
            s.sendall(p)
            time.sleep(gap)
        s.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        assert b" 200 " in drain(s)[:20]
    sent_over = (len(pieces) - 1) * gap          # first byte to last
    e = entries_by_uri(a, 1)["/index.html?trickled"]
    assert e["phases"]["read"] >= sent_over * 0.8 * 1e6, e
    assert e["total"] >= e["phases"]["read"]
    d = settled(a, 1)
    assert d["phases"]["read"]["max_us"] >= sent_over * 0.8 * 1e6


@mpms
def test_request_line_that_never_ends_is_timed(apache_factory, mpm):
    """A partial request line held until Timeout (2 s) is a 408 that
    held a worker that long; a connection that sends nothing is a 408 of
    no request time (the idle wait is never counted)."""
    a = apache_factory(mpm=mpm, conf=STATUS + "Timeout 2\n")
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        s.sendall(b"GET /never-ends HT")
        drain(s)
    lines = [parse_access_line(x) for x in a.wait_access_lines(1)]
    assert [e["status"] for e in lines] == [408], lines
    assert lines[0]["total"] >= 1500000, lines
    d = settled(a, 1)
    assert d["requests"] == 1
    assert d["slow"] and d["slow"][0]["status"] == 408
    # nothing sent at all: whatever Apache logs, no request time
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        drain(s)
    time.sleep(0.5)
    for e in map(parse_access_line, a.access_lines()[1:]):
        assert e["total"] is None or e["total"] < 1000000, e


@mpms
def test_server_timing_on_responses_apache_writes_itself(apache_factory, mpm):
    a = apache_factory(mpm=mpm, start=False, conf=STATUS + """
ReqPerfServerTiming On
<Location /private>
    AuthType Basic
    AuthName "t"
    AuthBasicProvider file
    AuthUserFile @ROOT@/htpasswd
    Require valid-user
</Location>
Alias /private @ROOT@/htdocs
<Location /denied>
    Require all denied
</Location>
""")
    a.conf_body = a.conf_body.replace("@ROOT@", a.root)
    subprocess.run(["htpasswd", "-cb", a.path("htpasswd"), "alice", "pw"],
                   check=True, capture_output=True)
    a.start()
    ok = requests.get(a.url("/index.html"))
    assert "Server-Timing" in ok.headers
    answers = {
        "/missing.html": requests.get(a.url("/missing.html")),
        "/private/index.html": requests.get(a.url("/private/index.html"),
                                            auth=("alice", "wrong")),
        "/denied/x": requests.get(a.url("/denied/x")),
        "/static.txt": requests.get(
            a.url("/static.txt"),
            headers={"If-Modified-Since": ok.headers.get("Last-Modified")
                     or "Sun, 06 Nov 2094 08:49:37 GMT"}),
    }
    statuses = {p: r.status_code for p, r in answers.items()}
    assert statuses == {"/missing.html": 404, "/private/index.html": 401,
                        "/denied/x": 403, "/static.txt": 304}, statuses
    for p, r in answers.items():
        st = r.headers.get("Server-Timing", "")
        names = [x.strip().split(";")[0] for x in st.split(",") if x.strip()]
        assert "total" in names and "read" in names, (p, st)
    st401 = answers["/private/index.html"].headers["Server-Timing"]
    assert "authn;dur=" in st401, st401
    # the 404 that a handler wrote: its first byte is known
    e = entries_by_uri(a, 5)
    miss = e["/missing.html"]
    assert "ttfb" in miss["phases"], miss
    assert miss["phases"]["ttfb"] <= miss["phases"]["handler"]
    # no handler ran for the 401 and the 403: no ttfb without one
    for p in ("/private/index.html", "/denied/x"):
        assert "handler" not in e[p]["phases"], e[p]
        assert "ttfb" not in e[p]["phases"], e[p]
    d = settled(a, 5)
    assert d["requests"] == 5
    assert d["phases"]["ttfb"]["count"] <= d["phases"]["handler"]["count"]


# ---------------------------------------------------------------- held

@mpms
def test_pipelined_requests_counted_once_each(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY)
    reqs = b"".join(b"GET /app/pipe/%d?sleep_ms=200 HTTP/1.1\r\nHost: x\r\n\r\n"
                    % i for i in range(3))
    reqs += b"GET /index.html?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", a.port), timeout=20) as s:
        s.sendall(reqs)
        out = drain(s)
    assert out.count(b"HTTP/1.1 200") == 4
    d = settled(a, 4)
    assert d["requests"] == 4
    assert routes_by_key(d)[("/app/pipe/{id}", "GET")]["count"] == 3
    e = entries_by_uri(a, 4)
    # the last one waited for three 200 ms answers in the buffer, but
    # that wait is the others' (it was not read yet)
    last = e["/index.html?last"]
    assert last["total"] < 150000, last


@mpms
def test_requests_that_fail_while_read_are_counted_once(apache_factory,
                                                        backend, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS + PROXY + "Timeout 3\n")
    bad = [b"GARBAGE\r\n\r\n",
           b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
           b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: a\r\n" * 120 + b"\r\n",
           b"GET / HTTP/1.1\r\n\r\n"]
    for data in bad:
        with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
            s.sendall(data)
            head = drain(s)[:40]
        assert head.startswith(b"HTTP/1.1 4"), head
    # a body cut off by the client
    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        s.sendall(b"POST /app/cut HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1000\r\n\r\nabc")
        time.sleep(0.2)
    d = settled(a, len(bad) + 1)
    time.sleep(0.5)
    d = status_json(a)
    assert d["requests"] == len(bad) + 1, d["routes"]
    assert sum(x["count"] for x in d["routes"]) == len(bad) + 1


@mpms
def test_status_page_query_oddities(apache_factory, mpm):
    a = apache_factory(mpm=mpm, conf=STATUS)
    requests.get(a.url("/index.html"))
    settled(a, 1)
    odd = ["?format=json&format=prometheus", "?refresh=99999999999999999999",
           "?refresh=-1", "?refresh=%0a", "?sort=", "?sort=p99&sort=x",
           "?route=%ff%fe", "?route=", "?method=GET", "?route=/index.html&method=%00",
           "?format=prometheus&route=/index.html", "?auto&format=json",
           "?format=json&route=%3Cscript%3E", "?route=/index.html&format=json",
           "?" + "a=b&" * 2000, "?format=%6Ason"]
    for q in odd:
        r = requests.get(a.url("/reqperf-status" + q))
        assert r.status_code in (200, 400, 404), (q, r.status_code)
        if r.headers.get("Content-Type", "").startswith("text/html"):
            assert "<script>" not in r.text, q
        assert r.headers.get("Cache-Control") == "no-store" or r.status_code == 400
    assert status_json(a)["requests"] == 1
