"""The command line, run as a user would run it: a separate process, its exit code and what it prints."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "catalog", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or REPO, timeout=600)


BAD_FILES = {
    "quoting.csv": (b'id,title,price\n1,ok,2\n2,"never closed,3\n3,x,4\n', "line"),
    "invalid.json": (b'[{"id": "1", "title": "a"},\n {"id": "2", "title": }]', "line 2"),
    "invalid.jsonl": (b'{"id": "1", "title": "a"}\n{"id": "2", "title": "b"\n', "line 2"),
    "latin1.csv": ("id,title\n1,ok\n2,Caf\xe9 cr\xe8me\n".encode("latin-1"), "line 3"),
    "empty.csv": (b"", "empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_give_one_clear_message(tmp_path, name):
    content, where = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("ingest", str(path), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0] and where in lines[0], lines
    assert not (tmp_path / "data" / "chroma").exists()  # the index was never touched


def test_mapping_naming_a_missing_column(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("Code,Name\n1,Mug\n", encoding="utf-8")
    result = run_cli("ingest", str(path), "--map", "id=StockCode", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "id=StockCode" in result.stderr and "Code, Name" in result.stderr


def test_ingest_search_stats_round_trip(tmp_path):
    shop = tmp_path / "export.csv"
    shop.write_text(
        "StockCode,Description,UnitPrice,Maker,Type,Colour\n"
        "J1,<b>Waterproof</b> hiking jacket,\"$89.00\",Northpeak,Outdoor > Jackets,Blue\n"
        "J2,Insulated ski jacket,199,Alpina,Outdoor > Jackets,Red\n"
        "M1,Ceramic coffee mug,12.50,Homely,Home > Kitchen,White\n"
        ",No id here,5,X,Y,Z\n"
        "J1,Waterproof hiking jacket with hood,79.00,Northpeak,Outdoor > Jackets,Blue\n",
        encoding="utf-8")
    data = str(tmp_path / "data")
    result = run_cli("ingest", str(shop), "--map", "id=StockCode", "--map", "title=Description",
                     "--map", "price=UnitPrice", "--map", "brand=Maker", "--map", "category=Type", "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "5 rows read -> 3 loaded, 1 rejected, 1 merged duplicates" in result.stdout
    rejects = list((tmp_path / "data" / "rejects").glob("*.csv"))
    assert len(rejects) == 1 and "missing id" in rejects[0].read_text()

    found = run_cli("search", "rain jacket", "--max-price", "100", "--json", "--data-dir", data)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [h["id"] for h in hits] == ["J1", "M1"]
    assert hits[0]["title"] == "Waterproof hiking jacket with hood" and hits[0]["price"] == 79.0

    by_brand = json.loads(run_cli("search", "jacket", "--brand", "alpina", "--json", "--data-dir", data).stdout)
    assert [h["id"] for h in by_brand] == ["J2"]

    stats = json.loads(run_cli("stats", "--data-dir", data).stdout)
    assert stats["products"] == 3 and stats["categories"] == {"Outdoor": 2, "Home": 1}


def test_search_on_an_empty_index_says_so(tmp_path):
    result = run_cli("search", "anything", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "empty" in result.stderr and "Traceback" not in result.stderr


def test_rows_without_an_id_name_the_file_columns_and_suggest_a_map(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    shop = tmp_path / "shop.csv"
    shop.write_text("Ref No,Product Label,Cost,Maker\nB1,Road bike,899,Velo\nB2,City bike,499,Urbano\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "catalog", "ingest", str(shop), "--data-dir", str(tmp_path / "data")],
                         cwd=REPO, capture_output=True, text=True, timeout=300).stdout
    assert "2 rows have no id or title" in out and "The file's columns: Ref No, Product Label, Cost, Maker" in out
    assert "--map id='Ref No' --map title='Product Label'" in out and "used: brand=Maker, price=Cost" in out
