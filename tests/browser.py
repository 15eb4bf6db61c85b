#!/usr/bin/env python3
"""A stand-in web browser for ``oauthcli login`` tests: use it as ``$BROWSER``.

Python's ``webbrowser`` runs ``$BROWSER URL`` and waits for it. This script detaches at
once (double fork; the command exits 0 immediately), then, in the background, plays the
user on the test authorization server with plain HTTP (a ``requests`` session, no JS):
open the authorize URL, log in on the login page, answer the consent page, and follow
the redirect to the loopback ``redirect_uri`` with a GET: the request that reaches the
product's listener.

Environment (``AuthServer.browser_env()`` builds it):

- ``TEST_BROWSER_ACTION``: what the user does (default ``approve``):
  ``approve``   press "Authorize", then GET the callback;
  ``deny``      press "Cancel": the callback gets ``error=access_denied`` (and ``state``);
  ``bad_state`` approve, but GET the callback with a tampered ``state``;
  ``no_state``  approve, but GET the callback without ``state``;
  ``bad_iss``   approve, but GET the callback with ``iss=https://evil.example``;
  ``twice``     approve, GET the callback, then the same URL again;
  ``favicon``   approve, GET ``/favicon.ico`` on the listener first, then the callback;
  ``none``      approve, and never call back (the code is issued, nobody delivers it).
- ``TEST_BROWSER_USERNAME`` / ``TEST_BROWSER_PASSWORD``: the test user.
- ``TEST_BROWSER_LOG``: a file that gets one JSON object per line (``event``: ``start``,
  ``request``, ``login``, ``consent``, ``callback``, ``skip_callback``, ``error``,
  ``done``; ``done`` has ``ok`` and, when called back, ``callback_status``/``callback_body``).
- ``TEST_BROWSER_DELAY``: seconds to wait before the callback GET (default 0).
- ``TEST_BROWSER_PYTHON``: an interpreter with ``requests``; the script re-executes itself
  with it (the ``#!`` line finds whatever ``python3`` is first on PATH).
- ``TEST_BROWSER_FOREGROUND=1``: do not detach (debugging).

Importable: :func:`authorize` (the same flow, in-process), :func:`device_decision`
(approve or deny a device ``user_code`` on the verification pages), :func:`read_log`,
:func:`wait_for_done`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

ACTIONS = ("approve", "deny", "bad_state", "no_state", "bad_iss", "twice", "favicon", "none")
MAX_HOPS = 20


# -- log -------------------------------------------------------------------------------


class Log:
    def __init__(self, path: str | None):
        self.path = path

    def __call__(self, event: str, **fields: Any) -> None:
        if not self.path:
            return
        line = json.dumps({"t": time.time(), "pid": os.getpid(), "event": event, **fields})
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The events written so far (an absent file: none)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_for_done(path: str | os.PathLike, timeout: float = 15.0) -> dict[str, Any]:
    """The ``done`` event, once written; AssertionError with the whole log after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        events = read_log(path)
        done = [e for e in events if e["event"] == "done"]
        if done:
            return done[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"the test browser did not finish in {timeout} s: {events}")
        time.sleep(0.02)


# -- HTML forms ------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Every <form> with its inputs and buttons (name, value, type)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({**a, "fields": []})
        elif tag in ("input", "button", "textarea") and self.forms:
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            self.forms[-1]["fields"].append((a.get("name", ""), a.get("value", ""), kind))


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def _form_data(form: dict[str, Any], press: str | None = None, **values: str) -> dict[str, str]:
    """Non-submit fields with their values (overridden by ``values``), plus the submit
    button named ``press`` (None: a nameless one, like DOT's Cancel)."""
    data = {name: value for name, value, kind in form["fields"] if name and kind != "submit"}
    data.update(values)
    for name, value, kind in form["fields"]:
        if kind == "submit" and name and name == press:
            data[name] = value
    return data


def _find_form(html: str, field: str) -> dict[str, Any] | None:
    for form in forms_of(html):
        if any(name == field for name, _, _ in form["fields"]):
            return form
    return None


