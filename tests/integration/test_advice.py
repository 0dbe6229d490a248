"""ReqPerfCache Observe and the cache advisor against a real apache2, a real
memcached and the counting backend.

Observe takes every decision On would and changes nothing: the answers are
byte for byte those of an Off server (Date aside), carry no X-Cache, and
memcached sees nothing (curr_items, cmd_set, cmd_get do not move). What it
reports is exact: a backend that sets a csrftoken cookie on half of its
pages and sends Vary: Cookie on the others is reported as exactly that, per
route, with the cookie's name; a would-be hit ratio that On then achieves
within 5 points for the same traffic; and a record of keys that stays
inside its budget under thousands of distinct URLs while a page in use
keeps hitting.
"""
import http.client
import json
import random
import re
import time

import pytest
import requests

from conftest import MPMS, raw
from harness import parse_prom, promtool_check

STATUS = """
<Location /reqperf-status>
    SetHandler reqperf-status
    ReqPerfCache Off
</Location>
"""


def site(apache_factory, mpm, mode, memcached=None, extra=""):
    servers = ("ReqPerfCacheServers %s\nReqPerfCacheTimeout 2s\n"
               % memcached.address) if memcached is not None else ""
    return apache_factory(mpm=mpm, conf="""
{servers}
ProxyPass /obs/ ${{BACKEND}}/obs/
<Location /obs/>
    ReqPerfCache {mode}
    ReqPerfCacheTTL 300
</Location>
{status}
{extra}
""".format(servers=servers, mode=mode, status=STATUS, extra=extra))


def status(a):
    return requests.get(a.url("/reqperf-status?format=json"), timeout=10).json()


def advice(st, route, method="GET"):
    for r in st["routes"]:
        if r["route"] == route and r["method"] == method:
            return r.get("advice")
    raise AssertionError("no route %s %s in %s" % (
        method, route, [(r["route"], r["method"]) for r in st["routes"]]))


