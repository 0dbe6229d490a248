#!/usr/bin/python3
"""Make the README's screenshots from the demo.

    /usr/bin/python3 scripts/screenshots.py [--route /reports/monthly]

Starts `make demo` (demo/run.sh, with DEMO_SECONDS so that it stops by
itself), waits until its burst of traffic is over and it prints its
"running" banner, then has headless Chromium (tests/integration/browser.py)
load the status page and one route's page at 1366 pixels wide and save
them, whole, as docs/status.png and docs/route.png, and the status page's
section "What caching would save" alone as docs/advice.png.  Then it stops the
demo (SIGTERM to the run.sh it started, which stops its Apache and
memcached by pid) and waits for it.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from browser import Chromium  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--route", default="/reports/monthly")
    ap.add_argument("--method", default="GET")
    ap.add_argument("--width", type=int, default=1366)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    args = ap.parse_args()

    env = dict(os.environ, DEMO_SECONDS="300")
    demo = subprocess.Popen(["bash", "demo/run.sh"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    base = None
    try:
        deadline = time.monotonic() + 600
        for line in demo.stdout:
            sys.stdout.write(line)
            m = re.search(r"the status page\s+(http://127\.0\.0\.1:\d+)/", line)
            if m:
                base = m.group(1)
            if "Stopping in" in line or time.monotonic() > deadline:
                break
        if base is None:
            sys.exit("the demo did not start (see above)")
        # the overview's top (the whole of it is several screens long),
        # and the route's page whole
        # (and of the overview, its section "What caching would save"
        # alone: the heading, its note and its table)
        pages = [
            ("status.png", base + "/reqperf-status", 1800, None),
            ("route.png", "%s/reqperf-status?route=%s&method=%s"
             % (base, quote(args.route, safe="/"), quote(args.method)),
             None, None),
            ("advice.png", base + "/reqperf-status", None, "advice"),
        ]
        with Chromium(args.width, 768) as c:
            for name, url, max_height, only in pages:
                status = c.open(url)
                if only is not None:
                    c.eval("(() => { const h = document.getElementById(%r);"
                           " document.body.replaceChildren(h,"
                           " h.nextElementSibling,"
                           " h.nextElementSibling.nextElementSibling);"
                           " return 1; })()" % only)
                width = c.eval("document.documentElement.scrollWidth")
                if status != 200 or width > args.width:
                    sys.exit("%s: status %s, %d px wide" % (url, status,
                                                            width))
                path = os.path.join(args.out, name)
                c.screenshot(path, max_height)
                print("wrote %s (%s, %d px wide)" % (path, url, width))
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)
        for line in demo.stdout:
            sys.stdout.write(line)
        demo.wait(120)


if __name__ == "__main__":
    main()
