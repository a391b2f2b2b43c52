"""The REST API (assistant/api.py) over the demo shop: every route, the API key, bad inputs as 4xx, security
headers, and the last-resort 500. The shop fixture is shared by the whole test session, so every test uses
its own user and session ids."""
from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.events import ProductsEvent
from assistant.serving.api import ApiSettings, create_api
from assistant.serving.limits import MAX_MESSAGE_CHARS
from assistant.serving.schemas import product_json
from assistant.serving.security import PAGE_CSP

KEY = "test-key-123"
AUTH = {"X-API-Key": KEY}
PRODUCT_KEYS = {"id", "title", "brand", "price", "currency", "rating", "url", "image", "reason"}


def uid(prefix: str = "api") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def client(shop) -> TestClient:
    return TestClient(create_api(shop, ApiSettings(api_key=KEY, frame_origins=[])))


def chat(client: TestClient, message: str, session_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chat turn; a user_id is sent as the shop's server sends it, with the API key."""
    headers = AUTH if extra.get("user_id") else {}
    r = client.post("/api/v1/chat", json={"session_id": session_id or uid("s"), "message": message, **extra},
                    headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def sse_events(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def rec_ids(client: TestClient, user_id: str | None = None, k: int = 8) -> list[str]:
    r = client.get("/api/v1/recommend", params={"k": k, **({"user_id": user_id} if user_id else {})},
                   headers=AUTH if user_id else {})
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["products"]]


# ---- chat ---------------------------------------------------------------------------------------------------

def test_chat_returns_reply_and_products_with_catalog_facts(client, shop):
    out = chat(client, "waterproof hiking jacket under $100")
    assert out["kind"] == "search" and out["grounded"] is True and not out["no_match"]
    assert out["reply"].strip() and "under $100" in out["constraints"]
    assert 1 <= len(out["products"]) <= shop.assistant.config.ranking.top_n
    for p in out["products"]:
        assert set(p) == PRODUCT_KEYS
        product = shop.product(p["id"])
        assert product is not None, "every product id must exist in the catalog"
        assert (p["title"], p["brand"], p["price"], p["rating"]) == (product.title, product.brand, product.price, product.rating)
        assert p["price"] <= 100 and p["reason"]
        assert p["url"] == product.attributes.get("url", f"/api/v1/products/{p['id']}")


def test_sessions_are_isolated(client):
    a, b = uid("s"), uid("s")
    chat(client, "running shoes under $60", a)
    assert "under $60" in chat(client, "show me more", a)["constraints"]  # carried within session a
    other = chat(client, "running shoes", b)
    assert "$60" not in other["constraints"], "session b must not inherit session a's price limit"


def test_stream_sends_products_then_tokens_then_done(client):
    message = "wireless headphones under $150"
    r = client.post("/api/v1/chat/stream", json={"session_id": uid("s"), "message": message})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert names[0] == "products" and names[-1] == "done" and set(names[1:-1]) == {"token"}
    products, done = events[0][1], events[-1][1]
    assert products and all(set(p) == PRODUCT_KEYS for p in products)
    assert "".join(data["text"] for name, data in events if name == "token") == done["reply"]
    assert done["grounded"] is True
    # The stream ranks exactly as the whole-turn endpoint does for the same message in a fresh session.
    assert [p["id"] for p in products] == [p["id"] for p in chat(client, message)["products"]]


def test_long_message_is_answered_with_a_notice(client):
    out = chat(client, "I need a warm winter jacket " + "really " * 250)  # within the limit, past what is read
    assert out["reply"] and any("long" in n for n in out["notices"])


def test_a_message_over_the_limit_is_refused_before_any_work(client):
    r = client.post("/api/v1/chat", json={"message": "x" * (MAX_MESSAGE_CHARS + 1)})
    assert r.status_code == 422 and str(MAX_MESSAGE_CHARS) in r.json()["detail"]


def test_html_in_a_message_comes_back_as_json_data(client):
    r = client.post("/api/v1/chat", json={"session_id": uid("s"), "message": "<img src=x onerror=alert(1)> jacket"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"  # a browser will not sniff it into HTML
    assert isinstance(r.json()["reply"], str)


# ---- recommendations and events -------------------------------------------------------------------------------

def test_recommend_for_a_demo_user_and_an_unknown_user(client, shop):
    user = shop.demo_users(1)[0]
    personal = client.get("/api/v1/recommend", params={"user_id": user}, headers=AUTH).json()
    assert personal["user_id"] == user and len(personal["products"]) == 8
    assert [p["id"] for p in personal["products"]] == [p.id for p, _ in shop.recommend(user, k=8)]
    popular = rec_ids(client, k=5)
    assert len(popular) == 5 and rec_ids(client, uid("nobody"), k=5) == popular  # cold start: popularity
    assert rec_ids(client, user, k=5) != popular


def test_add_to_cart_event_changes_recommendations(client, shop):
    user = uid("u")
    before = rec_ids(client, user)
    cart = [p["id"] for p in chat(client, "hiking backpack")["products"]]  # a coherent interest, not the bestsellers
    body = [{"user_id": user, "item_id": i, "type": "add_to_cart"} for i in cart]
    r = client.post("/api/v1/events", json=body, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"accepted": len(cart), "rejected": []}
    assert [e.item_id for e in shop.events.history(user)] == cart
    assert rec_ids(client, user) != before


def test_mixed_batch_keeps_good_events_and_reports_bad_ones(client, shop):
    user, item = uid("u"), rec_ids(client, k=1)[0]
    body = [{"user_id": user, "item_id": item, "type": "view", "timestamp": "2024-05-01T10:00:00Z"},
            {"user_id": user, "item_id": "NO-SUCH-ITEM", "type": "view"},
            {"user_id": user, "item_id": item, "type": "like"},
            {"user_id": user, "item_id": item, "type": "click", "timestamp": "yesterday"},
            {"user_id": user, "item_id": item, "type": "purchase", "timestamp": 1714557700}]
    r = client.post("/api/v1/events", json=body, headers=AUTH)
    assert r.status_code == 200
    out = r.json()
    assert out["accepted"] == 2
    reasons = {x["index"]: x["reason"] for x in out["rejected"]}
    assert set(reasons) == {1, 2, 3}
    assert "unknown item" in reasons[1] and "NO-SUCH-ITEM" in reasons[1]
    assert "unknown event type" in reasons[2] and "'like'" in reasons[2]
    assert "yesterday" in reasons[3]
    assert [(e.type, e.timestamp) for e in shop.events.history(user)] == [("view", 1714557600.0), ("purchase", 1714557700.0)]


def test_all_rejected_is_422_with_reasons(client, shop):
    user = uid("u")
    r = client.post("/api/v1/events", json={"user_id": user, "item_id": "NOPE", "type": "click"}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["accepted"] == 0 and "unknown item" in r.json()["rejected"][0]["reason"]
    assert shop.events.history(user) == []


# ---- products, deletion, agent assist, health ------------------------------------------------------------------

def test_product_found_and_404(client, shop):
    pid = rec_ids(client, k=1)[0]
    r = client.get(f"/api/v1/products/{pid}")
    assert r.status_code == 200 and r.json() == product_json(shop.product(pid))
    r = client.get("/api/v1/products/NO-SUCH-PRODUCT")
    assert r.status_code == 404 and "NO-SUCH-PRODUCT" in r.json()["detail"]


def test_delete_user_removes_events_and_sessions(client, shop):
    user, session = uid("u"), uid("s")
    items = rec_ids(client, k=2)
    body = [{"user_id": user, "item_id": i, "type": "click"} for i in items]
    assert client.post("/api/v1/events", json=body, headers=AUTH).json()["accepted"] == 2
    chat(client, "a warm jacket", session, user_id=user)
    assert rec_ids(client, user) != rec_ids(client)  # the history is live before deletion
    r = client.delete(f"/api/v1/users/{user}", headers=AUTH)
    assert r.status_code == 200
    deleted = r.json()["deleted"]
    assert deleted["events"] == 2 and deleted["sessions"] == 1 and deleted["messages"] == 2
    assert shop.events.history(user) == [] and shop.assistant.sessions.peek(shop.session_key(session, user)) is None
    assert rec_ids(client, user) == rec_ids(client)  # back to the cold-start ranking
    again = client.delete(f"/api/v1/users/{user}", headers=AUTH).json()["deleted"]
    assert again == {"events": 0, "sessions": 0, "messages": 0}


def test_api_key_guards_writes_only(client, shop):
    item = rec_ids(client, k=1)[0]
    event = {"user_id": uid("u"), "item_id": item, "type": "view"}
    for method, path, body in [("post", "/api/v1/events", event), ("delete", f"/api/v1/users/{uid('u')}", None),
                               ("post", "/api/v1/agent/suggest", {"conversation": "returns?"})]:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": f"Basic {KEY}"}):
            r = client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["detail"], (path, headers)
    assert client.post("/api/v1/events", json=event, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.post("/api/v1/events", json=event, headers=AUTH).status_code == 200
    assert len(shop.events.history(event["user_id"])) == 2
    # Public: chat, recommend, products, health.
    assert client.post("/api/v1/chat", json={"session_id": uid("s"), "message": "a tent"}).status_code == 200
    assert client.get("/api/v1/recommend").status_code == 200 and client.get("/healthz").status_code == 200
    # No key configured: writes are open.
    open_client = TestClient(create_api(shop, ApiSettings(api_key=None)))
    assert open_client.post("/api/v1/events", json=event).status_code == 200


def test_agent_suggest_for_a_returns_question(client, shop):
    user = shop.demo_users(1)[0]
    body = {"user_id": user, "conversation": [{"role": "customer", "content": "Hi"},
                                               {"role": "agent", "content": "Hello, how can I help?"},
                                               {"role": "customer", "content": "How do I return a jacket I bought?"}]}
    r = client.post("/api/v1/agent/suggest", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["kind"] == "service" and out["suggested_reply"].strip()
    assert out["policy_snippets"] and out["policy_snippets"][0]["id"] == "returns"
    assert all(s["text"] and s["title"] for s in out["policy_snippets"])
    profile = out["profile"]
    assert profile["user_id"] == user and profile["events"] == len(shop.history(user))
    assert all(set(p) == PRODUCT_KEYS for p in profile["recent_purchases"] + profile["recently_viewed"])
    assert not any(s.startswith("agent-") for s in shop.assistant.sessions._sessions)  # the throwaway session is gone


def test_agent_suggest_replays_pasted_conversation(client):
    text = "Customer: I need a rain jacket under $80\nAgent: Any colour preference?\nCustomer: show me the options"
    out = client.post("/api/v1/agent/suggest", json={"conversation": text}, headers=AUTH).json()
    # "show me the options" continues the search for the jacket: a refinement that keeps the budget
    assert out["kind"] in ("search", "refine") and out["profile"] is None and out["policy_snippets"] == []
    assert out["products"] and all(p["price"] <= 80 for p in out["products"])  # the earlier limit still applies
    r = client.post("/api/v1/agent/suggest", json={"conversation": [{"role": "agent", "content": "hi"}]}, headers=AUTH)
    assert r.status_code == 422 and "customer" in r.json()["detail"]


def test_healthz(client, shop):
    out = client.get("/healthz").json()
    assert out == {"status": "ok", "products": shop.index.count(), "events": shop.events.count(),
                   "predictor": shop.predictor_description or "none"}
    assert out["products"] > 0
    assert "/api/v1/chat" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_product_json_links_are_http_or_site_relative():
    from catalog.schema import Product

    bad = Product("P1", "Jacket", attributes={"url": "javascript:alert(1)"}, image_url="//evil.example/x.png")
    assert product_json(bad)["url"] == "/api/v1/products/P1" and product_json(bad)["image"] is None
    good = Product("P2", "Tent", price=None, attributes={"url": "https://shop.example.com/p2"}, image_url="/img/p2.jpg")
    assert product_json(good, "why") == {"id": "P2", "title": "Tent", "brand": "", "price": None, "currency": "USD",
                                         "rating": None, "url": "https://shop.example.com/p2", "image": "/img/p2.jpg",
                                         "reason": "why"}


# ---- bad inputs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, expect", [
    ({"session_id": "s", "message": ""}, "message"),
    ({"session_id": "s", "message": "   "}, "must not be empty"),
    ({"session_id": "s"}, "message: Field required"),
    ({"session_id": "", "message": "jacket"}, "session_id"),
    ({"session_id": "s", "message": "x" * (MAX_MESSAGE_CHARS + 1)}, str(MAX_MESSAGE_CHARS)),
    ({"session_id": "s", "message": 42}, "message"),
    ("{not json", "malformed JSON"),
])
def test_bad_chat_requests_are_422_with_a_message(client, body, expect):
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, str) else {"json": body}
    for path in ("/api/v1/chat", "/api/v1/chat/stream"):
        r = client.post(path, **kwargs)
        assert r.status_code == 422, (path, r.text)
        assert expect in r.json()["detail"]


@pytest.mark.parametrize("k", ["0", "1000", "-1", "many"])
def test_bad_k_is_422(client, k):
    r = client.get("/api/v1/recommend", params={"k": k})
    assert r.status_code == 422 and r.json()["detail"].startswith("query.k")


def test_malformed_event_request_and_huge_body(client):
    r = client.post("/api/v1/events", json={"user_id": "u", "item_id": "x"}, headers=AUTH)
    assert r.status_code == 422 and "type: Field required" in r.json()["detail"]
    r = client.post("/api/v1/events", json=[], headers=AUTH)
    assert r.status_code == 422 and "between 1 and" in r.json()["detail"]
    r = client.post("/api/v1/events", content=b"[" + b" " * (1 << 20) + b"]", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_unexpected_errors_are_json_500_and_the_server_keeps_serving():
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database on fire")

    def half_stream(*args: Any, **kwargs: Any) -> Any:
        yield ProductsEvent([], "search", False, "")
        raise RuntimeError("model crashed")

    fake = SimpleNamespace(recommend=broken, respond=half_stream, predictor_description="", demo=False,
                           index=SimpleNamespace(count=lambda: 3), events=SimpleNamespace(count=lambda: 0))
    c = TestClient(create_api(fake, ApiSettings(api_key=None)))  # type: ignore[arg-type]
    r = c.get("/api/v1/recommend")
    assert r.status_code == 500 and r.json() == {"detail": "internal server error"}
    assert "fire" not in r.text  # internals are logged, not shown
    events = sse_events(c.post("/api/v1/chat/stream", json={"session_id": "s", "message": "hi"}).text)
    assert [name for name, _ in events] == ["products", "error"] and "try again" in events[1][1]["detail"]
    assert c.get("/healthz").json()["products"] == 3


# ---- embedding headers ----------------------------------------------------------------------------------------------

def test_frame_headers_on_mounted_gradio_pages(shop):
    import gradio as gr

    app = create_api(shop, ApiSettings(api_key=KEY, frame_origins=["https://shop.example.com"]))
    for path in ("/widget", "/"):
        with gr.Blocks() as ui:
            gr.Markdown("hello")
        app = gr.mount_gradio_app(app, ui, path=path)
    c = TestClient(app)
    widget = c.get("/widget/")
    assert widget.status_code == 200 and "text/html" in widget.headers["content-type"]
    csp = widget.headers["content-security-policy"]
    assert csp == PAGE_CSP + "; frame-ancestors 'self' http://localhost:* http://127.0.0.1:* https://shop.example.com"
    assert "x-frame-options" not in widget.headers  # it would forbid the allowed shops in older browsers
    page = c.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"] == PAGE_CSP + "; frame-ancestors 'self'"
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert c.get("/healthz").status_code == 200  # the API routes still win over the Gradio app at "/"


def test_default_widget_origins_and_validation(shop):
    c = TestClient(create_api(shop, ApiSettings(api_key=None, frame_origins=[])))
    assert c.get("/widget").headers["content-security-policy"] == \
        PAGE_CSP + "; frame-ancestors 'self' http://localhost:* http://127.0.0.1:*"
    for bad in ["shop.example.com", "https://a.com; script-src *", "javascript:alert(1)", "'none'"]:
        with pytest.raises(ValueError, match="invalid frame origin"):
            create_api(shop, ApiSettings(frame_origins=[bad]))
