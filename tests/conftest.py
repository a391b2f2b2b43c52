"""Shared test set-up: never reach a model hub, never phone home, one loaded encoder per test session."""
from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; .ci/run installs it. Never `playwright install`.


@pytest.fixture(scope="session")
def embedder():
    from catalog.embed import get_embedder

    return get_embedder(device="cpu")


@pytest.fixture(scope="session")
def demo_shop(tmp_path_factory, embedder):
    """The built-in demo shop built once per test session: (config, index, DemoReport). Read-only for tests."""
    from catalog.build import build_demo_catalog
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex

    config = CatalogConfig(data_dir=tmp_path_factory.mktemp("demo-shop"))
    index = ProductIndex(config, embedder=embedder)
    return config, index, build_demo_catalog(config, index=index)


@pytest.fixture(scope="session")
def shop(demo_shop, tmp_path_factory):
    """The demo shop loaded as the app serves it (assistant.serving.shop.Shop), with the template reply backend.
    Shared by the whole test session: tests that log events or chat use their own user and session ids."""
    import shutil
    import sqlite3
    from dataclasses import replace

    from assistant.recsys.train import ensure_fast_predictor
    from assistant.reply.template import TemplateBackend
    from assistant.serving.shop import load_shop

    config, index, _ = demo_shop
    # Own behaviour store, chat log and models (tests here log events), same read-only product index.
    own = replace(config, data_dir=tmp_path_factory.mktemp("shop"))
    with sqlite3.connect(str(config.events_path)) as src, sqlite3.connect(str(own.events_path)) as dst:
        src.backup(dst)
    shutil.copytree(config.data_dir / "demo", own.data_dir / "demo")
    return load_shop(own, backend=TemplateBackend(), index=index, log=lambda s: None, prepare=ensure_fast_predictor)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright; skipped with the reason when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Waits, not checks: on a loaded 2-core CI machine a streamed turn can take longer than the 5 s default.
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def redis_url():
    """A redis-server for the whole test session (skipped with the reason when it cannot start)."""
    from tests.servers import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres():
    """(server URL, data directory) of a PostgreSQL cluster for the whole test session; tests make their own
    databases with tests.servers.fresh_database."""
    from tests.servers import postgres_server

    with postgres_server() as server:
        yield server
