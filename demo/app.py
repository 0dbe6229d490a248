"""A small billing application, slow in the ways real ones are.

WSGI, Python standard library and sqlite3 only; Apache runs it with
mod_wsgi in daemon mode (demo/httpd.conf.in).  The database comes from
demo/seed.py; its path is the REQPERF_DEMO_DB variable (SetEnv in the
Apache configuration, or the process environment).

    GET  /                      dashboard (counts, totals)       max-age=30
    GET  /invoices?status=&q=   the first 50 matching invoices   max-age=60
    GET  /invoices/<id>         one invoice, with a "mark paid" form
    GET  /customers/<id>        a customer and their invoices, with a
                                "send a reminder" form (CSRF-protected)
    POST /customers/<id>/remind the form's target; 303 to the customer
    GET  /reports/monthly       the monthly report (slow)        max-age=300
    GET  /login, POST /login    sets the sessionid cookie, 303 to /account
    GET  /account               the signed-in user's page: private
    POST /logout
    POST /invoices/<id>/pay     marks it paid; 303 to /invoices/<id>

Why it is slow (on purpose, and typical):
  * the invoice list filters with memo LIKE '%...%' over an unindexed
    table, and then, for each of the 50 rows shown, asks for the
    customer's open balance: one more full scan per row (an "N+1" over
    a missing index on invoices.customer_id);
  * the monthly report aggregates every invoice and then waits on a
    (simulated) exchange-rate service.

How it tells mod_reqperf where its time goes (Server-Timing):
  * a small WSGI middleware (server_timing below, the kind of thing a
    Django site adds as a middleware) times every SQL query, the HTML
    rendering and the exchange-rate call, and sends them in a W3C
    Server-Timing header: one `db;dur=<ms>` entry per query, so the
    number of entries is the number of queries (the N+1 shows as about
    50 `db` entries on the invoice list), plus `tpl` and `rates`;
  * mod_reqperf reads the header per route (ReqPerfAppTiming, on by
    default) and its status page splits each route's handler time into
    what the application reported and the rest.

How it cooperates with mod_reqperf's page cache:
  * public pages say how long they may be cached (Cache-Control max-age)
    and name what they show in X-ReqPerf-Tags (invoice-<id>,
    customer-<id>, invoices, dashboard); Apache removes that header;
  * paying an invoice answers with X-ReqPerf-Purge naming the same tags,
    so every cached page that showed the invoice is dropped at once;
  * /account is personal: Cache-Control: private, and it is only ever
    requested with the sessionid cookie, which mod_reqperf treats as
    personal (only the analytics cookies _ga* are ignored), so it is
    never served from nor stored in the cache.

How it keeps a page out of the cache without meaning to (on purpose: the
kind of thing mod_reqperf's advisor finds, see ReqPerfCache Observe):
  * the customer page carries a "send a reminder" form protected the way
    Django protects forms: a csrftoken cookie, set on the response when
    the visitor has none, and the same token in a hidden field.  A
    response with Set-Cookie is never stored, so the page is as public as
    any other and yet cannot be cached.
"""
import datetime
import html
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
import traceback
from urllib.parse import parse_qs

LIST_LIMIT = 50
REPORT_EXTERNAL_WAIT_S = 1.0       # the "exchange-rate service"
SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"          # as Django names it


