"""The app as a user starts it: a real process (`python app.py ... --llm-backend template`) on a free port, asked
over HTTP (httpx) and through Gradio's own client. tests/test_browser.py drives the same process in Chromium."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

XSS_TITLE = "Mug <img src=x onerror=alert(1)"  # an unclosed tag: cleaning keeps it as text, the UI must too
MD_TITLE = "![x](http://127.0.0.1:9/pixel.png) Travel Mug"  # markdown that would load a remote image
API_KEY = "test-app-key"

# A small shop in three departments. Two titles are hostile: markup the cleaner keeps as text (an unclosed tag) and
# markdown; a third product's title is markup written as entities, which the cleaner removes (it is rejected).
PRODUCTS = [
    {"id": "J1", "title": "Waterproof Hiking Jacket", "brand": "Northpeak", "price": 89, "category": "Outdoor > Jackets",
     "rating": 4.5, "review_count": 120, "description": "Breathable waterproof shell for hiking in the rain."},
    {"id": "J2", "title": "Down Parka", "brand": "Alpina", "price": 240, "category": "Outdoor > Jackets",
     "description": "Warm winter parka with goose down."},
    {"id": "J3", "title": "Trailhaven Rain Shell", "brand": "Trailhaven", "price": 75, "category": "Outdoor > Jackets",
     "description": "Light waterproof rain jacket."},
    {"id": "J4", "title": "Softshell Jacket", "brand": "Northpeak", "price": 120, "category": "Outdoor > Jackets"},
    {"id": "K1", "title": "Non-stick Frying Pan", "brand": "Chefline", "price": 35, "category": "Home > Kitchen",
     "description": "28 cm non-stick frying pan for eggs and pancakes."},
    {"id": "K2", "title": "Cast Iron Skillet", "brand": "Chefline", "price": 45, "category": "Home > Kitchen"},
    {"id": "K3", "title": "Chef's Knife", "brand": "Bladeworks", "price": 60, "category": "Home > Kitchen"},
    {"id": "X1", "title": XSS_TITLE, "brand": "Mugsy", "price": 9, "category": "Home > Kitchen",
     "description": "Ceramic coffee mug, 350 ml.", "image_url": "javascript:alert(2)"},
    {"id": "X2", "title": MD_TITLE, "brand": "Mugsy", "price": 12, "category": "Home > Kitchen",
     "description": "Insulated travel mug with a lid.", "image_url": "//evil.example/x.png"},
    {"id": "X3", "title": "&lt;img src=x onerror=alert(3)&gt;", "brand": "Mugsy", "price": 5, "category": "Home > Kitchen"},
    {"id": "H1", "title": "Wireless Headphones", "brand": "Sonora", "price": 99, "category": "Electronics > Audio"},
    {"id": "H2", "title": "Bluetooth Speaker", "brand": "Sonora", "price": 49, "category": "Electronics > Audio"},
    {"id": "H3", "title": "Noise Cancelling Earbuds", "brand": "Auralis", "price": 129, "category": "Electronics > Audio"},
    {"id": "H4", "title": "Studio Monitor Headphones", "brand": "Auralis", "price": 150, "category": "Electronics > Audio"},
]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(workdir: Path, *args: str, port: int | None = None, timeout: float = 240):
    """`python app.py --port PORT --data-dir WORKDIR/data ARGS` in a process of its own; waits for /healthz and
    yields the base URL without a trailing slash; the app's output is in WORKDIR/app.log."""
    import httpx

    port = port or free_port()
    log_path = workdir / "app.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--data-dir", str(workdir / "data"), *args],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail("app exited: " + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("app did not start: " + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def running_app(workdir: Path, *extra: str, timeout: float = 240):
    """app.py over a fresh data directory holding the small shop above (ingested by the app itself through
    --catalog, as on a real first run), template replies; yields the base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    catalog = workdir / "shop.jsonl"
    catalog.write_text("\n".join(json.dumps(p) for p in PRODUCTS), encoding="utf-8")
    with serve(workdir, "--catalog", str(catalog), "--llm-backend", "template", *extra, timeout=timeout) as base:
        yield base


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app"), "--frame-origin", "https://shop.example.com",
                     "--api-key", API_KEY) as base:
        yield base


def _gradio(url: str, auth: tuple[str, str] | None = None):
    from gradio_client import Client

    return Client(url, verbose=False, auth=auth)


def test_views_api_and_docs_respond(app_url):
    import httpx

    for path in ("/", "/agent/", "/widget/", "/healthz", "/docs", "/openapi.json"):
        response = httpx.get(app_url + path, timeout=30)
        assert response.status_code == 200, (path, response.status_code)
    docs = httpx.get(app_url + "/docs", timeout=30).text  # served from the app: works offline
    assert "cdn.jsdelivr" not in docs and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert httpx.get(app_url + "/static-offline-docs/swagger-ui-bundle.js", timeout=30).status_code == 200
    for path in ("/agent", "/widget"):  # the bare paths lead to the views
        response = httpx.get(app_url + path, timeout=30, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"].endswith(path + "/")
    assert httpx.get(app_url + "/healthz", timeout=30).json()
    assert "Shop assistant" in httpx.get(app_url + "/", timeout=30).text


def test_an_api_key_guards_agent_assist_and_writes_but_not_the_shop(tmp_path):
    import httpx

    with running_app(tmp_path, "--api-key", "s3cret") as base:
        assert httpx.get(base + "/", timeout=30).status_code == 200
        assert httpx.get(base + "/agent/config", timeout=30).status_code == 401
        with httpx.Client(base_url=base, timeout=30) as agent:
            assert agent.post("/agent/login", data={"username": "agent", "password": "wrong"}).status_code == 400
            assert agent.post("/agent/login", data={"username": "agent", "password": "s3cret"}).status_code == 200
            assert agent.get("/agent/config").status_code == 200
        event = {"user_id": "u1", "item_id": "J1", "type": "click"}
        assert httpx.post(base + "/api/v1/events", json=event, timeout=30).status_code == 401
        assert httpx.post(base + "/api/v1/events", json=event, headers={"X-API-Key": "s3cret"}, timeout=30).status_code == 200


def test_widget_may_be_framed_by_configured_origins_only(app_url):
    import httpx

    widget = httpx.get(app_url + "/widget/", timeout=30).headers["content-security-policy"]
    assert "frame-ancestors 'self'" in widget and "http://localhost:*" in widget
    assert "https://shop.example.com" in widget  # from --frame-origin
    chat = httpx.get(app_url + "/", timeout=30).headers["content-security-policy"]
    assert chat.endswith("; frame-ancestors 'self'") and "default-src 'self'" in chat and "object-src 'none'" in chat


def test_chat_streams_reply_and_cards_through_gradio_client(app_url):
    client = _gradio(app_url + "/")
    job = client.submit("waterproof hiking jacket under $100", [], api_name="/chat")
    final = job.result(timeout=120)
    history, cards, recs, cart = final[0], final[2:2 + 4], final[-3], final[-2]
    reply = _text(history[-1])
    assert history[-1]["role"] == "assistant" and "Waterproof Hiking Jacket" in reply
    assert 'data-product-id="J1"' in "".join(cards)
    assert "Down Parka" not in "".join(cards)  # $240: over the budget
    assert 'data-ids="' in recs and "Your cart is empty" in cart
    # Streamed: the assistant message grew over several updates before the final one.
    lengths = [len(_text(out[0][-1])) for out in job.outputs() if isinstance(out[0], list) and out[0]
               and out[0][-1]["role"] == "assistant"]
    assert len(set(lengths)) >= 3 and lengths[-1] == len(reply)


def test_chat_escapes_catalog_markup(app_url):
    client = _gradio(app_url + "/")
    final = client.predict("ceramic coffee mug", [], api_name="/chat")
    cards = "".join(final[2:2 + 4])
    assert 'data-product-id="X1"' in cards
    assert "Mug &lt;img src=x onerror=alert(1)" in cards and "<img src=x" not in cards
    assert "javascript:" not in cards  # only http(s) images are shown
    assert "<img src=x" not in _text(final[0][-1])  # the chat message escapes the title too


def test_widget_and_agent_views_answer(app_url):
    widget = _gradio(app_url + "/widget/")
    history, _, cards, note = widget.predict("rain jacket", [], api_name="/widget_chat")
    assert _text(history[-1]) and "shop-compact" in cards and note == ""
    agent = _gradio(app_url + "/agent/", auth=("agent", API_KEY))
    reply, products, policies = agent.predict(
        "(no customer)", "customer: I need a frying pan\nagent: sure, any budget?\ncustomer: under $50",
        api_name="/suggest")
    assert reply and 'data-product-id="K1"' in products


def test_cards_escape_everything():
    from assistant.serving.cards import cards_html, profile_html, safe_image_url
    from catalog.schema import Product

    evil = Product(id='"><script>x</script>', title=XSS_TITLE, brand="<b>B</b>", description="<svg onload=1>",
                   image_url='https://example.com/a.png" onerror="alert(1)')
    html = cards_html([(evil, "<i>why</i>", False)])
    assert "<script>" not in html and "<img src=x" not in html and "<b>B</b>" not in html and "<i>" not in html
    assert "not matching" in html and 'onerror="' not in html
    assert safe_image_url("https://example.com/a.png") == "https://example.com/a.png"
    for bad in ("javascript:alert(1)", "data:image/png;base64,xx", "//evil.com/x.png", "x", ""):
        assert safe_image_url(bad) is None
    profile = profile_html({"user_id": "<u>", "events": 1, "recent_purchases": [evil], "top_brands": ["<b>"]})
    assert "<u>" not in profile and "<img src=x" not in profile and "&lt;b&gt;" in profile


def test_conversation_parsing():
    from assistant.serving.shop import parse_conversation
    from assistant.serving.ui import shopper_id

    assert parse_conversation("hi\nAgent: hello\n\ncustomer:  jacket\nassistant:ok") == [
        ("customer", "hi"), ("agent", "hello"), ("customer", "jacket"), ("agent", "ok")]
    assert shopper_id("anonymous", "s1") == "anon-s1" and shopper_id("u7", "s1") == "u7"



def _text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):
        return " ".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content)
