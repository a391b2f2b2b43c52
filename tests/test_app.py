"""The app as a user starts it: a real process on a free port, queried over HTTP with gradio_client."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path, embedder):
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex
    from catalog.ingest import ingest_file

    shop = tmp_path / "shop.jsonl"
    shop.write_text("\n".join(json.dumps(p) for p in [
        {"id": "J1", "title": "Waterproof Hiking Jacket", "brand": "Northpeak", "price": 89, "category": "Outdoor > Jackets"},
        {"id": "J2", "title": "Down Parka", "brand": "Alpina", "price": 240, "category": "Outdoor > Jackets"},
        {"id": "<b>X</b>", "title": "<img src=x onerror=alert(1)> Mug", "price": 9, "category": "Home > Kitchen"},
    ]), encoding="utf-8")
    config = CatalogConfig(data_dir=tmp_path / "data")
    ingest_file(shop, config, index=ProductIndex(config, embedder=embedder))  # so the app skips the demo build
    port = _free_port()
    log = open(tmp_path / "app.log", "wb")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--data-dir", str(config.data_dir)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    import httpx

    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("app exited: " + (tmp_path / "app.log").read_text(errors="replace")[-3000:])
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        pytest.fail("app did not start: " + (tmp_path / "app.log").read_text(errors="replace")[-3000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_app_serves_search_over_the_existing_index(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    result = client.predict("rain jacket", 100, "Any", api_name="/search")
    rows = result["data"] if isinstance(result, dict) else result
    assert [row[1] for row in rows][0] == "Waterproof Hiking Jacket"
    assert all(float(str(row[3]).split()[0]) <= 100 for row in rows)  # the price filter held
    cheap = client.predict("mug", None, "Home", api_name="/search")
    cheap_rows = cheap["data"] if isinstance(cheap, dict) else cheap
    assert cheap_rows[0][1] == "Mug"  # the HTML in the title was stripped at ingest, not rendered