def wait_logged(a, n, timeout=10.0):
    """The statistics count a request when it is logged, after its
    answer: wait until n requests are counted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status(a)["requests"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError("only %d of %d requests logged"
                         % (status(a)["requests"], n))


def mc_counters(m):
    s = m.stats()
    return {k: int(s[k]) for k in ("curr_items", "cmd_set", "cmd_get",
                                   "total_items")}


# ------------------------------------------------------------ the traffic

def kind(i):
    """The backend's page i of /obs/mixed/: a csrftoken cookie, Vary:
    Cookie, or a plain page (two of four)."""
    return ("cookie", "vary", "plain", "plain")[i % 4]


def page(route, i, k):
    q = "static=1"
    if k == "cookie":
        q += "&cookie=csrftoken=abc123"
    elif k == "vary":
        q += "&header=Vary:Cookie"
    return "/obs/%s/%d?%s" % (route, i, q)


def traffic():
    """(target, extra header lines): every request of the exact test, in
    order, each sent alike to the Observe and the Off server."""
    out = []
    # half of the pages set csrftoken, the others send Vary: Cookie
    for rep in range(2):
        for i in range(8):
            out.append((page("site", i, "cookie" if i % 2 == 0 else "vary"),
                        ""))
    # a route whose every page sets it
    for i in range(4):
        out.append((page("form", i, "cookie"), ""))
    # one of each, and plain pages asked three times each
    for rep in range(3):
        for i in range(8):
            out.append((page("mixed", i, kind(i)), ""))
    plain = page("mixed", 2, "plain")
    out += [
        (plain, "Cookie: _ga=GA1.2.3\r\n"),
        (plain, "Cookie: _ga=GA1.2.4\r\n"),
        (page("mixed", 3, "plain"), "Cookie: sessionid=s3cr3t\r\n"),
        (page("mixed", 6, "plain"), "Authorization: Basic dTpw\r\n"),
        (plain + "&utm_source=mail", ""),
        (plain + "&utm_source=ads", ""),
        (page("mixed", 7, "plain"), "Cache-Control: no-cache\r\n"),
    ]
    return out


def send(a, target, headers):
    return raw(a, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                   "Connection: close\r\n\r\n" % (target, headers)).encode())


def without_date(answer):
    return re.sub(r"\r\nDate: [^\r]*", "\r\nDate: -", answer)


@pytest.mark.parametrize("mpm", MPMS)
def test_observe_reports_exactly_and_changes_nothing(apache_factory,
                                                      memcached_factory,
                                                      backend, mpm):
    m = memcached_factory()
    obs = site(apache_factory, mpm, "Observe", m)
    off = site(apache_factory, mpm, "Off", m)
    before = mc_counters(m)
    reqs = traffic()
    for target, headers in reqs:
        a, b = send(obs, target, headers), send(off, target, headers)
        assert a.startswith("HTTP/1.1 200 "), a[:200]
        assert "x-cache" not in a.lower(), a[:600]
        assert without_date(a) == without_date(b), (target, a, b)
    wait_logged(obs, len(reqs))
    assert mc_counters(m) == before

    st = status(obs)
    site_adv = advice(st, "/obs/site/{id}")
    assert {k: site_adv[k] for k in ("requests", "observed", "examined",
                                     "storable", "would_hit", "saved_us")} \
        == {"requests": 16, "observed": 16, "examined": 16, "storable": 0,
            "would_hit": 0, "saved_us": 0}
    assert site_adv["reasons"] == {"set-cookie": 8, "vary-cookie": 8}
    assert site_adv["mode"] == "observe"
    assert [(n["reason"], n["name"], n["count"]) for n in site_adv["names"]] \
        == [("set-cookie", "csrftoken", 8)]

    mixed = advice(st, "/obs/mixed/{id}")
    # 24 pages (6 csrftoken, 6 Vary: Cookie, 12 plain: 4 pages asked three
    # times, so 8 would-be hits), 2 with _ga and 1 with a session cookie
    # (personal: not looked up), 1 with Authorization, 2 with a campaign
    # parameter (their keys miss; without the parameter they would hit), a
    # reload (not looked up, its answer stored)
    assert {k: mixed[k] for k in ("requests", "observed", "examined",
                                  "storable", "would_hit")} \
        == {"requests": 31, "observed": 26, "examined": 27, "storable": 15,
            "would_hit": 8}
    assert mixed["reasons"] == {"set-cookie": 6, "vary-cookie": 6,
                                "cookie": 3, "authorization": 1,
                                "query-busting": 2, "client-no-cache": 1}
    names = {(n["reason"], n["name"]): (n["count"], n["directive"])
             for n in mixed["names"]}
    assert names == {
        ("set-cookie", "csrftoken"): (6, None),
        ("cookie", "_ga"): (2, "ReqPerfCacheIgnoreCookie _ga*"),
        ("cookie", "sessionid"): (1, None),
        ("query-busting", "utm_source"): (2, "ReqPerfCacheIgnoreQuery utm_*"),
    }
    # what the would-be hits cost the backend: their own handler time
    assert mixed["saved_us"] > 0
    assert mixed["keys"]["tracked"] and mixed["keys"]["evicted_fresh"] == 0
    # the route's timing statistics count the same requests
    assert [r for r in st["routes"] if r["route"] == "/obs/mixed/{id}"][0][
        "count"] == 31
    # under Observe the cache counted nothing
    assert st["cache"]["hit"] == st["cache"]["miss"] == 0
    assert st["cache"]["bypass"] == 0
    # the Off server has no advice at all
    assert all("advice" not in r for r in status(off)["routes"])

    # the page, in plain words
    # (routes may carry <wbr> after each '/')
    html = requests.get(obs.url("/reqperf-status"), timeout=10).text.replace(
        "<wbr>", "")
    sec = html[html.index("What caching would save"):]
    sec = sec[:sec.index("</table>")]
    assert "Set-Cookie: <code>csrftoken</code> on 100% of responses" in sec
    assert "Set-Cookie: <code>csrftoken</code> on 50% of responses" in sec
    assert "Vary: Cookie on 50% of responses" in sec
    assert "<code>utm_source</code> in the query" in sec
    assert "<code>ReqPerfCacheIgnoreQuery utm_*</code>" in sec
    assert "<code>ReqPerfCacheIgnoreCookie _ga*</code>" in sec
    # routes by time saved: the one with would-be hits first
    assert sec.index("/obs/mixed/{id}") < sec.index("/obs/site/{id}")

    # Prometheus, from the same counters; valid exposition
    text = requests.get(obs.url("/reqperf-status?format=prometheus"),
                        timeout=10).text
    promtool_check(text)
    prom = parse_prom(text)

    def series(route, outcome):
        return prom[("reqperf_cache_advice_total",
                     frozenset({("route", route), ("outcome", outcome)}))]
    assert series("/obs/mixed/{id}", "observed") == 26
    assert series("/obs/mixed/{id}", "would_hit") == 8
    assert series("/obs/mixed/{id}", "set-cookie") == 6
    assert series("/obs/site/{id}", "vary-cookie") == 8
    saved = prom[("reqperf_cache_saved_seconds_total",
                  frozenset({("route", "/obs/mixed/{id}")}))]
    assert abs(saved - mixed["saved_us"] / 1e6) < 1e-5


def run_mixed_traffic(a, seed=16, n=600):
    """Sequential requests over one keep-alive connection: 40 plain pages
    (a few far more often than the rest), csrftoken pages and Vary: Cookie
    pages; the same sequence for the same seed."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=15)
    sent = 0
    try:
        for _ in range(n):
            x = rng.random()
            if x < 0.15:
                target = page("cmpform", rng.randrange(10), "cookie")
            elif x < 0.25:
                target = page("cmpvary", rng.randrange(10), "vary")
            else:
                # skewed: page 0..39, low numbers far more often
                i = int(40 * rng.random() ** 3)
                target = page("cmp", i, "plain")
            conn.request("GET", target)
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            sent += 1
    finally:
        conn.close()
    return sent


