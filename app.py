"""The shop assistant's web app: the shopper's chat at /, agent assist at /agent, the embeddable widget at /widget,
and the REST API at /api/v1 (OpenAPI docs at /docs).

    python app.py                                   # built-in demo shop, http://127.0.0.1:7860
    python app.py --catalog products.csv            # first run: ingest this file instead of the demo
    python app.py --llm-backend openai --llm-url http://localhost:8000/v1 --llm-model Qwen/Qwen2.5-7B-Instruct
    python app.py --host 0.0.0.0 --port 8080 --api-key s3cret --frame-origin https://shop.example.com

Every flag has an environment variable (shown in --help). On first run it builds and indexes the demo shop and
trains the fast purchase predictor (progress shown); later runs reuse what is persisted in the data directory.
This file only wires: the shop is assistant/shop.py, the views assistant/ui.py, the API assistant/api.py.
"""
from __future__ import annotations

import argparse
import hmac
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # otherwise Gradio calls home
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # same for Chroma

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import Request  # noqa: E402
from fastapi.responses import HTMLResponse, RedirectResponse  # noqa: E402

from assistant.api import ApiSettings, create_api  # noqa: E402
from assistant.generate import make_backend  # noqa: E402
from assistant.shop import load_shop  # noqa: E402
from assistant.ui import CSS, build_agent_ui, build_chat_ui, build_widget_ui  # noqa: E402
from catalog.config import CatalogConfig  # noqa: E402
from catalog.index import ProductIndex  # noqa: E402
from catalog.ingest import ingest_file  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default=env("SHOP_HOST", "127.0.0.1"), help="$SHOP_HOST")
    p.add_argument("--port", type=int, default=int(env("SHOP_PORT", "7860")), help="$SHOP_PORT")
    p.add_argument("--data-dir", default=env("SHOP_DATA_DIR", "data"), help="$SHOP_DATA_DIR")
    p.add_argument("--catalog", default=env("SHOP_CATALOG"), help="$SHOP_CATALOG: on first run (empty index), ingest "
                   "this product file (CSV, JSON, JSONL, Parquet) instead of building the demo shop")
    p.add_argument("--llm-backend", choices=["template", "local", "openai"], default=env("SHOP_LLM_BACKEND"),
                   help="$SHOP_LLM_BACKEND; default: openai when --llm-url is set, else local (SmolLM2-135M)")
    p.add_argument("--llm-model", default=None, help="local: HF id or path ($SHOP_LLM_MODEL); openai: the served "
                   "model name ($SHOP_LLM_API_MODEL)")
    p.add_argument("--llm-url", default=env("SHOP_LLM_URL"), help="$SHOP_LLM_URL: an OpenAI-compatible server")
    p.add_argument("--llm-key", default=env("SHOP_LLM_API_KEY") or env("SHOP_LLM_KEY"), help="$SHOP_LLM_API_KEY")
    p.add_argument("--chroma-url", default=env("SHOP_CHROMA_URL"), help="$SHOP_CHROMA_URL (default: embedded)")
    p.add_argument("--embed-model", default=env("SHOP_EMBED_MODEL"), help="$SHOP_EMBED_MODEL")
    p.add_argument("--api-key", default=env("SHOP_API_KEY"), help="$SHOP_API_KEY: required by the API's write, "
                   "delete and agent endpoints and the /agent/ view (unset: open in the demo shop, refused otherwise)")
    p.add_argument("--user-secret", default=env("SHOP_USER_SECRET"), help="$SHOP_USER_SECRET: the secret your site "
                   "signs user tokens with (assistant/usertoken.py); without it every shopper is anonymous")
    p.add_argument("--frame-origin", action="append", default=None, help="$SHOP_FRAME_ORIGINS (comma-separated): "
                   "an origin allowed to embed /widget in an iframe, e.g. https://shop.example.com; repeatable. "
                   "localhost and 127.0.0.1 are always allowed")
    p.add_argument("--concurrency", type=int, default=int(env("SHOP_CONCURRENCY", "0")), help="$SHOP_CONCURRENCY: "
                   "replies generated at once per view (0: 2 with the local model, 8 otherwise)")
    return p.parse_args(argv)


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


