"""Whose page it is: the cache never serves one user's page to another and
no request poisons what others get, in both lookup modes (after access
control, and ReqPerfCacheQuick On) under prefork and event.

Each test is one way an attacker or an unusual configuration turned the
cache against its users before (see the safety model in
mod_reqperf_cache_key.c), against a real Apache, memcached and a backend
that behaves like real applications: it echoes the user a front end passes
on, builds links from the Host it was given, reads cookies as Python's
SimpleCookie does and sees the raw path.
"""
import json
import socket
import subprocess
import time

import pytest
import requests

from conftest import MPMS, raw, raw_get

MODES = ["handler", "quick"]

STATUS = """
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
<Location /reqperf-purge>
    SetHandler reqperf-purge
</Location>
"""


def site(apache_factory, memcached, mpm, mode, extra="", location_extra="",
         server_extra="", **kw):
    quick = "ReqPerfCacheQuick On" if mode == "quick" else ""
    return apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
{quick}
{server_extra}
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
    {location_extra}
</Location>
{status}
{extra}
""".format(mc=memcached.address, quick=quick, server_extra=server_extra,
           location_extra=location_extra, status=STATUS, extra=extra), **kw)


def xc(r):
    return r.headers.get("X-Cache", "")


def hit(r):
    return xc(r).startswith("HIT")


def stats(a):
    return requests.get(a.url("/reqperf-status?format=json")).json()


def header_of(text, name):
    for line in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def body_of(text):
    return json.loads(text.split("\r\n\r\n", 1)[1])


both = pytest.mark.parametrize("mode", MODES)
mpms = pytest.mark.parametrize("mpm", MPMS)


# ------------------------------------------------- 1. authenticated users

@mpms
@both
def test_authenticated_page_never_reaches_another_user(apache_factory,
                                                        memcached, backend,
                                                        mpm, mode):
    # the usual proxy front end: Apache authenticates, then passes the user
    # on in a header and drops Authorization; the lookup must still see a
    # personal request (the client sent Authorization; r->user is set)
    a = site(apache_factory, memcached, mpm, mode, start=False, extra="""
<Location /app/private/>
    AuthType Basic
    AuthName "billing"
    AuthUserFile {root}/htpasswd
    Require valid-user
    RequestHeader unset Authorization
    RequestHeader set X-Remote-User "expr=%{REMOTE_USER}"
</Location>
""")
    a.conf_body = a.conf_body.replace("{root}", a.root)
    htpasswd = a.path("htpasswd")
    for i, user in enumerate(("alice", "bob")):
        subprocess.run(["htpasswd", "-b" + ("c" if i == 0 else ""), "-B",
                        htpasswd, user, "pw-" + user], check=True,
                       capture_output=True)
    subprocess.run(["chmod", "644", htpasswd], check=True)
    a.start()
    for _ in range(2):
        alice = requests.get(a.url("/app/private/account"),
                             auth=("alice", "pw-alice"))
        assert alice.status_code == 200 and alice.json()["user"] == "alice"
        assert alice.json()["authorization"] is None
        assert xc(alice) == "BYPASS auth"
        bob = requests.get(a.url("/app/private/account"), auth=("bob", "pw-bob"))
        assert bob.json()["user"] == "bob", bob.text
        assert xc(bob) == "BYPASS auth"
    assert backend.hits("/private/account") == 4
    assert requests.get(a.url("/app/private/account")).status_code == 401
    assert stats(a)["cache"]["store"] == 0


@mpms
@both
def test_user_set_without_a_header_is_personal(apache_factory, memcached,
                                               backend, mpm, mode):
    # a module that authenticates from something the key cannot see (a
    # client certificate, a single-sign-on module; here mod_lua sets
    # r->user): the request is personal and nothing is stored, in either
    # lookup mode (the quick handler looks before the user is known)
    a = site(apache_factory, memcached, mpm, mode, start=False, extra="""
<Location /app/sso/>
    LuaHookFixups {root}/sso.lua sso
    RequestHeader set X-Remote-User "expr=%{REMOTE_USER}"
