"""A second adversarial review's findings, each fixed: the cache must not
replay a response header built from one client's request to another,
must not let a quick-mode lookup store Apache's own early answers, keeps
environment values apart in the key, passes pages memcached refuses, and
stores pages with every tag allowed.  Each test failed on the code the
review ran against (2026-12-02).

- mod_headers builds response headers from request headers without
  naming them in Vary (Header set ... "expr=%{req:Origin}", Header echo):
  the configuration scan keys those headers.
- ap_die's answer (Redirect in an <If>, RewriteRule [R]) drops the Vary
  its condition set; a quick-mode lookup stored it for everyone.
- ProxyErrorOverride sends the failure to an ErrorDocument, where the
  stale-if-error copy must still stand in.
"""
import concurrent.futures
import time

import pytest
import requests

from conftest import MPMS
from test_safety import site, xc, hit, stats

MODES = ["handler", "quick"]
both = pytest.mark.parametrize("mode", MODES)
mpms = pytest.mark.parametrize("mpm", MPMS)


# ------------------------------------------------- mod_headers reads a request header

@mpms
@both
def test_response_header_from_a_request_header_expr(apache_factory, memcached,
                                                    backend, mpm, mode):
    # the usual CORS snippet: mod_headers copies the request's Origin into
    # the response (ap_expr, which names nothing in Vary); the entry
    # stored for one Origin must not answer another
    a = site(apache_factory, memcached, mpm, mode, location_extra="""
    Header always set Access-Control-Allow-Origin "expr=%{req:Origin}"
""")
    page = "/app/cors-expr"
    evil = requests.get(a.url(page), headers={"Origin": "https://evil.example"})
    assert evil.headers.get("Access-Control-Allow-Origin") == \
        "https://evil.example"
    for _ in range(2):
        good = requests.get(a.url(page),
                            headers={"Origin": "https://good.example"})
        assert good.headers.get("Access-Control-Allow-Origin") == \
            "https://good.example", (xc(good), good.headers)


@mpms
@both
def test_response_header_echoed_from_the_request(apache_factory, memcached,
                                                 backend, mpm, mode):
    # "Header echo" copies request headers into the response: what one
    # client sent must never be what the next one is answered with
    a = site(apache_factory, memcached, mpm, mode, location_extra="""
    Header echo ^X-Request-Id$
""")
    page = "/app/echo"
    first = requests.get(a.url(page), headers={"X-Request-Id": "attacker-1"})
    assert first.headers.get("X-Request-Id") == "attacker-1"
    for _ in range(2):
        other = requests.get(a.url(page), headers={"X-Request-Id": "victim-2"})
        assert other.headers.get("X-Request-Id") == "victim-2", \
            (xc(other), other.headers)
        plain = requests.get(a.url(page))
        assert plain.headers.get("X-Request-Id") is None, \
            (xc(plain), plain.headers)


REDIRECT_ON_A_HEADER = {
    # <If> on a request header (httpd names it in Vary)
    "if": ("", """
    <If "%{HTTP:User-Agent} =~ /Mobile/">
        Redirect 301 https://m.example.com/
    </If>
"""),
    # mod_rewrite's ap_expr condition (it names it in Vary too; the
    # configuration scan looks only for %{HTTP...})
    "rewrite-expr": ("""
RewriteEngine On
RewriteCond expr "req('User-Agent') =~ /Mobile/"
RewriteRule ^/app/home$ https://m.example.com/ [R=301,L]
""", ""),
}


@mpms
@pytest.mark.parametrize("how", sorted(REDIRECT_ON_A_HEADER))
def test_redirect_on_a_header_never_answers_others_quick(apache_factory,
                                                         memcached,
                                                         backend, mpm, how):
    # mobile browsers are sent elsewhere (301, storable) by a condition
    # on User-Agent.  httpd names User-Agent in Vary, but ap_die's error
    # response drops headers_out (and that Vary with it); the quick
    # lookup stored the 301 under the page's key, and every desktop
    # visitor is then sent to the mobile site
    server_extra, location_extra = REDIRECT_ON_A_HEADER[how]
    a = site(apache_factory, memcached, mpm, "quick",
             server_extra=server_extra, location_extra=location_extra)
    page = "/app/home"
    mobile = requests.get(a.url(page), headers={"User-Agent": "Mobile Safari"},
                          allow_redirects=False)
    assert mobile.status_code == 301
    for _ in range(2):
        desk = requests.get(a.url(page), headers={"User-Agent": "Desktop"},
                            allow_redirects=False)
        assert desk.status_code == 200, (desk.status_code, xc(desk),
                                         desk.headers.get("Location"))


