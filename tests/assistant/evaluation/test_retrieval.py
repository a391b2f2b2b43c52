from __future__ import annotations

import csv
import json

from assistant.evaluation.cli import main

COLUMNS = ["example_id", "query", "query_id", "product_id", "product_locale", "esci_label", "product_title",
           "product_description", "product_bullet_point", "product_brand", "product_color"]


def _write(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "esci_200_with_text.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for n, (query, pid, label, title, brand) in enumerate(rows):
            writer.writerow({"example_id": n, "query": query, "query_id": n, "product_id": pid, "product_locale": "us",
                             "esci_label": label, "product_title": title, "product_description": "<b>Great</b> product",
                             "product_bullet_point": "", "product_brand": brand, "product_color": ""})


def test_retrieval_json_scores_exact_and_substitute_rows_only(tmp_path, capsys):
    _write(tmp_path / "esci", [
        ("leviton 5410 switch", "A", "Exact", "Leviton 5410 Feed-Through Rocker Switch", "Leviton"),
        ("rocker wall switch", "B", "Substitute", "Rocker Wall Switch, White", "Generic"),
        ("coffee mug", "C", "Exact", "Ceramic Coffee Mug 12 oz", "Mugco"),
        ("hiking boots", "D", "Irrelevant", "Ceramic Tea Pot", "Mugco"),
    ])
    assert main(["retrieval", "--data", str(tmp_path / "esci"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["products"] == 4 and result["queries"] == 3  # the Irrelevant row is not a query to score
    for name in ("dense", "bm25", "hybrid"):
        m = result["methods"][name]
        assert 0 < m["mrr"] <= 1 and m["recall@1"] <= m["recall@5"] == 1.0
    assert result["methods"]["hybrid"]["mrr"] == 1.0  # each query's product is the obvious one here


def test_retrieval_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["retrieval", "--data", str(tmp_path)]) == 2
    assert "esci_200_with_text.csv" in capsys.readouterr().err


def test_retrieval_on_the_real_esci_sample_beats_dense_alone(shared_data, capsys):
    assert main(["retrieval", "--data", str(shared_data / "esci-shopping-queries"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["queries"] == 187 and result["products"] == 200
    methods = result["methods"]
    assert methods["dense"]["mrr"] > 0.8 and methods["hybrid"]["mrr"] > methods["dense"]["mrr"]