</Location>
""", modules=["lua"])
    a.conf_body = a.conf_body.replace("{root}", a.root)
    a.write_file("sso.lua", "function sso(r)\n  r.user = 'carol'\n"
                 "  return apache2.DECLINED\nend\n")
    a.start()
    for _ in range(3):
        r = requests.get(a.url("/app/sso/home"))
        assert r.json()["user"] == "carol"
        assert not hit(r)
        assert xc(r) == ("BYPASS auth" if mode == "handler" else "MISS")
    assert backend.hits("/sso/home") == 3
    assert stats(a)["cache"]["store"] == 0


# ------------------------------------------------- 2. ErrorDocument

@mpms
@both
def test_error_document_is_not_stored_under_its_own_url(apache_factory,
                                                         memcached, backend,
                                                         mpm, mode):
    a = site(apache_factory, memcached, mpm, mode, extra="""
ErrorDocument 404 /index.html
<Location /index.html>
    ReqPerfCache On
</Location>
""")
    missing = raw_get(a, "/x%2Fy")
    assert missing.startswith("HTTP/1.1 404"), missing[:200]
    assert "index" in missing
    for _ in range(2):
        home = requests.get(a.url("/index.html"))
        assert home.status_code == 200, (home.status_code, xc(home))
    assert hit(requests.get(a.url("/index.html")))


@mpms
def test_error_document_never_answers_with_the_denied_page(apache_factory,
                                                           memcached,
                                                           backend, mpm):
    # a 403 runs the ErrorDocument as an internal redirect; looking it up
    # under the denied request's key would serve the page it denied
    a = site(apache_factory, memcached, mpm, "handler", extra="""
SetEnvIf X-Allow "^yes$" allowed
ErrorDocument 403 /app/denied
<Location /app/guarded/>
    Require env allowed
</Location>
""")
    ok = requests.get(a.url("/app/guarded/report"), headers={"X-Allow": "yes"})
    assert ok.status_code == 200 and xc(ok) == "MISS"
    assert hit(requests.get(a.url("/app/guarded/report"),
                            headers={"X-Allow": "yes"}))
    for _ in range(2):
        denied = requests.get(a.url("/app/guarded/report"))
        # (a proxied ErrorDocument answers with the backend's status)
        assert denied.json()["path"] == "/denied", denied.text
        assert not hit(denied)
    assert backend.hits("/guarded/report") == 1
    assert backend.hits("/denied") == 2


# ------------------------------------------------- 3. host and port

@mpms
@both
def test_host_is_what_the_backend_sees(apache_factory, memcached, backend,
                                       mpm, mode):
    # the backend builds links from the Host it is given (X-Forwarded-Host)
    a = site(apache_factory, memcached, mpm, mode, server_extra="""
<VirtualHost *>
    ServerName www.example.test
    ServerAlias *.example.test
    UseCanonicalName On
