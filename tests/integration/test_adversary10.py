"""The tenth review of the page cache (2026-12-04): unusual backends and
configurations, odd responses, purges.  Each finding below failed on
e25c849 and passes with its fix; every other test here is an attack that
held there and stays as a regression test.

Findings (holes):

- an encoded answer without Vary (nginx's "gzip on" with gzip_vary off,
  its default): the first visitor's Accept-Encoding chose the body every
  visitor got; a client that cannot decode gzip got gzip bytes (one
  client poisons what others get).  Fix: a Content-Encoding other than
  identity varies on Accept-Encoding, named or not.
  (test_encoded_answer_without_vary_never_reaches_other_encodings)
- "Header unset Vary" (mod_headers' output filter runs before
  REQPERF_CACHE): the key lost what the backend varied on, and the
  first visitor's X-Lang page went to everyone.  Fix: REQPERF_VARY, a
  filter just before mod_headers', keeps the handler's own Vary.
  (test_vary_the_configuration_removes_still_keys)
- a purge did not reach "q=red+shoes" when it named "q=red%20shoes" (or
  "q=red shoes"): one page to every form decoder, two resources to the
  generations; the purged page went on being served under the other
  spelling.  Fix: a resource writes %20 as '+'.
  (test_purge_reaches_every_spelling_of_a_query)
- one item of a backend's X-ReqPerf-Purge that cannot be made (a URL
  with a fragment) dropped every other purge of the header: their pages
  were served for a whole TTL.  Fix: the header is made item by item.
  (test_one_bad_item_in_a_backend_purge_drops_none_of_the_others)

Held: 206 or Content-Range to a plain GET, 304 and 204 to a plain GET,
private="Set-Cookie" and no-cache="Set-Cookie", an Expires in the past,
max-age then no-store on two lines, Vary odd spellings (empty elements,
case, a second line, "*" late, quoted, COOKIE), a HEAD miss before a GET,
repeated parameters in either order, HTTP/2 cookie crumbs, Max-Forwards
0, a Set-Cookie trailer (h1 and h2), a Set-Cookie from "Header always
set", Content-Length 0 / chunked GETs and lower-case methods, odd purge
bodies (long, NUL, CRLF, bad escapes, fragments, 101 items, empty, a
chunked 70 KB body).
"""
import gzip
import json

import pytest
import requests

from conftest import MPMS, raw, raw_get
from test_adversary import answer, never_stored, raw_site, rawbackend  # noqa: F401 (a fixture)
from test_safety import body_of, header_of, hit, site, xc

MODES = ["handler", "quick"]
both = pytest.mark.parametrize("mode", MODES)
mpms = pytest.mark.parametrize("mpm", MPMS)


def req_header(head, name):
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


@mpms
@both
def test_encoded_answer_without_vary_never_reaches_other_encodings(
        apache_factory, memcached, rawbackend, mpm, mode):
    # an nginx backend with "gzip on" and gzip_vary off (its default):
    # gzip for whoever asks for it, and no Vary
    page = b"<html>" + b"the page " * 50 + b"</html>\n"
    packed = gzip.compress(page)

    def gz(n, send, head):
        ae = req_header(head, "Accept-Encoding") or ""
        if "gzip" in ae:
            send(answer(b"HTTP/1.1 200 OK\nContent-Type: text/html\n"
                        b"Content-Encoding: gzip\n"
                        b"Content-Length: %d\n" % len(packed), packed))
        else:
            send(answer(b"HTTP/1.1 200 OK\nContent-Type: text/html\n"
                        b"Content-Length: %d\n" % len(page), page))
    rawbackend.answers["/gz"] = gz
    a = raw_site(apache_factory, memcached, rawbackend, mpm, mode)
    r = raw_get(a, "/raw/gz", "Accept-Encoding: gzip\r\n")
    assert header_of(r, "Content-Encoding") == "gzip", r[:300]
    for _ in range(2):
        plain = raw_get(a, "/raw/gz")
        assert header_of(plain, "Content-Encoding") is None, \
            (header_of(plain, "X-Cache"), plain[:300])
        assert plain.split("\r\n\r\n", 1)[1].encode("latin-1") == page
    for _ in range(2):
        r = raw_get(a, "/raw/gz", "Accept-Encoding: gzip\r\n")
        assert header_of(r, "Content-Encoding") == "gzip", r[:300]


