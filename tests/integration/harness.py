"""The real parts the tests and benchmarks run: a private Debian apache2
with mod_reqperf, a real memcached, and the counting backend (backend.py),
each on its own free 127.0.0.1 port, each stopped by pid.

Every Apache a test starts has its error log checked when it stops: a
segfault, AH00052 (child exited on a signal) or a sanitizer report fails
the test.  With REQPERF_SANITIZE=address (make test SANITIZE=address)
libasan is preloaded into the uninstrumented apache2 and its reports land
in a per-instance directory that is checked the same way.
"""
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MODULE = os.path.join(ROOT, ".libs", "mod_reqperf.so")
APACHE = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
PYTHON = "/usr/bin/python3"
SANITIZE = os.environ.get("REQPERF_SANITIZE", "")
MPMS = ["prefork", "event"]
# the timing and exact-count tests run under worker as well (the rest of
# the suite gains nothing from a third MPM that event does not show)
MPMS_ALL = ["prefork", "event", "worker"]

# how long an event-MPM Apache lives before it is signalled (see settle())
SETTLE_S = float(os.environ.get("REQPERF_SETTLE_S", "0.6"))

BAD_LOG_PATTERNS = ["Segmentation fault", "AH00052", "exit signal",
                    "AddressSanitizer", "LeakSanitizer", "runtime error:",
                    "double free", "stack smashing", "Aborted"]

sys.path.insert(0, HERE)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def process_age(pid):
    """Seconds since pid started (a large number if it has gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return 1e9
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def stop_process(proc, timeout=5.0):
    """SIGTERM a process this harness started (by its Popen), then SIGKILL
    it if it has not gone within timeout."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def make_world_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def allow_core_dumps():
    """In the child before exec: let apache2 write cores (best effort; the
    machine's core_pattern decides where they really go)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def core_backtraces(core_dir, limit=3):
    """gdb backtraces of the cores a crashed child left, if gdb is here."""
    out = []
    cores = sorted(glob.glob(os.path.join(core_dir, "core*")))[:limit]
    for core in cores:
        if shutil.which("gdb") is None:
            out.append("%s (no gdb to read it)" % core)
            continue
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "bt",
                            "-ex", "thread apply all bt 12", APACHE, core],
                           capture_output=True, text=True, timeout=120)
        out.append("== %s\n%s" % (core, r.stdout[:12000]))
    if not cores:
        try:
            with open("/proc/sys/kernel/core_pattern") as f:
                pattern = f.read().strip()
        except OSError:
            pattern = "?"
        out.append("(no core in %s; kernel.core_pattern is %r)"
                   % (core_dir, pattern))
    return out


def apache_env(asan_dir, base=None):
    """The environment for apache2: libasan preloaded under SANITIZE."""
    env = dict(base if base is not None else os.environ)
    env.pop("LD_PRELOAD", None)
    if SANITIZE == "address":
        lib = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                             capture_output=True, text=True).stdout.strip()
        env["LD_PRELOAD"] = lib
        env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=1:"
                               "log_path=%s/asan:allow_user_segv_handler=1"
                               % asan_dir)
    return env


_CERT = {}


def tls_certificate():
    """A self-signed certificate for 127.0.0.1 and localhost, made once
    per test run: (cert.pem, key.pem)."""
    if not _CERT:
        d = make_world_dir("reqperf-cert-")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext",
             "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", key, "-out", cert],
            check=True, capture_output=True)
        _CERT["files"] = (cert, key)
    return _CERT["files"]


BASE_MODULES = [
    "authz_core", "authz_host", "authz_user", "authn_core", "authn_file",
    "auth_basic", "mime", "dir", "alias", "include", "proxy", "proxy_http",
    "headers", "setenvif", "env", "status", "rewrite", "deflate", "filter",
]


class Apache:
    """One private apache2 instance with its own ServerRoot."""

    def __init__(self, mpm="event", conf="", modules=(), name="httpd",
                 backend=None, log_level="warn", server_name=None,
                 keepalive_timeout=10, extra_global="", load_module=True,
                 access_log=True, tls=False, h2=False):
        assert mpm in ("prefork", "event", "worker")
        self.mpm = mpm
        self.name = name
        self.root = make_world_dir("reqperf-%s-" % name)
        self.port = free_port()
        self.backend = backend
        self.pid = None
        self.conf_body = conf
        self.modules = list(BASE_MODULES) + list(modules)
        self.log_level = log_level
        self.server_name = server_name or "127.0.0.1"
        self.keepalive_timeout = keepalive_timeout
        self.extra_global = extra_global
        self.load_module = load_module
        self.access_log_on = access_log
        self.killed_pids = set()
        # tls: a second port, https, in a <VirtualHost> that inherits the
        # main server's configuration; h2: mod_http2 with h2 (ALPN), h2c
        # (prior knowledge and Upgrade) and http/1.1 everywhere
        self.tls_port = free_port() if tls else None
        self.h2 = h2
        if tls:
            self.modules.append("ssl")
        if h2:
            self.modules.append("http2")
        for d in ("htdocs", "run", "logs", "cgi-bin"):
            os.makedirs(os.path.join(self.root, d))
            os.chmod(os.path.join(self.root, d), 0o755)
        self.asan_dir = os.path.join(self.root, "asan")
        os.makedirs(self.asan_dir)
        os.chmod(self.asan_dir, 0o777)
        # a crashing child leaves a core here (CoreDumpDirectory makes the
        # www-data children dumpable); check_clean() prints its backtrace
        self.core_dir = os.path.join(self.root, "core")
        os.makedirs(self.core_dir)
        os.chmod(self.core_dir, 0o777)
        self.conf_path = os.path.join(self.root, "httpd.conf")
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.access_log = os.path.join(self.root, "logs", "access.log")
        self.pid_file = os.path.join(self.root, "run", "httpd.pid")
        self.write_file("htdocs/index.html", "<html>index</html>\n")
        self.write_file("htdocs/static.txt", "x" * 14000)

    # -- files ---------------------------------------------------------
    def path(self, rel):
        return os.path.join(self.root, rel)

    def write_file(self, rel, text, mode=0o644):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def mpm_conf(self):
        if self.mpm == "prefork":
            return ("StartServers 2\nMinSpareServers 2\nMaxSpareServers 8\n"
                    "ServerLimit 80\nMaxRequestWorkers 80\n")
        return ("StartServers 2\nServerLimit 4\nThreadsPerChild 25\n"
                "ThreadLimit 25\nMaxRequestWorkers 100\n"
                "MinSpareThreads 10\nMaxSpareThreads 100\n")

    def render_conf(self):
        mods = []
        mods.append("LoadModule mpm_%s_module %s/mod_mpm_%s.so"
                    % (self.mpm, MODDIR, self.mpm))
        cgi = "cgi" if self.mpm == "prefork" else "cgid"
        for m in self.modules + [cgi]:
            mods.append("LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m))
        if self.load_module:
            mods.append("LoadModule reqperf_module %s" % MODULE)
        backend = ""
        if self.backend is not None:
            backend = ("Define BACKEND http://127.0.0.1:%d\n"
                       % self.backend.port)
        return """# generated by tests/integration/conftest.py
