"""The twelfth review of the page cache (2026-12-04): directive
combinations, the quick mode, the local tier of a farm, purges, odd
lifetimes.  Each finding below failed on 9d913c6 and passes with its
fix; every other test here is an attack that held there and stays as a
regression test.

Findings (holes):

- a purge missed every spelling of a page that escaped a byte a backend
  reads as itself: "/u/@alice" and "/u/%40alice" (what
  encodeURIComponent sends) are one page to httpd and to the backend
  (mod_proxy sends '@' unescaped either way), "?ids=1,2" and
  "?ids=1%2C2" one to every form decoder, but two resources to the
  generations: the purged page went on being served under the other
  spelling for a whole TTL.  Fix: a resource decodes those escapes
  (sub-delims, ':' '@'; '/' '?' in a query; '&' '=' ';' '+' only in a
  path).  (test_purge_reaches_every_spelling_of_a_sub_delim)
- ReqPerfCacheQuick On walked the <Location>s but not the <If> sections
  in them: with the cache for the office only (<If "! -R '...'">
  ReqPerfCache Off </If>), every other client was answered from the
  cache with the office's page.  Fix: the quick handler runs httpd's
  <If> walk after its <Location> walk.
  (test_cache_off_in_an_if_holds_in_the_quick_mode)
- a purge's URL was read with the ReqPerfCacheIgnoreQuery of the purge
  handler's own virtual host: the handler on the main server (Require
  local) purging "/app/p?id=1&ref=mail", a URL the shop's vhost answers
  from "/app/p?id=1" (it ignores ref), purged a resource no entry was
  stored under and answered 200.  Fix: the URL is read under every
  virtual host's configuration (its own first, 256 at most), and each
  distinct resource is purged.
  (test_purge_from_another_vhost_uses_the_pages_configuration)

Held: a tag purge and a URL purge of a varied page made on another
Apache server sharing memcached are seen within ReqPerfCacheLocalTTL;
memcached restarted empty (generations gone), refilled and purged by
one server never brings the other's old local copy back; odd lifetimes
(negative max-age, s-maxage=0 beside max-age, an Age past max-age or
absurdly large or negative, a max-age of 26 digits, an Expires in 2100,
stale-if-error and ReqPerfCacheGrace far past memcached's 30-day limit)
are stored or not as RFC 9111 says, and never handed to memcached as a
TTL it reads as a date.

Not holes (documented): with ReqPerfCacheQuick On, Require, .htaccess
Require and IP rules do not guard cached pages ("use it only where
every cached page is public"); a purge queued on one server while
memcached was away is made by that server's next request, and until
then another server may serve the page from memcached;
ReqPerfCacheIgnoreCookie and ReqPerfCacheIgnoreQuery globs ('*', '_*')
are the administrator's word that those names do not change the page.
"""
import time

import pytest
import requests

from conftest import MPMS, raw_get, raw_to
from test_safety import body_of, header_of, site, xc

MODES = ["handler", "quick"]
both = pytest.mark.parametrize("mode", MODES)
mpms = pytest.mark.parametrize("mpm", MPMS)


def nonce(a, target):
    r = raw_get(a, target)
    return header_of(r, "X-Cache"), body_of(r)["nonce"], body_of(r)["raw_path"]


@mpms
@both
def test_purge_reaches_every_spelling_of_a_sub_delim(apache_factory, memcached,
                                                     backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode)
    spellings = ["/app/u/@alice", "/app/u/%40alice",
                 "/app/s?ids=1,2", "/app/s?ids=1%2C2",
                 "/app/t/a:b", "/app/t/a%3Ab"]
    first = {}
    for s in spellings:
        c, n, raw = nonce(a, s)
        first[s] = n
    for s in spellings:
        c, n, raw = nonce(a, s)
        assert c.startswith("HIT"), (s, c)
    for url in ("/app/u/@alice", "/app/s?ids=1,2", "/app/t/a:b"):
        p = requests.post(a.url("/reqperf-purge"), data={"url": url})
        assert p.status_code == 200, p.text
    left = []
    for s in spellings:
        c, n, raw = nonce(a, s)
        if n == first[s]:
            left.append((s, c))
    assert not left, left


# ------------------------------------------------- quick mode and <If>