@mpms
@both
def test_purge_reaches_every_spelling_of_a_query(apache_factory, memcached,
                                                 backend, mpm, mode):
    # "+" and "%20" are one space to every form decoder (the backend's
    # parse_qs too): a purge must reach the page under both spellings
    a = site(apache_factory, memcached, mpm, mode)
    spellings = ["/app/s?q=red+shoes", "/app/s?q=red%20shoes"]
    first = {}
    for s in spellings:
        first[s] = body_of(raw_get(a, s))["nonce"]
    for s in spellings:
        r = raw_get(a, s)
        assert header_of(r, "X-Cache").startswith("HIT"), (s, r[:300])
    p = requests.post(a.url("/reqperf-purge"), data={"url": "/app/s?q=red shoes"})
    assert p.status_code == 200, p.text
    for s in spellings:
        r = raw_get(a, s)
        assert body_of(r)["nonce"] != first[s], (s, header_of(r, "X-Cache"))


@mpms
@both
def test_vary_the_configuration_removes_still_keys(apache_factory, memcached,
                                                   backend, mpm, mode):
    # "Header unset Vary" (an old fix for browsers that would not cache a
    # varying download): the backend's page still varies on X-Lang
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="Header unset Vary")
    page = "/app/unvary?header=Vary:X-Lang"
    fr = requests.get(a.url(page), headers={"X-Lang": "fr"})
    assert fr.json()["headers"].get("X-Lang") == "fr"
    assert "Vary" not in fr.headers
    for _ in range(2):
        en = requests.get(a.url(page))
        assert "X-Lang" not in en.json()["headers"], (xc(en), en.text[:80])


@mpms
def test_one_bad_item_in_a_backend_purge_drops_none_of_the_others(
        apache_factory, memcached, backend, mpm):
    # the application purges what a change touched; one of the URLs it
    # names is not one a purge can match (a fragment): the others must
    # still go, or their pages are served for a whole TTL after
    a = site(apache_factory, memcached, mpm, "handler")
    tagged = "/app/prod?header=X-ReqPerf-Tags:product-7"
    first = requests.get(a.url(tagged))
    assert hit(requests.get(a.url(tagged)))
    listed = requests.get(a.url("/app/list"))
    assert hit(requests.get(a.url("/app/list")))
    r = requests.post(a.url("/app/edit?header=X-ReqPerf-Purge:"
                            "tag=product-7%20url=/app/list%20url=/app/x%23top"))
    assert r.status_code == 200 and "X-ReqPerf-Purge" not in r.headers
    after = requests.get(a.url(tagged))
    assert after.json()["nonce"] != first.json()["nonce"], xc(after)
    after = requests.get(a.url("/app/list"))
    assert after.json()["nonce"] != listed.json()["nonce"], xc(after)


@mpms
def test_answers_that_are_not_the_page_are_never_stored(
        apache_factory, memcached, rawbackend, mpm):
    # a plain GET answered as though it had asked for part of the page,
    # or as though it were conditional, or with the field-name forms of
    # private and no-cache, or already expired
    a = raw_site(apache_factory, memcached, rawbackend, mpm, "handler")
    body = b"one user's page\n"
    cl = b"Content-Length: %d\n" % len(body)
    heads = {
        "/206": b"HTTP/1.1 206 Partial Content\nContent-Range: bytes 0-15/99\n"
                + cl,
        "/cr200": b"HTTP/1.1 200 OK\nContent-Range: bytes 0-15/99\n" + cl,
        "/304": b"HTTP/1.1 304 Not Modified\nETag: \"x\"\n",
        "/204": b"HTTP/1.1 204 No Content\n",
        "/private-field": b"HTTP/1.1 200 OK\n"
                          b"Cache-Control: public, private=\"Set-Cookie\"\n"
                          + cl,
        "/nocache-field": b"HTTP/1.1 200 OK\n"
                          b"Cache-Control: max-age=60, no-cache=\"Set-Cookie\"\n"
                          + cl,
        "/expired": b"HTTP/1.1 200 OK\n"
                    b"Expires: Thu, 01 Jan 2015 00:00:00 GMT\n" + cl,
        "/two-cc": b"HTTP/1.1 200 OK\nCache-Control: max-age=60\n"
                   b"Cache-Control: no-store\n" + cl,
        "/vary-star-late": b"HTTP/1.1 200 OK\nVary: ,,\nVary: Accept, *\n"
                           + cl,
        "/vary-quoted": b"HTTP/1.1 200 OK\nVary: \"X-Lang\"\n" + cl,
        "/vary-cookie": b"HTTP/1.1 200 OK\nVary: X-A,COOKIE\n" + cl,
    }
    for path, h in heads.items():
        has_body = not path.startswith(("/304", "/204"))
        rawbackend.answers[path] = answer(
            b"Content-Type: text/plain\n".join([h.split(b"\n", 1)[0] + b"\n",
                                               h.split(b"\n", 1)[1]]),
            body if has_body else b"")
    never_stored(a, rawbackend, heads)