ServerRoot {root}
PidFile {root}/run/httpd.pid
DefaultRuntimeDir {root}/run
CoreDumpDirectory {root}/core
ErrorLog {error_log}
LogLevel {log_level}
Listen 127.0.0.1:{port}
ServerName {server_name}
User www-data
Group www-data
{modules}
{mpm_conf}
{backend}
{extra_global}
TypesConfig /etc/mime.types
DocumentRoot {root}/htdocs
KeepAlive On
MaxKeepAliveRequests 1000
KeepAliveTimeout {kat}
Timeout 30
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory {root}/htdocs>
    Options +Includes
    Require all granted
</Directory>
<Directory {root}/cgi-bin>
    Options +ExecCGI
    Require all granted
</Directory>
ScriptAlias /cgi-bin/ {root}/cgi-bin/
{access_log_conf}
{protocols}
{body}
{tls}
""".format(root=self.root, error_log=self.error_log, log_level=self.log_level,
           port=self.port, server_name=self.server_name,
           modules="\n".join(mods), mpm_conf=self.mpm_conf(), backend=backend,
           extra_global=self.extra_global, kat=self.keepalive_timeout,
           access_log_conf=self.access_log_conf(), body=self.conf_body,
           protocols="Protocols h2 h2c http/1.1" if self.h2 else "",
           tls=self.tls_conf())

    def tls_conf(self):
        if self.tls_port is None:
            return ""
        cert, key = tls_certificate()
        return """Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
