"""Invalidation against real apache2s and a real memcached: tags, URL
purges of every variant, the X-ReqPerf-Purge header, the purge handler's
answers to bad input, purges seen across Apache servers sharing
memcached, and an honest answer when memcached is down."""
import concurrent.futures
import json
import uuid

import pytest
import requests

from conftest import MPMS
from test_route_page import until

PURGE = """
<Location /reqperf-purge>
    SetHandler reqperf-purge
    Require local
</Location>
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
"""


def site(apache_factory, memcached, mpm, extra="", location_extra="",
         server_name=None):
    return apache_factory(mpm=mpm, server_name=server_name, conf="""
ReqPerfCacheServers {mc}
# (not the 50 ms default: on a loaded machine a reply can take longer, and
# these tests mean "memcached is up"; the timeout tests set their own)
ReqPerfCacheTimeout 2s
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
    {location_extra}
</Location>
{purge}
{extra}
""".format(mc=memcached.address, location_extra=location_extra,
           purge=PURGE, extra=extra))


def xc(r):
    return r.headers.get("X-Cache", "")


def hit(r):
    return xc(r).startswith("HIT")


def purge(a, **kw):
    return requests.post(a.url("/reqperf-purge"), **kw)


def stats(a):
    return requests.get(a.url("/reqperf-status?format=json")).json()