class HTTPError(Exception):
    def __init__(self, status, message, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def money(cents):
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    return "\u20ac%s%s.%02d" % (sign, "{:,}".format(abs(cents) // 100),
                                abs(cents) % 100)


def db_path(environ):
    return environ.get("REQPERF_DEMO_DB") or os.environ.get(
        "REQPERF_DEMO_DB", "billing.sqlite3")


# ---------------------------------------------------------------- timing

# The request being timed on this thread (mod_wsgi runs requests on
# several threads; Django keeps its database connections per thread too).
_timing = threading.local()

# More entries than this are summed into one, so the header stays short:
# header lines from a backend are limited (8190 bytes through mod_proxy).
SERVER_TIMING_MAX_ENTRIES = 64


class Timings:
    """What one request spent, by kind: SQL queries one by one, the
    rendering, external calls."""

    def __init__(self):
        self.queries = []          # seconds, one per query
        self.spans = {}            # name -> seconds

    def add(self, name, seconds):
        self.spans[name] = self.spans.get(name, 0.0) + seconds

    def header(self):
        """'db;dur=0.412, db;dur=1.3, ..., tpl;dur=2.1': milliseconds."""
        q = self.queries
        entries = ["db;dur=%.3f" % (s * 1000)
                   for s in q[:SERVER_TIMING_MAX_ENTRIES]]
        if len(q) > SERVER_TIMING_MAX_ENTRIES:
            rest = q[SERVER_TIMING_MAX_ENTRIES:]
            entries.append('db;dur=%.3f;desc="%d more queries"'
                           % (sum(rest) * 1000, len(rest)))
        entries += ["%s;dur=%.3f" % (name, s * 1000)
                    for name, s in sorted(self.spans.items())]
        return ", ".join(entries)


class TimedConnection(sqlite3.Connection):
    """A sqlite3 connection that times each query, reading it whole (the
    queries here return a page of rows at most)."""

    def execute(self, sql, params=()):
        started = time.monotonic()
        rows = super().execute(sql, params).fetchall()
        timings = getattr(_timing, "current", None)
        if timings is not None:
            timings.queries.append(time.monotonic() - started)
        return _Rows(rows)


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows


def timed(name):
    """Decorator: the time spent in the function counts under `name`."""
    def wrap(fn):
        def run(*args, **kw):
            started = time.monotonic()
            try:
                return fn(*args, **kw)
            finally:
                timings = getattr(_timing, "current", None)
                if timings is not None:
                    timings.add(name, time.monotonic() - started)
        return run
    return wrap


def server_timing(app):
    """WSGI middleware: a Server-Timing header on every response, from
    what the request spent (see Timings)."""
    def middleware(environ, start_response):
        timings = _timing.current = Timings()

        def respond(status, headers, exc_info=None):
            value = timings.header()
            if value:
                headers = list(headers) + [("Server-Timing", value)]
            return start_response(status, headers, exc_info)
        try:
            return app(environ, respond)
        finally:
            _timing.current = None
    return middleware


def connect(environ):
    # One connection per request: mod_wsgi runs requests on several
    # threads, and a sqlite3 connection belongs to the thread that made it.
    db = sqlite3.connect(db_path(environ), timeout=10,
                         factory=TimedConnection)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 10000")
    return db


# ---------------------------------------------------------------- HTML

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;
color:#1d2433;background:#f5f6f8}
header{background:#1d2433;color:#fff;padding:.7em 1.5em;display:flex;
gap:1.4em;align-items:baseline}
header a{color:#cfd8ea;text-decoration:none}header a:hover{color:#fff}
header strong{font-size:1.1em;margin-right:1em}
main{max-width:1100px;margin:1.5em auto;padding:0 1.5em}
h1{font-size:1.5em;margin:.2em 0 .8em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e6ec;
vertical-align:top}
th{background:#eef1f6;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin-bottom:1.5em}
.card{background:#fff;border:1px solid #e3e6ec;border-radius:6px;
padding:.8em 1.2em;min-width:12em}
.card b{display:block;font-size:1.4em}
.paid{color:#1a7f37}.unpaid{color:#b42318}
.memo{color:#5b6475;font-size:.9em}
form.filter{margin-bottom:1em;display:flex;gap:.6em;align-items:center}
input,select,button{font:inherit;padding:.25em .5em}
button{background:#2456c7;color:#fff;border:0;border-radius:4px;
padding:.35em .9em;cursor:pointer}
.note{background:#fff8e1;border:1px solid #f0d48a;padding:.6em 1em;
border-radius:6px}
footer{max-width:1100px;margin:2em auto;padding:0 1.5em;color:#7a8396;
font-size:.85em}
"""


@timed("tpl")
def page(title, body, started, user_nav=True):
    took_ms = (time.monotonic() - started) * 1000.0
    now = datetime.datetime.now().strftime("%H:%M:%S")
    nav = ('<a href="/">Dashboard</a><a href="/invoices">Invoices</a>'
           '<a href="/invoices?status=unpaid">Unpaid</a>'
           '<a href="/reports/monthly">Monthly report</a>')
    if user_nav:
        nav += '<a href="/account">My account</a>'
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>%s \u2013 Billing</title><style>%s</style></head><body>"
            "<header><strong>Billing</strong>%s</header><main>%s</main>"
            "<footer>Generated by the application at %s in %.0f ms. "
            "A page served from mod_reqperf's cache keeps the time it was "
            "generated; see its X-Cache and Age headers.</footer>"
            "</body></html>\n" % (esc(title), CSS, nav, body, esc(now),
                                  took_ms))


def status_span(status):
    return '<span class="%s">%s</span>' % (
        "paid" if status == "paid" else "unpaid", esc(status))


# ---------------------------------------------------------------- pages

def dashboard(environ, db, started):
    row = db.execute("""
        SELECT count(*) AS n,
               sum(amount_cents) AS total,
               sum(status = 'unpaid') AS n_unpaid,
               sum(CASE WHEN status = 'unpaid' THEN amount_cents END) AS unpaid,
               sum(status = 'unpaid' AND due_date < date('2026-01-01'))
                   AS n_overdue
        FROM invoices""").fetchone()
    n_customers = db.execute("SELECT count(*) FROM customers").fetchone()[0]
    top = db.execute("""
        SELECT c.id, c.company, count(*) AS n, sum(i.amount_cents) AS owed
        FROM invoices i JOIN customers c ON c.id = i.customer_id
        WHERE i.status = 'unpaid'
        GROUP BY c.id ORDER BY owed DESC LIMIT 10""").fetchall()
    cards = "".join(
        '<div class="card">%s<b>%s</b></div>' % (esc(k), esc(v)) for k, v in (
            ("Customers", n_customers),
            ("Invoices", row["n"]),
            ("Invoiced", money(row["total"])),
            ("Unpaid invoices", row["n_unpaid"]),
            ("Outstanding", money(row["unpaid"])),
            ("Overdue (due before 2026)", row["n_overdue"])))
    rows = "".join(
        '<tr><td><a href="/customers/%d">%s</a></td><td class="num">%d</td>'
        '<td class="num">%s</td></tr>' % (r["id"], esc(r["company"]), r["n"],
                                          esc(money(r["owed"])))
        for r in top)
    body = ('<h1>Dashboard</h1><div class="cards">%s</div>'
            '<h2>Largest outstanding balances</h2><table><tr><th>Customer</th>'
            '<th class="num">Unpaid invoices</th><th class="num">Owed</th>'
            '</tr>%s</table>' % (cards, rows))
    return 200, page("Dashboard", body, started), [
        ("Cache-Control", "public, max-age=30"),
        ("X-ReqPerf-Tags", "dashboard")]


def invoice_list(environ, db, started):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    status = qs.get("status", [""])[0]
    if status not in ("", "paid", "unpaid"):
        status = ""
    q = qs.get("q", [""])[0].strip()[:100]
    where, params = [], {}
    if status:
        where.append("i.status = :status")
        params["status"] = status
    if q:
        # unindexed: every memo and every customer name is read
        where.append("(i.memo LIKE :q ESCAPE '\\' OR c.company LIKE :q "
                     "ESCAPE '\\' OR c.name LIKE :q ESCAPE '\\')")
        params["q"] = "%" + q.replace("\\", "\\\\").replace(
            "%", "\\%").replace("_", "\\_") + "%"
    sql_where = (" WHERE " + " AND ".join(where)) if where else ""
    n, total = db.execute(
        "SELECT count(*), sum(i.amount_cents) FROM invoices i "
        "JOIN customers c ON c.id = i.customer_id" + sql_where,
        params).fetchone()
    rows = db.execute(
        "SELECT i.id, i.customer_id, c.company, i.amount_cents, i.status, "
        "i.due_date, i.memo FROM invoices i "
        "JOIN customers c ON c.id = i.customer_id" + sql_where +
        " ORDER BY i.due_date DESC, i.id DESC LIMIT %d" % LIST_LIMIT,
        params).fetchall()
    out = []
    for r in rows:
        # the customer's open balance, one query per row: the classic N+1,
        # each a full scan (no index on invoices.customer_id)
        owed = db.execute(
            "SELECT coalesce(sum(amount_cents), 0) FROM invoices "
            "WHERE customer_id = ? AND status = 'unpaid'",
            (r["customer_id"],)).fetchone()[0]
        out.append(
            '<tr><td><a href="/invoices/%d">#%d</a></td>'
            '<td><a href="/customers/%d">%s</a></td><td class="num">%s</td>'
            '<td>%s</td><td>%s</td><td class="num">%s</td>'
            '<td class="memo">%s</td></tr>'
            % (r["id"], r["id"], r["customer_id"], esc(r["company"]),
               esc(money(r["amount_cents"])), status_span(r["status"]),
               esc(r["due_date"]), esc(money(owed)), esc(r["memo"])))
    options = "".join('<option value="%s"%s>%s</option>' % (
        esc(v), " selected" if v == status else "", esc(label))
        for v, label in (("", "any status"), ("unpaid", "unpaid"),
                         ("paid", "paid")))
    body = ('<h1>Invoices</h1><form class="filter" method="get" '
            'action="/invoices"><select name="status">%s</select>'
            '<input name="q" value="%s" placeholder="memo or customer" '
            'size="30"><button type="submit">Filter</button></form>'
            '<p>%d matching invoices, %s in all; showing the first %d.</p>'
            '<table><tr><th>Invoice</th><th>Customer</th>'
            '<th class="num">Amount</th><th>Status</th><th>Due</th>'
            '<th class="num">Customer owes</th><th>Memo</th></tr>%s</table>'
            % (options, esc(q), n, esc(money(total)), min(n, LIST_LIMIT),
               "".join(out)))
    return 200, page("Invoices", body, started), [
        ("Cache-Control", "public, max-age=60"),
        ("X-ReqPerf-Tags", "invoices")]


def invoice_detail(environ, db, started, invoice_id):
    inv = db.execute("SELECT * FROM invoices WHERE id = ?",
                     (invoice_id,)).fetchone()
    if inv is None:
        raise HTTPError(404, "There is no invoice #%d." % invoice_id)
    cust = db.execute("SELECT * FROM customers WHERE id = ?",
                      (inv["customer_id"],)).fetchone()
    others = db.execute(
        "SELECT id, amount_cents, due_date FROM invoices "
        "WHERE customer_id = ? AND status = 'unpaid' AND id != ? "
        "ORDER BY due_date LIMIT 10",
        (inv["customer_id"], invoice_id)).fetchall()
    if inv["status"] == "unpaid":
        action = ('<form method="post" action="/invoices/%d/pay">'
                  '<button type="submit">Mark as paid</button></form>'
                  % invoice_id)
    else:
        action = "<p>Paid on %s.</p>" % esc(inv["paid_at"])
    other_rows = "".join(
        '<li><a href="/invoices/%d">#%d</a> %s, due %s</li>'
        % (o["id"], o["id"], esc(money(o["amount_cents"])),
           esc(o["due_date"])) for o in others) or "<li>none</li>"
    body = ('<h1>Invoice #%d %s</h1><table>'
            '<tr><th>Customer</th><td><a href="/customers/%d">%s</a> (%s)'
            '</td></tr><tr><th>Amount</th><td>%s</td></tr>'
            '<tr><th>Issued</th><td>%s</td></tr><tr><th>Due</th><td>%s</td>'
            '</tr><tr><th>Memo</th><td>%s</td></tr></table><p>%s</p>'
            '<h2>Other unpaid invoices of this customer</h2><ul>%s</ul>'
            % (invoice_id, status_span(inv["status"]), cust["id"],
               esc(cust["company"]), esc(cust["name"]),
               esc(money(inv["amount_cents"])), esc(inv["issued"]),
               esc(inv["due_date"]), esc(inv["memo"]), action, other_rows))
    return 200, page("Invoice #%d" % invoice_id, body, started), [
        ("Cache-Control", "public, max-age=60"),
        ("X-ReqPerf-Tags", "invoice-%d customer-%d"
         % (invoice_id, cust["id"]))]


def csrf_token(environ, headers):
    """The visitor's CSRF token (Django's double-submit cookie): the one
    their csrftoken cookie holds, else a new one, set on this response."""
    token = cookies(environ).get(CSRF_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token):
        token = secrets.token_urlsafe(24)
        headers.append(("Set-Cookie", "%s=%s; Path=/; SameSite=Lax"
                        % (CSRF_COOKIE, token)))
    return token


def customer_page(environ, db, started, customer_id):
    cust = db.execute("SELECT * FROM customers WHERE id = ?",
                      (customer_id,)).fetchone()
    if cust is None:
        raise HTTPError(404, "There is no customer #%d." % customer_id)
    invoices = db.execute(
        "SELECT id, amount_cents, status, due_date, memo FROM invoices "
        "WHERE customer_id = ? ORDER BY due_date DESC",
        (customer_id,)).fetchall()
    owed = sum(r["amount_cents"] for r in invoices if r["status"] == "unpaid")
    rows = "".join(
        '<tr><td><a href="/invoices/%d">#%d</a></td><td class="num">%s</td>'
        '<td>%s</td><td>%s</td><td class="memo">%s</td></tr>'
        % (r["id"], r["id"], esc(money(r["amount_cents"])),
           status_span(r["status"]), esc(r["due_date"]), esc(r["memo"]))
        for r in invoices)
    headers = [("Cache-Control", "public, max-age=60"),
               ("X-ReqPerf-Tags", "customer-%d" % customer_id)]
    form = ('<form method="post" action="/customers/%d/remind">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="%s">'
            '<button type="submit">Send a payment reminder</button></form>'
            % (customer_id, esc(csrf_token(environ, headers))))
    body = ('<h1>%s</h1><p>%s &lt;%s&gt;, %s, customer since %s.</p>'
            '<div class="cards"><div class="card">Invoices<b>%d</b></div>'
            '<div class="card">Owed<b>%s</b></div></div>%s'
            '<table><tr><th>Invoice</th><th class="num">Amount</th>'
            '<th>Status</th><th>Due</th><th>Memo</th></tr>%s</table>'
            % (esc(cust["company"]), esc(cust["name"]), esc(cust["email"]),
               esc(cust["city"]), esc(cust["since"]), len(invoices),
               esc(money(owed)), form, rows))
    return 200, page(cust["company"], body, started), headers


def remind(environ, db, started, customer_id):
    sent = read_form(environ).get("csrfmiddlewaretoken", [""])[0]
    token = cookies(environ).get(CSRF_COOKIE, "")
    if not token or not secrets.compare_digest(sent, token):
        raise HTTPError(403, "CSRF verification failed.")
    if db.execute("SELECT 1 FROM customers WHERE id = ?",
                  (customer_id,)).fetchone() is None:
        raise HTTPError(404, "There is no customer #%d." % customer_id)
    return 303, "", [("Location", "/customers/%d" % customer_id),
                     ("Cache-Control", "no-store")]


def monthly_report(environ, db, started):
    months = db.execute("""
        SELECT substr(issued, 1, 7) AS month,
               count(*) AS n,
               count(DISTINCT customer_id) AS customers,
               sum(amount_cents) AS invoiced,
               sum(CASE WHEN status = 'paid' THEN amount_cents ELSE 0 END)
                   AS paid,
               avg(CASE WHEN paid_at IS NOT NULL
                        THEN julianday(paid_at) - julianday(issued) END)
                   AS days_to_pay,
               sum(length(memo)) AS memo_chars
        FROM invoices GROUP BY month ORDER BY month""").fetchall()
    # per month, the share of revenue from its ten largest customers: a
    # correlated aggregate over the whole table for every month
    top_share = {}
    for m in months:
        top = db.execute("""
            SELECT sum(s) FROM (SELECT sum(amount_cents) AS s FROM invoices
                                WHERE substr(issued, 1, 7) = ?
                                GROUP BY customer_id ORDER BY s DESC
                                LIMIT 10)""", (m["month"],)).fetchone()[0]
        top_share[m["month"]] = 100.0 * (top or 0) / (m["invoiced"] or 1)
    # and the exchange rates for the report's currency column come from a
    # slow external service (simulated)
    exchange_rates()
    rows = "".join(
        '<tr><td>%s</td><td class="num">%d</td><td class="num">%d</td>'
        '<td class="num">%s</td><td class="num">%s</td><td class="num">%s'
        '</td><td class="num">%.1f</td><td class="num">%.0f%%</td></tr>'
        % (esc(m["month"]), m["n"], m["customers"], esc(money(m["invoiced"])),
           esc(money(m["paid"])), esc(money(m["invoiced"] - m["paid"])),
           m["days_to_pay"] or 0.0, top_share[m["month"]])
        for m in months)
    body = ('<h1>Monthly report</h1><p class="note">This report reads every '
            'invoice and waits on an exchange-rate service: about a second '
            'or two. It may be cached for five minutes.</p>'
            '<table><tr><th>Month</th><th class="num">Invoices</th>'
            '<th class="num">Customers</th><th class="num">Invoiced</th>'
            '<th class="num">Paid</th><th class="num">Open</th>'
            '<th class="num">Days to pay</th><th class="num">Top-10 share'
            '</th></tr>%s</table>' % rows)
    return 200, page("Monthly report", body, started), [
        ("Cache-Control", "public, max-age=300"),
        ("X-ReqPerf-Tags", "invoices")]


@timed("rates")
def exchange_rates():
    """The slow external service the monthly report waits on."""
    time.sleep(REPORT_EXTERNAL_WAIT_S)


def read_form(environ):
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = 0
    if n > 10000:
        raise HTTPError(413, "Form too large.")
    data = environ["wsgi.input"].read(n) if n > 0 else b""
    return parse_qs(data.decode("utf-8", "replace"))


def pay(environ, db, started, invoice_id):
    row = db.execute("SELECT customer_id FROM invoices WHERE id = ?",
                     (invoice_id,)).fetchone()
    if row is None:
        raise HTTPError(404, "There is no invoice #%d." % invoice_id)
    db.execute("UPDATE invoices SET status = 'paid', "
               "paid_at = coalesce(paid_at, date('now')) WHERE id = ?",
               (invoice_id,))
    db.commit()
    cid = row["customer_id"]
    # every cached page that shows this invoice goes at once
    purge = "tag=invoice-%d tag=customer-%d tag=dashboard tag=invoices" % (
        invoice_id, cid)
    return 303, "", [("Location", "/invoices/%d" % invoice_id),
                     ("Cache-Control", "no-store"),
                     ("X-ReqPerf-Purge", purge)]


def cookies(environ):
    out = {}
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            out.setdefault(name, value)
    return out


def session_user(environ, db):
    token = cookies(environ).get(SESSION_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token):
        return None, None
    row = db.execute("SELECT user, created FROM sessions WHERE token = ?",
                     (token,)).fetchone()
    return (row["user"], row["created"]) if row else (None, None)


def login_form(environ, db, started, message=""):
    body = ('<h1>Sign in</h1>%s<form method="post" action="/login">'
            '<label>User name <input name="user" required maxlength="40">'
            '</label> <button type="submit">Sign in</button></form>'
            '<p class="memo">(A demo: any name will do.)</p>'
            % ('<p class="note">%s</p>' % esc(message) if message else ""))
    return 200, page("Sign in", body, started), [
        ("Cache-Control", "public, max-age=300")]


def login(environ, db, started):
    user = read_form(environ).get("user", [""])[0].strip()[:40]
    if not user:
        status, body, headers = login_form(environ, db, started,
                                           "Please give a user name.")
        return 400, body, [("Cache-Control", "no-store")]
    token = secrets.token_urlsafe(24)
    db.execute("INSERT INTO sessions VALUES (?, ?, ?)",
               (token, user, datetime.datetime.now().isoformat(
                   timespec="seconds")))
    db.commit()
    return 303, "", [
        ("Location", "/account"), ("Cache-Control", "no-store"),
        ("Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Lax"
         % (SESSION_COOKIE, token))]


def logout(environ, db, started):
    token = cookies(environ).get(SESSION_COOKIE, "")
    db.execute("DELETE FROM sessions WHERE token = ?", (token,))
    db.commit()
    return 303, "", [
        ("Location", "/login"), ("Cache-Control", "no-store"),
        ("Set-Cookie", "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
         % SESSION_COOKIE)]


def account(environ, db, started):
    user, since = session_user(environ, db)
    if user is None:
        return 303, "", [("Location", "/login"), ("Cache-Control", "no-store")]
    body = ('<h1>Hello, %s</h1><p class="note">This page is private: it is '
            'sent with <code>Cache-Control: private</code>, and it is only '
            'ever requested with your <code>sessionid</code> cookie, which '
            'mod_reqperf treats as personal, so it is never served from '
            'nor stored in the shared cache. Another user never sees it.</p>'
            '<p>Signed in as <strong>%s</strong> since %s.</p>'
            '<form method="post" action="/logout"><button type="submit">'
            'Sign out</button></form>' % (esc(user), esc(user), esc(since)))
    return 200, page("My account", body, started), [
        ("Cache-Control", "private")]


# ---------------------------------------------------------------- routing

ROUTES = [
    ("GET", re.compile(r"/"), dashboard),
    ("GET", re.compile(r"/invoices/?"), invoice_list),
    ("GET", re.compile(r"/invoices/([0-9]{1,9})"), invoice_detail),
    ("POST", re.compile(r"/invoices/([0-9]{1,9})/pay"), pay),
    ("GET", re.compile(r"/customers/([0-9]{1,9})"), customer_page),
    ("POST", re.compile(r"/customers/([0-9]{1,9})/remind"), remind),
    ("GET", re.compile(r"/reports/monthly"), monthly_report),
    ("GET", re.compile(r"/login"), login_form),
    ("POST", re.compile(r"/login"), login),
    ("POST", re.compile(r"/logout"), logout),
    ("GET", re.compile(r"/account"), account),
]

REASONS = {200: "OK", 303: "See Other", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 500: "Internal Server Error"}


def dispatch(environ, db, started):
    path = environ.get("PATH_INFO") or "/"
    method = environ.get("REQUEST_METHOD", "GET")
    allowed = []
    for route_method, regex, view in ROUTES:
        m = regex.fullmatch(path)
        if m is None:
            continue
        if route_method == method or (route_method == "GET"
                                      and method == "HEAD"):
            args = [int(g) for g in m.groups()]
            return view(environ, db, started, *args)
        allowed.append(route_method)
    if allowed:
        if "GET" in allowed:
            allowed.append("HEAD")
        raise HTTPError(405, "Method not allowed.",
                        [("Allow", ", ".join(sorted(set(allowed))))])
    raise HTTPError(404, "Nothing here.")


def billing(environ, start_response):
    started = time.monotonic()
    db = None
    try:
        db = connect(environ)
        status, body, headers = dispatch(environ, db, started)
    except HTTPError as e:
        status = e.status
        body = page(REASONS.get(e.status, "Error"),
                    "<h1>%s</h1><p>%s</p>" % (esc(REASONS.get(e.status)),
                                              esc(e.message)), started)
        headers = e.headers + [("Cache-Control", "public, max-age=30"
                                if status == 404 else "no-store")]
    except Exception:
        traceback.print_exc(file=environ.get("wsgi.errors", sys.stderr))
        status = 500
        body = page("Error", "<h1>Something went wrong</h1>", started)
        headers = [("Cache-Control", "no-store")]
    finally:
        if db is not None:
            db.close()
    data = body.encode("utf-8")
    headers = [("Content-Type", "text/html; charset=utf-8"),
               ("Content-Length", str(len(data)))] + headers
    start_response("%d %s" % (status, REASONS.get(status, "Unknown")),
                   headers)
    return [data]


# what mod_wsgi calls: the application, timed
application = server_timing(billing)


if __name__ == "__main__":
    # python3 demo/app.py DB [PORT]: run it alone, without Apache
    from wsgiref.simple_server import make_server
    os.environ["REQPERF_DEMO_DB"] = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    print("http://127.0.0.1:%d/" % port)
    make_server("127.0.0.1", port, application).serve_forever()
