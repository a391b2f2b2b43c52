"""Screenshots of the three views for the README: starts `python app.py` (template replies) on a free port, drives
it with headless Chromium through Playwright after a real chat turn, and writes docs/chat.png, docs/agent.png and
docs/widget.png (the widget embedded in a page served from another local origin).

    python docs/screenshots.py                         # the demo shop in ./data (built on first run: minutes)
    python docs/screenshots.py --data-dir /tmp/shop --chromium /usr/bin/chromium

Needs Chromium (Debian: `apt-get install chromium`); it never downloads a browser.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
WAIT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(data_dir: str, port: int, log_path: Path, timeout: float = 1800) -> subprocess.Popen:
    import httpx

    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--data-dir", data_dir, "--llm-backend",
                             "template"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("app exited:\n" + log_path.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.terminate()
    raise SystemExit("app did not start in time; see " + str(log_path))


def serve_iframe_page(app: str, directory: Path) -> tuple[str, http.server.HTTPServer]:
    (directory / "index.html").write_text(
        '<!doctype html><html><body style="font-family:sans-serif;background:#f4f4f5;margin:24px">'
        '<h2>Another shop\'s page</h2><p>The assistant below is an &lt;iframe&gt; of /widget.</p>'
        f'<iframe id="assistant" src="{app}/widget/" style="width:460px;height:700px;border:1px solid #ccc;'
        'border-radius:8px;background:white"></iframe></body></html>', encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/index.html", server


def send(page, scope: str, text: str) -> None:
    box = page.locator(scope).get_by_test_id("textbox")
    box.fill(text)
    box.press("Enter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("SHOP_DATA_DIR", str(REPO / "data")))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default=str(DOCS))
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="shop-screens-"))
    port = free_port()
    print(f"starting the app on port {port} (data: {args.data_dir}; log: {work / 'app.log'})", flush=True)
    proc = start_app(args.data_dir, port, work / "app.log")
    app = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)

            page.goto(app + "/", wait_until="domcontentloaded")
            expect(page.locator("#recs .shop-recs .shop-card").first).to_be_visible()
            send(page, "#message", "waterproof hiking jacket under $100")
            expect(page.locator("#card-0")).to_be_visible()
            expect(page.get_by_test_id("bot").last).not_to_be_empty()
            page.locator("#add-to-cart-0").click()
            expect(page.locator("#status")).to_contain_text("Added")
            page.wait_for_timeout(800)
            page.screenshot(path=str(out / "chat.png"), full_page=True)

            page.goto(app + "/agent/", wait_until="domcontentloaded")
            expect(page.locator("#agent-profile .shop-profile")).to_be_visible()
            page.locator("#agent-conversation textarea").fill(
                "customer: hi, I need a waterproof hiking jacket\nagent: sure, any budget?\ncustomer: under $100, not Trailhaven")
            page.locator("#agent-suggest").click()
            expect(page.locator("#agent-products .shop-card").first).to_be_visible()
            page.wait_for_timeout(800)
            page.screenshot(path=str(out / "agent.png"), full_page=True)

            host, server = serve_iframe_page(app, work)
            try:
                page.set_viewport_size({"width": 900, "height": 900})
                page.goto(host, wait_until="domcontentloaded")
                widget = page.frame_locator("#assistant")
                send(widget, "#widget-message", "warm jacket under $150")
                expect(widget.locator("#widget-cards .shop-card").first).to_be_visible()
                page.wait_for_timeout(800)
                page.screenshot(path=str(out / "widget.png"), full_page=True)
            finally:
                server.shutdown()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for name in ("chat.png", "agent.png", "widget.png"):
        print(out / name)


if __name__ == "__main__":
    main()