# ------------------------------------------------- the environment part of the key

@mpms
@both
def test_env_values_holding_the_separator_never_share_a_key(apache_factory,
                                                            memcached,
                                                            backend, mpm,
                                                            mode):
    # SetEnvIf copies two request headers into variables the key holds
    # ("lang=<v>;theme=<v>;"), and RequestHeader passes them on.  A value
    # holding ';' and '=' spells another set of variables: lang="en;
    # theme=dark" (no theme) and lang="en", theme="dark" built one key,
    # and the page made for the first answered the second
    a = site(apache_factory, memcached, mpm, mode, extra="""
SetEnvIf X-Lang "^(.+)$" lang=$1
SetEnvIf X-Theme "^(.+)$" theme=$1
RequestHeader set X-Site-Lang "%{lang}e" env=lang
RequestHeader set X-Site-Theme "%{theme}e" env=theme
""")
    page = "/app/env-key"
    odd = requests.get(a.url(page), headers={"X-Lang": "en;theme=dark"})
    assert odd.json()["headers"].get("X-Site-Lang") == "en;theme=dark"
    assert odd.json()["headers"].get("X-Site-Theme") is None
    for _ in range(2):
        r = requests.get(a.url(page), headers={"X-Lang": "en",
                                               "X-Theme": "dark"})
        seen = r.json()["headers"]
        assert (seen.get("X-Site-Lang"), seen.get("X-Site-Theme")) == \
            ("en", "dark"), (xc(r), seen.get("X-Site-Lang"),
                             seen.get("X-Site-Theme"))


# ------------------------------------------------- the fill lock when memcached refuses an entry

@mpms
def test_page_memcached_refuses_is_not_served_one_at_a_time(apache_factory,
                                                            memcached,
                                                            backend, mpm):
    # a page larger than memcached's item limit (1 MB by default) but
    # within ReqPerfCacheMaxSize: every store is refused ("memcached
    # refused").  Without a pass marker each miss took the fill lock
    # again and the others queued behind it, one backend fetch at a time;
    # with one, they go to the backend side by side (counted, not timed)
    a = site(apache_factory, memcached, mpm, "handler", location_extra="""
    ReqPerfCacheMaxSize 3000000
""")
    page = "/app/big?size=1500000&sleep_ms=600"
    first = requests.get(a.url(page))
    assert len(first.content) == 1500000 and xc(first) == "MISS"

    def one(_):
        r = requests.get(a.url(page), timeout=30)
        return xc(r), len(r.content)

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        got = list(ex.map(one, range(6)))
    assert all(n == 1500000 for _, n in got), got
    assert all(x == "MISS uncacheable" for x, _ in got), got
    assert stats(a)["cache"]["lock_waits"] == 0, got


# ------------------------------------------------- a page with the most tags allowed

@mpms
@pytest.mark.parametrize("n_tags", [63, 64])
def test_page_with_up_to_64_tags_is_stored(apache_factory, memcached,
                                           backend, mpm, n_tags):
    # 64 tags are allowed (the 65th is dropped and keeps the page out), but
    # the store reads the URL generation, the tag epoch and every tag's
    # generation in one multi-get of n + 2 keys, and rp_mc's multi-get
    # refuses more than 64 keys without saying so per key: with 63 or 64
    # tags the URL generation reads as 0, "url purged during fetch", and
    # the page is never stored (nor marked pass: its misses queue on the
    # fill lock)
    a = site(apache_factory, memcached, mpm, "handler")
    tags = "%20".join("t%d" % i for i in range(n_tags))
    page = "/app/many-tags?header=X-ReqPerf-Tags:" + tags
    first = requests.get(a.url(page))
    assert first.status_code == 200
    again = requests.get(a.url(page))
    assert hit(again), (n_tags, xc(first), xc(again),
                        stats(a)["cache"]["store"])