@mpms
@both
def test_vary_spelled_oddly_still_keys(apache_factory, memcached, backend,
                                       mpm, mode):
    # empty elements, another case, a second line: each names X-Lang
    a = site(apache_factory, memcached, mpm, mode)
    for i, vary in enumerate(("Vary:,,x-lang,", "Vary:&header=Vary:X-LANG",
                              "Vary:Accept,%20X-Lang,%20x-lang")):
        page = "/app/ov%d?header=%s" % (i, vary)
        fr = requests.get(a.url(page), headers={"X-Lang": "fr"})
        assert fr.json()["headers"].get("X-Lang") == "fr"
        for _ in range(2):
            en = requests.get(a.url(page))
            assert "X-Lang" not in en.json()["headers"], (vary, xc(en))
        fr2 = requests.get(a.url(page), headers={"X-Lang": "fr"})
        assert hit(fr2) and fr2.json()["nonce"] == fr.json()["nonce"], vary


@mpms
@both
def test_head_miss_never_leaves_an_empty_page(apache_factory, memcached,
                                              backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode)
    h = requests.head(a.url("/app/headfirst"))
    assert h.status_code == 200 and xc(h).startswith("MISS")
    for _ in range(2):
        g = requests.get(a.url("/app/headfirst"))
        assert g.json()["path"] == "/headfirst", (xc(g), g.content[:80])
    h = requests.head(a.url("/app/headfirst"))
    assert hit(h) and h.content == b""


@mpms
@both
def test_repeated_parameter_order_keeps_its_meaning(apache_factory, memcached,
                                                    backend, mpm, mode):
    # "a=1&a=2" is a list to most frameworks and "the first a" to others:
    # it is never the page of "a=2&a=1"
    a = site(apache_factory, memcached, mpm, mode)
    one = requests.get(a.url("/app/rep?a=1&a=2"))
    other = requests.get(a.url("/app/rep?a=2&a=1"))
    assert other.json()["query"] == "a=2&a=1", (xc(other), other.text[:80])
    assert hit(requests.get(a.url("/app/rep?a=1&a=2")))
    assert one.json()["nonce"] != other.json()["nonce"]


@mpms
def test_h2_cookie_crumbs_are_one_cookie_header(apache_factory, memcached,
                                                backend, mpm):
    # HTTP/2 may split Cookie into one field per cookie (RFC 9113 8.2.3):
    # an ignored first crumb never hides a personal second one
    from test_adversary import h2c_request
    a = site(apache_factory, memcached, mpm, "handler", modules=["http2"],
             server_extra="Protocols h2c http/1.1\n",
             location_extra="ReqPerfCacheIgnoreCookie _ga")
    anon = requests.get(a.url("/app/crumbs"))
    assert xc(anon) == "MISS"
    for crumbs in ((("cookie", "_ga=1"), ("cookie", "session=alice")),
                   (("cookie", "session=alice"), ("cookie", "_ga=1"))):
        status, h, data = h2c_request(a.port, "/app/crumbs",
                                      headers=list(crumbs))
        assert status == 200 and h.get("x-cache") == "BYPASS cookie", \
            (crumbs, h)
        assert "session" in json.loads(data)["cookies"]
    status, h, data = h2c_request(a.port, "/app/crumbs",
                                  headers=[("cookie", "_ga=1"),
                                           ("cookie", "_ga=2")])
    assert h.get("x-cache", "").startswith(("HIT", "BYPASS")), h


@mpms
def test_client_made_proxy_error_leaves_no_pass_marker(apache_factory,
                                                       memcached, backend,
                                                       mpm):
    # "Max-Forwards: 0" makes mod_proxy answer 502 itself: an answer to
    # that client's request, never a reason to stop queueing others'
    a = site(apache_factory, memcached, mpm, "handler")
    r = raw_get(a, "/app/mf", "Max-Forwards: 0\r\n")
    assert r.startswith(("HTTP/1.1 400", "HTTP/1.1 502")), r[:200]
    nxt = requests.get(a.url("/app/mf"))
    assert xc(nxt) == "MISS", xc(nxt)
    assert hit(requests.get(a.url("/app/mf")))


