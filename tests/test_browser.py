"""The three views in a real browser (headless Chromium through Playwright) against a real `python app.py`.

Needs /usr/bin/chromium (Debian: `apt-get install chromium`; .ci/run installs it); skipped without it. Pages are
awaited on "domcontentloaded" and then on the elements themselves (Gradio keeps a connection open, so
"networkidle" never comes).
"""
from __future__ import annotations

import functools
import http.server
import re
import socket
import threading

import pytest

from tests.conftest import CHROMIUM
from tests.test_app import API_KEY, XSS_TITLE, free_port, running_app

WAIT_MS = 60_000  # a first turn on a loaded 2-core machine includes loading the encoder's first batch

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # Default frame origins (localhost may frame); a shop's own catalog needs the API key for agent assist.
    with running_app(tmp_path_factory.mktemp("browser-app"), "--api-key", API_KEY) as base:
        yield base


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.dialogs = []  # every alert/confirm/prompt: an XSS would open one

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.console = []
    page.on("console", lambda m: page.console.append(m.text))
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def _send(page, text: str, scope: str = "#message") -> None:
    from playwright.sync_api import expect

    # Gradio ignores a submit while the previous turn still streams (slow on a busy machine): wait until no
    # event is in flight (its status trackers carry "generating"/"pending" classes while one runs).
    expect(page.locator(".generating, .pending")).to_have_count(0, timeout=60_000)
    box = page.locator(scope).get_by_test_id("textbox")
    box.fill(text)
    box.press("Enter")


def test_chat_reply_cards_and_add_to_cart_changes_recommendations(app, page):
    from playwright.sync_api import expect

    page.goto(app + "/", wait_until="domcontentloaded")
    recs = page.locator("#recs .shop-recs")
    expect(recs).to_have_attribute("data-ids", re.compile(r"\S"))
    before = recs.get_attribute("data-ids")

    _send(page, "non-stick frying pan")
    reply = page.get_by_test_id("bot").last
    expect(reply).to_contain_text("Non-stick Frying Pan")
    expect(page.locator("#chatbot").get_by_test_id("user").last).to_have_text("non-stick frying pan")
    card = page.locator("#card-0")
    expect(card).to_be_visible()
    expect(card.locator(".shop-card-title")).to_have_text("Non-stick Frying Pan")
    expect(card.locator(".shop-card-meta")).to_contain_text("$35.00")

    page.locator("#details-0").click()
    expect(page.locator("#details .shop-details h4")).to_have_text("Non-stick Frying Pan")

    details = page.locator("#details .shop-details")
    box = details.bounding_box()
    assert box and 0 <= box["y"] < page.viewport_size["height"], box  # the panel opened in view
    page.locator("#add-to-cart-0").click()
    expect(page.locator("#status")).to_contain_text("Added Non-stick Frying Pan to your cart")
    expect(page.locator("#cart .shop-cart")).to_contain_text("Non-stick Frying Pan")  # the cart shows it
    expect(page.locator("#cart .shop-cart")).to_contain_text("Total: $35.00")
    expect(recs).not_to_have_attribute("data-ids", before)  # the click and the cart personalised the strip
    after = recs.get_attribute("data-ids").split()
    assert after and after[0].startswith("K"), after  # now kitchen products lead

    # "More like this" on the second card asks the assistant about that card.
    second = page.locator("#card-1 .shop-card-title").inner_text()
    page.locator("#more-like-1").click()
    expect(page.locator("#chatbot").get_by_test_id("user").last).to_have_text("more like the second one")
    expect(page.get_by_test_id("bot")).to_have_count(2)
    assert second  # the reply's cards exclude the referenced product itself
    expect(page.locator("#card-0 .shop-card-title")).not_to_have_text(second)

    # Remove it again from the cart panel.
    page.locator("#cart-pick input").click()
    page.get_by_role("option", name=re.compile("Non-stick Frying Pan")).click()
    page.locator("#cart-remove").click()
    expect(page.locator("#cart .shop-cart")).to_contain_text("Your cart is empty")

    page.locator("#reset").click()
    expect(page.get_by_test_id("bot")).to_have_count(0)
    expect(page.locator("#card-0")).to_be_hidden()
    assert not page.dialogs


def test_sessions_are_isolated_between_tabs(app, browser):
    from playwright.sync_api import expect

    pages = [browser.new_context().new_page() for _ in range(2)]
    for p in pages:
        p.set_default_timeout(WAIT_MS)
        p.goto(app + "/", wait_until="domcontentloaded")
        expect(p.locator("#recs .shop-recs")).to_have_attribute("data-ids", re.compile(r"\S"))
    _send(pages[0], "wireless headphones")
    expect(pages[0].get_by_test_id("bot").last).to_contain_text("Headphones")
    _send(pages[1], "cheaper?")  # nothing to compare with in this tab: no headphones carried over
    expect(pages[1].get_by_test_id("bot")).to_have_count(1)
    assert "Headphones" not in pages[1].locator("#cards").inner_text()
    for p in pages:
        p.context.close()