</VirtualHost>
""".format(port=self.tls_port, cert=cert, key=key)

    def access_log_conf(self):
        if not self.access_log_on:
            return ""
        if not self.load_module:
            return ('LogFormat "%m %U%q %>s" plain\nCustomLog '
                    + self.access_log + ' plain')
        return ('LogFormat "%m %U%q %>s total=%{reqperf-total-us}n '
                'route=%{reqperf-route}n cache=%{reqperf-cache}n '
                'phases=[%{reqperf-phases}n]" reqperf\n'
                'CustomLog ' + self.access_log + ' reqperf')

    def env(self):
        return apache_env(self.asan_dir)

    # -- life ------------------------------------------------------------
    def configtest(self, conf_text=None):
        if conf_text is not None:
            self.conf_body = conf_text
        with open(self.conf_path, "w") as f:
            f.write(self.render_conf())
        return subprocess.run([APACHE, "-f", self.conf_path, "-t"],
                              capture_output=True, text=True, env=self.env())

    def start(self, timeout=20.0):
        with open(self.conf_path, "w") as f:
            f.write(self.render_conf())
        r = subprocess.run([APACHE, "-f", self.conf_path, "-k", "start"],
                           capture_output=True, text=True, env=self.env(),
                           preexec_fn=allow_core_dumps)
        if r.returncode != 0:
            raise RuntimeError("apache2 failed to start: %s%s\n%s"
                               % (r.stdout, r.stderr, self.read_error_log()))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.pid_file):
                try:
                    self.pid = int(open(self.pid_file).read().strip())
                    break
                except ValueError:
                    pass
            time.sleep(0.05)
        if self.pid is None:
            raise RuntimeError("no pid file\n" + self.read_error_log())
        wait_port(self.port, timeout=timeout)
        self.wait_ready()
        self.started_at = time.monotonic()
        return self

    def settle(self):
        """Debian's apache2 2.4.71 event MPM can crash a child that is told
        to stop within a few hundred ms of being started (SIGSEGV in
        apr_os_sock_get during child exit; seen without mod_reqperf
        loaded).  No child is signalled before it has lived SETTLE_S: the
        parent's start is not enough, since on a loaded machine children
        are forked well after the parent listens, and the MPM starts new
        ones as load comes and goes."""
        if self.mpm == "prefork":
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            youngest = time.monotonic() - getattr(self, "started_at", 0)
            for pid in self.children_pids():
                if pid != self.pid:
                    youngest = min(youngest, process_age(pid))
            if youngest >= SETTLE_S:
                return
            time.sleep(SETTLE_S - youngest + 0.01)

    def settled(self):
        """Whether stop() would not have to wait for settle()."""
        if self.mpm == "prefork":
            return True
        youngest = time.monotonic() - getattr(self, "started_at", 0)
        for pid in self.children_pids():
            if pid != self.pid:
                youngest = min(youngest, process_age(pid))
        return youngest >= SETTLE_S

    def wait_ready(self, timeout=15.0):
        """The port accepts connections (no HTTP request: it would be
        counted in the statistics the tests check exactly)."""
        wait_port(self.port, timeout=timeout)

    def signal(self, sig):
        os.kill(self.pid, sig)

    def graceful(self):
        """apachectl graceful, and wait until the new generation answers
        and the old one has gone (so that what follows is served by the
        new generation, not by a child finishing its last connections)."""
        self.settle()
        old = [p for p in self.children_pids() if p != self.pid]
        before = self.read_error_log()
        self.signal(signal.SIGUSR1)
        self._wait_log_growth(before, "resuming normal operations")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(pid_alive(p) for p in old):
            time.sleep(0.05)

    def restart(self):
        """A full restart (SIGHUP): statistics start afresh."""
        self.settle()
        before = self.read_error_log()
        self.signal(signal.SIGHUP)
        self._wait_log_growth(before, "resuming normal operations")

    def _wait_log_growth(self, before, needle, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.read_error_log()
            if needle in text[len(before):]:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("restart not seen in the error log")
        self.wait_ready()
        self.started_at = time.monotonic()

    def stop(self, timeout=20.0):
        if self.pid is None:
            return
        self.settle()
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(self.pid):
            time.sleep(0.05)
        if pid_alive(self.pid):
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            os.kill(self.pid, signal.SIGKILL)
        # children that outlived the parent (should not happen)
        for p in self.children_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.pid = None

    def children_pids(self):
        out = []
        for d in glob.glob("/proc/[0-9]*"):
            try:
                with open(d + "/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.conf_path.encode() in cmd:
                out.append(int(d.split("/")[-1]))
        return out

    # -- checks ----------------------------------------------------------
    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def sanitizer_reports(self):
        texts = []
        for p in glob.glob(os.path.join(self.asan_dir, "*")):
            with open(p, errors="replace") as f:
                texts.append(f.read())
        return texts

    def kill_children(self, talking_to=None):
        """SIGKILL every child (a test of what survives a crash), or only
        those with a connection to 127.0.0.1:talking_to open (the one that
        is proxying a request there); the parent makes new ones, and
        check_clean() expects their deaths."""
        killed = [p for p in self.children_pids() if p != self.pid]
        if talking_to is not None:
            out = subprocess.run(["ss", "-Htnp", "state", "established",
                                  "dst", "127.0.0.1:%d" % talking_to],
                                 capture_output=True, text=True).stdout
            talking = {int(m) for m in re.findall(r"pid=(\d+)", out)}
            killed = [p for p in killed if p in talking]
        for p in killed:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.killed_pids.update(killed)
        return killed

    def expected_death(self, line):
        m = re.search(r"AH00052: child pid (\d+) exit signal Killed \(9\)", line)
        return m is not None and int(m.group(1)) in self.killed_pids

    def check_clean(self):
        text = self.read_error_log()
        bad = [line for line in text.splitlines()
               if any(p in line for p in BAD_LOG_PATTERNS)
               and not self.expected_death(line)]
        reports = self.sanitizer_reports()
        traces = core_backtraces(self.core_dir) if bad else []
        if bad or reports:
            # keep the evidence: the ServerRoot is removed after a test
            keep = "/tmp/reqperf-failed-%s-%d.log" % (self.name, os.getpid())
            with open(keep, "a") as f:
                f.write(text)
                for rep in reports + traces:
                    f.write(rep)
        assert not bad, "error log of %s shows:\n%s\n%s" % (
            self.name, "\n".join(bad), "\n".join(traces))
        assert not reports, "sanitizer report:\n%s" % reports[0][:4000]

    def url(self, path, tls=False):
        if tls:
            return "https://127.0.0.1:%d%s" % (self.tls_port, path)
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def access_lines(self):
        try:
            with open(self.access_log, errors="replace") as f:
                return [l.rstrip("\n") for l in f]
        except FileNotFoundError:
            return []

    def wait_access_lines(self, n, timeout=10.0):
        """Log lines are written after the response: wait for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.access_lines()
            if len(lines) >= n:
                return lines
            time.sleep(0.02)
        return self.access_lines()

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Backend:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "backend.py"), "--port",
             str(self.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_port(self.port, proc=self.proc)

    def url(self, path, tls=False):
        if tls:
            return "https://127.0.0.1:%d%s" % (self.tls_port, path)
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hits(self, path):
        return requests.get(self.url("/__hits"), params={"path": path},
                            timeout=5).json()["hits"]

    def held(self, name):
        """Requests held now under ?hold=name."""
        return requests.get(self.url("/__held"), params={"name": name},
                            timeout=5).json()["held"]

    def release(self, name):
        """Answer the requests held under name (and any later one)."""
        requests.post(self.url("/__release"), params={"name": name},
                      timeout=5)

    def fail(self, prefix, status=503):
        """Every path under prefix answers status from now on (0: heal)."""
        requests.post(self.url("/__fail"), params={"prefix": prefix,
                                                    "status": status},
                      timeout=5)

    def stop(self):
        stop_process(self.proc)


class Memcached:
    def __init__(self, memory_mb=64):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["/usr/bin/memcached", "-u", "nobody", "-l", "127.0.0.1", "-p",
             str(self.port), "-U", "0", "-m", str(memory_mb), "-c", "1024"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def command(self, line, terminator=b"END\r\n", timeout=5.0):
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout) as s:
            s.sendall(line.encode() + b"\r\n")
            data = b""
            while not data.endswith(terminator):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
                    break
            return data

    def stats(self):
        out = {}
        for line in self.command("stats").decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out

    def keys(self):
        from urllib.parse import unquote
        data = self.command("lru_crawler metadump all").decode()
        keys = []
        for line in data.splitlines():
            for part in line.split():
                if part.startswith("key="):
                    keys.append(unquote(part[4:]))
        return keys

    def keys_like(self, prefix, at_least=1):
        """The keys that start with prefix, asked of the crawler again for a
        bounded while until there are at_least of them: it lists a key
        written a moment ago only once it has walked past it (and answers
        BUSY while another dump runs)."""
        found = []
        for _ in range(50):
            found = [k for k in self.keys() if k.startswith(prefix)]
            if len(found) >= at_least:
                break
            time.sleep(0.1)
        return found

    def get(self, key):
        """The raw value of a key, or None."""
        data = self.command("get " + key)
        if not data.startswith(b"VALUE "):
            return None
        head, _, rest = data.partition(b"\r\n")
        n = int(head.split()[3])
        return rest[:n]

    def set(self, key, value, ttl=0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"set %s 0 %d %d\r\n%s\r\n"
                      % (key.encode(), ttl, len(value), value))
            assert s.recv(100).startswith(b"STORED")

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self):
        """SIGKILL: a test's memcached holds nothing worth a clean exit,
        and its own takes most of a second (that was minutes a run)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def start_again(self):
        """Restart on the same port (a memcached that came back)."""
        self.stop()
        self.proc = subprocess.Popen(
            ["/usr/bin/memcached", "-u", "nobody", "-l", "127.0.0.1", "-p",
             str(self.port), "-U", "0", "-m", "64", "-c", "1024"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)


class LoopbackServer:
    """A TCP server on 127.0.0.1 (a free port) whose accept thread hands
    each connection to self.serve(conn) in a thread of its own, until
    stop().  For the fake and the in-between memcacheds of the tests."""

    def __init__(self, backlog=64):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, conn):
        raise NotImplementedError

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(2)


class CountingMemcached(LoopbackServer):
    """A TCP proxy in front of a memcached that counts what it is asked:
    the keys of every get/gets (a multi-get counts each key) and every
    other command by name.  Bytes pass both ways untouched; the client's
    side is parsed as memcached's text protocol (a storage command's data
    block is skipped by its length), which is all mod_reqperf speaks
    (cache/rp_mc_text.c)."""

    STORAGE = (b"set", b"add", b"replace", b"append", b"prepend", b"cas")

    def __init__(self, target):
        self.target = target
        self.keys = {}                 # key -> times asked by get/gets
        self.commands = {}             # command name -> times sent
        self.conns = []
        super().__init__(backlog=128)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def keys_asked(self, prefix=""):
        with self.lock:
            return sum(n for k, n in self.keys.items() if k.startswith(prefix))

    def reset(self):
        with self.lock:
            self.keys.clear()
            self.commands.clear()

    def serve(self, c):
        try:
            up = socket.create_connection(("127.0.0.1", self.target.port),
                                          timeout=10)
        except OSError:
            c.close()
            return
        with self.lock:
            self.conns += [c, up]
        threading.Thread(target=self._pipe, args=(up, c), daemon=True).start()
        self._client_side(c, up)

    def _count(self, line):
        words = line.split()
        if not words:
            return 0
        name = words[0].lower()
        with self.lock:
            self.commands[name] = self.commands.get(name, 0) + 1
            if name in (b"get", b"gets"):
                for k in words[1:]:
                    k = k.decode("latin-1")
                    self.keys[k] = self.keys.get(k, 0) + 1
        if name in self.STORAGE and len(words) >= 5:
            return int(words[4]) + 2       # the data block and its CRLF
        return 0

    def _client_side(self, c, up):
        buf, skip = b"", 0
        try:
            while not self.stopping:
                data = c.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    if skip:
                        n = min(skip, len(buf))
                        buf, skip = buf[n:], skip - n
                        if skip:
                            break
                    line, sep, rest = buf.partition(b"\r\n")
                    if not sep:
                        break
                    buf = rest
                    skip = self._count(line)
                # counted before memcached can answer: a count read after
                # the answer reached Apache includes it
                up.sendall(data)
        except OSError:
            pass
        finally:
            for s in (c, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _pipe(self, src, dst):
        try:
            while not self.stopping:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        LoopbackServer.stop(self)
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def raw(a, data, timeout=10):
    """Send raw bytes to Apache a, return the whole answer as text."""
    return raw_to(a.port, data, timeout)


def raw_to(port, data, timeout=10, source=None):
    """raw() to any port of 127.0.0.1 (from the loopback address source,
    when given: all of 127/8 is local on Linux)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source
                                  else None) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return out.decode("latin-1")


