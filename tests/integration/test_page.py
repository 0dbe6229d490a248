"""The status page as a person sees it: headless Chromium (Debian's) at a
laptop's 1366x768 loads the overview and a route's page from a real
apache2, and the test reads what it rendered from the DOM: no horizontal
scrolling, the histogram with its p50/p95/p99 marks, and every figure on
the route page equal to the route's JSON (each carries data-k, the JSON
Pointer of its value, and data-v, the value; its text must be that value
formatted as the page formats it). Both pages are printed too (the print
stylesheet fits them on A4), and screenshots are taken, so a blank page
fails.
"""
import os
import time

import requests

from browser import Chromium
from test_route_page import route_json, site, stampede

WIDTH, HEIGHT = 1366, 768

# every [data-k] element: its pointer, raw value, text, and tag
FIGURES_JS = """Array.from(document.querySelectorAll('[data-k]')).map(e => (
    {k: e.dataset.k, v: e.dataset.v, text: e.textContent, tag: e.tagName}))"""
PAGE_JS = """({
    width: document.documentElement.scrollWidth,
    svg: document.querySelectorAll('svg.hist').length,
    marks: Object.fromEntries(Array.from(document.querySelectorAll(
        'svg.hist g.mark')).map(g => [g.dataset.mark, g.dataset.v])),
    bins: Array.from(document.querySelectorAll('svg.hist rect.bin title'))
        .map(t => t.textContent),
    unkeyed: Array.from(document.querySelectorAll(
        '#figures td.n, #route-phases td.n, #route-cache td.n'))
        .filter(td => !td.dataset.k && td.textContent.trim() !== '\\u2013')
        .length,
    slow_rows: document.querySelectorAll('#slow tr').length - 1,
    route_links: document.querySelectorAll('#routes a.route').length,
    title: document.title
})"""


