"""What guards every request: who a request may speak for (`Access`: the API key, signed user tokens), the
security headers on every response (a page CSP; the widget's frame-ancestors), the body cap counted on the stream,
and the last-resort 500. Pure ASGI middleware: BaseHTTPMiddleware would buffer Gradio's and our event streams.
"""
from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.datastructures import MutableHeaders

from assistant.serving.limits import MAX_BODY_BYTES, MAX_MESSAGE_CHARS
from assistant.serving.usertoken import InvalidToken, verify_user_token

log = logging.getLogger("assistant.serving.security")

LOCAL_FRAME_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")
# A CSP host-source: scheme://host[:port], host optionally "*.domain", port optionally "*"; or "*" (anywhere).
_ORIGIN = re.compile(r"^(\*|https?://(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"(:(\d{1,5}|\*))?)$")


# Gradio's pages need inline scripts and styles (its config is an inline script); everything else comes from
# this origin. Product images may come from the shop's CDN (https), never from a script's choice of scheme.
PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'")


class _BodyTooLarge(Exception):
    pass


async def _read_capped(receive: Any, limit: int) -> list[dict]:
    """The request's body messages, counted on the stream: a chunked body (no Content-Length) is cut off as soon
    as it passes the limit, before anything parses it."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away
        size += len(message.get("body", b""))
        if size > limit:
            raise _BodyTooLarge
        if not message.get("more_body"):
            return messages


class GuardMiddleware:
    """Pure ASGI (BaseHTTPMiddleware would buffer Gradio's and our event streams). Covers mounted Gradio apps too:
    security headers on every response, the body cap on every request, and the last resort for exceptions.

    An exception in one of our routes is a bug: logged, a generic JSON 500. Our routes never answer 500 themselves,
    so a 500 from inside comes from a mounted Gradio app: its protocol routes raise on requests its front end never
    sends (an unknown fn_index or component, a missing field: KeyError, TypeError, ...), and its direct-call route
    answers 500 when an event's inputs cannot be read (every event of ours is queued: its errors travel in the
    event stream, not as an HTTP status). That 500 is held back and replaced by a JSON 400, since the request,
    not the server, is at fault; what happened is logged. An exception after a response is under way ends that
    response's body instead of the connection."""

    def __init__(self, app: Any, widget_csp: str):
        self.app, self.widget_csp = app, widget_csp

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        widget = path == "/widget" or path.startswith("/widget/")
        started = ended = False
        held: list[dict] | None = None  # a mounted app's 500 (start and body), replaced below

        async def send_with_headers(message: dict) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                # The widget may be framed by the configured shops; the full app and API only by themselves.
                ancestors = self.widget_csp if widget else "frame-ancestors 'self'"
                headers.append("Content-Security-Policy", f"{PAGE_CSP}; {ancestors}")
                if not widget:
                    headers.setdefault("X-Frame-Options", "SAMEORIGIN")  # for browsers without CSP level 2
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                ended = True
            await send(message)

        async def app_send(message: dict) -> None:
            nonlocal held
            if held is None and not started and message["type"] == "http.response.start" and message["status"] == 500:
                held = [message]
            elif held is not None:
                held.append(message)
            else:
                await send_with_headers(message)

        length = dict(scope.get("headers") or []).get(b"content-length")
        try:  # every method: a GET with a body is read (and capped) here too, never by a route
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                raise _BodyTooLarge
            buffered = await _read_capped(receive, MAX_BODY_BYTES)
        except _BodyTooLarge:
            detail = (f"request body larger than {MAX_BODY_BYTES:,} bytes (a chat message may have at most "
                      f"{MAX_MESSAGE_CHARS:,} characters)")
            return await JSONResponse({"detail": detail}, 413)(scope, receive, send_with_headers)
        receive = _replay(buffered, receive)
        try:
            await self.app(scope, receive, app_send)
        except Exception:  # noqa: BLE001 - logged; the client gets a generic message, the server keeps serving
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:  # the response is under way: end its body (the client sees it stop), keep the connection
                if not ended:
                    await send_with_headers({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if held is not None:  # a mounted app's protocol route failed on this request
                response = JSONResponse({"detail": "bad request: the server could not process it"}, 400)
            else:
                response = JSONResponse({"detail": "internal server error"}, 500)
            await response(scope, receive, send_with_headers)
            return
        if held is not None:
            body = b"".join(m.get("body", b"") for m in held[1:])
            log.warning("a mounted app answered %s %s with 500: %s", scope.get("method"), path, body[:300])
            await JSONResponse({"detail": "bad request: the server could not process it"}, 400)(
                scope, receive, send_with_headers)


def _replay(messages: list[dict], receive: Any) -> Any:
    """A receive() that gives the buffered body first, then whatever the client sends next (a disconnect)."""
    pending = list(messages)

    async def replayed() -> dict:
        return pending.pop(0) if pending else await receive()
    return replayed




class Access:
    """Who a request may speak for. The API key proves the caller is the shop's own server (or staff); a user
    token proves which shopper the caller is. Without a configured key, staff endpoints are open only in the
    demo shop (synthetic users) and refused elsewhere, so a real shop never exposes customers by omission."""

    def __init__(self, api_key: str | None, user_secret: str | None, open_without_key: bool):
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.user_secret = user_secret or ""
        self.open_without_key = open_without_key

    def has_key(self, key: str | None, auth: HTTPAuthorizationCredentials | None) -> bool:
        given = key or (auth.credentials if auth else "")
        return bool(self.api_key and given and hmac.compare_digest(given.encode("utf-8"), self.api_key))

    def require_key(self, key: str | None, auth: HTTPAuthorizationCredentials | None) -> None:
        if self.api_key is None:
            if self.open_without_key:
                return
            raise HTTPException(403, "this endpoint needs the shop's API key: start the app with --api-key "
                                     "(or SHOP_API_KEY) and send it as 'X-API-Key: <key>'")
        if not self.has_key(key, auth):
            raise HTTPException(401, "missing or wrong API key: send 'X-API-Key: <key>' or 'Authorization: Bearer <key>'",
                                headers={"WWW-Authenticate": "Bearer"})

    def user(self, user_id: str | None, token: str | None, key_ok: bool) -> str | None:
        """The proven shopper, None for an anonymous one; 401 for a claim that is not proven."""
        if token:
            try:
                proven = verify_user_token(token, self.user_secret)
            except InvalidToken as exc:
                raise HTTPException(401, f"user_token refused: {exc}") from None
            if user_id and user_id != proven:
                raise HTTPException(401, "user_id does not match the user_token")
            return proven
        if user_id:
            if key_ok:
                return user_id
            raise HTTPException(401, "user_id must be proven: send the user_token your site signs with the shop's "
                                     "user secret (--user-secret), or call from your server with the API key")
        return None




def validate_frame_origins(origins: list[str]) -> list[str]:
    """The origins without trailing slashes; ValueError naming the first one CSP frame-ancestors can't express
    safely (a quote, space or semicolon would let a setting inject other CSP directives)."""
    clean = []
    for origin in origins:
        o = str(origin).strip().rstrip("/")
        if not _ORIGIN.match(o):
            raise ValueError(f"invalid frame origin {origin!r}: expected scheme://host[:port] such as "
                             f"https://shop.example.com, https://*.example.com or http://localhost:8080")
        clean.append(o)
    return clean


def widget_csp(frame_origins: list[str]) -> str:
    """frame-ancestors of /widget: the app itself, localhost, and the shops configured to embed it."""
    origins = validate_frame_origins(frame_origins)  # fail at start, not on the first embed
    return "frame-ancestors " + " ".join(dict.fromkeys(["'self'", *LOCAL_FRAME_ORIGINS, *origins]))