def raw_get(a, target, headers="", host=None):
    """GET target as written (no client normalises it), with the Host
    requests would send unless host says otherwise (the port is part of
    the key)."""
    return raw(a, ("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                   % (target, host or "127.0.0.1:%d" % a.port, headers)).encode())


def run_load(a, paths, clients=48, per_client=25, keepalive=True,
             during=None, timeout=60):
    """clients threads, each sending per_client GETs over one kept-alive
    connection (a new one after any failure), paths taken in turn.
    during(progress) is called from the main thread as requests complete
    (progress = completed/total), for the fault to inject.  Returns
    (completed, failures, statuses) with failures a list of what went
    wrong.  Bounded in count and time."""
    import http.client
    total = clients * per_client
    lock = threading.Lock()
    done = {"ok": 0, "n": 0}
    failures, statuses = [], {}

    def client(k):
        conn = None
        for i in range(per_client):
            path = paths[(k * per_client + i) % len(paths)]
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", a.port,
                                                      timeout=15)
                conn.request("GET", path, headers={} if keepalive
                             else {"Connection": "close"})
                r = conn.getresponse()
                r.read()
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status == 200:
                        done["ok"] += 1
                    else:
                        failures.append("status %d for %s" % (r.status, path))
                if not keepalive or r.getheader("Connection", "") == "close":
                    conn.close()
                    conn = None
            except Exception as e:          # noqa: BLE001 (counted)
                with lock:
                    failures.append("%s for %s" % (type(e).__name__, path))
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                done["n"] += 1
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True)
               for k in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        if during is not None:
            with lock:
                progress = done["n"] / float(total)
            during(progress)
        time.sleep(0.02)
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    return done["ok"], failures, statuses