# ------------------------------------------------- stale-if-error behind ProxyErrorOverride

@mpms
def test_stale_copy_stands_in_behind_proxy_error_override(apache_factory,
                                                          memcached,
                                                          backend, mpm):
    # the usual front end shows its own error pages for the backend's
    # failures (ProxyErrorOverride On, ErrorDocument 503 /errors/...).
    # The backend fails, a stale-if-error copy is there, and the visitor
    # gets the error page: mod_proxy hands the 503 to ap_die instead of
    # sending it, and the error document's internal redirect, where the
    # cache is off, passes its own REQPERF_CACHE filter, which serves no
    # fallback there
    a = site(apache_factory, memcached, mpm, "handler", start=False, extra="""
ReqPerfCacheStaleIfError 600
ProxyErrorOverride On
ErrorDocument 503 /errors/503.html
""")
    a.write_file("htdocs/errors/503.html", "sorry\n")
    a.start()
    page = "/app/sie/page?cc=max-age=1"
    first = requests.get(a.url(page))
    assert first.status_code == 200 and xc(first) == "MISS"
    time.sleep(1.5)
    requests.post(backend.url("/__fail?prefix=/sie&status=503"))
    r = requests.get(a.url(page))
    assert r.status_code == 200 and xc(r) == "STALE error", \
        (r.status_code, xc(r), r.text[:40])
    assert r.json()["path"] == "/sie/page"


# ------------------------------------------------- one variant holds up no other

@mpms
@both
def test_made_up_variants_hold_up_no_other(apache_factory, memcached,
                                           backend, mpm, mode):
    """The fill lock was the page's, whatever variant a miss was for: a
    client sending a new Accept-Language each time (each a variant nobody
    stored) held every other variant's fill behind its own, at a slow
    backend for as long as it took.  Now the lock is the variant's once a
    vary index names it."""
    import uuid
    from test_route_page import until
    a = site(apache_factory, memcached, mpm, mode,
             server_extra="ReqPerfCacheLocal 0")
    hold = uuid.uuid4().hex
    page = a.url("/app/variants?header=Vary:Accept-Language&hold=%s" % hold)
    backend.release(hold)
    assert xc(requests.get(page, headers={"Accept-Language": "en"})) == "MISS"
    assert hit(requests.get(page, headers={"Accept-Language": "en"}))
    requests.post(backend.url("/__reset"), timeout=5)     # hold again
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        made_up = ex.submit(requests.get, page, timeout=60,
                            headers={"Accept-Language": "zz-%s" % hold})
        until("the made-up variant at the backend",
              lambda: backend.held(hold) == 1)
        fr = ex.submit(requests.get, page, timeout=60,
                       headers={"Accept-Language": "fr"})
        until("the other variant at the backend",
              lambda: backend.held(hold) == 2)
        backend.release(hold)
        assert xc(made_up.result()) == "MISS"
        assert xc(fr.result()) == "MISS"      # not "MISS wait"
    assert stats(a)["cache"]["lock_waits"] == 0
    assert hit(requests.get(page, headers={"Accept-Language": "fr"}))


@mpms
@both
def test_one_variant_failing_passes_only_it(apache_factory, memcached,
                                            backend, mpm, mode):
    """A variant the application failed on (a made-up Accept-Language it
    chokes on: 503) left its pass marker under the page's key, over the
    vary index: every variant was then a miss, with no fill lock, all of
    them at the backend at once, for as long as a client kept it up.  Now
    the marker is the variant's own."""
    a = site(apache_factory, memcached, mpm, mode)
    page = a.url("/app/vfail?header=Vary:Accept-Language")
    en = {"Accept-Language": "en"}
    assert xc(requests.get(page, headers=en)) == "MISS"
    assert hit(requests.get(page, headers=en))
    backend.fail("/vfail", 503)
    bad = {"Accept-Language": "zz-bad"}
    assert requests.get(page, headers=bad).status_code == 503
    backend.fail("/vfail", 0)
    for _ in range(3):
        assert hit(requests.get(page, headers=en))
    assert backend.hits("/vfail") == 2
    # the failed variant itself is a pass, then stored once it answers
    assert xc(requests.get(page, headers=bad)) == "MISS uncacheable"
    assert hit(requests.get(page, headers=bad))