def test_would_be_hits_match_what_on_achieves(apache_factory,
                                               memcached_factory, backend):
    m = memcached_factory()
    obs = site(apache_factory, "event", "Observe", m)
    before = mc_counters(m)
    n = run_mixed_traffic(obs)
    wait_logged(obs, n)
    assert mc_counters(m) == before
    st = status(obs)
    o_plain = advice(st, "/obs/cmp/{id}")
    o_form = advice(st, "/obs/cmpform/{id}")
    observed = sum(advice(st, r)["observed"]
                   for r in ("/obs/cmp/{id}", "/obs/cmpform/{id}",
                             "/obs/cmpvary/{id}"))
    would_hit = sum(advice(st, r)["would_hit"]
                    for r in ("/obs/cmp/{id}", "/obs/cmpform/{id}",
                              "/obs/cmpvary/{id}"))
    assert observed == n

    on = site(apache_factory, "event", "On", memcached_factory())
    assert run_mixed_traffic(on) == n
    wait_logged(on, n)
    st_on = status(on)
    hits = lookups = 0
    for r in st_on["routes"]:
        if r["route"].startswith("/obs/cmp"):
            c = r["cache"]
            hits += c["hit"] + c["stale"]
            lookups += c["hit"] + c["miss"] + c["stale"]
    assert lookups == n
    observe_ratio = 100.0 * would_hit / observed
    on_ratio = 100.0 * hits / lookups
    print("would-be hit ratio %.1f%% under Observe, %.1f%% under On"
          % (observe_ratio, on_ratio))
    assert abs(observe_ratio - on_ratio) <= 5.0, (observe_ratio, on_ratio)
    assert observe_ratio > 40      # the traffic does repeat itself

    # under On the advisor counts what the cache did, and says why the
    # csrftoken route never hits
    on_plain = advice(st_on, "/obs/cmp/{id}")
    assert on_plain["mode"] == "on"
    c = [r for r in st_on["routes"] if r["route"] == "/obs/cmp/{id}"][0][
        "cache"]
    assert on_plain["observed"] == c["hit"] + c["miss"] + c["stale"]
    assert on_plain["would_hit"] == c["hit"] + c["stale"]
    assert on_plain["storable"] == on_plain["examined"] == c["miss"]
    assert on_plain["saved_us"] > 0
    on_form = advice(st_on, "/obs/cmpform/{id}")
    assert [r for r in st_on["routes"] if r["route"] == "/obs/cmpform/{id}"][
        0]["cache"]["hit"] == 0
    assert on_form["reasons"] == {"set-cookie": o_form["observed"]}
    assert on_form["reasons"] == o_form["reasons"]
    assert o_plain["storable"] == o_plain["observed"]
    html = requests.get(on.url("/reqperf-status"), timeout=10).text.replace(
        "<wbr>", "")
    sec = html[html.index("What caching would save"):]
    row = sec[sec.index("/obs/cmpform/{id}"):]
    row = row[:row.index("</tr>")]
    assert "<td>On</td>" in row
    assert "Set-Cookie: <code>csrftoken</code> on 100% of responses" in row