# -- navigation ------------------------------------------------------------------------


def _session():
    import requests

    session = requests.Session()
    session.trust_env = False  # never a proxy from the environment
    return session


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class Browser:
    """A requests session that follows redirects on the server's origin only, and logs in
    whenever a login form (a form with a ``password`` field) appears."""

    def __init__(self, username: str, password: str, log: Log):
        self.session = _session()
        self.username = username
        self.password = password
        self.log = log
        self.server: tuple[str, str] | None = None

    def go(self, method: str, url: str, data: dict[str, str] | None = None):
        """Returns ``(response, None)`` for a page, or ``(None, url)`` for a redirect that
        leaves the server's origin (the callback, not followed)."""
        self.server = self.server or _origin(url)
        for _ in range(MAX_HOPS):
            headers = {"Referer": url} if method == "POST" else {}
            r = self.session.request(
                method, url, data=data, headers=headers, allow_redirects=False, timeout=10
            )
            self.log("request", method=method, url=url, status=r.status_code)
            if r.is_redirect or r.status_code in (301, 302, 303, 307, 308):
                target = urljoin(url, r.headers["Location"])
                if _origin(target) != self.server:
                    return None, target
                method, url, data = "GET", target, None
                continue
            login = _find_form(r.text, "password") if r.status_code == 200 else None
            if login is None:
                return r, None
            self.log("login", url=r.url, username=self.username)
            action = urljoin(r.url, login.get("action") or r.url)
            values = {"username": self.username, "password": self.password}
            method, url, data = "POST", action, _form_data(login, **values)
        raise RuntimeError(f"more than {MAX_HOPS} hops from {url}")


# -- the authorization code flow ---------------------------------------------------------