PREFORKED = ("StartServers 64\nMinSpareServers 64\nMaxSpareServers 80\n"
             "ServerLimit 80\nMaxRequestWorkers 80\n")
def parse_prom(text):
    """{(name, frozenset(labels)): value} from exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def promtool_check(text):
    """`promtool check metrics` on exposition text prints nothing: no
    parse error and no lint problem (it exits non-zero on either and
    prints what it found; both fail here)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), \
        "promtool check metrics (exit %d):\n%s%s" % (r.returncode, r.stdout,
                                                     r.stderr)


class Prometheus:
    """Debian's Prometheus server on a free 127.0.0.1 port, scraping every
    second, with its data in a private directory; stopped by pid."""

    def __init__(self, scrape_configs):
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="reqperf-prometheus-", dir="/tmp")
        config = os.path.join(self.root, "prometheus.yml")
        with open(config, "w") as f:
            # JSON is YAML
            json.dump({"global": {"scrape_interval": "1s",
                                  "scrape_timeout": "1s",
                                  "evaluation_interval": "1s"},
                       "scrape_configs": scrape_configs}, f)
        self.log_path = os.path.join(self.root, "prometheus.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                ["/usr/bin/prometheus", "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(self.root, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--log.level=warn"],
                stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.port, proc=self.proc)
        deadline = time.monotonic() + 30
        while requests.get(self.url("/-/ready"), timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "Prometheus not ready"
            time.sleep(0.1)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def api(self, path, **params):
        r = requests.get(self.url("/api/v1/" + path), params=params, timeout=30)
        d = r.json()
        assert d.get("status") == "success", "%s %s: %s" % (path, params, r.text)
        return d["data"]

    def query(self, expr):
        """The instant vector (list of {metric, value}) expr gives now."""
        return self.api("query", query=expr)["result"]

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def parse_access_line(line):
    """'GET /x 200 total=12 route=/x cache= phases=[read=1 ...]' -> dict"""
    out = {"raw": line}
    head, _, rest = line.partition(" total=")
    parts = head.split(" ")
    out["method"], out["uri"], out["status"] = parts[0], parts[1], int(parts[2])
    total, _, rest = rest.partition(" route=")
    out["total"] = int(total) if total not in ("-", "") else None
    route, _, rest = rest.partition(" cache=")
    out["route"] = route
    cache, _, rest = rest.partition(" phases=[")
    out["cache"] = cache
    phases = {}
    for item in rest.rstrip("]").split():
        if "=" in item:
            k, v = item.split("=", 1)
            phases[k] = int(v)
    out["phases"] = phases
    return out
