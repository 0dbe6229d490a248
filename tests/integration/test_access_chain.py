"""Access control along a request's chain: a hit must not skip the
Require of the request that made the page.

- A per-directory RewriteRule hands the request to its target by an
  internal redirect (mod_rewrite's redirect-handler): the page is looked
  up in the target's handler phase, after the target's Require, so one
  client allowed there does not open it to the others; and it is still
  cached for the clients who are allowed.
- A part included by mod_include that access control refused (401/403)
  keeps the page from being stored: the first client's refusal is not
  everyone's page.
- A page made by an internal redirect that another handler took after
  the lookup (here mod_actions' Action) is not stored.

Clients differ by their loopback source address (127.0.0.1 and
127.0.0.2; the whole of 127/8 is local on Linux) against `Require ip`.
Found by an adversarial review.
"""
import pytest

from harness import raw_to
from test_safety import STATUS

MPMS = ["event", "prefork"]

# a directory only 127.0.0.2 may read
INTERNAL = """<Directory {root}/htdocs/internal>
    ReqPerfCache On
    Require ip 127.0.0.2
</Directory>
"""


def get_from(a, source_ip, path):
    """GET path over HTTP/1.1 from the source address source_ip:
    (status, X-Cache or "", raw answer)."""
    text = raw_to(a.port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Connection: close\r\n\r\n"
                           % (path, a.port)).encode(), source=source_ip)
    xcache = ""
    for line in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "x-cache":
            xcache = value.strip()
    return int(text.split(" ", 2)[1]), xcache, text


def static_site(apache_factory, memcached, mpm, dirs, modules=()):
    a = apache_factory(mpm=mpm, start=False, modules=list(modules), conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
AddOutputFilter INCLUDES .shtml
{dirs}
{status}
""".format(mc=memcached.address, dirs=dirs, status=STATUS))
    a.conf_body = a.conf_body.replace("{root}", a.root)
    return a


@pytest.mark.parametrize("mpm", MPMS)
def test_rewrite_target_require_guards_its_cached_page(apache_factory,
                                                       memcached, mpm):
    a = static_site(apache_factory, memcached, mpm, """
<Directory {root}/htdocs/site>
    ReqPerfCache On
    RewriteEngine On
    RewriteRule ^report$ /internal/report.html [L]
</Directory>
""" + INTERNAL)
    a.write_file("htdocs/site/index.html", "public\n")
    a.write_file("htdocs/internal/report.html", "INTERNAL salaries\n")
    a.start()
    st, _, text = get_from(a, "127.0.0.1", "/site/report")
    assert st == 403 and "INTERNAL" not in text, text   # Apache's answer
    st, xc, text = get_from(a, "127.0.0.2", "/site/report")
    assert st == 200 and "INTERNAL" in text and xc.startswith("MISS"), text
    # cached for the allowed client...
    st, xc, text = get_from(a, "127.0.0.2", "/site/report")
    assert st == 200 and "INTERNAL" in text and xc.startswith("HIT"), text
    # ...and still refused to the other, whatever the cache holds
    for _ in range(3):
        st, xc, text = get_from(a, "127.0.0.1", "/site/report")
        assert st == 403 and "INTERNAL" not in text, (xc, text)


@pytest.mark.parametrize("mpm", MPMS)
def test_refused_include_keeps_the_page_out(apache_factory, memcached, mpm):
    a = static_site(apache_factory, memcached, mpm, """
<Directory {root}/htdocs/site>
    ReqPerfCache On
</Directory>
""" + INTERNAL)
    a.write_file("htdocs/site/dash.shtml",
                 'public head\n<!--#include virtual="/internal/frag.html" -->\n')
    a.write_file("htdocs/internal/frag.html", "INTERNAL figures\n")
    a.start()
    st, xc, text = get_from(a, "127.0.0.1", "/site/dash.shtml")
    assert st == 200 and "[an error occurred" in text, text
    st, xc, text = get_from(a, "127.0.0.1", "/site/dash.shtml")
    assert not xc.startswith("HIT"), (xc, text)          # not stored
    st, xc, text = get_from(a, "127.0.0.2", "/site/dash.shtml")
    assert "INTERNAL figures" in text and "[an error" not in text, (xc, text)


@pytest.mark.parametrize("mpm", MPMS)
def test_page_from_an_action_redirect_is_not_stored(apache_factory,
                                                    memcached, mpm):
    # mod_actions hands .rpt files to a "script" by an internal redirect
    # taken in the handler phase, after the lookup; the script's own
    # Require must not be skipped by a hit served before it
    a = static_site(apache_factory, memcached, mpm, """
AddHandler report-file .rpt
Action report-file /internal/render.html virtual
<Directory {root}/htdocs/site>
    ReqPerfCache On
</Directory>
<Directory {root}/htdocs/internal>
    ReqPerfCache On
    AcceptPathInfo On
    Require ip 127.0.0.2
</Directory>
""", modules=["actions"])
    a.write_file("htdocs/site/q3.rpt", "source\n")
    a.write_file("htdocs/internal/render.html", "INTERNAL rendering\n")
    a.start()
    st, xc, text = get_from(a, "127.0.0.2", "/site/q3.rpt")
    assert st == 200 and "INTERNAL" in text, text
    st, xc, text = get_from(a, "127.0.0.2", "/site/q3.rpt")
    assert st == 200 and not xc.startswith("HIT"), (xc, text)
    st, xc, text = get_from(a, "127.0.0.1", "/site/q3.rpt")
    assert st == 403 and "INTERNAL" not in text, (xc, text)
