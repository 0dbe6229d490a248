"""The status page as a person sees it: headless Chromium (Debian's
chromium) loads /reqperf-status from a real apache2, the DOM it rendered
holds the routes table and the latency histogram, and the screenshot is a
real picture of the page."""
import os
import subprocess
import time

import requests

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def test_status_page_renders_in_chromium(apache_factory, tmp_path):
    a = apache_factory(conf="""
ProxyPass /app/ ${BACKEND}/
ReqPerfSlowThreshold 50ms
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
""")
    for i in range(12):
        requests.get(a.url("/app/invoices/%d?sleep_ms=%d" % (i, 10 * i)))
        requests.get(a.url("/index.html"))
    requests.get(a.url("/app/<b>bold</b>"))
    time.sleep(0.3)
    profile = str(tmp_path / "profile")
    shot = str(tmp_path / "status.png")
    dom = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + profile,
                                               "--dump-dom",
                                               a.url("/reqperf-status")],
                         capture_output=True, text=True, timeout=90).stdout
    assert '<table id="routes">' in dom
    assert "/app/invoices/{id}" in dom
    assert "<svg" in dom and "<rect" in dom
    assert '<table id="slow">' in dom and '<table id="phases">' in dom
    # the injected markup stayed text
    assert "<b>bold</b>" not in dom and "&lt;b&gt;bold&lt;/b&gt;" in dom
    subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + profile,
                                         "--window-size=1400,1600",
                                         "--screenshot=" + shot,
                                         a.url("/reqperf-status")],
                   capture_output=True, timeout=90)
    with open(shot, "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # a rendered page, not a blank one: a sizeable, varied image
    assert len(png) > 20000