@mpms
@both
def test_cache_off_in_an_if_holds_in_the_quick_mode(apache_factory, memcached,
                                                    backend, mpm, mode):
    # the cache is for the office only (127.0.0.1): everyone else gets
    # the page the backend makes for them.  The backend sees who asks in
    # X-Forwarded-For (mod_proxy adds it)
    a = site(apache_factory, memcached, mpm, mode, location_extra="""
    <If "! -R '127.0.0.1/32'">
        ReqPerfCache Off
    </If>""")
    office = raw_get(a, "/app/office")
    assert body_of(office)["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert header_of(raw_get(a, "/app/office"), "X-Cache").startswith("HIT")
    for _ in range(2):
        r = raw_to(a.port, ("GET /app/office HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                            "Connection: close\r\n\r\n" % a.port).encode(),
                   source="127.0.0.2")
        assert header_of(r, "X-Cache") is None, r[:400]
        assert body_of(r)["headers"]["X-Forwarded-For"] == "127.0.0.2", r[:400]


# ------------------------------------------------- two servers, one memcached

def farm(apache_factory, memcached, mpm):
    import test_local
    extra = "UseCanonicalName On\nReqPerfCacheTimeout 300ms\n"
    return [test_local.site(apache_factory, memcached, mpm, ttl="1s",
                            extra=extra, server_name="shop.example:80")
            for _ in range(2)]


SHOP = {"Host": "shop.example"}


def served_after(two, page, old, headers, settle=1.6, tries=6):
    """What `two` serves for page once its local copies are older than
    ReqPerfCacheLocalTTL (1 s) and a revalidation has had its moment."""
    time.sleep(settle)
    seen = []
    for _ in range(tries):
        r = requests.get(two.url(page), headers=headers)
        seen.append((xc(r), r.json()["nonce"] == old))
        time.sleep(0.05)
    return seen


@pytest.mark.parametrize("mpm", ["event"])
def test_farm_purges_of_tags_variants_and_a_flushed_memcached(
        apache_factory, memcached, backend, mpm):
    one, two = farm(apache_factory, memcached, mpm)
    tagged = "/app/ft?header=X-ReqPerf-Tags:farm-7"
    varied = "/app/fv?header=Vary:X-Lang"
    de = dict(SHOP, **{"X-Lang": "de"})
    old_t = requests.get(two.url(tagged), headers=SHOP).json()["nonce"]
    old_v = requests.get(two.url(varied), headers=de).json()["nonce"]
    assert xc(requests.get(two.url(tagged), headers=SHOP)) == "HIT local"
    assert xc(requests.get(two.url(varied), headers=de)) == "HIT local"
    # a tag purge and a URL purge of a variant on the other server
    assert requests.post(one.url("/reqperf-purge"),
                         data={"tag": "farm-7", "url": varied}).status_code == 200
    for page, old, h in ((tagged, old_t, SHOP), (varied, old_v, de)):
        seen = served_after(two, page, old, h)
        assert not any(o for _, o in seen), (page, seen)
    # memcached restarted empty (its generations gone with it) while the
    # second server holds local copies: none comes back to life
    page = "/app/ff"
    old = requests.get(two.url(page), headers=SHOP).json()["nonce"]
    assert xc(requests.get(two.url(page), headers=SHOP)) == "HIT local"
    memcached.start_again()
    # the first server fills it again, then purges it
    first = requests.get(one.url(page), headers=SHOP)
    assert requests.post(one.url("/reqperf-purge"),
                         data={"url": page}).status_code == 200
    seen = served_after(two, page, old, SHOP)
    assert not any(o for _, o in seen), seen
    assert requests.get(two.url(page), headers=SHOP).json()["nonce"] \
        != first.json()["nonce"]


# ------------------------------------------------- time

@mpms
def test_odd_lifetimes(apache_factory, memcached, backend, mpm):
    # without the local tier: a hit is memcached's, so a TTL it read as
    # a date (anything past 30 days is one, in 1970) would show as a miss
    a = site(apache_factory, memcached, mpm, "handler",
             server_extra="ReqPerfCacheLocal 0",
             location_extra="ReqPerfCacheGrace 5000000\n"
                            "ReqPerfCacheStaleIfError 99999999")
    cases = {
        # (query, stored?)
        "cc=max-age=-1": False,
        "cc=s-maxage=0,max-age=600": False,
        "cc=max-age=600&header=Age:700": False,
        "cc=max-age=99999999999999999999999999": True,
        "header=Expires:Fri, 01 Jan 2100 00:00:00 GMT": True,
        "cc=max-age=60,stale-if-error=99999999999": True,
        "cc=max-age=0,must-revalidate": False,
        "header=Age:-5&cc=max-age=600": True,
        "header=Age:99999999999999999999999": False,
    }
    for i, (q, stored) in enumerate(cases.items()):
        page = "/app/time/%d?%s" % (i, q)
        r1 = requests.get(a.url(page))
        assert r1.status_code == 200, (q, r1.status_code)
        r2 = requests.get(a.url(page))
        if stored:
            assert xc(r2).startswith("HIT"), (q, xc(r2))
            assert r2.json()["nonce"] == r1.json()["nonce"]
        else:
            assert r2.json()["nonce"] != r1.json()["nonce"], (q, xc(r2))
            assert not xc(r2).startswith("STALE"), (q, xc(r2))


# ------------------------------------------------- a purge from another vhost

@mpms
def test_purge_from_another_vhost_uses_the_pages_configuration(
        apache_factory, memcached, backend, mpm):
    # the purge handler lives where the administrator reaches it (the
    # main server, Require local); the shop is a name-based vhost that
    # leaves its campaign parameter out of the key
    a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
<Location /reqperf-purge>
    SetHandler reqperf-purge
</Location>
<VirtualHost *:*>
    ServerName 127.0.0.1
    <Location /reqperf-purge>
        SetHandler reqperf-purge
    </Location>
</VirtualHost>
<VirtualHost *:*>
    ServerName shop.test
    ProxyPass /app/ ${{BACKEND}}/
    <Location /app/>
        ReqPerfCache On
        ReqPerfCacheIgnoreQuery ref
    </Location>
</VirtualHost>
""".format(mc=memcached.address))
    shop = {"Host": "shop.test"}
    page = "/app/p?id=1"
    old = requests.get(a.url(page), headers=shop).json()["nonce"]
    r = requests.get(a.url(page + "&ref=mail"), headers=shop)
    assert xc(r).startswith("HIT") and r.json()["nonce"] == old, xc(r)
    # the URL as the access log shows it, purged where the purges are made
    p = requests.post(a.url("/reqperf-purge"), data={"url": page + "&ref=mail"})
    assert p.status_code == 200, p.text
    r = requests.get(a.url(page), headers=shop)
    assert r.json()["nonce"] != old, (xc(r), p.text)
