"""A small HTTP/2 client for the tests, over Debian's python3-h2.

One connection, many streams at once: h2c with prior knowledge, h2c by
HTTP/1.1 Upgrade, or h2 over TLS (ALPN).  It records, per stream, when
the request left and when the last byte of the answer came (monotonic
clock), so a test can check that what the server says a stream took lies
inside what the client saw; it can reset a stream (RST_STREAM) or drop
the connection in the middle of a response.  curl 7.88 cannot multiplex
several URLs over one h2c prior-knowledge connection; this can.
"""
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events


class Stream:
    def __init__(self, sid, path):
        self.id = sid
        self.path = path
        self.sent_at = time.monotonic()
        self.headers_at = None
        self.ended_at = None
        self.status = None
        self.headers = {}
        self.body = b""
        self.reset = False           # reset by us or by the server

    @property
    def done(self):
        return self.ended_at is not None

    @property
    def client_us(self):
        """What the client saw: request sent to last byte received."""
        return int((self.ended_at - self.sent_at) * 1e6)

    def header(self, name):
        return self.headers.get(name.lower())


class H2Conn:
    """mode: "prior" (h2c, prior knowledge), "upgrade" (h2c through an
    HTTP/1.1 Upgrade of the request `upgrade_path`) or "tls" (h2, ALPN)."""

    def __init__(self, port, mode="prior", authority=None, upgrade_path="/",
                 timeout=20.0):
        self.port = port
        self.mode = mode
        self.authority = authority or "127.0.0.1:%d" % port
        self.timeout = timeout
        self.streams = {}
        self.closed = False
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if mode == "tls":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            assert sock.selected_alpn_protocol() == "h2", \
                sock.selected_alpn_protocol()
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True,
                                             header_encoding="utf-8"))
        if mode == "upgrade":
            self._upgrade(upgrade_path)
        else:
            self.conn.initiate_connection()
        self._flush()

    def _upgrade(self, path):
        settings = self.conn.initiate_upgrade_connection()
        st = Stream(1, path)
        self.streams[1] = st
        self.sock.sendall((
            "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            "Upgrade: h2c\r\nHTTP2-Settings: %s\r\n\r\n"
            % (path, self.authority, settings.decode())).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before the 101"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        self.upgrade_status = int(head.split(b" ")[1])
        assert self.upgrade_status == 101, head
        if rest:
            self._receive(rest)

    def _flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def request(self, path, method="GET", headers=(), body=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme",
                                      "https" if self.mode == "tls" else "http"),
                (":authority", self.authority), (":path", path)]
        hdrs += list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=True)
        self.streams[sid] = Stream(sid, path)
        self._flush()
        return self.streams[sid]

    def reset(self, stream):
        self.conn.reset_stream(stream.id)
        stream.reset = True
        stream.ended_at = time.monotonic()
        self._flush()

    def _receive(self, data):
        if not data:
            self.closed = True
            return
        now = time.monotonic()
        for ev in self.conn.receive_data(data):
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st.headers_at = now
                for k, v in ev.headers:
                    if k == ":status":
                        st.status = int(v)
                    else:
                        st.headers[k] = v
            elif isinstance(ev, h2.events.DataReceived):
                if st is not None and not st.reset:
                    st.body += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                    ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if st is not None and not st.done:
                    st.ended_at = now
            elif isinstance(ev, h2.events.StreamReset):
                if st is not None and not st.done:
                    st.reset = True
                    st.ended_at = now
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True
        self._flush()

    def pump(self, until, timeout=None):
        """Read frames until until() is true (or the deadline)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise TimeoutError("h2: %d of %d streams done" % (
                    sum(s.done for s in self.streams.values()),
                    len(self.streams)))
            self.sock.settimeout(left)
            self._receive(self.sock.recv(65536))

    def wait(self, streams=None, timeout=None):
        streams = list(self.streams.values()) if streams is None else streams
        self.pump(lambda: all(s.done for s in streams), timeout)
        return streams

    def close(self, graceful=True):
        if graceful and not self.closed:
            try:
                self.conn.close_connection()
                self._flush()
            except OSError:
                pass
        self.sock.close()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(port, paths, mode="prior", headers=(), **kw):
    """Fetch paths over one connection, all streams at once."""
    with H2Conn(port, mode=mode, **kw) as c:
        streams = [c.request(p, headers=headers) for p in paths]
        c.wait(streams)
        return streams
