"""Index benchmark: ingest throughput, query latency p50/p95 with and without filters, recall@20 against exact search.

    python bench/bench_index.py --catalog scientific              # the real 4,385-product Amazon catalog
    python bench/bench_index.py --catalog demo --products 1200    # the built-in demo catalog
    python bench/bench_index.py --catalog demo --products 100000 --compare-default

Queries are the 200 real ESCI shopping queries from ../shared/data when present (else product titles). Ground
truth is a numpy dot product over every stored embedding with the same filter applied. Three query paths:
  exact      our in-memory exact search (used up to catalog.index.EXACT_THRESHOLD products)
  hnsw       Chroma's HNSW with our settings and the candidate re-check (used above the threshold)
  default    Chroma's HNSW with its default settings, top-20 asked directly (--compare-default)
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from catalog.config import CatalogConfig  # noqa: E402
from catalog.index import ProductIndex, SearchFilters, product_metadata  # noqa: E402
from catalog.ingest import ingest_file  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
K = 20


def catalog_file(args, workdir: Path) -> tuple[Path, dict, str | None]:
    if args.catalog == "scientific":
        return scientific_csv(workdir), {}, None
    from catalog.demo import write_demo_files

    paths = write_demo_files(workdir / "demo", n_products=args.products)
    return paths["products"], {}, None


def scientific_csv(workdir: Path) -> Path:
    """Scientific.text holds "<title>. <category words>. <brand>." per item; split it into a shop-style CSV so
    that brand and category filters have something to filter on."""
    source = SHARED / "amazon-scientific" / "Scientific.text"
    if not source.exists():
        sys.exit(f"missing {source}")
    out = workdir / "scientific.csv"
    workdir.mkdir(parents=True, exist_ok=True)
    with source.open(encoding="utf-8") as f, out.open("w", newline="", encoding="utf-8") as g:
        writer = csv.writer(g)
        writer.writerow(["id", "title", "category", "brand"])
        next(f)
        for line in f:
            item, _, text = line.rstrip("\n").partition("\t")
            parts = [p.strip() for p in text.strip().rstrip(".").split(". ")]
            brand = parts.pop() if len(parts) >= 3 else ""
            category = parts.pop() if len(parts) >= 2 else ""
            writer.writerow([item, ". ".join(parts), category, brand])
    return out


def queries(index: ProductIndex, n: int) -> list[str]:
    esci = SHARED / "esci-shopping-queries" / "esci_200_with_text.csv"
    if esci.exists():
        with esci.open(encoding="utf-8") as f:
            return [row["query"] for row in csv.DictReader(f)][:n]
    return [p.title for p, _ in zip(index.all_products(), range(n))]


def filter_sets(index: ProductIndex) -> dict[str, SearchFilters | None]:
    """Filters of different selectivity: a price cap, the most common category, one common brand, exclusions."""
    products = list(index.all_products())
    prices = [p.price for p in products if p.price is not None]
    tops = Counter(p.category_top for p in products if p.category_top).most_common()
    brands = Counter(p.brand for p in products if p.brand).most_common()
    sets: dict[str, SearchFilters | None] = {"none": None}
    if prices:
        sets["price<=p25"] = SearchFilters(max_price=float(np.percentile(prices, 25)))
    if tops:
        sets["category+in_stock"] = SearchFilters(category=tops[0][0], in_stock_only=True)
    if brands:
        sets["brand"] = SearchFilters(brands=[brands[min(2, len(brands) - 1)][0]])
        sets["exclude_brands"] = SearchFilters(exclude_brands=[b for b, _ in brands[:3]])
    return sets


def ground_truth(vectors, allowed, vector) -> tuple[np.ndarray, float]:
    """Exact scores of every product (-inf where the filter excludes it) and the k-th best score."""
    scores = np.where(allowed, vectors @ vector, -np.inf)
    kth = np.sort(scores)[::-1][min(K, len(scores)) - 1]
    return scores, float(kth)


def measure(search, qvecs, truth, positions) -> tuple[float, float, float]:
    """Recall counts a returned product as correct when its exact score reaches the k-th best exact score, so
    products with identical vectors (duplicate texts) do not count as misses whichever of them is returned."""
    search(qvecs[0])  # warm-up: loads the exact copy / HNSW segment
    latencies, recalls = [], []
    for q, (scores, kth) in zip(qvecs, truth):
        start = time.perf_counter()
        got = search(q)
        latencies.append(time.perf_counter() - start)
        wanted = int(min(K, np.isfinite(scores).sum()))
        if wanted:
            correct = sum(scores[positions[g]] >= kth - 1e-5 for g in got[:K])
            recalls.append(min(correct, wanted) / wanted)
    return float(np.mean(recalls)), 1000 * float(np.percentile(latencies, 50)), 1000 * float(np.percentile(latencies, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", choices=["scientific", "demo"], default="demo")
    parser.add_argument("--products", type=int, default=1200, help="demo catalog size")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", help="keep the index here (default: a temporary directory)")
    parser.add_argument("--compare-default", action="store_true", help="also measure Chroma's default HNSW")
    args = parser.parse_args()

    workdir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-index-"))
    config = CatalogConfig(data_dir=workdir)
    index = ProductIndex(config)
    path, mapping, fmt = catalog_file(args, workdir)
    print(f"catalog: {args.catalog} ({path}); index in {workdir}")
    _ = index.embedder  # load the model outside the timed ingest
    report = ingest_file(path, config, fmt=fmt, mapping=mapping, index=index, progress=False)
    new = report.upsert.added + report.upsert.updated
    print(report.summary())
    if new:
        print(f"ingest: {report.loaded} products in {report.seconds:.1f}s = {report.loaded / report.seconds:.1f} products/s "
              f"(embedding {new / max(report.upsert.embed_seconds, 1e-9):.1f}/s, "
              f"writing {new / max(report.upsert.write_seconds, 1e-9):.0f}/s)")
    again = ingest_file(path, config, fmt=fmt, mapping=mapping, index=index)
    print(f"re-ingest unchanged: {again.upsert.unchanged} unchanged, {again.seconds:.1f}s")

    ids, vectors = index.all_vectors()
    products = {p.id: p for p in index.all_products()}
    metas = [products[i] for i in ids]
    positions = {pid: i for i, pid in enumerate(ids)}
    texts = queries(index, args.queries)
    qvecs = index.embedder.encode(texts)
    paths = {
        "exact": lambda q, f: [h.product.id for h in _with_threshold(index, None).search(q, K, f)],
        "hnsw": lambda q, f: [h.product.id for h in _with_threshold(index, 0).search(q, K, f)],
    }
    if args.compare_default:
        default = index.client.get_or_create_collection("products_default_hnsw", embedding_function=None,
                                                        configuration={"hnsw": {"space": "cosine"}})
        for start in range(0, len(ids), 2000):
            default.add(ids=ids[start:start + 2000], embeddings=vectors[start:start + 2000],
                        metadatas=[product_metadata(m) for m in metas[start:start + 2000]])
        paths["default"] = lambda q, f: default.query(query_embeddings=[q], n_results=K,
                                                      where=f.to_where() if f else None)["ids"][0]
    print(f"\n{len(ids)} products, {len(texts)} queries, recall@{K} against exact numpy search")
    truths = {}
    for name, filters in filter_sets(index).items():
        allowed = np.array([filters is None or filters.matches(m) for m in metas])
        truths[name] = (filters, [ground_truth(vectors, allowed, q) for q in qvecs], int(allowed.sum()))
    print(f"{'path':<8} {'filter':<20} {'matching':>8} {'recall@20':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for path_name, search in paths.items():  # path by path: switching paths reloads the exact copy
        for name, (filters, truth, matching) in truths.items():
            recall, p50, p95 = measure(lambda q, search=search, filters=filters: search(q, filters), qvecs, truth, positions)
            print(f"{path_name:<8} {name:<20} {matching:>8} {recall:>9.4f} {p50:>8.2f} {p95:>8.2f}", flush=True)


def _with_threshold(index: ProductIndex, threshold: int | None) -> ProductIndex:
    from catalog import index as index_module

    wanted = index_module.EXACT_THRESHOLD if threshold is None else threshold
    if index.exact_threshold != wanted:
        index.exact_threshold, index._checked_at = wanted, 0.0
    return index


if __name__ == "__main__":
    main()
