"""Small applications the tests put behind Apache: a CGI script and a
WSGI app, each able to sleep and to stream, like backend.py."""

CGI_SCRIPT = r'''#!/usr/bin/python3
import os, sys, time
from urllib.parse import parse_qs
qs = parse_qs(os.environ.get("QUERY_STRING", ""))
start = time.monotonic()
time.sleep(int(qs.get("sleep_ms", ["0"])[0]) / 1000.0)
out = sys.stdout.buffer
out.write(b"Content-Type: text/plain\r\n")
if "server_timing" in qs:
    out.write(b"Server-Timing: " + qs["server_timing"][0].encode() + b"\r\n")
out.write(b"\r\n")
out.flush()
for at in [int(t) for t in qs.get("chunk_at", [""])[0].split(",") if t]:
    delay = start + at / 1000.0 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    out.write(b"chunk\n")
    out.flush()
out.write(b"cgi done\n")
'''

WSGI_APP = r'''
import time
import uuid
from urllib.parse import parse_qs

def application(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    start = time.monotonic()
    time.sleep(int(qs.get("sleep_ms", ["0"])[0]) / 1000.0)
    start_response("200 OK", [("Content-Type", "text/plain")])
    def body():
        for at in [int(t) for t in qs.get("chunk_at", [""])[0].split(",") if t]:
            delay = start + at / 1000.0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield b"chunk\n"
        # a fresh nonce: two equal bodies mean one run of the application
        yield ("wsgi done %s\n" % uuid.uuid4().hex).encode()
    return body()
'''


def install_cgi(apache):
    apache.write_file("cgi-bin/app.py", CGI_SCRIPT, mode=0o755)


def install_wsgi(apache, mode="daemon"):
    """mod_wsgi in daemon mode (how Django sites run it), or embedded:
    the application runs inside the Apache child that serves the
    request."""
    path = apache.write_file("wsgi/app.wsgi", WSGI_APP)
    apache.modules.append("wsgi")
    if mode == "embedded":
        alias = ("WSGIScriptAlias /wsgi {path} application-group=%{{GLOBAL}}"
                 .format(path=path))
    else:
        alias = """WSGISocketPrefix {root}/run/wsgi
WSGIDaemonProcess reqperf_test processes=1 threads=8 display-name=reqperf-wsgi
WSGIScriptAlias /wsgi {path} process-group=reqperf_test application-group=%{{GLOBAL}}""" \
            .format(root=apache.root, path=path)
    return """
{alias}
<Directory {root}/wsgi>
    Require all granted
</Directory>
""".format(root=apache.root, alias=alias)
