""".htaccess files that pick a page by the request: what they read is in
the key, as it is for the server's own configuration.

Apache reads a directory's .htaccess while it walks the request's
directories and keeps none of its text, so the start-up scan of the
configuration tree cannot see it.  mod_reqperf reads the files Apache
applied (r->htaccess) again when it looks a request up, and keys the
headers mod_rewrite reads there and the variables mod_setenvif sets there.
The quick mode looks up before any .htaccess is read: a response whose
.htaccess reads more than its key holds is not stored.

Each case has the two clients take turns, so a shared key would serve one
the other's page; and each checks that the page is still cached for its
own kind of client.
"""
import pytest
import requests

from test_safety import STATUS

MPMS = ["event", "prefork"]

MOBILE = "Mozilla/5.0 (iPhone) Mobile Safari"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def site(apache_factory, memcached, mpm, htaccess, quick=False,
         extra=""):
    a = apache_factory(mpm=mpm, start=False, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
{quick}
{extra}
<Directory {root}/htdocs/site>
    ReqPerfCache On
    AllowOverride FileInfo
</Directory>
{status}
""".format(mc=memcached.address, quick="ReqPerfCacheQuick On" if quick else "",
           extra=extra, status=STATUS, root="{root}"))
    a.conf_body = a.conf_body.replace("{root}", a.root)
    a.write_file("htdocs/site/.htaccess", htaccess)
    return a


def get(a, path, **headers):
    r = requests.get(a.url(path), headers=headers, timeout=10)
    return r.status_code, r.headers.get("X-Cache", ""), r.text


def take_turns(a, path, first, second, want_first, want_second, rounds=3):
    """first and second are header dicts; the page each must get."""
    seen = []
    for _ in range(rounds):
        for hdrs, want in ((first, want_first), (second, want_second)):
            st, xc, body = get(a, path, **hdrs)
            seen.append((st, xc, body.strip()))
            assert st == 200 and want in body, seen
    return seen


@pytest.mark.parametrize("mpm", MPMS)
def test_htaccess_browsermatch_is_in_the_key(apache_factory, memcached, mpm):
    a = site(apache_factory, memcached, mpm, """
BrowserMatch Mobile mobile
RewriteEngine On
RewriteCond %{ENV:mobile} =1
RewriteRule ^page$ m.html [L]
RewriteRule ^page$ d.html [L]
""")
    a.write_file("htdocs/site/m.html", "MOBILE page\n")
    a.write_file("htdocs/site/d.html", "DESKTOP page\n")
    a.start()
    seen = take_turns(a, "/site/page", {"User-Agent": DESKTOP},
                      {"User-Agent": MOBILE}, "DESKTOP", "MOBILE")
    # both still cached, each for its own kind of browser
    assert seen[-2][1].startswith("HIT") and seen[-1][1].startswith("HIT"), seen


@pytest.mark.parametrize("mpm", MPMS)
def test_htaccess_rewritecond_header_is_in_the_key(apache_factory, memcached,
                                                   mpm):
    # [NV]: mod_rewrite names nothing in Vary; nor does it when the header
    # is absent, so only the key can keep the languages apart
    a = site(apache_factory, memcached, mpm, """
RewriteEngine On
RewriteCond %{HTTP:X-Lang} ^de [NV]
RewriteRule ^page$ de.html [L]
RewriteRule ^page$ en.html [L]
""")
    a.write_file("htdocs/site/de.html", "GERMAN Seite\n")
    a.write_file("htdocs/site/en.html", "ENGLISH page\n")
    a.start()
    seen = take_turns(a, "/site/page", {}, {"X-Lang": "de"}, "ENGLISH",
                      "GERMAN")
    assert seen[-2][1].startswith("HIT") and seen[-1][1].startswith("HIT"), seen


def test_htaccess_setenvif_in_a_container_counts(apache_factory, memcached):
    # inside <IfModule>, on a continued line: counted all the same
    a = site(apache_factory, memcached, "event", """
<IfModule setenvif_module>
    SetEnvIfNoCase X-Beta \\
        ^yes$ beta=1
</IfModule>
RewriteEngine On
RewriteCond %{ENV:beta} =1
RewriteRule ^page$ beta.html [L]
RewriteRule ^page$ stable.html [L]
""")
    a.write_file("htdocs/site/beta.html", "BETA build\n")
    a.write_file("htdocs/site/stable.html", "STABLE build\n")
    a.start()
    take_turns(a, "/site/page", {}, {"X-Beta": "yes"}, "STABLE", "BETA")


def test_quick_mode_does_not_store_what_htaccess_reads(apache_factory,
                                                       memcached):
    # the quick mode looks up before Apache reads any .htaccess: it cannot
    # key what one reads, so such a response is not stored
    a = site(apache_factory, memcached, "event", """
BrowserMatch Mobile mobile
RewriteEngine On
RewriteCond %{ENV:mobile} =1
RewriteRule ^page$ m.html [L]
RewriteRule ^page$ d.html [L]
""", quick=True, extra="""<Location />
    ReqPerfCache On
</Location>""")
    a.write_file("htdocs/site/m.html", "MOBILE page\n")
    a.write_file("htdocs/site/d.html", "DESKTOP page\n")
    a.start()
    seen = take_turns(a, "/site/page", {"User-Agent": DESKTOP},
                      {"User-Agent": MOBILE}, "DESKTOP", "MOBILE")
    assert not any(xc.startswith("HIT") for _, xc, _ in seen), seen
    # while a directory without one is cached in the quick mode as before
    a.write_file("htdocs/other/plain.html", "OTHER page\n")
    st, xc, body = get(a, "/other/plain.html")
    assert st == 200 and "OTHER" in body and xc.startswith("MISS"), (xc, body)
    st, xc, body = get(a, "/other/plain.html")
    assert st == 200 and "OTHER" in body and xc.startswith("HIT"), (xc, body)


def test_htaccess_without_request_reads_keeps_caching(apache_factory,
                                                      memcached):
    # an .htaccess that reads nothing of the request (WordPress's own)
    # changes nothing: one key, hits for everyone
    a = site(apache_factory, memcached, "event", """
RewriteEngine On
RewriteBase /site/
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . index.html [L]
""")
    a.write_file("htdocs/site/index.html", "FRONT controller\n")
    a.start()
    st, xc, body = get(a, "/site/some/post", **{"User-Agent": DESKTOP})
    assert st == 200 and "FRONT" in body and xc.startswith("MISS"), (xc, body)
    st, xc, body = get(a, "/site/some/post", **{"User-Agent": MOBILE,
                                                 "X-Lang": "de"})
    assert st == 200 and "FRONT" in body and xc.startswith("HIT"), (xc, body)


@pytest.mark.parametrize("mpm", MPMS)
def test_variable_set_before_a_redirect_is_in_the_targets_key(
        apache_factory, memcached, mpm):
    # the server's BrowserMatch runs once, for the request as sent; the
    # rewrite's target gets the variable renamed (REDIRECT_mobile), and
    # is looked up under the key of the request as sent
    a = apache_factory(mpm=mpm, start=False, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
BrowserMatch Mobile mobile
<Directory {root}/htdocs/site>
    ReqPerfCache On
    RewriteEngine On
    RewriteCond %{{ENV:mobile}} =1
    RewriteRule ^page$ /m/page.html [L]
    RewriteRule ^page$ /d/page.html [L]
</Directory>
<Directory {root}/htdocs/m>
    ReqPerfCache On
</Directory>
<Directory {root}/htdocs/d>
    ReqPerfCache On
</Directory>
{status}
""".format(mc=memcached.address, status=STATUS, root="{root}"))
    a.conf_body = a.conf_body.replace("{root}", a.root)
    a.write_file("htdocs/site/index.html", "x\n")
    a.write_file("htdocs/m/page.html", "MOBILE page\n")
    a.write_file("htdocs/d/page.html", "DESKTOP page\n")
    a.start()
    seen = take_turns(a, "/site/page", {"User-Agent": DESKTOP},
                      {"User-Agent": MOBILE}, "DESKTOP", "MOBILE")
    assert seen[-2][1].startswith("HIT") and seen[-1][1].startswith("HIT"), seen