</VirtualHost>
""")
    def link(text):
        return body_of(text)["link"]

    for host in ("evil.example.test", "127.0.0.1:1",
                 "www.example.test:%d" % a.port):
        r = raw_get(a, "/app/home", host=host)
        assert header_of(r, "X-Cache") == "MISS", (host, r[:300])
    # the spellings Apache normalises are never keyed with the real name
    for host in ("WWW.Example.TEST", "www.example.test.", "www.example.test:80",
                 "www.example.test:0%d" % a.port):
        r = raw_get(a, "/app/home", host=host)
        assert header_of(r, "X-Cache") == "BYPASS host", (host, r[:300])
        assert header_of(r, "X-Cache") != "HIT"
    victim = raw_get(a, "/app/home", host="www.example.test")
    assert header_of(victim, "X-Cache") == "MISS"
    assert link(victim) == "http://www.example.test/next"
    victim = raw_get(a, "/app/home", host="www.example.test")
    assert header_of(victim, "X-Cache").startswith("HIT")
    assert link(victim) == "http://www.example.test/next"
    # each host's entry holds its own links
    assert link(raw_get(a, "/app/home", host="evil.example.test")) \
        == "http://evil.example.test/next"
    assert link(raw_get(a, "/app/home", host="127.0.0.1:1")) \
        == "http://127.0.0.1:1/next"
    assert stats(a)["cache"]["bypass_host"] == 4


# ------------------------------------------------- 4. inputs beside the key

@mpms
@both
def test_request_body_on_get_bypasses(apache_factory, memcached, backend,
                                      mpm, mode):
    a = site(apache_factory, memcached, mpm, mode)
    fat = raw(a, b"GET /app/fat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Length: 8\r\nConnection: close\r\n\r\nid=evil1")
    assert header_of(fat, "X-Cache") == "BYPASS body", fat[:300]
    assert body_of(fat)["body"] == "id=evil1"
    chunked = raw(a, b"GET /app/fat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"8\r\nid=evil2\r\n0\r\n\r\n")
    assert header_of(chunked, "X-Cache") == "BYPASS body", chunked[:300]
    clean = requests.get(a.url("/app/fat"), headers={"Host": "127.0.0.1"})
    assert xc(clean) == "MISS" and clean.json()["body"] == ""
    again = requests.get(a.url("/app/fat"), headers={"Host": "127.0.0.1"})
    assert hit(again) and again.json()["body"] == ""


@mpms
@both
def test_headers_the_key_cannot_hold_bypass(apache_factory, memcached,
                                            backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode)
    page = "/app/lang?header=Vary:X-Lang"
    # mod_proxy drops the headers Connection names; the key would keep them
    r = raw_get(a, page, "X-Lang: fr\r\nConnection: X-Lang\r\n")
    assert header_of(r, "X-Cache") == "BYPASS unkeyed-header", r[:300]
    # '_' spellings reach CGI and WSGI as HTTP_X_LANG
    r = raw_get(a, page, "X_Lang: fr\r\n")
    assert header_of(r, "X-Cache") == "BYPASS unkeyed-header", r[:300]
    # the usual override headers
    for h in ("X-Forwarded-Scheme: https", "X-Forwarded-Ssl: on",
              "X-Forwarded-Port: 443", "X-Forwarded-Prefix: /evil",
              "X-Host: evil.example", "X-HTTP-Method-Override: DELETE",
              "X-Original-URL: /admin"):
        r = raw_get(a, page, h + "\r\n")
        assert header_of(r, "X-Cache") == "BYPASS unkeyed-header", (h, r[:300])
    # a French visitor gets the French page, an English one the English one
    fr = requests.get(a.url(page), headers={"X-Lang": "fr"})
    assert xc(fr) == "MISS" and fr.json()["headers"].get("X-Lang") == "fr"
    en = requests.get(a.url(page))
    assert xc(en) == "MISS" and "X-Lang" not in en.json()["headers"]
    fr2 = requests.get(a.url(page), headers={"X-Lang": "fr"})
    assert hit(fr2) and fr2.json()["headers"].get("X-Lang") == "fr"
    assert stats(a)["cache"]["bypass_unkeyed_header"] == 9


@mpms
@both
def test_rewrite_on_a_header_keeps_its_vary(apache_factory, memcached,
                                            backend, mpm, mode):
    # RewriteCond on a header picks the backend page; mod_rewrite says so
    # in Vary, which the proxied response replaces: the cache keeps it
    a = site(apache_factory, memcached, mpm, mode, extra="""
RewriteEngine On
RewriteCond %{HTTP:X-Lang} ^fr$
RewriteRule ^/app/rw/(.*)$ ${BACKEND}/fr/$1 [P]
RewriteRule ^/app/rw/(.*)$ ${BACKEND}/en/$1 [P]
""")
    fr = requests.get(a.url("/app/rw/home"), headers={"X-Lang": "fr"})
    assert fr.json()["path"] == "/fr/home"
    en = requests.get(a.url("/app/rw/home"))
    assert en.json()["path"] == "/en/home", (xc(en), en.text)
    fr2 = requests.get(a.url("/app/rw/home"), headers={"X-Lang": "fr"})
    en2 = requests.get(a.url("/app/rw/home"))
    assert fr2.json()["path"] == "/fr/home" and en2.json()["path"] == "/en/home"
    assert hit(fr2) and hit(en2)
    if mode == "quick":
        # the quick handler looks before mod_rewrite has run: it can only
        # follow the Vary of a copy stored earlier (README, ReqPerfCacheQuick)
        return
    # the other order: the page without the header is stored first
    for _ in range(2):
        en = requests.get(a.url("/app/rw/other"))
        assert en.json()["path"] == "/en/other"
        fr = requests.get(a.url("/app/rw/other"), headers={"X-Lang": "fr"})
        assert fr.json()["path"] == "/fr/other", (xc(fr), fr.text)


@mpms
@both
def test_path_as_the_backend_sees_it(apache_factory, memcached, backend, mpm,
                                     mode):
    # with nocanon the backend gets the path as sent: "/x/%2e%2e/page" is
    # another resource to it than "/page", so they never share an entry
    a = site(apache_factory, memcached, mpm, mode, extra="""
ProxyPass /nc/ ${BACKEND}/ nocanon
<Location /nc/>
    ReqPerfCache On