@mpms
def test_set_cookie_in_a_trailer_is_never_replayed(apache_factory, memcached,
                                                   rawbackend, mpm):
    # a chunked answer whose Set-Cookie comes after the body, as a
    # trailer field: whatever Apache makes of it, no other visitor gets it
    body = b"page of whoever asked\n"
    rawbackend.answers["/trailer"] = answer(
        b"HTTP/1.1 200 OK\nContent-Type: text/plain\n"
        b"Transfer-Encoding: chunked\nTrailer: Set-Cookie\n",
        b"%x\r\n%s\r\n0\r\nSet-Cookie: sid=s3cr3t\r\n\r\n" % (len(body), body))
    from test_adversary import h2c_request
    a = site(apache_factory, memcached, mpm, "handler", modules=["http2"],
             server_extra="Protocols h2c http/1.1\n", extra="""
ProxyPass /raw/ http://127.0.0.1:%d/ disablereuse=On
<Location /raw/>
    ReqPerfCache On
</Location>
""" % rawbackend.port)
    for _ in range(3):
        r = raw_get(a, "/raw/trailer")
        if (header_of(r, "X-Cache") or "").startswith("HIT"):
            assert "s3cr3t" not in r, r
        status, h, data = h2c_request(a.port, "/raw/trailer")
        assert status == 200
        if h.get("x-cache", "").startswith("HIT"):
            assert "s3cr3t" not in json.dumps(h), h


@mpms
@both
def test_cookie_the_configuration_adds_keeps_the_answer_out(
        apache_factory, memcached, backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode, extra="""
<Location /app/visit>
    Header always set Set-Cookie "visit=%{UNIQUE_ID}e; Path=/"
</Location>
""", modules=["unique_id"])
    for _ in range(2):
        r = requests.get(a.url("/app/visit"))
        assert not hit(r) and "visit=" in r.headers.get("Set-Cookie", "")
    assert backend.hits("/visit") == 2


@mpms
@both
def test_request_framing_oddities(apache_factory, memcached, backend, mpm,
                                  mode):
    a = site(apache_factory, memcached, mpm, mode)
    # a GET saying its body is empty is a plain GET
    r = raw_get(a, "/app/frame", "Content-Length: 0\r\n")
    assert header_of(r, "X-Cache") == "MISS", r[:300]
    assert header_of(raw_get(a, "/app/frame"), "X-Cache").startswith("HIT")
    # a method spelled in lower case is another method to the backend
    r = raw(a, ("get /app/frame HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Connection: close\r\n\r\n" % a.port).encode())
    assert not (header_of(r, "X-Cache") or "").startswith("HIT"), r[:300]
    # a chunked GET carries a body the key cannot hold
    r = raw(a, ("GET /app/frame HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                "3\r\nabc\r\n0\r\n\r\n" % a.port).encode())
    assert header_of(r, "X-Cache") == "BYPASS body", r[:300]


@mpms
def test_odd_purge_bodies_answer_and_crash_nothing(apache_factory, memcached,
                                                   backend, mpm):
    a = site(apache_factory, memcached, mpm, "handler")
    page = requests.get(a.url("/app/kept"))
    cases = [
        (b"tag=" + b"x" * 200, 400),
        (b"tag=a%00b", 400),
        (b"tag=a%0d%0aflush_all", 400),
        (b"url=%", 400),
        (b"url=%2Fapp%2Fkept%23frag", 400),
        (b"&".join(b"tag=t%d" % i for i in range(101)), 400),
        (b"", 400),
    ]
    for body, want in cases:
        r = requests.post(a.url("/reqperf-purge"), data=body,
                          headers={"Content-Type":
                                   "application/x-www-form-urlencoded"})
        assert r.status_code == want, (body[:40], r.status_code, r.text)
    # a chunked body past the limit, with no Content-Length to refuse early
    big = b"tag=" + b"y" * 70000
    r = raw(a, b"POST /reqperf-purge HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"%x\r\n%s\r\n0\r\n\r\n" % (a.port, len(big), big))
    assert r.startswith("HTTP/1.1 413"), r[:200]
    # none of them purged anything
    again = requests.get(a.url("/app/kept"))
    assert hit(again) and again.json()["nonce"] == page.json()["nonce"]