def mount_views(app, shop, api_key: str | None, user_secret: str | None, concurrency: int) -> None:
    """The three Gradio views mounted on the API's app (the REST API and its guard middleware stay in front)."""
    for path in ("/agent", "/widget"):  # the mounts answer under "/agent/"; send the bare path there
        app.add_api_route(path, _redirect_to(path + "/"), include_in_schema=False)
    views = [("/widget", build_widget_ui(shop, user_secret)), ("/", build_chat_ui(shop, user_secret))]
    if api_key or shop.demo:  # agent assist shows customers' profiles and transcripts: staff only
        views.insert(0, ("/agent", build_agent_ui(shop)))
    else:
        app.add_api_route("/agent/", _agent_needs_key, include_in_schema=False)
        print("agent assist is off: it shows customers' data, so it needs --api-key (SHOP_API_KEY)")
    # /agent and /widget first: a mount at "/" would catch their paths.
    for path, blocks in views:
        # api_open=False: an event may only run through the queue; Gradio's direct-call route (/gradio_api/run/...)
        # would otherwise run replies beside it, past the concurrency limit.
        blocks.queue(default_concurrency_limit=concurrency, api_open=False)
        # Agent assist shows customers' profiles: with an API key configured it asks for it (any user name).
        auth = _key_check(api_key) if path == "/agent" and api_key else None
        # max_file_size=0: no view takes a file, so Gradio's upload route must not store anyone's (a disk to fill,
        # files hosted on the shop's domain). show_error=False: an exception's text (paths, SQL) stays in the log.
        gr.mount_gradio_app(app, blocks, path=path, css=CSS, ssr_mode=False, auth=auth, max_file_size=0, show_error=False,
                            auth_message="Agent assist: sign in with the shop's API key as the password.",
                            footer_links=[] if path == "/widget" else ["api", "settings"])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = CatalogConfig(data_dir=args.data_dir)
    config.chroma_url = args.chroma_url or config.chroma_url
    config.embed_model = args.embed_model or config.embed_model
    index = ProductIndex(config)
    if args.catalog and index.count() == 0:
        print(ingest_file(args.catalog, config, progress=True, index=index).summary())
    elif args.catalog:
        print(f"the index already holds {index.count()} products; update it with `python -m catalog ingest FILE`")

    kwargs = {"model": args.llm_model} if args.llm_model else {}
    kind = args.llm_backend or ("openai" if args.llm_url else "local")
    if kind == "openai":
        kwargs.update(base_url=args.llm_url, api_key=args.llm_key)
    backend = make_backend(kind, **kwargs)
    shop = load_shop(config, backend=backend, build_demo=not args.catalog, index=index)
    print(f"reply backend: {getattr(backend, 'name', kind)}; purchase predictor: {shop.predictor_description}")

    settings = ApiSettings(api_key=args.api_key or None, user_secret=args.user_secret or None)
    if args.frame_origin:
        settings.frame_origins = [o for v in args.frame_origin for o in v.split(",") if o.strip()]
    app = create_api(shop, settings)
    # Gradio's queue runs at most this many events of each listener at once (replies share one limit per view).
    # The local model is one model on one device: concurrent generations split the same cores (or GPU), so more
    # of them only make every reply slower. 2 lets a second shopper's products appear while a reply is generated;
    # the template backend is cheap and an OpenAI-compatible server batches requests itself, so allow 8 there.
    concurrency = args.concurrency or (2 if getattr(backend, "name", "") == "local" else 8)
    mount_views(app, shop, args.api_key, args.user_secret, concurrency)

    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    base = f"http://{shown}:{args.port}"
    print(f"chat: {base}/\nagent assist: {base}/agent/\nwidget: {base}/widget/\nAPI docs: {base}/docs", flush=True)
    if shop.demo:
        print("demo shop: its users are synthetic, so the chat offers a 'Signed in as' selector; a real shop's "
              "shoppers are identified only by the user token its site signs (--user-secret)", flush=True)
    # No "server: uvicorn" header: which server (and so which known bugs) is behind the shop is nobody's business.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
