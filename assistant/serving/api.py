"""The shop's REST API (FastAPI): chat (whole or streamed as server-sent events), recommendations, behaviour
events, products, "delete my data", the agent-assist backend and a health check. OpenAPI at /docs (served offline).

    app = create_api(shop, ApiSettings(api_key="s3cret"))   # then gr.mount_gradio_app(app, ui, "/") etc.
    uvicorn.run(app)

Chat, recommendations, products and /healthz are public (the shopper-facing widget calls them from the
browser), but anonymous: a request speaks for a customer only with a `user_token` signed by the shop's site
(assistant/serving/usertoken.py) or, from the shop's own server, the API key plus `user_id` (security.py). Endpoints
that write data or expose a customer's profile need the API key (in the demo shop, whose users are synthetic, they
are open until a key is set). Every error is a JSON {"detail": "..."} with a 4xx status; an unexpected exception
is logged and becomes a generic 500, so one bad request never takes the server down.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

from assistant.events import DoneEvent, ProductsEvent, ReplaceEvent, TokenEvent, Turn
from assistant.serving.limits import MAX_ID_CHARS, MAX_MESSAGE_CHARS
from assistant.serving.schemas import (
    ChatRequest,
    ChatResponse,
    ConversationTurn,
    DeleteResponse,
    EventIn,
    EventsResponse,
    Health,
    ProductOut,
    RecommendResponse,
    SuggestRequest,
    SuggestResponse,
    product_json,
)
from assistant.serving.security import Access, GuardMiddleware, widget_csp
from assistant.serving.shop import Shop, parse_conversation
from assistant.serving.usertoken import MAX_TOKEN_CHARS
from assistant.sessions import SessionBusy
from catalog.events import StoreUnavailable, parse_timestamp

log = logging.getLogger("assistant.serving.api")

MAX_EVENTS_PER_REQUEST = 1_000
EARLIEST_EVENT = 946_684_800.0  # 2000-01-01 UTC
CUSTOMER_ROLES = {"user", "customer", "shopper"}
USER_NOT_PROVEN = {401: {"description": "user_id or user_token not proven"}}


@dataclass
class ApiSettings:
    api_key: str | None = None  # staff and server-to-server calls; None: see Access
    frame_origins: list[str] = field(default_factory=list)  # extra origins allowed to embed /widget
    user_secret: str | None = None  # what the shop's site signs user tokens with


class _Auth:
    """The API's credentials as FastAPI dependencies: the API key (header or bearer) and the user token header."""

    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    def __init__(self, access: Access):
        self.access = access

    def require_key(self, key: str | None = Depends(key_header),
                    auth: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        self.access.require_key(key, auth)

    def has_key(self, key: str | None = Depends(key_header),
                auth: HTTPAuthorizationCredentials | None = Depends(bearer)) -> bool:
        return self.access.has_key(key, auth)

    @staticmethod
    def token(token: str | None = Header(None, alias="X-User-Token", max_length=MAX_TOKEN_CHARS)) -> str | None:
        return token


def create_api(shop: Shop, settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    access = Access(settings.api_key, settings.user_secret, open_without_key=shop.demo)
    if access.api_key is None:
        log.warning("SHOP_API_KEY is not set: event, delete and agent endpoints are %s",
                    "open to anyone (demo shop)" if access.open_without_key else "refused until a key is set")
    app = FastAPIOffline(title="Shop assistant API", version="1",
                         description="Conversational shopping assistant: chat, recommendations, behaviour events.")
    app.add_middleware(GuardMiddleware, widget_csp=widget_csp(settings.frame_origins))

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # Redis or PostgreSQL briefly away (a replica set's shared servers): retry later, nothing was half-done.
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence instead of FastAPI's list, so a client developer sees what to fix.
        return JSONResponse({"detail": _validation_detail(exc)}, status_code=422)

    auth = _Auth(access)
    _shopper_routes(app, shop, auth)
    _staff_routes(app, shop, auth)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "products": shop.index.count(), "events": shop.events.count(),
                "predictor": shop.predictor_description or "none"}

    return app


def _shopper_routes(app: FastAPI, shop: Shop, auth: _Auth) -> None:
    """What the shopper's browser (the widget) or the shop's site calls."""

    @app.post("/api/v1/chat", response_model=ChatResponse, tags=["chat"], responses=USER_NOT_PROVEN)
    def chat(req: ChatRequest, key_ok: bool = Depends(auth.has_key), token: str | None = Depends(auth.token)) -> dict:
        """One chat turn: the reply with the products it is about."""
        user = auth.access.user(req.user_id, req.user_token or token, key_ok)
        session_id = req.session_id or uuid.uuid4().hex
        try:
            return _chat_json(session_id, shop.chat(session_id, req.message, user))
        except SessionBusy as exc:  # the same conversation's previous message is still being answered
            raise HTTPException(409, str(exc)) from exc
        except ValueError as exc:  # the pipeline's own input checks
            raise HTTPException(422, str(exc)) from exc

    @app.post("/api/v1/chat/stream", tags=["chat"], response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "events: products (list), token ({text}) ..., replace ({text}: discard the "
                                              "tokens so far, a later sentence failed the grounding check), "
                                              "done ({reply, grounded, session_id, kind, actions, sources, ...}); "
                                              "error ({detail}) if the turn fails"}, **USER_NOT_PROVEN})
    def chat_stream(req: ChatRequest, key_ok: bool = Depends(auth.has_key),
                    token: str | None = Depends(auth.token)) -> StreamingResponse:
        """The same turn as server-sent events, so the products show before the reply is complete."""
        user = auth.access.user(req.user_id, req.user_token or token, key_ok)
        session_id = req.session_id or uuid.uuid4().hex
        return StreamingResponse(_sse_turn(shop, session_id, req.message, user), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/v1/recommend", response_model=RecommendResponse, tags=["recommendations"], responses=USER_NOT_PROVEN)
    def recommend(user_id: str | None = Query(None, max_length=MAX_ID_CHARS),
                  user_token: str | None = Query(None, max_length=MAX_TOKEN_CHARS),
                  token: str | None = Depends(auth.token), key_ok: bool = Depends(auth.has_key),
                  k: int = Query(8, ge=1, le=50)) -> dict[str, Any]:
        """Top k for a shopper (proven by user_token, or user_id with the API key); an anonymous or unknown
        shopper gets the popularity ranking."""
        user = auth.access.user(user_id, user_token or token, key_ok)
        return {"user_id": user, "products": [product_json(p) for p, _ in shop.recommend(user, k=k)]}

    @app.get("/api/v1/products/{product_id}", response_model=ProductOut, tags=["catalog"],
             responses={404: {"description": "unknown product id"}})
    def get_product(product_id: str) -> dict[str, Any]:
        product = shop.product(product_id) if len(product_id) <= MAX_ID_CHARS else None
        if product is None:
            raise HTTPException(404, f"no product with id {product_id[:MAX_ID_CHARS]!r}")
        return product_json(product)


def _staff_routes(app: FastAPI, shop: Shop, auth: _Auth) -> None:
    """What the shop's server and staff call, with the API key."""
    key = [Depends(auth.require_key)]

    @app.post("/api/v1/events", response_model=EventsResponse, dependencies=key, tags=["events"],
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

    @app.delete("/api/v1/users/{user_id}", response_model=DeleteResponse, dependencies=key, tags=["privacy"])
    def delete_user(user_id: str) -> dict[str, Any]:
        """"Delete my data": exactly the user's events, live history, chat sessions and chat messages."""
        if not user_id.strip() or len(user_id) > MAX_ID_CHARS:
            raise HTTPException(422, f"user_id must be 1 to {MAX_ID_CHARS} characters")
        return {"deleted": shop.delete_user(user_id)}

    @app.post("/api/v1/agent/suggest", response_model=SuggestResponse, dependencies=key, tags=["agent assist"])
    def agent_suggest(req: SuggestRequest) -> dict[str, Any]:
        """A suggested reply for a human agent: the customer's last messages replayed through a throwaway
        session, with the products, the policy snippets for after-sales questions and the customer's profile."""
        customer = [t[:MAX_MESSAGE_CHARS] for role, t in _turns(req.conversation) if role in CUSTOMER_ROLES and t.strip()]
        if not customer:
            raise HTTPException(422, "the conversation has no customer message to answer")
        out = shop.suggest(customer, req.user_id or None)
        profile = None
        if req.user_id:
            raw = shop.profile(req.user_id)
            profile = {**raw, "recent_purchases": [product_json(p) for p in raw["recent_purchases"]],
                       "recently_viewed": [product_json(p) for p in raw["recently_viewed"]]}
        return {"suggested_reply": out.reply, "kind": out.kind,
                "products": [product_json(r.product, r.reason) for r in out.products],
                "policy_snippets": [{"id": s["id"], "title": s["title"], "text": s["text"]} for s in out.policy_snippets],
                "profile": profile}


def _live_timestamp(value: Any) -> float:
    """A live event's time: parse_timestamp's formats, and no earlier than 2000 or later than a day from now
    (year 1 or 1e308 is corrupt data; an older history is imported with EventStore.append_many, not the API)."""
    ts = parse_timestamp(value)
    if not EARLIEST_EVENT <= ts <= time.time() + 86_400:
        raise ValueError(f"timestamp {value!r} is not between 2000-01-01 and now")
    return ts


def _chat_json(session_id: str, turn: Turn) -> dict[str, Any]:
    return {"session_id": session_id, "reply": turn.reply,
            "products": [product_json(r.product, r.reason) for r in turn.products],
            "kind": turn.kind, "no_match": turn.no_match, "constraints": turn.constraints, "grounded": turn.grounded,
            "notices": list(turn.notices), "actions": list(turn.actions), "sources": turn.sources}


def _sse_turn(shop: Shop, session_id: str, message: str, user: str | None) -> Iterator[str]:
    meta: dict[str, Any] = {"session_id": session_id}
    try:
        for event in shop.respond(session_id, message, user):
            if isinstance(event, ProductsEvent):
                yield _sse("products", [product_json(r.product, r.reason) for r in event.products])
                meta.update(kind=event.kind, no_match=event.no_match, constraints=event.constraints,
                            notices=list(event.notices), actions=list(event.actions), sources=event.sources)
            elif isinstance(event, TokenEvent):
                yield _sse("token", {"text": event.text})
            elif isinstance(event, ReplaceEvent):  # discard the text streamed so far, show this instead
                yield _sse("replace", {"text": event.text})
            elif isinstance(event, DoneEvent):
                yield _sse("done", {"reply": event.reply, "grounded": event.grounded, **meta})
    except (SessionBusy, StoreUnavailable) as exc:
        yield _sse("error", {"detail": str(exc)})
    except Exception:  # noqa: BLE001 - headers are sent already: tell the client in-band
        log.exception("chat stream failed for session %s", session_id)
        yield _sse("error", {"detail": "the assistant failed to answer; please try again"})


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"  # json.dumps never emits a newline


def _turns(conversation: list[ConversationTurn] | str) -> list[tuple[str, str]]:
    """(role, text) turns; pasted text is read as the agent-assist view reads it (assistant.serving.shop.parse_conversation)."""
    if isinstance(conversation, str):
        return parse_conversation(conversation)
    return [(t.role, t.content) for t in conversation]


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append(f"malformed JSON body: {(err.get('ctx') or {}).get('error', 'could not parse')}")
            continue
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
