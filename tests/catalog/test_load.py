from __future__ import annotations

import json

import pandas as pd
import pytest

from catalog.load import LoadError, load_table, parse_mapping, read_records

RECORDS = [
    {"sku": "A1", "name": "Rain Jacket", "price": "49.99", "dimensions": {"width": 30, "height": 70},
     "tags": ["rain", "hiking"], "images": ["https://img.example/a1.jpg", "https://img.example/a1b.jpg"]},
    {"sku": "A2", "name": "Trail Shoe", "price": "89", "dimensions": {"width": 10, "height": 12},
     "tags": ["trail"], "images": []},
]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_explicit_mapping(tmp_path):
    path = _write(tmp_path, "shop.csv", "StockCode,Description,UnitPrice,Country\n85123A,WHITE HANGING HEART,2.55,UK\n")
    table = load_table(path, mapping=parse_mapping(["id=StockCode", "title=Description", "price=UnitPrice"]))
    assert table.rows[0]["id"] == "85123A"
    assert table.rows[0]["title"] == "WHITE HANGING HEART"
    assert table.rows[0]["price"] == "2.55"
    assert table.rows[0]["attributes"] == {"Country": "UK"}  # unknown columns are kept, not dropped
    assert table.mapping["id"] == "StockCode"


@pytest.mark.parametrize("layout", ["list", "under_key"])
def test_json_list_or_records_under_a_key_with_nested_fields(tmp_path, layout):
    data = RECORDS if layout == "list" else {"meta": {"exported": "today"}, "products": RECORDS}
    path = _write(tmp_path, "shop.json", json.dumps(data))
    table = load_table(path)
    assert [r["id"] for r in table.rows] == ["A1", "A2"]  # "sku" recognised as the id
    assert table.rows[0]["title"] == "Rain Jacket"
    assert table.rows[0]["attributes"]["dimensions.width"] == 30
    assert table.rows[0]["tags"] == ["rain", "hiking"]
    assert table.rows[0]["image_url"] == RECORDS[0]["images"]


def test_jsonl_and_parquet_give_the_same_rows(tmp_path):
    jsonl = _write(tmp_path, "shop.jsonl", "\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    parquet = tmp_path / "shop.parquet"
    pd.DataFrame(RECORDS).to_parquet(parquet)
    a, b = load_table(jsonl), load_table(parquet)
    assert [r["id"] for r in a.rows] == [r["id"] for r in b.rows] == ["A1", "A2"]
    assert b.rows[0]["attributes"]["dimensions.width"] == 30  # a Parquet struct column flattens the same way
    assert b.rows[0]["tags"] == ["rain", "hiking"]


def test_mapping_to_nested_field_and_attribute(tmp_path):
    path = _write(tmp_path, "shop.json", json.dumps(RECORDS))
    table = load_table(path, mapping=parse_mapping(["attributes.width_cm=dimensions.width"]))
    assert table.rows[1]["attributes"]["width_cm"] == 10


@pytest.mark.parametrize("pair", ["id", "nosuchfield=X", "title="])
def test_bad_mapping_arguments(pair):
    with pytest.raises(ValueError):
        parse_mapping([pair])


def test_mapping_naming_a_missing_column(tmp_path):
    path = _write(tmp_path, "shop.csv", "a,b\n1,2\n")
    with pytest.raises(LoadError) as e:
        load_table(path, mapping={"id": "StockCode"})
    assert "StockCode" in str(e.value) and "shop.csv" in str(e.value) and "a, b" in str(e.value)


def test_broken_csv_quoting_names_the_line(tmp_path):
    path = _write(tmp_path, "broken.csv", 'id,title,price\n1,ok,2\n2,"unterminated,3\n3,fine,4\n')
    with pytest.raises(LoadError) as e:
        read_records(path)
    assert "broken.csv" in str(e.value) and "line" in str(e.value)


def test_csv_row_with_too_many_fields_names_the_line(tmp_path):
    path = _write(tmp_path, "wide.csv", "id,title,price\n1,ok,2\n2,bad,3,extra,more\n")
    with pytest.raises(LoadError) as e:
        read_records(path)
    assert e.value.where == "line 3"


def test_invalid_json_names_line_and_column(tmp_path):
    path = _write(tmp_path, "bad.json", '[\n {"id": 1, "title": "x"},\n {"id": 2 "title": "y"}\n]')
    with pytest.raises(LoadError) as e:
        read_records(path)
    assert e.value.where == "line 3" and "invalid JSON" in e.value.problem


def test_invalid_jsonl_names_the_line(tmp_path):
    path = _write(tmp_path, "bad.jsonl", '{"id": 1, "title": "x"}\n{"id": 2, oops}\n')
    with pytest.raises(LoadError) as e:
        read_records(path)
    assert e.value.where == "line 2"


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,title\n1,ok\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(LoadError) as e:
        read_records(path)
    assert e.value.where == "line 3" and "UTF-8" in e.value.problem.upper()
    assert read_records(path, encoding="latin-1")[1]["title"] == "café"  # --encoding is the way out


@pytest.mark.parametrize("name,content", [("empty.csv", ""), ("blank.json", "  \n"), ("none.jsonl", "\n\n")])
def test_empty_files(tmp_path, name, content):
    path = _write(tmp_path, name, content)
    with pytest.raises(LoadError) as e:
        read_records(path)
    assert "empty" in str(e.value)


def test_header_only_csv_and_empty_json_list(tmp_path):
    with pytest.raises(LoadError, match="no rows"):
        read_records(_write(tmp_path, "h.csv", "id,title\n"))
    with pytest.raises(LoadError, match="no records"):
        read_records(_write(tmp_path, "e.json", "[]"))


def test_not_parquet_and_unknown_extension(tmp_path):
    with pytest.raises(LoadError, match="Parquet"):
        read_records(_write(tmp_path, "x.parquet", "id,title\n1,a\n"))
    with pytest.raises(LoadError, match="--format"):
        read_records(_write(tmp_path, "x.txt", "id,title\n1,a\n"))
    assert read_records(_write(tmp_path, "y.txt", "id,title\n1,a\n"), fmt="csv")[0]["title"] == "a"


def test_missing_file(tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        read_records(tmp_path / "nope.csv")
