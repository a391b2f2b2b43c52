"""Query -> product retrieval on real shopping queries (ESCI): index the judged products through the real
cleaning and indexing code, rank all of them for each query, score the Exact and Substitute judgements.

    python -m assistant.evaluate retrieval --data ../shared/data/esci-shopping-queries [--json]

Methods: dense (sentence-transformers cosine of the product's whole text, what Chroma alone gives), dense+head
(averaged with the cosine of its short head text), bm25 (catalog/lexical.py alone) and hybrid (dense+head fused
with bm25: what ProductIndex.search, and so the assistant, uses when it has the query text).
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time

import numpy as np

from assistant.evaluation.report import report
from assistant.recsys.metrics import ranks_from_scores
from catalog.clean import clean_row
from catalog.config import CatalogConfig
from catalog.index import ProductIndex
from catalog.lexical import fuse

ESCI_FILE = "esci_200_with_text.csv"
RELEVANT = ("Exact", "Substitute")


class RetrievalDataError(Exception):
    pass


def load_esci(folder: str) -> tuple[list, list[tuple[str, str, str]]]:
    """(products, [(query, judged product id, label)]) from the ESCI sample; products cleaned by catalog.clean."""
    path = os.path.join(folder, ESCI_FILE)
    if not os.path.isfile(path):
        raise RetrievalDataError(f"{path} not found (expected the ESCI sample {ESCI_FILE} in {folder})")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"query", "product_id", "product_title", "esci_label"}
    if not rows or not need <= set(rows[0]):
        raise RetrievalDataError(f"{path}: needs columns {sorted(need)}")
    products, seen, judged = [], set(), []
    for n, r in enumerate(rows, start=2):
        # Bullets first: they are the most informative text and the encoder reads only the first ~256 tokens.
        description = "\n".join(x for x in (r.get("product_bullet_point"), r.get("product_description")) if x)
        product, reason, _ = clean_row({"id": r["product_id"], "title": r["product_title"], "brand": r.get("product_brand"),
                                        "colour": r.get("product_color"), "description": description})
        if product is None:
            raise RetrievalDataError(f"{path}: line {n}: product rejected ({reason})")
        if product.id not in seen:
            seen.add(product.id)
            products.append(product)
        judged.append((r["query"], product.id, r["esci_label"]))
    return products, judged


def rank_metrics(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    return {"mrr": round(float(np.mean(1.0 / r)), 4), "recall@1": round(float(np.mean(r <= 1)), 4),
            "recall@5": round(float(np.mean(r <= 5)), 4), "queries": int(r.size)}


def evaluate_retrieval(folder: str, embed_model: str | None = None, log=print) -> dict:
    products, judged = load_esci(folder)
    evaluated = [(q, pid) for q, pid, label in judged if label in RELEVANT]
    with tempfile.TemporaryDirectory() as tmp:
        config = CatalogConfig(data_dir=tmp, chroma_url=None, embed_model=embed_model)
        index = ProductIndex(config)
        t0 = time.perf_counter()
        index.upsert(products)
        log(f"indexed {len(products)} products in {time.perf_counter() - t0:.1f}s")
        exact = index.exact_search()  # the in-memory copy search() ranks with: full-text and head vectors
        ids = list(exact.ids)
        vectors, heads = exact.vectors[:len(ids)], exact.heads[:len(ids)]
        position = {pid: n for n, pid in enumerate(ids)}
        lexical = index.lexical_index(exact.ids)
        queries = index.embedder.encode([q for q, _ in evaluated])
        ranks: dict[str, list[int]] = {"dense": [], "dense+head": [], "bm25": [], "hybrid": []}
        t0 = time.perf_counter()
        for (query, pid), qv in zip(evaluated, queries):
            dense, head, keyword = vectors @ qv, heads @ qv, lexical.scores(query)
            target = position[pid]
            for name, scores in (("dense", dense), ("dense+head", fuse(dense, None, head=head)), ("bm25", keyword),
                                 ("hybrid", fuse(dense, keyword, head=head))):
                ranks[name].append(ranks_from_scores(scores, target))  # ties count against the target, as everywhere
            # The production path must agree with the fused ranking computed here.
            if len(ranks["hybrid"]) <= 5:
                top = index.search(qv, k=1, text=query)[0].product.id
                if scores[position[top]] != scores.max():
                    raise RuntimeError("ProductIndex.search disagrees with the fused scores")
        seconds = time.perf_counter() - t0
    methods = {name: rank_metrics(r) for name, r in ranks.items()}
    return {"data": folder, "products": len(products), "queries": len(evaluated), "labels": list(RELEVANT),
            "embed_model": embed_model or "all-MiniLM-L6-v2", "methods": methods,
            "seconds_per_query": round(seconds / max(len(evaluated), 1), 4)}


def format_table(result: dict) -> str:
    lines = [f"{result['queries']} queries ({'+'.join(result['labels'])}) over {result['products']} products, "
             f"encoder {result['embed_model']}", f"{'method':<10} {'MRR':>7} {'R@1':>7} {'R@5':>7}"]
    for name, m in result["methods"].items():
        lines.append(f"{name:<10} {m['mrr']:>7.4f} {m['recall@1']:>7.4f} {m['recall@5']:>7.4f}")
    return "\n".join(lines)


def run_retrieval(args: argparse.Namespace) -> int:
    return report(args, lambda log: evaluate_retrieval(args.data, args.embed_model, log=log), format_table,
                  (RetrievalDataError,))


def add_retrieval_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("retrieval", help="query -> product retrieval on the ESCI sample (MRR, Recall@1/5)")
    p.add_argument("--data", required=True, help=f"folder holding {ESCI_FILE}")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.add_argument("--embed-model", default=None, help="sentence-transformers id or path (default: packaged MiniLM)")
    p.set_defaults(func=run_retrieval)