def _tamper(callback: str, action: str) -> str:
    parts = urlsplit(callback)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if action == "bad_state":
        query = [(k, "tampered-" + v if k == "state" else v) for k, v in query]
        if not any(k == "state" for k, _ in query):
            query.append(("state", "tampered"))
    elif action == "no_state":
        query = [(k, v) for k, v in query if k != "state"]
    elif action == "bad_iss":
        query = [(k, v) for k, v in query if k != "iss"] + [("iss", "https://evil.example")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _call_back(browser: Browser, callback: str, action: str, delay: float) -> dict[str, Any]:
    if delay:
        time.sleep(delay)
    session, log = browser.session, browser.log
    if action == "favicon":
        icon = urljoin(callback, "/favicon.ico")
        try:
            r = session.get(icon, allow_redirects=False, timeout=10)
            log("favicon", url=icon, status=r.status_code)
        except Exception as exc:  # the listener may well drop it
            log("favicon", url=icon, error=repr(exc))
    url = _tamper(callback, action)
    result: dict[str, Any] = {}
    for _ in range(2 if action == "twice" else 1):
        try:
            r = session.get(url, allow_redirects=False, timeout=10)
        except Exception as exc:
            log("callback", url=url, error=repr(exc))
            result = {"callback_error": repr(exc)}
            continue
        log("callback", url=url, status=r.status_code, body=r.text[:2000])
        result = {"callback_status": r.status_code, "callback_body": r.text[:2000]}
    return result


def authorize(
    url: str,
    action: str = "approve",
    username: str = "",
    password: str = "",
    log: Log | None = None,
    delay: float = 0.0,
) -> dict[str, Any]:
    """Play the user on an authorize URL; returns what the ``done`` event records."""
    log = log or Log(None)
    if action not in ACTIONS:
        raise ValueError(f"TEST_BROWSER_ACTION must be one of {', '.join(ACTIONS)}: {action!r}")
    browser = Browser(username, password, log)
    page, callback = browser.go("GET", url)
    if page is not None:
        consent = _find_form(page.text, "allow")
        if consent is None:
            log("error", reason="no consent form", status=page.status_code, body=page.text[:2000])
            return {"ok": False, "reason": "no consent form", "status": page.status_code}
        press = None if action == "deny" else "allow"
        log("consent", url=page.url, press=press or "cancel")
        action_url = urljoin(page.url, consent.get("action") or page.url)
        page, callback = browser.go("POST", action_url, _form_data(consent, press=press))
    if callback is None:
        assert page is not None
        log("error", reason="no redirect to the client", status=page.status_code)
        return {"ok": False, "reason": "no redirect to the client", "status": page.status_code}
    if action == "none":
        log("skip_callback", url=callback)
        return {"ok": True, "callback": callback, "called_back": False}
    return {"ok": True, "callback": callback, "called_back": True,
            **_call_back(browser, callback, action, delay)}  # fmt: skip


# -- the device flow ---------------------------------------------------------------------


def device_decision(
    verification_uri: str,
    user_code: str,
    username: str,
    password: str,
    approve: bool = True,
    log: Log | None = None,
) -> dict[str, Any]:
    """Approve or deny ``user_code`` as a user would: log in on the verification page,
    enter the code, press Accept (or Deny). Returns ``{"ok": bool, "status_page": text,
    ...}``; ``ok`` is False when the server refused the code (unknown, expired, used)."""
    log = log or Log(None)
    browser = Browser(username, password, log)
    page, _ = browser.go("GET", verification_uri)
    form = _find_form(page.text, "user_code") if page is not None else None
    if form is None:
        return {"ok": False, "reason": "no user code form"}
    action = urljoin(page.url, form.get("action") or page.url)
    page, _ = browser.go("POST", action, _form_data(form, user_code=user_code))
    form = _find_form(page.text, "action") if page is not None else None
    if form is None:  # the code form again, with its errors
        body = page.text if page is not None else ""
        log("error", reason="user code refused", body=body[:2000])
        return {"ok": False, "reason": "user code refused", "body": body[:2000]}
    decision = "accept" if approve else "deny"
    data = _form_data(form, action=decision)
    page, _ = browser.go("POST", urljoin(page.url, form.get("action") or page.url), data)
    text = page.text if page is not None else ""
    log("device_decision", user_code=user_code, decision=decision, status=page.status_code)
    expected = "Authorized" if approve else "Denied"
    return {"ok": expected in text, "decision": decision, "status_page": text[:2000]}


# -- the command ---------------------------------------------------------------------------


def _reexec_with_test_python() -> None:
    python = os.environ.get("TEST_BROWSER_PYTHON")
    if not python or os.environ.get("_TEST_BROWSER_REEXEC"):
        return
    # Paths, not realpaths: a venv's python is a symlink to the system one it differs from.
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return
    os.environ["_TEST_BROWSER_REEXEC"] = "1"
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def _detach() -> bool:
    """Double fork: True in the background grandchild; the original process exits 0."""
    if os.environ.get("TEST_BROWSER_FOREGROUND") == "1" or not hasattr(os, "fork"):
        return True
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the middle child exits at once
        os._exit(0)
    os.setsid()  # out of the caller's session and process group (no Ctrl-C, no SIGHUP)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # never hold the caller's pipes open
        os.dup2(devnull, fd)
    if os.fork():
        os._exit(0)
    return True


def main(argv: list[str]) -> int:
    _reexec_with_test_python()
    if len(argv) != 2:
        sys.stderr.write("usage: browser.py URL\n")
        return 2
    url = argv[1]
    env = os.environ
    log = Log(env.get("TEST_BROWSER_LOG"))
    _detach()
    action = env.get("TEST_BROWSER_ACTION", "approve")
    log("start", url=url, action=action, argv=argv)
    try:
        result = authorize(
            url,
            action=action,
            username=env.get("TEST_BROWSER_USERNAME", ""),
            password=env.get("TEST_BROWSER_PASSWORD", ""),
            log=log,
            delay=float(env.get("TEST_BROWSER_DELAY", "0") or 0),
        )
    except Exception as exc:
        log("error", reason=repr(exc))
        result = {"ok": False, "reason": repr(exc)}
    log("done", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
