"""Catalog command line.

    python -m catalog ingest products.csv --map id=StockCode --map title=Description [--delete-missing]
    python -m catalog stats
    python -m catalog search "waterproof hiking jacket" --max-price 100 --brand Northpeak --category Jackets
    python -m catalog demo            # build the built-in demo catalog into the index
    python -m catalog policies add policies/    # the shop's policies/FAQ (Markdown, text, JSON, CSV); list, remove

Common flags: --data-dir DIR (or SHOP_DATA_DIR), --chroma-url http://host:port (or SHOP_CHROMA_URL),
--embed-model ID_OR_PATH (or SHOP_EMBED_MODEL). A user's mistake prints one clear message and exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (default: $SHOP_DATA_DIR or ./data)")
    common.add_argument("--chroma-url", help="Chroma server, e.g. http://localhost:8000 (default: embedded)")
    common.add_argument("--embed-model", help="sentence-transformers model id or path (default: all-MiniLM-L6-v2)")

    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="load, clean and index a product file")
    p.add_argument("path")
    p.add_argument("--format", choices=["csv", "tsv", "json", "jsonl", "parquet"], help="default: from the extension")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="use the file's COLUMN for our FIELD (id, title, price, ..., attributes.NAME); repeatable")
    p.add_argument("--records-key", help="for JSON: the top-level key holding the list of records")
    p.add_argument("--encoding", default="utf-8", help="text encoding of CSV/JSON files (default utf-8)")
    p.add_argument("--delete-missing", action="store_true",
                   help="delete indexed products that are not in this file (the file is the whole catalog)")

    sub.add_parser("stats", parents=[common], help="what is in the index")

    p = sub.add_parser("search", parents=[common], help="search the index with optional filters")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--min-price", type=float)
    p.add_argument("--max-price", type=float)
    p.add_argument("--brand", action="append", default=[], help="only this brand; repeatable")
    p.add_argument("--exclude-brand", action="append", default=[], help="not this brand; repeatable")
    p.add_argument("--category", help="any level of the category path, e.g. Jackets or Outdoor")
    p.add_argument("--colour", "--color", dest="colour")
    p.add_argument("--size")
    p.add_argument("--min-rating", type=float)
    p.add_argument("--in-stock", action="store_true", help="only products in stock")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("policies", parents=[common], help="the shop's policies and FAQ: add a file or folder, list")
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("paths", nargs="*", help="add: Markdown, text, JSON/JSONL or CSV files or folders; remove: ids")

    p = sub.add_parser("demo", parents=[common], help="generate the built-in demo catalog and index it")
    p.add_argument("--products", type=int, default=None, help="number of demo products (default 1200)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from catalog.config import CatalogConfig

    config = CatalogConfig.from_env(data_dir=args.data_dir, chroma_url=args.chroma_url, embed_model=args.embed_model)
    try:
        return COMMANDS[args.command](args, config)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


class UserError(Exception):
    pass


def _open_index(config):
    from catalog.index import IndexUnavailable, ProductIndex

    try:
        return ProductIndex(config)
    except IndexUnavailable as e:
        raise UserError(str(e)) from None


def cmd_ingest(args, config) -> int:
    from catalog.index import IndexUnavailable
    from catalog.ingest import ingest_file
    from catalog.load import LoadError, parse_mapping

    try:
        mapping = parse_mapping(args.map)
        report = ingest_file(args.path, config, fmt=args.format, mapping=mapping, records_key=args.records_key,
                             encoding=args.encoding, delete_missing=args.delete_missing, progress=True,
                             )
    except (LoadError, ValueError, IndexUnavailable) as e:
        raise UserError(str(e)) from None
    print(report.summary())
    return 0


def cmd_stats(args, config) -> int:
    index = _open_index(config)
    print(json.dumps(index.stats(), indent=2, ensure_ascii=False))
    return 0


def cmd_search(args, config) -> int:
    from catalog.index import SearchFilters

    if args.k < 1:
        raise UserError("-k must be at least 1")
    filters = SearchFilters(min_price=args.min_price, max_price=args.max_price, brands=args.brand,
                            exclude_brands=args.exclude_brand, category=args.category, colour=args.colour,
                            size=args.size, min_rating=args.min_rating, in_stock_only=args.in_stock)
    index = _open_index(config)
    if index.count() == 0:
        raise UserError(f"the index at {config.chroma_url or config.data_dir} is empty; run `python -m catalog ingest FILE` "
                        "or `python -m catalog demo` first")
    hits = index.search(args.query, k=args.k, filters=filters)
    if args.json:
        print(json.dumps([{"score": round(h.score, 4), **h.product.to_dict()} for h in hits], ensure_ascii=False))
        return 0
    if not hits:
        print("no products match these filters")
    for h in hits:
        p = h.product
        price = f"{p.price:.2f} {p.currency}" if p.price is not None else "no price"
        print(f"{h.score:.3f}  {p.id:<12} {price:>14}  {p.brand[:18]:<18} {p.title[:70]}")
    return 0


def cmd_demo(args, config) -> int:
    from catalog.build import build_demo_catalog

    report = build_demo_catalog(config, n_products=args.products, progress=True)
    print(report.summary())
    return 0


def cmd_policies(args, config) -> int:
    from catalog.policies import PolicyFileError, PolicyIndex, read_policies

    if args.action != "list" and not args.paths:
        raise UserError(f"policies {args.action} needs {'a file or folder' if args.action == 'add' else 'ids'}")
    try:  # the files are read and checked before the index (and its encoder) is opened
        docs = [doc for path in args.paths for doc in read_policies(path)] if args.action == "add" else []
    except PolicyFileError as e:
        raise UserError(str(e)) from None
    index = _open_index(config)
    policies = PolicyIndex(index.client, index.embedder)
    if args.action == "list":
        listed = policies.all()
        for d in listed:
            print(f"{d['id']:<40} {d['title'][:40]:<40} {d['text'][:60]}")
        print(f"{len(listed)} policy documents")
    elif args.action == "remove":
        policies.delete(args.paths)
        print(f"removed {len(args.paths)} documents (ids not present are ignored)")
    else:
        known = {d["id"] for d in policies.all()}
        policies.upsert(docs)
        new = sum(d["id"] not in known for d in docs)
        print(f"policies: {new} added, {len(docs) - new} updated; {policies.count()} in the shop")
    return 0


COMMANDS = {"ingest": cmd_ingest, "stats": cmd_stats, "search": cmd_search, "demo": cmd_demo, "policies": cmd_policies}

if __name__ == "__main__":
    sys.exit(main())