</Location>
""")
    odd = raw_get(a, "/nc/x/%2e%2e/page")
    assert body_of(odd)["raw_path"] == "/x/%2e%2e/page"
    page = requests.get(a.url("/nc/page"))
    assert page.json()["raw_path"] == "/page", (xc(page), page.text)
    assert hit(requests.get(a.url("/nc/page")))
    # one purge still reaches both spellings
    r = requests.post(a.url("/reqperf-purge"), data="url=/nc/page")
    assert r.status_code == 200, r.text
    assert xc(requests.get(a.url("/nc/page"))) == "MISS"
    assert header_of(raw_get(a, "/nc/x/%2e%2e/page"), "X-Cache") == "MISS"


@mpms
@both
def test_server_changed_a_keyed_header(apache_factory, memcached, backend,
                                       mpm, mode):
    # the key holds what the client sent; a header the server rewrote on
    # the way makes the answer something the key does not describe
    a = site(apache_factory, memcached, mpm, mode, extra="""
<Location /app/geo/>
    RequestHeader set X-Lang "expr=%{HTTP:Accept-Language}"
</Location>
""")
    page = "/app/geo/home?header=Vary:X-Lang"
    for lang in ("de", "fr"):
        r = requests.get(a.url(page), headers={"Accept-Language": lang})
        assert r.json()["headers"]["X-Lang"] == lang
    r = requests.get(a.url(page), headers={"Accept-Language": "it"})
    assert r.json()["headers"]["X-Lang"] == "it" and not hit(r)
    assert backend.hits("/geo/home") == 3


# ------------------------------------------------- 5. the fill lock

@mpms
@both
def test_slow_client_never_holds_the_fill_lock(apache_factory, memcached,
                                               backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode,
             extra_global="SendBufferSize 4096\n")
    # a request body that never comes: no lock taken (a body bypasses)
    slow_body = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    # a client that never reads a large page
    stalled = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        slow_body.sendall(b"GET /app/slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Length: 100\r\n\r\nx")
        r = requests.get(a.url("/app/slow-body"), timeout=10)
        assert xc(r) == "MISS"
        big = "/app/big?size=900000"
        stalled.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                         % (big, a.port)).encode())
        # the page is stored although its client reads nothing
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and stats(a)["cache"]["store"] < 2:
            time.sleep(0.05)
        assert stats(a)["cache"]["store"] == 2
        others = [requests.get(a.url(big), timeout=10) for _ in range(3)]
        assert all(hit(o) for o in others), [xc(o) for o in others]
        assert backend.hits("/big") == 1
        assert stats(a)["cache"]["lock_waits"] == 0
    finally:
        slow_body.close()
        stalled.close()


# ------------------------------------------------- 6. purges

@mpms
def test_purges_say_what_they_removed(apache_factory, memcached, backend,
                                      mpm):
    a = site(apache_factory, memcached, mpm, "handler", server_extra="""
<VirtualHost *>
    ServerName 127.0.0.1
    ServerAlias www.alias.test