@pytest.mark.parametrize("mpm", MPMS)
def test_tag_purge(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    pages = {
        "inv": "/app/invoice/123?header=X-ReqPerf-Tags:invoice-123",
        "list": "/app/customer/7/invoices?header=X-ReqPerf-Tags:customer-7 invoice-123",
        "other": "/app/invoice/999?header=X-ReqPerf-Tags:invoice-999",
        "untagged": "/app/about",
    }
    for p in pages.values():
        r = requests.get(a.url(p))
        assert xc(r) == "MISS"
        # tags never reach the client
        assert "X-ReqPerf-Tags" not in r.headers
    for p in pages.values():
        assert hit(requests.get(a.url(p)))
    r = purge(a, data={"tag": "invoice-123"})
    assert r.status_code == 200, r.text
    assert r.json() == {"purged": {"url": [], "tag": ["invoice-123"]}}
    assert xc(requests.get(a.url(pages["inv"]))) == "MISS"
    assert xc(requests.get(a.url(pages["list"]))) == "MISS"
    assert hit(requests.get(a.url(pages["other"])))
    assert hit(requests.get(a.url(pages["untagged"])))
    # refilled after the purge
    assert hit(requests.get(a.url(pages["inv"])))
    d = stats(a)
    assert d["cache"]["purges"]["tag"] == 1
    assert d["cache"]["stale_by_generation"] >= 2


@pytest.mark.parametrize("mpm", MPMS)
def test_url_purge_drops_every_variant(apache_factory, memcached, backend,
                                       mpm):
    a = site(apache_factory, memcached, mpm,
             location_extra="ReqPerfCacheIgnoreQuery utm_*")
    base = "/app/report?header=Vary:Accept-Encoding"
    # four Vary variants, two of them asked through ignored query
    # parameters (each with its own Accept-Encoding so that refilling one
    # after the purge does not refill another; a request with an ignored
    # parameter is served the entry but does not fill it)
    variants = [
        (base, {"Accept-Encoding": "gzip"}),
        (base, {"Accept-Encoding": "identity"}),
        (base + "&utm_source=mail", {"Accept-Encoding": "br"}),
        (base + "&utm_campaign=x", {"Accept-Encoding": "deflate"}),
    ]
    for p, h in variants:
        requests.get(a.url(base), headers=h)
    for p, h in variants:
        assert hit(requests.get(a.url(p), headers=h)), (p, h)
    other = "/app/report?header=Vary:Accept-Encoding&page=2"
    requests.get(a.url(other))
    assert hit(requests.get(a.url(other)))
    # relative form, with an ignored parameter and another order
    r = purge(a, data={"url": "/app/report?utm_x=1&header=Vary:Accept-Encoding"})
    assert r.status_code == 200, r.text
    assert r.json()["purged"]["url"][0].endswith(
        "/app/report?header=Vary:Accept-Encoding")
    for p, h in variants:
        assert xc(requests.get(a.url(p), headers=h)) == "MISS", (p, h)
    assert hit(requests.get(a.url(other)))


@pytest.mark.parametrize("mpm", MPMS)
def test_absolute_url_purge_and_several_items(apache_factory, memcached,
                                              backend, mpm):
    a = site(apache_factory, memcached, mpm)
    for p in ("/app/a", "/app/b", "/app/c"):
        requests.get(a.url(p))
    body = "url=%s&url=/app/b&tag=nothing-tagged" % requests.utils.quote(
        "http://127.0.0.1:%d/app/a" % a.port, safe="")
    r = purge(a, data=body,
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert len(r.json()["purged"]["url"]) == 2
    assert xc(requests.get(a.url("/app/a"))) == "MISS"
    assert xc(requests.get(a.url("/app/b"))) == "MISS"
    assert hit(requests.get(a.url("/app/c")))


@pytest.mark.parametrize("mpm", MPMS)
def test_purge_header_from_a_post(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm)
    inv = "/app/invoice/5?header=X-ReqPerf-Tags:invoice-5 customer-2"
    lst = "/app/customer/2?header=X-ReqPerf-Tags:customer-2"
    dash = "/app/dashboard"
    for p in (inv, lst, dash):
        requests.get(a.url(p))
        assert hit(requests.get(a.url(p)))
    # the save: the application names what it changed
    r = requests.post(a.url("/app/invoice/5/pay?header=X-ReqPerf-Purge:"
                            "tag=invoice-5 url=/app/dashboard"))
    assert r.status_code == 200
    assert "X-ReqPerf-Purge" not in r.headers
    assert "X-ReqPerf-Tags" not in r.headers
    assert xc(requests.get(a.url(inv))) == "MISS"
    assert xc(requests.get(a.url(dash))) == "MISS"
    assert hit(requests.get(a.url(lst)))
    # on any method, and stripped even where the cache is off
    r = requests.get(a.url("/app/whatever?header=X-ReqPerf-Purge:tag=customer-2"))
    assert "X-ReqPerf-Purge" not in r.headers
    assert xc(requests.get(a.url(lst))) == "MISS"
    d = stats(a)
    assert d["cache"]["purges"]["tag"] == 2
    assert d["cache"]["purges"]["url"] == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_tags_and_purges_on_several_lines(apache_factory, memcached, backend,
                                          mpm):
    # a backend may send X-ReqPerf-Tags or X-ReqPerf-Purge more than once:
    # every line counts
    a = site(apache_factory, memcached, mpm)
    two = ("/app/lines/a?header=X-ReqPerf-Tags:tag-a"
           "&header=X-ReqPerf-Tags:tag-b")
    other = "/app/lines/c?header=X-ReqPerf-Tags:tag-c"
    for p in (two, other):
        requests.get(a.url(p))
        assert hit(requests.get(a.url(p)))
    # a purge of the tag on the second line drops the page
    requests.get(a.url("/app/x?header=X-ReqPerf-Purge:tag=tag-b"))
    assert xc(requests.get(a.url(two))) == "MISS"
    # two purge lines: both are carried out
    requests.get(a.url(two))
    r = requests.post(a.url("/app/save?header=X-ReqPerf-Purge:tag=tag-a"
                            "&header=X-ReqPerf-Purge:tag=tag-c"))
    assert "X-ReqPerf-Purge" not in r.headers
    assert xc(requests.get(a.url(two))) == "MISS"
    assert xc(requests.get(a.url(other))) == "MISS"


@pytest.mark.parametrize("mpm", MPMS)
def test_headers_stripped_where_cache_is_off(apache_factory, memcached,
                                             backend, mpm):
    a = site(apache_factory, memcached, mpm, extra="""
ProxyPass /plain/ ${BACKEND}/
""")
    r = requests.get(a.url("/plain/x?header=X-ReqPerf-Tags:t1"
                           "&header=X-ReqPerf-Purge:tag=t1"))
    assert r.status_code == 200
    assert "X-ReqPerf-Tags" not in r.headers
    assert "X-ReqPerf-Purge" not in r.headers
    assert "X-Cache" not in r.headers


@pytest.mark.parametrize("mpm", MPMS)
def test_purge_handler_rejects_bad_input(apache_factory, memcached, backend,
                                         mpm):
    a = site(apache_factory, memcached, mpm)
    requests.get(a.url("/app/keep"))
    assert hit(requests.get(a.url("/app/keep")))
    r = requests.get(a.url("/reqperf-purge"))
    assert r.status_code == 405 and "error" in r.json()
    assert r.headers["Allow"] == "POST"
    bad_bodies = [
        "",
        "url=",
        "what=/app/keep",
        "url=/app/keep&bogus=1",
        "url=%zz",
        "url=relative/path",
        "url=javascript:alert(1)",
        "tag=has%20space",
        "url=%2Fapp%2Fkeep%0d%0aX-Injected:1",
        "url=/../../x",
        "url=/app/keep&url=/../x",
        "tag=" + "t" * 300,
        "&&&",
        "url=%00",
    ]
    for body in bad_bodies:
        r = purge(a, data=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "error" in r.json()
    huge = "url=/app/keep&" + "tag=x&" * 20000
    r = purge(a, data=huge)
    assert r.status_code == 413, r.status_code
    # chunked, no Content-Length: still bounded
    def gen():
        for _ in range(100):
            yield b"tag=abcdefgh&" * 100
    r = purge(a, data=gen())
    assert r.status_code == 413
    # nothing was purged by any of them
    assert hit(requests.get(a.url("/app/keep")))
    assert stats(a)["cache"]["purges"]["url"] == 0


@pytest.mark.parametrize("mpm", MPMS)
def test_purge_seen_by_another_apache(apache_factory, memcached, backend, mpm):
    # a farm: two servers behind one name, sharing memcached (without the
    # local tier here; test_local.py checks its staleness bound)
    extra = "UseCanonicalName On\nReqPerfCacheLocal 0\n"
    one = site(apache_factory, memcached, mpm, extra=extra,
               server_name="shop.example:80")
    two = site(apache_factory, memcached, mpm, extra=extra,
               server_name="shop.example:80")
    # as behind a load balancer: clients name the farm, not the server
    shop = {"Host": "shop.example"}
    r1 = requests.get(one.url("/app/shared/1"), headers=shop)
    r2 = requests.get(two.url("/app/shared/1"), headers=shop)
    assert xc(r1) == "MISS" and hit(r2)
    assert r1.json()["nonce"] == r2.json()["nonce"]
    assert purge(one, data={"url": "/app/shared/1"}).status_code == 200
    r3 = requests.get(two.url("/app/shared/1"), headers=shop)
    assert xc(r3) == "MISS" and r3.json()["nonce"] != r1.json()["nonce"]
    # a client naming another host has an entry of its own
    other = requests.get(two.url("/app/shared/1"))
    assert xc(other) == "MISS" and other.json()["nonce"] != r3.json()["nonce"]
    # and by tag
    t = "/app/shared/2?header=X-ReqPerf-Tags:shared-2"
    requests.get(two.url(t), headers=shop)
    assert hit(requests.get(one.url(t), headers=shop))
    assert purge(two, data={"tag": "shared-2"}).status_code == 200
    assert xc(requests.get(one.url(t), headers=shop)) == "MISS"


@pytest.mark.parametrize("mpm", MPMS)
def test_purge_when_memcached_is_down(apache_factory, memcached, backend,
                                      mpm):
    a = site(apache_factory, memcached, mpm)
    requests.get(a.url("/app/x"))
    memcached.stop()
    r = purge(a, data={"url": "/app/x", "tag": "t"})
    assert r.status_code == 503
    body = r.json()
    assert "error" in body
    assert body.get("purged", {}).get("url", []) == []
    assert body.get("purged", {}).get("tag", []) == []
    assert stats(a)["cache"]["purges"]["failed"] >= 1


@pytest.mark.parametrize("mpm", MPMS)
def test_keys_a_memcached_hit_asks(apache_factory, memcached, backend, mpm):
    """What a hit asks memcached for (ReqPerfCacheLocal 0), counted by a
    proxy in front of it: an untagged page the entry and the URL
    generation (the tag epoch at most once per child, which learns the
    page is untagged); a tagged page the tag epoch and its validated epoch
    as well, on every hit; and a tag purge is still seen by the next hit."""
    from harness import CountingMemcached
    proxy = CountingMemcached(memcached)
    try:
        a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
ReqPerfCacheLocal 0
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{purge}
""".format(mc=proxy.address, purge=PURGE))
        plain = "/app/keys/plain-%s" % mpm
        tagged = "/app/keys/tagged-%s?header=X-ReqPerf-Tags:keys-%s" % (mpm,
                                                                       mpm)
        hits = 40
        for path in (plain, tagged):
            requests.get(a.url(path))
            assert requests.get(a.url(path)).headers["X-Cache"].startswith("HIT")
        s = requests.Session()             # one connection: one child
        for path, epoch_asks in ((plain, (0, 1)), (tagged, (hits, hits))):
            proxy.reset()
            for _ in range(hits):
                r = s.get(a.url(path))
                assert r.headers["X-Cache"].startswith("HIT"), r.headers
            assert proxy.keys_asked("rp:e:") == hits, dict(proxy.keys)
            assert proxy.keys_asked("rp:u:") == hits
            assert epoch_asks[0] <= proxy.keys_asked("rp:g:tags") <= epoch_asks[1]
            assert epoch_asks[0] <= proxy.keys_asked("rp:v:") <= epoch_asks[1]
            assert proxy.keys_asked("rp:t:") == 0   # no tag purged since
        assert backend.hits("/keys/plain-%s" % mpm) == 1
        # the tag purge is seen at once, and the untagged page stays
        r = requests.post(a.url("/reqperf-purge"), data={"tag": "keys-%s" % mpm})
        assert r.status_code == 200, r.text
        assert s.get(a.url(tagged)).headers["X-Cache"].startswith("MISS")
        assert s.get(a.url(plain)).headers["X-Cache"].startswith("HIT")
    finally:
        proxy.stop()


def test_garbage_url_generation_is_replaced(apache_factory, memcached,
                                            backend):
    """A URL generation that is not a number (written into memcached by
    something else) is replaced by a fresh one: the page is stored again
    and can be purged, rather than staying a miss that no purge reaches
    (generations never expire).  Found by an adversarial review."""
    from test_safety import site, xc, hit
    a = site(apache_factory, memcached, "event", "handler",
             server_extra="ReqPerfCacheLocal 0")
    requests.get(a.url("/app/gv"))
    assert hit(requests.get(a.url("/app/gv")))
    # the first purge gives the URL its generation
    assert requests.post(a.url("/reqperf-purge"),
                         data="url=/app/gv").status_code == 200
    requests.get(a.url("/app/gv"))
    assert hit(requests.get(a.url("/app/gv")))
    gens = memcached.keys_like("rp:u:")
    assert gens, memcached.keys()

    def spoil():
        for k in gens:
            memcached.set(k, b"garbage")

    # a lookup meets the garbage: a miss, whose store heals it
    spoil()
    seen = [xc(requests.get(a.url("/app/gv"))) for _ in range(4)]
    assert not seen[0].startswith("HIT"), seen
    assert all(s.startswith("HIT") for s in seen[2:]), seen
    # a purge meets it: the purge is made, and the page cached again
    spoil()
    p = requests.post(a.url("/reqperf-purge"), data="url=/app/gv")
    assert p.status_code == 200, (p.status_code, p.text)
    seen = [xc(requests.get(a.url("/app/gv"))) for _ in range(4)]
    assert seen[0].startswith("MISS"), seen
    assert all(s.startswith("HIT") for s in seen[2:]), seen


@pytest.mark.parametrize("mpm", MPMS)
def test_purges_of_other_tags_during_a_fetch(apache_factory, memcached,
                                             backend, mpm):
    """Every tag purge moves the one tag epoch on; a store in flight used to
    be refused for any of them, so a site that purges some tag every
    moment stored no tagged page at all (and left no pass marker).  Now the
    purges name their tags (a ring in memcached): purges of other tags
    while the backend renders do not keep the page out, a purge of one of
    its own tags does."""
    a = site(apache_factory, memcached, mpm)

    def fetch_while(path, tags):
        hold = uuid.uuid4().hex
        url = a.url("%s?hold=%s&header=X-ReqPerf-Tags:mine%%20also-mine"
                    % (path, hold))
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            first = ex.submit(requests.get, url, timeout=60)
            until("the fill at the backend", lambda: backend.held(hold) == 1)
            for t in tags:
                assert purge(a, data={"tag": t}).status_code == 200
            backend.release(hold)
            assert xc(first.result()) == "MISS"
        return url, requests.get(url)

    # other tags purged meanwhile: stored
    others = ["other-%d" % i for i in range(8)]
    url_a, r = fetch_while("/app/ring-a", others)
    assert hit(r)
    assert backend.hits("/ring-a") == 1
    # one of its own among them: not stored, asked again
    url_b, r = fetch_while("/app/ring-b",
                           others[:4] + ["also-mine"] + others[4:])
    assert xc(r) == "MISS"
    assert backend.hits("/ring-b") == 2
    # and the stored one still answers to its own tag
    assert purge(a, data={"tag": "mine"}).status_code == 200
    assert xc(requests.get(url_a)) == "MISS"
    assert backend.hits("/ring-a") == 2
    assert stats(a)["cache"]["purges"]["tag"] == 8 + 9 + 1


@pytest.mark.parametrize("mpm", MPMS)
@pytest.mark.parametrize("local", ["0", "1M"])
def test_purge_memcached_missed_is_made_when_it_answers(apache_factory,
                                                        memcached, backend,
                                                        mpm, local):
    """A purge made while memcached does not answer (stopped, or slower
    than ReqPerfCacheTimeout) moved no generation: when the same memcached
    answered again, with its data, the purged pages were served until they
    expired.  Now such a purge is queued in shared memory and made by the
    first request that reaches memcached again, before its own lookup."""
    import time
    a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 300ms
ReqPerfCacheLocal {local}
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{purge}
""".format(mc=memcached.address, local=local, purge=PURGE))
    pages = ["/app/plain", "/app/tagged?header=X-ReqPerf-Tags:inv-1",
             "/app/named"]
    for p in pages:
        assert xc(requests.get(a.url(p))) == "MISS"
        assert hit(requests.get(a.url(p)))
    memcached.pause()
    try:
        r = purge(a, data={"url": "/app/plain", "tag": "inv-1"})
        assert r.status_code == 503, r.text
        # the application's own purge header, memcached still away
        r = requests.get(a.url("/app/pay?header=X-ReqPerf-Purge:url=/app/named"))
        assert r.status_code == 200 and xc(r) == "BYPASS down"
    finally:
        memcached.resume()
    # memcached is back with every entry: the breaker lets a request
    # through within seconds, and it makes the purges first
    deadline = time.monotonic() + 15
    bypassed = 0
    while xc(r := requests.get(a.url(pages[0]))) == "BYPASS down":
        assert time.monotonic() < deadline, "memcached never seen again"
        bypassed += 1
        time.sleep(0.2)
    assert xc(r) == "MISS", xc(r)
    for p in pages[1:]:
        assert xc(requests.get(a.url(p))) == "MISS", p
    assert backend.hits("/plain") == 2 + bypassed
    assert backend.hits("/tagged") == 2
    assert backend.hits("/named") == 2
    d = stats(a)["cache"]["purges"]
    assert d["late"] == 3, d
    assert d["failed"] >= 3 and d["dropped"] == 0, d
