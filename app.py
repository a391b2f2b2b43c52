"""The shop assistant's web app: the shopper's chat at /, agent assist at /agent, the embeddable widget at /widget,
and the REST API at /api/v1 (OpenAPI docs at /docs).

    python app.py                                   # built-in demo shop, http://127.0.0.1:7860
    python app.py --catalog products.csv            # first run: ingest this file instead of the demo
    python app.py --catalog products.csv --map id=SKU --policies policies/ --contact help@shop.example
    python app.py --llm-backend openai --llm-url http://localhost:8000/v1 --llm-model Qwen/Qwen2.5-7B-Instruct
    python app.py --host 0.0.0.0 --port 8080 --api-key s3cret --frame-origin https://shop.example.com
    python app.py --state-url redis://localhost:6379/0 --db-url postgresql://shop@localhost/shop \
                  --chroma-url http://localhost:8000               # one of several replicas (README, "Deployment")

Every flag has an environment variable (shown in --help). On first run it builds and indexes the demo shop and
trains the fast purchase predictor (progress shown); later runs reuse what is persisted in the data directory.
This file only wires: settings (assistant/serving/settings.py), the shop (assistant/serving/shop.py), the web app
(assistant/serving/web.py).
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # otherwise Gradio calls home
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # same for Chroma

import uvicorn  # noqa: E402

from assistant.pipeline import AssistantConfig  # noqa: E402
from assistant.recsys.train import ensure_fast_predictor  # noqa: E402  (first-start training, from the entry point)
from assistant.reply.backends import Backend, BackendError, check_local_model, make_backend  # noqa: E402
from assistant.reply.background import BackgroundBackend  # noqa: E402
from assistant.serving.replicas import ReplicaSync  # noqa: E402
from assistant.serving.settings import Settings  # noqa: E402
from assistant.serving.shop import load_shop  # noqa: E402
from assistant.serving.web import build_app  # noqa: E402
from assistant.sessions import open_sessions  # noqa: E402
from catalog.index import ProductIndex  # noqa: E402
from catalog.ingest import ingest_file  # noqa: E402
from catalog.load import LoadError  # noqa: E402
from catalog.policies import PolicyFileError, read_policies  # noqa: E402


def make_reply_backend(settings: Settings) -> Backend:
    kind = settings.backend_kind
    if kind == "openai":
        return make_backend(kind, base_url=settings.llm_url, model=settings.llm_model, api_key=settings.llm_api_key)
    if kind == "local":  # loads on a thread while the shop serves; the template answers until it is ready
        check_local_model(settings.llm_model)
        # Started once the shop is built: on 2 cores a model loading beside the first start's embedding of the
        # catalog slowed both (first start 71 s -> see README "Start-up").
        return BackgroundBackend(lambda: make_backend(kind, model=settings.llm_model, threads=settings.llm_threads),
                                 name="local", supports_prefix=True, start=False)
    return make_backend(kind)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.parse(argv, description=__doc__.split("\n\n")[0])
    config = settings.catalog
    try:
        index = ProductIndex(config)
        if settings.catalog_file and index.count() == 0:
            mapping = dict(item.split("=", 1) for item in settings.column_map or [])
            print(ingest_file(settings.catalog_file, config, mapping=mapping or None, progress=True, index=index).summary())
        elif settings.catalog_file:
            print(f"the index already holds {index.count()} products; update it with `python -m catalog ingest FILE`")
        policies = read_policies(settings.policies) if settings.policies else []  # read (and checked) before anything
        backend = make_reply_backend(settings)
        assistant_config = AssistantConfig(history_turns=settings.history_turns, contact=settings.contact)
        sessions = open_sessions(settings.state_url, assistant_config.max_sessions, settings.session_ttl)
        shop = load_shop(config, backend=backend, build_demo=not settings.catalog_file, index=index,
                         prepare=ensure_fast_predictor, assistant_config=assistant_config, sessions=sessions)
        if policies:
            shop.policies.upsert(policies)
            print(f"policies: {len(policies)} documents from {settings.policies}; {shop.policies.count()} in the shop")
    except (LoadError, PolicyFileError, BackendError, RuntimeError, ValueError, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # one clear line, no traceback
        return 2
    # Events stored by other replicas (or another process) reach this one's recommender; catalog changes refit it.
    ReplicaSync(shop, refit_s=settings.refit_minutes * 60).start()
    if isinstance(backend, BackgroundBackend):
        backend.start()  # the template answers until it is loaded
    print(f"reply backend: {backend.name}; purchase predictor: {shop.predictor_description}")
    app = build_app(shop, settings)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{shown}:{settings.port}"
    agent = f"{base}/agent/" if settings.api_key or shop.demo else "off (needs --api-key)"
    print(f"chat: {base}/\nagent assist: {agent}\nwidget: {base}/widget/\nAPI docs: {base}/docs", flush=True)
    if shop.demo:
        print("demo shop: its users are synthetic, so the chat offers a 'Signed in as' selector; a real shop's "
              "shoppers are identified only by the user token its site signs (--user-secret)", flush=True)
    # No "server: uvicorn" header: which server (and so which known bugs) is behind the shop is nobody's business.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