</VirtualHost>
""")
    def purge(body, **kw):
        return requests.post(a.url("/reqperf-purge"), data=body, **kw)

    pages = ["/app/caf%C3%A9", "/app/q?q=a%26b"]
    for p in pages:
        requests.get(a.url(p))
        assert hit(requests.get(a.url(p))), p
    # as typed, and fully form-encoded (what curl --data-urlencode sends)
    r = purge("url=/app/caf%C3%A9")
    assert r.status_code == 200 and r.json()["purged"]["url"] == ["/app/caf%C3%A9"]
    assert xc(requests.get(a.url(pages[0]))) == "MISS"
    assert hit(requests.get(a.url(pages[0])))
    r = purge({"url": "/app/café"})
    assert r.status_code == 200, r.text
    assert xc(requests.get(a.url(pages[0]))) == "MISS"
    r = purge("url=/app/q?q=a%26b")
    assert r.json()["purged"]["url"] == ["/app/q?q=a%26b"], r.text
    assert xc(requests.get(a.url(pages[1]))) == "MISS"
    # a page stored under one host name, purged from another
    requests.get(a.url("/app/named"), headers={"Host": "www.alias.test"})
    assert hit(requests.get(a.url("/app/named"), headers={"Host": "www.alias.test"}))
    assert purge("url=/app/named").status_code == 200
    assert xc(requests.get(a.url("/app/named"),
                           headers={"Host": "www.alias.test"})) == "MISS"
    # what names no page is an error that says so, and purges nothing
    r = purge("url=/../../x")
    assert r.status_code == 400 and "/../../x" in r.json()["error"]
    r = purge("url=/app/named&url=/../x")
    assert r.status_code == 400
    assert hit(requests.get(a.url("/app/named"), headers={"Host": "www.alias.test"}))


@mpms
def test_every_tag_of_an_entry_purges_it(apache_factory, memcached, backend,
                                         mpm):
    a = site(apache_factory, memcached, mpm, "handler")
    tags = " ".join("t%d" % i for i in range(20))
    page = "/app/tagged?header=X-ReqPerf-Tags:" + tags
    requests.get(a.url(page))
    assert hit(requests.get(a.url(page)))
    r = requests.post(a.url("/reqperf-purge"), data="tag=t17")
    assert r.json()["purged"]["tag"] == ["t17"]
    assert xc(requests.get(a.url(page))) == "MISS"
    # more tags than an entry can hold: not stored (a purge would miss it)
    many = "/app/many?header=X-ReqPerf-Tags:" + " ".join(
        "m%d" % i for i in range(70))
    for _ in range(3):
        r = requests.get(a.url(many))
        assert not hit(r) and "X-ReqPerf-Tags" not in r.headers
    assert stats(a)["cache"]["tags_dropped"] >= 6


# ------------------------------------------------- 7. parsers fail closed

@mpms
@both
def test_parsers_fail_closed(apache_factory, memcached, backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="ReqPerfCacheIgnoreCookie _ga*")
    # private after 64 directives
    cc = ", ".join("x%d" % i for i in range(64)) + ", private"
    for _ in range(2):
        r = requests.get(a.url("/app/cc"), params={"cc": cc})
        assert not hit(r)
    assert backend.hits("/cc") == 2
    # a cookie SimpleCookie splits where a ';'-only parser does not
    r = raw_get(a, "/app/me", "Cookie: _ga=1 session=mallory\r\n")
    assert header_of(r, "X-Cache") == "BYPASS cookie", r[:300]
    assert body_of(r)["cookies"] == ["_ga", "session"]
    anon = requests.get(a.url("/app/me"))
    assert xc(anon) == "MISS" and anon.json()["cookie"] is None
    ga = requests.get(a.url("/app/me"), headers={"Cookie": "_ga=GA1.2.3"})
    assert hit(ga) and ga.json()["nonce"] == anon.json()["nonce"]
    # no-cache with Range never replaces a good entry
    good = requests.get(a.url("/app/ranged"))
    r = requests.get(a.url("/app/ranged"), headers={"Cache-Control": "no-cache",
                                                     "Range": "bytes=0-3"})
    assert xc(r) == "BYPASS range"
    after = requests.get(a.url("/app/ranged"))
    assert hit(after) and after.json()["nonce"] == good.json()["nonce"]


@mpms
@both
def test_control_headers_never_leave_in_early_hints(apache_factory,
                                                    memcached, backend, mpm,
                                                    mode):
    a = site(apache_factory, memcached, mpm, mode)
    target = ("/app/hints?cc=no-store&early=Link:</a.css>; rel=preload"
              "&early=X-ReqPerf-Tags:secret-tag&early=X-ReqPerf-Purge:tag=x"
              "&header=X-ReqPerf-Tags:final-tag").replace(" ", "%20")
    for _ in range(2):
        r = raw_get(a, target)
        assert r.startswith("HTTP/1.1 103"), r[:300]
        heads = r.split("\r\n\r\n{")[0]
        assert "rel=preload" in heads and "HTTP/1.1 200" in heads, heads
        assert "reqperf" not in heads.lower(), heads
        assert "secret-tag" not in heads and "final-tag" not in heads


# ------------------------------------------------- 8. vary from both sides

@mpms
@both
def test_configured_and_response_vary_together(apache_factory, memcached,
                                               backend, mpm, mode):
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="ReqPerfCacheVary X-A")
    page = "/app/both?header=Vary:Accept-Encoding"
    h = {"X-A": "1", "Accept-Encoding": "gzip"}
    first = requests.get(a.url(page), headers=h)
    assert xc(first) == "MISS"
    again = requests.get(a.url(page), headers=h)
    assert hit(again) and again.json()["nonce"] == first.json()["nonce"]
    other = requests.get(a.url(page), headers={"X-A": "2", "Accept-Encoding": "gzip"})
    assert xc(other) == "MISS"
    br = requests.get(a.url(page), headers={"X-A": "1", "Accept-Encoding": "br"})
    assert xc(br) == "MISS"
    assert backend.hits("/both") == 3
