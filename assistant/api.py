"""The shop's REST API (FastAPI): chat (whole or streamed as server-sent events), recommendations, behaviour
events, products, "delete my data", the agent-assist backend and a health check. OpenAPI at /docs.

    app = create_api(shop, ApiSettings(api_key="s3cret"))   # then gr.mount_gradio_app(app, ui, "/") etc.
    uvicorn.run(app)

Chat, recommendations, products and /healthz are public (the shopper-facing widget calls them from the
browser), but anonymous: a request speaks for a customer only with a `user_token` signed by the shop's site
(assistant/usertoken.py) or, from the shop's own server, the API key plus `user_id`. Endpoints that write data
or expose a customer's profile need the API key (in the demo shop, whose users are synthetic, they are open
until a key is set). Every error is a JSON {"detail": "..."} with a 4xx status; an unexpected exception is
logged and becomes a generic 500, so one bad request never takes the server down. Request bodies are capped on
the stream (chunked ones too) before anything parses them.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr, field_validator
from starlette.datastructures import MutableHeaders

from assistant.cards import safe_url
from assistant.limits import (MAX_BODY_BYTES, MAX_CONVERSATION_CHARS, MAX_CONVERSATION_TURNS, MAX_ID_CHARS,
                              MAX_MESSAGE_CHARS)
from assistant.shop import parse_conversation
from assistant.usertoken import MAX_TOKEN_CHARS, InvalidToken, verify_user_token
from catalog.events import parse_timestamp
from catalog.schema import EVENT_TYPES, Product

if TYPE_CHECKING:  # only for hints: importing the API must not load the shop's models
    from assistant.shop import Shop

log = logging.getLogger("assistant.api")

MAX_EVENTS_PER_REQUEST = 1_000
EARLIEST_EVENT = 946_684_800.0  # 2000-01-01 UTC
LOCAL_FRAME_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")
CUSTOMER_ROLES = {"user", "customer", "shopper"}
# A CSP host-source: scheme://host[:port], host optionally "*.domain", port optionally "*"; or "*" (anywhere).
_ORIGIN = re.compile(r"^(\*|https?://(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"(:(\d{1,5}|\*))?)$")


def _env_origins() -> list[str]:
    return [o for o in re.split(r"[\s,]+", os.environ.get("SHOP_FRAME_ORIGINS", "")) if o]


@dataclass
class ApiSettings:
    api_key: str | None = field(default_factory=lambda: os.environ.get("SHOP_API_KEY") or None)  # None: see create_api
    frame_origins: list[str] = field(default_factory=_env_origins)  # extra origins allowed to embed /widget
    user_secret: str | None = field(default_factory=lambda: os.environ.get("SHOP_USER_SECRET") or None)  # signs user tokens


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


def product_json(product: Product, reason: str = "") -> dict[str, Any]:
    """What a client needs to show a product card. JSON is not HTML: text is returned as-is, the client escapes.
    Links are only http(s) or site-relative: a catalog "javascript:" URL would run when a widget renders it."""
    return {"id": product.id, "title": product.title, "brand": product.brand, "price": product.price,
            "currency": product.currency, "rating": product.rating,
            "url": safe_url(product.attributes.get("url"), relative=True) or f"/api/v1/products/{product.id}",
            "image": safe_url(product.image_url, relative=True), "reason": reason}


# ---- request and response models (they make /docs meaningful) -----------------------------------------------

class ChatRequest(BaseModel):
    session_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS,
                                   description="the conversation to continue (as returned by the first turn); "
                                               "omit to start one. It belongs to the (proven) user who began it")
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    user_token: str | None = Field(None, max_length=MAX_TOKEN_CHARS,
                                   description="the shopper, signed by the shop's site (personalises the answer)")
    user_id: str | None = Field(None, max_length=MAX_ID_CHARS,
                                description="the shopper, only with the API key (calls from the shop's server)")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("message must not be empty")
        return v


class ProductOut(BaseModel):
    id: str
    title: str
    brand: str
    price: float | None
    currency: str
    rating: float | None
    url: str
    image: str | None
    reason: str = ""


class ChatResponse(BaseModel):
    session_id: str = Field(description="send it with the next message to continue this conversation")
    reply: str
    products: list[ProductOut]
    kind: str = Field(description="product_search, after_sales, ...")
    no_match: bool = Field(description="true when the products are the closest alternatives, not matches")
    constraints: str
    grounded: bool = Field(description="whether the reply passed the grounding check")
    notices: list[str] = []


class RecommendResponse(BaseModel):
    user_id: str | None
    products: list[ProductOut]


class EventIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    item_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    type: str = Field(description=f"one of {', '.join(EVENT_TYPES)}; others are rejected with a reason")
    session_id: str = Field("", max_length=MAX_ID_CHARS)
    # Strict: JSON true is not a time, and "1" as a string is read by parse_timestamp, not by pydantic.
    timestamp: StrictInt | StrictFloat | StrictStr | None = Field(None, description="unix seconds or ISO 8601; "
                                                                  "default: now")


class Rejected(BaseModel):
    index: int
    reason: str


class EventsResponse(BaseModel):
    accepted: int
    rejected: list[Rejected]


class DeleteResponse(BaseModel):
    deleted: dict[str, int]


class Turn(BaseModel):
    role: Literal["user", "customer", "shopper", "assistant", "agent", "system"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class SuggestRequest(BaseModel):
    conversation: list[Turn] | str = Field(description="turns, or pasted text with 'Customer:'/'Agent:' lines")
    user_id: str | None = Field(None, max_length=MAX_ID_CHARS)

    @field_validator("conversation")
    @classmethod
    def _bounded(cls, v: list[Turn] | str) -> list[Turn] | str:
        if isinstance(v, str) and len(v) > MAX_CONVERSATION_CHARS:
            raise ValueError(f"at most {MAX_CONVERSATION_CHARS:,} characters (paste the last messages only)")
        if isinstance(v, list) and len(v) > MAX_CONVERSATION_TURNS:
            raise ValueError(f"at most {MAX_CONVERSATION_TURNS} turns (send the last ones only)")
        return v


class SuggestResponse(BaseModel):
    suggested_reply: str
    kind: str
    products: list[ProductOut]
    policy_snippets: list[dict[str, str]]
    profile: dict[str, Any] | None


class Health(BaseModel):
    status: str
    products: int
    events: int
    predictor: str


# ---- middleware: security headers, body cap, and the last-resort 500 ----------------------------------------

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


class _GuardMiddleware:
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


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append(f"malformed JSON body: {(err.get('ctx') or {}).get('error', 'could not parse')}")
            continue
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# ---- the app --------------------------------------------------------------------------------------------------

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


def create_api(shop: Shop, settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    origins = validate_frame_origins(settings.frame_origins)  # fail at start, not on the first embed
    widget_csp = "frame-ancestors " + " ".join(dict.fromkeys(["'self'", *LOCAL_FRAME_ORIGINS, *origins]))
    access = Access(settings.api_key, settings.user_secret, open_without_key=bool(getattr(shop, "demo", False)))
    if access.api_key is None:
        log.warning("SHOP_API_KEY is not set: event, delete and agent endpoints are %s",
                    "open to anyone (demo shop)" if access.open_without_key else "refused until a key is set")

    app = FastAPIOffline(title="Shop assistant API", version="1",
                         description="Conversational shopping assistant: chat, recommendations, behaviour events.")
    app.add_middleware(_GuardMiddleware, widget_csp=widget_csp)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence instead of FastAPI's list, so a client developer sees what to fix.
        return JSONResponse({"detail": _validation_detail(exc)}, status_code=422)

    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    def require_key(key: str | None = Depends(key_header),
                    auth: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        access.require_key(key, auth)

    def caller_has_key(key: str | None = Depends(key_header),
                       auth: HTTPAuthorizationCredentials | None = Depends(bearer)) -> bool:
        return access.has_key(key, auth)

    def header_token(token: str | None = Header(None, alias="X-User-Token", max_length=MAX_TOKEN_CHARS)) -> str | None:
        return token

    @app.post("/api/v1/chat", response_model=ChatResponse, tags=["chat"],
              responses={401: {"description": "user_id or user_token not proven"}})
    def chat(req: ChatRequest, key_ok: bool = Depends(caller_has_key),
             token: str | None = Depends(header_token)) -> dict[str, Any]:
        """One chat turn: the reply with the products it is about."""
        user = access.user(req.user_id, req.user_token or token, key_ok)
        session_id = req.session_id or uuid.uuid4().hex
        try:
            return _chat_json(session_id, shop.chat(session_id, req.message, user))
        except ValueError as exc:  # the pipeline's own input checks
            raise HTTPException(422, str(exc)) from exc

    @app.post("/api/v1/chat/stream", tags=["chat"], response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "events: products (list), token ({text}) ..., replace ({text}: discard the "
                                              "tokens so far, a later sentence failed the grounding check), "
                                              "done ({reply, grounded, session_id, ...}); "
                                              "error ({detail}) if the turn fails"}})
    def chat_stream(req: ChatRequest, key_ok: bool = Depends(caller_has_key),
                    token: str | None = Depends(header_token)) -> StreamingResponse:
        """The same turn as server-sent events, so the products show before the reply is complete."""
        user = access.user(req.user_id, req.user_token or token, key_ok)
        session_id = req.session_id or uuid.uuid4().hex
        return StreamingResponse(_sse_turn(shop, session_id, req.message, user), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/v1/recommend", response_model=RecommendResponse, tags=["recommendations"],
             responses={401: {"description": "user_id or user_token not proven"}})
    def recommend(user_id: str | None = Query(None, max_length=MAX_ID_CHARS),
                  user_token: str | None = Query(None, max_length=MAX_TOKEN_CHARS),
                  token: str | None = Depends(header_token), key_ok: bool = Depends(caller_has_key),
                  k: int = Query(8, ge=1, le=50)) -> dict[str, Any]:
        """Top k for a shopper (proven by user_token, or user_id with the API key); an anonymous or unknown
        shopper gets the popularity ranking."""
        user = access.user(user_id, user_token or token, key_ok)
        return {"user_id": user, "products": [product_json(p) for p, _ in shop.recommend(user, k=k)]}

    @app.post("/api/v1/events", response_model=EventsResponse, dependencies=[Depends(require_key)], tags=["events"],
              responses={422: {"description": "no event accepted (reasons listed) or malformed request"}})
    def post_events(body: EventIn | list[EventIn]) -> Any:
        """Store view/click/add_to_cart/purchase events; they change recommendations at once. Invalid events are
        reported with their index and reason while the valid ones in the same batch are kept."""
        batch = body if isinstance(body, list) else [body]
        if not batch or len(batch) > MAX_EVENTS_PER_REQUEST:
            raise HTTPException(422, f"send between 1 and {MAX_EVENTS_PER_REQUEST} events per request")
        accepted, rejected = 0, []
        for n, ev in enumerate(batch):
            try:  # parsed here: the live recommender needs a number, and a bad one must be a reject, not a 500
                ts = None if ev.timestamp is None else _live_timestamp(ev.timestamp)
            except ValueError as exc:
                rejected.append({"index": n, "reason": str(exc)})
                continue
            report = shop.log_event(ev.user_id, ev.item_id, ev.type, session_id=ev.session_id, timestamp=ts)
            accepted += report.accepted
            rejected += [{"index": n, "reason": r.reason} for r in report.rejected]
        result = {"accepted": accepted, "rejected": rejected}
        return JSONResponse(result, status_code=422) if accepted == 0 else result

    @app.get("/api/v1/products/{product_id}", response_model=ProductOut, tags=["catalog"],
             responses={404: {"description": "unknown product id"}})
    def get_product(product_id: str) -> dict[str, Any]:
        product = shop.product(product_id) if len(product_id) <= MAX_ID_CHARS else None
        if product is None:
            raise HTTPException(404, f"no product with id {product_id[:MAX_ID_CHARS]!r}")
        return product_json(product)

    @app.delete("/api/v1/users/{user_id}", response_model=DeleteResponse, dependencies=[Depends(require_key)],
                tags=["privacy"])
    def delete_user(user_id: str) -> dict[str, Any]:
        """"Delete my data": the user's events, live history, chat sessions and chat log."""
        if not user_id.strip() or len(user_id) > MAX_ID_CHARS:
            raise HTTPException(422, f"user_id must be 1 to {MAX_ID_CHARS} characters")
        return {"deleted": shop.delete_user(user_id)}

    @app.post("/api/v1/agent/suggest", response_model=SuggestResponse, dependencies=[Depends(require_key)],
              tags=["agent assist"])
    def agent_suggest(req: SuggestRequest) -> dict[str, Any]:
        """A suggested reply for a human agent: the customer's last messages replayed through a throwaway
        session, with the products, the policy snippets for after-sales questions and the customer's profile."""
        turns = _turns(req.conversation)
        customer = [t[:MAX_MESSAGE_CHARS] for role, t in turns if role in CUSTOMER_ROLES and t.strip()]
        if not customer:
            raise HTTPException(422, "the conversation has no customer message to answer")
        out = shop.suggest(customer, req.user_id or None)
        snippets = [{"id": s["id"], "title": s["title"], "text": s["text"]} for s in out.get("policy_snippets", [])]
        profile = None
        if req.user_id:
            raw = shop.profile(req.user_id)
            profile = {**raw, "recent_purchases": [product_json(p) for p in raw["recent_purchases"]],
                       "recently_viewed": [product_json(p) for p in raw["recently_viewed"]]}
        return {"suggested_reply": out.get("reply", ""), "kind": out.get("kind", ""),
                "products": [product_json(r.product, r.reason) for r in out.get("products", [])],
                "policy_snippets": snippets, "profile": profile}

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "products": shop.index.count(), "events": shop.events.count(),
                "predictor": shop.predictor_description or "none"}

    return app


