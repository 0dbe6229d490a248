"""mod_reqperf's own memcached client (cache/rp_mc_text.c over sockets
of its own; libmemcached only picks the server of a key): against a real
memcached, and against a fake one that answers what a broken or hostile
server might.  Whatever comes back that is not the reply to what was
asked, the page comes from the backend, nothing is served from it, no
child crashes, and the connection it came on is never used again (so
bytes sent ahead of a question cannot become its answer).
"""
import time

import pytest
import requests

from conftest import MPMS
from harness import LoopbackServer

STATUS = """
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
"""


def xc(r):
    return r.headers.get("X-Cache", "")


def site(apache_factory, address, mpm="event", timeout="2s"):
    return apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout {timeout}
ReqPerfCacheLocal 0
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{status}
""".format(mc=address, timeout=timeout, status=STATUS))


def stats(a):
    return requests.get(a.url("/reqperf-status?format=json"),
                        timeout=10).json()


class FakeMemcached(LoopbackServer):
    """Speaks enough of memcached's text protocol to be asked: answers a
    get as `mode` says, anything else with SERVER_ERROR (an answer: the
    stream stays in step).  Counts connections, gets, and commands that
    arrive on a connection after it was sent a reply out of step."""

    def __init__(self, mode):
        self.mode = mode
        self.gets = 0
        self.after_out_of_step = 0
        super().__init__()

    def reply_to_get(self, keys):
        k = keys[0].encode()
        m = self.mode
        if m == "not asked":
            return b"VALUE rp:x:nobody-asked 0 7\r\nFORGED!\r\nEND\r\n", False
        if m == "twice":
            return (b"VALUE " + k + b" 0 7\r\nFORGED!\r\nVALUE " + k
                    + b" 0 7\r\nFORGED!\r\nEND\r\n"), False
        if m == "short":
            return b"VALUE " + k + b" 0 100\r\nonly ten b", True
        if m == "no crlf":
            return b"VALUE " + k + b" 0 7\r\nFORGED!XYEND\r\n", False
        if m == "http":
            return b"HTTP/1.1 400 Bad Request\r\n\r\n", False
        if m == "endless":
            return b"V" * 100000, False
        if m == "out of step":
            # the reply, then a "reply" to a question not yet asked
            return (b"END\r\nVALUE " + k + b" 0 7\r\nFORGED!\r\nEND\r\n"), False
        raise AssertionError(m)

    def answer_get(self, c, keys, state):
        """Send the reply to a get of keys; True to close the connection.
        state["out"]: set once the stream is out of step."""
        reply, close = self.reply_to_get(keys)
        c.sendall(reply)
        state["out"] = True
        return close

    def serve(self, c):
        c.settimeout(5)
        buf = b""
        state = {"out": False}
        try:
            while not self.stopping:
                data = c.recv(65536)
                if not data:
                    break
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    parts = line.decode("latin-1").split()
                    with self.lock:
                        if state["out"]:
                            self.after_out_of_step += 1
                    if not parts:
                        continue
                    if parts[0] in ("set", "add") and len(parts) >= 5:
                        n = int(parts[4]) + 2
                        while len(buf) < n:
                            more = c.recv(65536)
                            if not more:
                                return
                            buf += more
                        buf = buf[n:]
                        c.sendall(b"SERVER_ERROR nope\r\n")
                    elif parts[0] == "get":
                        with self.lock:
                            self.gets += 1
                        if self.answer_get(c, parts[1:], state):
                            return
                    else:
                        c.sendall(b"SERVER_ERROR nope\r\n")
        except OSError:
            pass
        finally:
            c.close()


@pytest.mark.parametrize("mode", ["not asked", "twice", "short", "no crlf",
                                  "http", "endless", "out of step"])
def test_a_reply_that_is_not_one_is_never_served(apache_factory, backend,
                                                 mode):
    fake = FakeMemcached(mode)
    try:
        a = site(apache_factory, "127.0.0.1:%d" % fake.port)
        n = 6
        for i in range(n):
            r = requests.get(a.url("/app/fake?i=%d" % (i % 2)), timeout=30)
            assert r.status_code == 200, r.status_code
            assert not xc(r).startswith("HIT"), xc(r)
            assert "FORGED" not in r.text
        # every request went to the backend
        assert backend.hits("/fake") == n
        assert fake.gets >= 1
        # no command ever followed a reply that left the stream out of
        # step: a new connection each time
        assert fake.after_out_of_step == 0, fake.after_out_of_step
        assert fake.connections >= fake.gets, (fake.connections, fake.gets)
    finally:
        fake.stop()


@pytest.mark.parametrize("mpm", MPMS)
def test_a_server_named_by_its_host_name(apache_factory, memcached, backend,
                                         mpm):
    """A name, not an address, resolved by the client (each address it
    has is tried in turn: elsewhere "localhost" may be ::1 first while
    memcached listens on 127.0.0.1 only)."""
    port = memcached.address.rsplit(":", 1)[1]
    a = site(apache_factory, "localhost:%s" % port, mpm=mpm)
    requests.get(a.url("/app/named"), timeout=30)
    r = requests.get(a.url("/app/named"), timeout=30)
    assert xc(r).startswith("HIT"), xc(r)
    assert backend.hits("/named") == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_memcached_restarted_between_two_requests(apache_factory, memcached,
                                                  backend, mpm):
    """A connection kept from before the restart is found closed when it
    is used: the command goes again on a new one, so the request is a
    plain miss, not "memcached down", and the breaker counts nothing."""
    a = site(apache_factory, memcached.address, mpm=mpm)
    # every child's connection made, and kept
    for _ in range(8):
        requests.get(a.url("/app/restart"), timeout=30)
    assert xc(requests.get(a.url("/app/restart"), timeout=30)).startswith(
        "HIT")
    memcached.start_again()                # empty, same port
    time.sleep(0.2)
    seen = [xc(requests.get(a.url("/app/restart"), timeout=30))
            for _ in range(8)]
    assert not any(s.startswith("BYPASS") for s in seen), seen
    assert seen[-1].startswith("HIT"), seen
    assert stats(a)["cache"]["servers"][0]["state"] == "up"
