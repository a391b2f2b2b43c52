"""The web app around a loaded shop: the REST API (assistant/serving/api.py) with the three Gradio views mounted on
it, the shopper's chat at /, the widget at /widget/ and agent assist at /agent/ (staff only).

    app = build_app(shop, settings)      # a FastAPI app; app.py serves it with uvicorn
"""
from __future__ import annotations

import hmac

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from assistant.serving.api import ApiSettings, create_api
from assistant.serving.settings import Settings
from assistant.serving.shop import Shop
from assistant.serving.ui import CSS, build_agent_ui, build_chat_ui, build_widget_ui


def build_app(shop: Shop, settings: Settings, log=print) -> FastAPI:
    app = create_api(shop, ApiSettings(api_key=settings.api_key, frame_origins=list(settings.frame_origins or []),
                                       user_secret=settings.user_secret))
    # Gradio's queue runs at most this many events of each listener at once (replies share one limit per view).
    # The local model is one model on one device: concurrent generations split the same cores (or GPU), so more
    # of them only make every reply slower. 2 lets a second shopper's products appear while a reply is generated;
    # the template backend is cheap and an OpenAI-compatible server batches requests itself, so allow 8 there.
    concurrency = settings.concurrency or (2 if shop.assistant.backend.name == "local" else 8)
    for path in ("/agent", "/widget"):  # the mounts answer under "/agent/"; send the bare path there
        app.add_api_route(path, _redirect_to(path + "/"), include_in_schema=False)
    views = [("/widget", build_widget_ui(shop, settings.user_secret)), ("/", build_chat_ui(shop, settings.user_secret))]
    if settings.api_key or shop.demo:  # agent assist shows customers' profiles and transcripts: staff only
        views.insert(0, ("/agent", build_agent_ui(shop)))
    else:
        app.add_api_route("/agent/", _agent_needs_key, include_in_schema=False)
        log("agent assist is off: it shows customers' data, so it needs --api-key (SHOP_API_KEY)")
    # /agent and /widget first: a mount at "/" would catch their paths.
    for path, blocks in views:
        # api_open=False: an event may only run through the queue; Gradio's direct-call route (/gradio_api/run/...)
        # would otherwise run replies beside it, past the concurrency limit.
        blocks.queue(default_concurrency_limit=concurrency, api_open=False)
        # Agent assist shows customers' profiles: with an API key configured it asks for it (any user name).
        auth = _key_check(settings.api_key) if path == "/agent" and settings.api_key else None
        # max_file_size=0: no view takes a file, so Gradio's upload route must not store anyone's (a disk to fill,
        # files hosted on the shop's domain). show_error=False: an exception's text (paths, SQL) stays in the log.
        gr.mount_gradio_app(app, blocks, path=path, css=CSS, ssr_mode=False, auth=auth, max_file_size=0,
                            show_error=False, auth_message="Agent assist: sign in with the shop's API key as the password.",
                            footer_links=[] if path == "/widget" else ["api", "settings"])
    return app


def _redirect_to(target: str):
    def redirect(request: Request) -> RedirectResponse:
        query = request.url.query
        return RedirectResponse(target + ("?" + query if query else ""), status_code=307)
    return redirect


def _agent_needs_key() -> HTMLResponse:
    return HTMLResponse("<h2>Agent assist is off</h2><p>It shows customers' profiles and chats, so it needs the "
                        "shop's API key: start the app with <code>--api-key KEY</code> (or SHOP_API_KEY) and sign in "
                        "with it.</p>", status_code=403)


def _key_check(api_key: str):
    def check(username: str, password: str) -> bool:
        return hmac.compare_digest(password.encode("utf-8"), api_key.encode("utf-8"))
    return check