def _live_timestamp(value: Any) -> float:
    """A live event's time: parse_timestamp's formats, and no earlier than 2000 or later than a day from now
    (year 1 or 1e308 is corrupt data; an older history is imported with EventStore.append_many, not the API)."""
    ts = parse_timestamp(value)
    if not EARLIEST_EVENT <= ts <= time.time() + 86_400:
        raise ValueError(f"timestamp {value!r} is not between 2000-01-01 and now")
    return ts


def _chat_json(session_id: str, out: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": session_id, "reply": out.get("reply", ""),
            "products": [product_json(r.product, r.reason) for r in out.get("products", [])],
            "kind": out.get("kind", ""), "no_match": bool(out.get("no_match")),
            "constraints": out.get("constraints", ""), "grounded": bool(out.get("grounded", True)),
            "notices": list(out.get("notices") or [])}


def _sse_turn(shop: Shop, session_id: str, message: str, user: str | None) -> Iterator[str]:
    meta: dict[str, Any] = {"session_id": session_id}
    try:
        for event in shop.respond(session_id, message, user):
            if event["type"] == "products":
                yield _sse("products", [product_json(r.product, r.reason) for r in event["products"]])
                meta.update({k: event.get(k) for k in ("kind", "no_match", "constraints", "notices")})
            elif event["type"] == "token":
                yield _sse("token", {"text": event["text"]})
            elif event["type"] == "replace":  # discard the text streamed so far, show this instead
                yield _sse("replace", {"text": event["text"]})
            elif event["type"] == "done":
                yield _sse("done", {"reply": event["reply"], "grounded": bool(event["grounded"]), **meta})
    except Exception:  # noqa: BLE001 - headers are sent already: tell the client in-band
        log.exception("chat stream failed for session %s", session_id)
        yield _sse("error", {"detail": "the assistant failed to answer; please try again"})


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"  # json.dumps never emits a newline


def _turns(conversation: list[Turn] | str) -> list[tuple[str, str]]:
    """(role, text) turns; pasted text is read as the agent-assist view reads it (assistant.shop.parse_conversation)."""
    if isinstance(conversation, str):
        return parse_conversation(conversation)
    return [(t.role, t.content) for t in conversation]
