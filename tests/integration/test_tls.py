"""TLS (mod_ssl, a certificate made for the test run), HTTP/1.1 with
keep-alive: the handshake and the idle time of a kept-alive connection
are in no request; the page cache works over https and keeps http and
https pages apart.

The client drives the handshake itself (ssl.MemoryBIO), so it can hold
back its last handshake flight: the server then spends that long in the
handshake, and a request that counted it would show it.
"""
import socket
import ssl
import time

import pytest
import requests

from conftest import MPMS_ALL, parse_access_line, tls_certificate
from test_cache import site, xc
from test_status import settled

STALL_S = 1.0


class SlowTLS:
    """A TLS client over a plain socket whose handshake ends stall_s
    after the server has answered its ClientHello."""

    def __init__(self, port, stall_s):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        ctx = ssl.create_default_context(cafile=tls_certificate()[0])
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing,
                                server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._send()
                self._recv()
        # the client's Finished is ready: the server waits for it
        time.sleep(stall_s)
        self._send()

    def _send(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            self.incoming.write_eof()
        self.incoming.write(data)

    def get(self, path):
        """One request on the kept-alive connection: status line, body."""
        self.tls.write(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n"
                        % path).encode())
        self._send()
        data = b""
        while b"\r\n\r\n" not in data or len(data) < self._length(data):
            try:
                chunk = self.tls.read(65536)
                if not chunk:
                    break
                data += chunk
            except ssl.SSLWantReadError:
                self._send()
                self._recv()
        return data.split(b"\r\n", 1)[0]

    @staticmethod
    def _length(data):
        head, _, _ = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                return len(head) + 4 + int(line.split(b":")[1])
        return len(data)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("mpm", MPMS_ALL)
def test_handshake_and_keepalive_idle_are_in_no_request(apache_factory,
                                                        mpm):
    a = apache_factory(mpm=mpm, tls=True, conf="""
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
""")
    c = SlowTLS(a.tls_port, STALL_S)
    try:
        assert b" 200 " in c.get("/index.html?first")
        time.sleep(STALL_S)                  # kept alive, idle
        assert b" 200 " in c.get("/index.html?second")
        for i in range(8):
            assert b" 200 " in c.get("/static.txt?%d" % i)
    finally:
        c.close()
    lines = a.wait_access_lines(10)
    log = {e["uri"]: e for e in map(parse_access_line, lines)}
    first, second = log["/index.html?first"], log["/index.html?second"]
    for e in (first, second):
        assert e["total"] < STALL_S * 1e6 / 2, e
        assert e["phases"]["read"] < STALL_S * 1e6 / 2, e
        assert "queue" not in e["phases"]
    r = requests.get(a.url("/reqperf-status?format=json", tls=True),
                     verify=tls_certificate()[0])
    assert r.status_code == 200
    assert settled(a, 10)["requests"] == 10


def test_cache_over_https_keeps_the_scheme_apart(apache_factory, memcached,
                                                 backend):
    a = site(apache_factory, memcached, "event", tls=True,
             server_extra="ReqPerfCacheTimeout 2s")
    session = requests.Session()             # kept alive

    def https(path):
        return session.get(a.url(path, tls=True), verify=tls_certificate()[0])
    # the same host and port in both: only the scheme differs
    same = {"Host": "127.0.0.1:%d" % a.tls_port}

    first = https("/app/s")
    assert xc(first).startswith("MISS")
    again = https("/app/s")
    assert xc(again).startswith("HIT")
    assert again.json()["nonce"] == first.json()["nonce"]
    plain = requests.get(a.url("/app/s"), headers=same)
    assert xc(plain).startswith("MISS"), "an https page served over http"
    assert plain.json()["nonce"] != first.json()["nonce"]
    plain2 = requests.get(a.url("/app/s"), headers=same)
    assert xc(plain2).startswith("HIT")
    assert plain2.json()["nonce"] == plain.json()["nonce"]
    assert backend.hits("/s") == 2

    # and the other way round
    h = requests.get(a.url("/app/r"), headers=same)
    assert xc(h).startswith("MISS")
    s = https("/app/r")
    assert xc(s).startswith("MISS"), "an http page served over https"
    assert s.json()["nonce"] != h.json()["nonce"]
    assert backend.hits("/r") == 2

    # a kept-alive https session: every request counted, each one timed
    for i in range(10):
        assert https("/app/k/%d" % i).status_code == 200
    d = settled(a, 16)
    assert d["requests"] == 16
    assert d["cache"]["hit"] == 2 and d["cache"]["miss"] == 14