def test_observe_without_memcached(apache_factory, backend):
    """No ReqPerfCacheServers: Observe needs none, warns of nothing, and
    still answers exactly as Off (X-ReqPerf-Tags stripped alike)."""
    a = site(apache_factory, "prefork", "Observe")
    off = site(apache_factory, "prefork", "Off")
    tagged = page("nomc", 1, "plain") + "&header=X-ReqPerf-Tags:invoice-1"
    for target in (tagged, tagged, tagged, page("nomc", 2, "cookie")):
        x, y = send(a, target, ""), send(off, target, "")
        assert x.startswith("HTTP/1.1 200 "), x[:200]
        head = x.split("\r\n\r\n", 1)[0].lower()
        assert "x-cache" not in head and "x-reqperf" not in head, head
        assert without_date(x) == without_date(y), (x, y)
    wait_logged(a, 4)
    adv = advice(status(a), "/obs/nomc/{id}")
    assert (adv["observed"], adv["would_hit"], adv["storable"]) == (4, 2, 3)
    assert adv["reasons"] == {"set-cookie": 1}
    assert "AH10513" not in a.read_error_log()


def test_record_stays_in_budget(apache_factory, backend):
    """Five thousand distinct URLs (the 100,000 are the unit tests'):
    nothing grows past the 2048 keys of the route's record, the ones that
    had to make room are counted, and a page asked all along still hits."""
    a = site(apache_factory, "event", "Observe", extra="""
<Location /static.txt>
    ReqPerfCache Observe
    ReqPerfCacheTTL 600
</Location>
""")
    n, hot_every = 5000, 50
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=15)
    sent = hot = 0
    try:
        for i in range(n):
            target = "/static.txt?u=%d" % i
            if i % hot_every == 0:
                target = "/static.txt?u=hot"
                hot += 1
            conn.request("GET", target)
            r = conn.getresponse()
            r.read()
            assert r.status == 200 and r.getheader("X-Cache") is None
            sent += 1
    finally:
        conn.close()
    wait_logged(a, sent)
    adv = advice(status(a), "/static.txt")
    assert adv["observed"] == adv["storable"] == sent
    # only the page asked again hits: every time but its first
    assert adv["would_hit"] == hot - 1
    keys = adv["keys"]
    assert keys["tracked"] and keys["capacity"] == 2048
    assert keys["fresh"] <= 2048
    assert keys["evicted_fresh"] >= (sent - hot) - 2048


def test_observe_configtest(apache_factory):
    a = apache_factory(start=False, conf="""
<Location /x/>
    ReqPerfCache Observe
</Location>
<Location /y/>
    ReqPerfCache observe
</Location>
""")
    r = a.configtest()
    assert r.returncode == 0, r.stderr
    r = a.configtest("ReqPerfCache Observer\n")
    assert r.returncode != 0
    assert "ReqPerfCache" in r.stderr and "'Observer'" in r.stderr
    assert "On, Off or Observe" in r.stderr