def test_agent_assist_renders_a_suggestion(app, page):
    from playwright.sync_api import expect

    sign_in_as_agent(page, app)
    conversation = page.locator("#agent-conversation textarea")
    conversation.fill("customer: I need a waterproof jacket\nagent: any budget?\ncustomer: under $100")
    page.locator("#agent-suggest").click()
    expect(page.locator("#agent-products .shop-card").first).to_be_visible()
    titles = page.locator("#agent-products .shop-card-title").all_inner_texts()
    assert "Waterproof Hiking Jacket" in titles and "Down Parka" not in titles  # the $100 budget carried over
    expect(page.locator("#agent-reply textarea")).to_have_value(re.compile(r"Waterproof Hiking Jacket"))
    page.locator("#agent-reply textarea").fill("Edited by the agent")  # editable before copying
    expect(page.locator("#agent-reply textarea")).to_have_value("Edited by the agent")


def sign_in_as_agent(page, app: str) -> None:
    """Gradio's login form: any user name, the shop's API key as the password."""
    from playwright.sync_api import expect

    page.goto(app + "/agent/", wait_until="domcontentloaded")
    page.locator("input[type=text]").first.fill("agent")
    page.locator("input[type=password]").first.fill(API_KEY)
    page.locator("input[type=password]").first.press("Enter")
    expect(page.locator("#agent-conversation textarea")).to_be_visible()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def host_page(tmp_path):
    """Serve a directory over HTTP on another origin: host_page(html, host) -> the page's URL."""
    servers = []

    def serve(html: str, host: str = "127.0.0.1") -> str:
        (tmp_path / "index.html").write_text(html, encoding="utf-8")
        server = http.server.ThreadingHTTPServer((host, free_port(host)), functools.partial(_Quiet, directory=str(tmp_path)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://{host}:{server.server_address[1]}/index.html"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _iframe_page(app: str) -> str:
    return (f'<!doctype html><html><body><h1>Another shop</h1>'
            f'<iframe id="assistant" src="{app}/widget/" style="width:420px;height:640px;border:0"></iframe></body></html>')


def test_widget_loads_in_an_iframe_of_another_local_origin(app, page, host_page):
    from playwright.sync_api import expect

    url = host_page(_iframe_page(app), "127.0.0.1")  # another port: another origin, allowed by default
    page.goto(url, wait_until="domcontentloaded")
    widget = page.frame_locator("#assistant")
    box = widget.locator("#widget-message").get_by_test_id("textbox")
    expect(box).to_be_visible()
    box.fill("rain jacket")
    box.press("Enter")
    expect(widget.get_by_test_id("bot").last).to_contain_text("Jacket")
    expect(widget.locator("#widget-cards .shop-compact .shop-card").first).to_be_visible()


def _loopback_alias_available(host: str = "127.0.0.2") -> bool:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def test_widget_is_refused_in_an_iframe_of_a_disallowed_origin(app, page, host_page):
    if not _loopback_alias_available():
        pytest.skip("127.0.0.2 is not usable here: no second origin outside the allowed localhost list")
    url = host_page(_iframe_page(app), "127.0.0.2")  # not 'self', localhost, 127.0.0.1 nor a configured origin
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
        page.goto(url, wait_until="domcontentloaded")
    assert "violates the following Content Security Policy directive" in refused.value.text
    frame = page.locator("#assistant").element_handle().content_frame()
    assert frame is None or not frame.url.endswith("/widget/"), frame.url  # Chromium shows its error page instead
    if frame is not None:
        assert frame.locator('[data-testid="textbox"]').count() == 0


def test_catalog_markup_is_shown_as_text(app, page):
    from playwright.sync_api import expect

    page.goto(app + "/", wait_until="domcontentloaded")
    expect(page.locator("#recs .shop-recs")).to_have_attribute("data-ids", re.compile(r"\S"))
    _send(page, "ceramic coffee mug")
    expect(page.get_by_test_id("bot")).to_have_count(1)
    expect(page.locator(".shop-card-title", has_text=XSS_TITLE).first).to_be_visible()
    expect(page.get_by_test_id("bot").last).to_contain_text(XSS_TITLE)
    _send(page, XSS_TITLE)  # a shopper typing markup sees it as text too
    expect(page.get_by_test_id("user").last).to_have_text(XSS_TITLE)
    page.wait_for_timeout(1000)
    assert page.locator('img[src="x"]').count() == 0
    assert page.dialogs == []
