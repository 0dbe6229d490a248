"""The ninth review: mod_reqperf's own memcached client (cache/rp_mc.c).

A reply is read to its end and bytes past it close the connection; but
bytes a server sends later, on a connection kept for the next request,
were read as the answer to that request's first question, and every
answer after it as the answer to the question before (the stream out of
step until a reply happened not to parse).
"""
import threading
import time

import requests

from test_mc_client import FakeMemcached, site, xc


class LateMemcached(FakeMemcached):
    """Answers a get with END, and a moment later sends a second END no
    question asked for (a proxy answering twice, say); anything else with
    SERVER_ERROR.  Counts the commands that come on a connection after
    it sent the unasked bytes."""

    def __init__(self):
        FakeMemcached.__init__(self, "late")

    def answer_get(self, c, keys, state):
        c.sendall(b"END\r\n")
        if self.gets == 1:
            def late():
                time.sleep(0.2)
                with self.lock:
                    state["out"] = True
                try:
                    c.sendall(b"END\r\n")
                except OSError:
                    pass
            threading.Thread(target=late, daemon=True).start()
        return False


def test_bytes_sent_after_a_reply_are_not_the_next_answer(apache_factory,
                                                         backend):
    fake = LateMemcached()
    try:
        # one connection to memcached for all requests: prefork, one child
        a = site(apache_factory, "127.0.0.1:%d" % fake.port, mpm="prefork")
        for i in range(6):
            r = requests.get(a.url("/app/late?i=%d" % i), timeout=30)
            assert r.status_code == 200, r.status_code
            assert not xc(r).startswith("HIT"), xc(r)
            time.sleep(0.4)          # the unasked bytes have come
        assert fake.gets >= 2, fake.gets
        # no command went over the connection once it held bytes nobody
        # asked for
        assert fake.after_out_of_step == 0, fake.after_out_of_step
    finally:
        fake.stop()
