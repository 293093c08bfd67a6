"""Who may talk to the server, and what a request may carry.

- Without a token the server listens on loopback only (`check_listen`), and answers only requests whose Host
  is a loopback name, so that a web page whose domain is made to resolve to 127.0.0.1 (DNS rebinding) cannot
  read it.
- With a token every request carries it: `Authorization: Bearer TOKEN`, or the session cookie the login form
  sets (an HMAC of the token, never the token itself).
- A request that changes something must prove it was not forged by another site (`forged`): it carries the
  token in its header, or something a foreign page cannot send without the server's consent (a JSON or CSV
  body, PATCH/PUT/DELETE, an `X-Requested-With` header), or the form's `csrf_token` field equal to the
  `taskctl_csrf` cookie. An `Origin` or `Sec-Fetch-Site` naming another site is refused whatever it carries.
- A request body larger than `max_upload` is refused (413), counted as it arrives, not only by its
  Content-Length.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import stat
from pathlib import Path
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskctl.errors import UsageError
from taskctl.web.site import Site

SESSION_COOKIE = "taskctl_session"
CSRF_COOKIE = "taskctl_csrf"
CSRF_FIELD = "csrf_token"
MIN_TOKEN_LENGTH = 16
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# The only types a page on another site may POST without asking the server first (CORS "simple" requests).
_SIMPLE_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
_OPEN_PATHS = ("/login", "/static/")  # reachable without the token


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_listen(host: str, token_file: Path | None) -> None:
    """A usage error when `host` is reachable from other machines and no token protects it."""
    if token_file is None and not is_loopback(host):
        raise UsageError(
            f"--host {host} makes the dashboard reachable from other machines; pass --token-file FILE "
            "(a file holding a secret of at least 16 characters) so that every request must carry it."
        )


def read_token(path: Path) -> str:
    """The token in `path` (surrounding white space removed); a usage error when it is unusable."""
    try:
        text = path.expanduser().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"--token-file '{path}' does not exist; write a secret into it first.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--token-file '{path}' cannot be read ({error}).") from None
    if len(text) < MIN_TOKEN_LENGTH or any(c.isspace() for c in text):
        raise UsageError(
            f"--token-file '{path}' must hold one secret of at least {MIN_TOKEN_LENGTH} characters "
            "without spaces (e.g. the output of 'openssl rand -hex 24')."
        )
    return text


def token_file_warning(path: Path) -> str | None:
    """A sentence when others than the owner may read the token file."""
    mode = path.expanduser().stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} can be read by other users; 'chmod 600 {path}' keeps the token yours."
    return None


def session_value(token: str) -> str:
    """The session cookie's value for `token`: proves the login without storing the token in the browser."""
    return hmac.new(token.encode(), b"taskctl-session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def bearer(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, if any."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticated(request: Request, token: str | None) -> bool:
    """True when no token is needed, or the request carries it (header or session cookie)."""
    if token is None:
        return True
    given = bearer(request.headers)
    if given is not None:
        return token_matches(given, token)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, session_value(token))


def new_csrf_token() -> str:
    return secrets.token_hex(16)


def cross_site(request: Request) -> bool:
    """True when the browser says the request comes from a page of another site."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


def preflighted(request: Request) -> bool:
    """True when a browser would have asked the server before sending this request from another site
    (and this server never says yes): another method than POST, a custom header, a non-form body."""
    if request.method not in ("POST", *_SAFE_METHODS):
        return True
    if "x-requested-with" in request.headers:
        return True
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return bool(kind) and kind not in _SIMPLE_TYPES


def form_token_matches(request: Request, given: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and isinstance(given, str) and hmac.compare_digest(given, cookie)


def safe_next(target: str | None) -> str:
    """Where a login may send the browser: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class BodyTooLarge(Exception):
    """A request body over the limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    @property
    def message(self) -> str:
        from taskctl.units import format_size

        return (
            f"the request is larger than the upload limit of {format_size(self.limit)}; "
            "split the file, or start 'taskctl serve' with a larger --max-upload-size."
        )


class Guard:
    """ASGI middleware: Host check, authentication and the body size limit (CSRF is checked per view, where
    the form is read: see `taskctl.web.app`)."""

    def __init__(self, app: ASGIApp, site: Site) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = self.site.options.token
        path = request.url.path
        if token is None and not is_loopback(_host_name(request.headers.get("host", ""))):
            await _plain(send, 403, "this server answers only requests to a loopback address (127.0.0.1).")
            return
        if not authenticated(request, token) and not path.startswith(_OPEN_PATHS):
            await self._refuse_unauthenticated(request, send)
            return
        limit = self.site.options.max_upload
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _json_error(send, 413, BodyTooLarge(limit).message)
            return
        await self.app(scope, _limited(receive, limit), send)

    async def _refuse_unauthenticated(self, request: Request, send: Send) -> None:
        path = request.url.path
        if path.startswith("/api/") or path == "/metrics" or request.method not in _SAFE_METHODS:
            message = "this server needs its token: send 'Authorization: Bearer TOKEN', or log in at /login."
            await _json_error(send, 401, message, [(b"www-authenticate", b'Bearer realm="taskctl"')])
            return
        target = path + (f"?{request.url.query}" if request.url.query else "")
        location = f"/login?next={quote(target, safe='')}"
        await send(
            {"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]}
        )
        await send({"type": "http.response.body", "body": b""})


def _host_name(host: str) -> str:
    """The name in a Host header, without the port (`[::1]:8470` -> `::1`)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return limited


async def _plain(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode() + b"\n"})


async def _json_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"ok": False, "error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})
