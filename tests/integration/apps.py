"""Small applications the tests put behind Apache: a CGI script and a
WSGI app, each able to sleep and to stream, like backend.py, and to send
Server-Timing header lines; and a FastCGI responder that sends them."""

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
    headers = [("Content-Type", "text/plain")]
    # server_timing=...: one Server-Timing line each (repeatable); the
    # bytes are taken as latin-1, so %ff arrives as the byte 0xff
    raw = parse_qs(environ.get("QUERY_STRING", ""), encoding="latin-1")
    for v in raw.get("server_timing", []):
        headers.append(("Server-Timing", v))
    # server_timing_junk_kb=N: one line of N KB of malformed elements
    for kb in qs.get("server_timing_junk_kb", []):
        headers.append(("Server-Timing", "x;dur=bad," * (int(kb) * 1024 // 10)))
    start_response("200 OK", headers)
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


# A FastCGI responder (the protocol's few records, standard library only):
# answers every request like the CGI script answers server_timing=...
FCGI_SERVER = r'''
import socketserver, struct, sys
from urllib.parse import parse_qs

def records(rfile):
    while True:
        head = rfile.read(8)
        if len(head) < 8:
            return
        _, kind, rid, clen, plen, _ = struct.unpack("!BBHHBB", head)
        body = rfile.read(clen)
        rfile.read(plen)
        yield kind, rid, body

def params(data):
    out, i = {}, 0
    while i < len(data):
        lens = []
        for _ in range(2):
            n = data[i]
            if n >> 7:
                n = struct.unpack("!I", data[i:i + 4])[0] & 0x7fffffff
                i += 4
            else:
                i += 1
            lens.append(n)
        name = data[i:i + lens[0]]
        i += lens[0]
        out[name.decode("latin-1")] = data[i:i + lens[1]].decode("latin-1")
        i += lens[1]
    return out

def record(kind, rid, body=b""):
    return struct.pack("!BBHHBB", 1, kind, rid, len(body), 0, 0) + body

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        env, keep = b"", 0
        for kind, rid, body in records(self.rfile):
            if kind == 1:                          # BEGIN_REQUEST
                env, keep = b"", body[2] & 1
            elif kind == 4 and body:               # PARAMS
                env += body
            elif kind == 5 and not body:           # end of STDIN
                qs = parse_qs(params(env).get("QUERY_STRING", ""),
                              encoding="latin-1")
                out = b"Content-Type: text/plain\r\n"
                for v in qs.get("server_timing", []):
                    out += b"Server-Timing: " + v.encode("latin-1") + b"\r\n"
                out += b"\r\nfcgi done\n"
                self.wfile.write(record(6, rid, out) + record(6, rid)
                                 + record(3, rid, b"\0" * 8))
                self.wfile.flush()
                if not keep:
                    return

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def start_fcgi(port):
    """The FastCGI responder on 127.0.0.1:port (the caller stops it)."""
    import subprocess
    from harness import PYTHON, wait_port
    proc = subprocess.Popen([PYTHON, "-c", FCGI_SERVER, str(port)])
    wait_port(port, proc=proc)
    return proc