def fixed(v, scale, decimals):
    """rp_buf_fixed: v / 10^scale, rounded half up, `decimals` digits."""
    unit = 10 ** (scale - decimals)
    q = v // unit + (1 if unit > 1 and v % unit >= unit - unit // 2 else 0)
    if decimals == 0:
        return str(q)
    return "%d.%0*d" % (q // 10 ** decimals, decimals, q % 10 ** decimals)


def fmt_us(us):
    """The page's duration format (html_us in stats/rp_report.c)."""
    if us >= 9999500:
        return fixed(us, 6, 1) + " s"
    if us >= 999500:
        return fixed(us, 6, 2) + " s"
    if us >= 9950:
        return fixed(us, 3, 0) + " ms"
    if us >= 1000:
        return fixed(us, 3, 1) + " ms"
    return "%d µs" % us


def pointer(doc, ptr):
    for tok in ptr.split("/")[1:]:
        tok = tok.replace("~1", "/").replace("~0", "~")
        doc = doc[int(tok)] if isinstance(doc, list) else doc[tok]
    return doc


def is_duration(ptr):
    return (ptr.endswith("_us") or ptr.startswith("/phases/")
            or ptr.startswith("/recent_phases/"))


def traffic(a, memcached, backend):
    st = "header=Server-Timing:db;dur=12.5,db;dur=3.25,tpl;dur=1"
    for i in range(6):
        for _ in range(2):
            requests.get(a.url("/app/invoices/%d?sleep_ms=%d&%s"
                               % (i, 8 * i, st)))
    requests.get(a.url("/app/invoices/1?" + st), cookies={"sid": "x"})
    # a long URI, with a long query, and one with markup in it
    requests.get(a.url("/app/reports/monthly-statement-for-every-customer"
                       "-of-the-year/2026?customer=acme-industrial-holdings"
                       "&format=detailed-with-line-items&sleep_ms=30"))
    requests.get(a.url("/app/<b>bold</b>"))
    # requests that queued on the fill lock
    assert stampede(a, memcached, backend, "/app/reports/monthly", 3) \
        == ["MISS"] + ["HIT wait"] * 3
    time.sleep(0.3)


def check_page_width(c, what):
    page = c.eval(PAGE_JS)
    assert page["width"] <= WIDTH, "%s is %d px wide" % (what, page["width"])
    return page


def test_pages_render_in_chromium_at_1366(apache_factory, memcached, backend,
                                          tmp_path):
    # 5 ms: every request that waited a poll (10 ms) is in the slow log
    a = site(apache_factory, memcached, "event", slow="5ms")
    traffic(a, memcached, backend)
    route = "/app/invoices/{id}"
    full = requests.get(a.url("/reqperf-status?format=json")).json()
    with Chromium(WIDTH, HEIGHT) as c:
        # ---- the overview
        assert c.open(a.url("/reqperf-status")) == 200
        page = check_page_width(c, "the overview")
        assert page["svg"] == 1 and sorted(page["marks"]) == ["p50", "p95",
                                                              "p99"]
        assert page["marks"]["p95"] == str(full["total"]["p95_us"])
        # every route's name links to its page
        assert page["route_links"] == len(full["routes"])
        dom = c.eval("document.body.innerHTML")
        assert "<b>bold</b>" not in dom and "&lt;b&gt;bold&lt;/" in dom
        assert c.eval("document.querySelectorAll('script').length") == 0
        c.screenshot(str(tmp_path / "overview.png"))
        assert c.pdf()[:5] == b"%PDF-"

        # ---- one route's page, reached through its link
        href = c.eval("Array.from(document.querySelectorAll('#routes a.route'))"
                      ".find(x => x.textContent == %r).href" % route)
        v = requests.get(href.replace("?", "?format=json&", 1)).json()
        assert c.open(href) == 200
        page = check_page_width(c, "the route page")
        assert page["title"].startswith(route)
        assert page["svg"] == 1
        assert page["marks"] == {"p50": str(v["p50_us"]),
                                 "p95": str(v["p95_us"]),
                                 "p99": str(v["p99_us"])}
        assert page["bins"] == ["%d requests between %d and %d µs"
                                % (h["count"], h["from_us"], h["to_us"])
                                for h in v["histogram"]]
        assert sum(h["count"] for h in v["histogram"]) == v["count"] == 13
        assert page["unkeyed"] == 0
        assert page["slow_rows"] == len(v["slow_requests"]) > 0
        figures = c.eval(FIGURES_JS)
        seen = set()
        for f in figures:
            want = pointer(v, f["k"])
            assert f["v"] == str(want), f
            text = f["text"].replace("\u00a0", " ")
            shown = fmt_us(want) if is_duration(f["k"]) else str(want)
            if f["tag"] == "TD":
                assert text == shown, f
            else:
                assert shown in text, f
            seen.add(f["k"])
        # every figure the JSON has for the page's tables is on it
        for k in ("/count", "/recent/count", "/p50_us", "/recent/p99_us",
                  "/max_us", "/total_us", "/phases/handler",
                  "/recent_phases/handler", "/cache/hit", "/cache/miss",
                  "/cache/bypass", "/cache/x_cache/HIT local",
                  "/cache/x_cache/BYPASS cookie", "/cache/lock_waits",
                  "/app/db/count", "/app/db/p95_us", "/app/tpl/total_us",
                  "/slow_requests/0/total_us"):
            assert k in seen, k
        for name in v["phases"]:
            assert "/phases/" + name in seen
        for name in v["cache"]["x_cache"]:
            assert "/cache/x_cache/" + name in seen
        c.screenshot(str(tmp_path / "route.png"))

        # ---- the route that waited on the fill, and an unknown one
        assert c.open(a.url("/reqperf-status?route=/app/reports/monthly"
                            "&method=GET")) == 200
        check_page_width(c, "the stampede route's page")
        w = route_json(a, "/app/reports/monthly")
        figures = {f["k"]: f["v"] for f in c.eval(FIGURES_JS)}
        assert figures["/cache/lock_waits"] == "3"
        assert figures["/cache/x_cache/HIT wait"] == "3"
        # every slow waiter says on the page that it waited, and how long
        waited = ["/slow_requests/%d/lock_wait_us" % i
                  for i, e in enumerate(w["slow_requests"])
                  if e["lock_wait_us"] > 0]
        assert waited and all(figures[k] == str(pointer(w, k))
                              for k in waited)
        assert sum(1 for k in figures if k.endswith("/lock_wait_us")
                   and k.startswith("/slow_requests/")) == len(waited)
        assert c.open(a.url("/reqperf-status?route=/nowhere")) == 404

        # printed on A4 (794 px at 96 dpi): the print stylesheet fits both
        c.call("Emulation.setEmulatedMedia", {"media": "print"})
        c.viewport(794, 1123)
        for url in ("/reqperf-status", href):
            assert c.open(url if url.startswith("http") else a.url(url)) \
                == 200
            w = c.eval("document.documentElement.scrollWidth")
            assert w <= 794, "%s printed is %d px wide" % (url, w)
    for shot in ("overview.png", "route.png"):
        with open(str(tmp_path / shot), "rb") as f:
            png = f.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(png) > 20000, shot
    assert os.path.getsize(str(tmp_path / "overview.png")) > 0
