"""The product index in Chroma: incremental upserts by content hash, filtered vector search, exact re-check.

Chroma holds everything about a product: its vector, filterable metadata, and the product itself as a JSON
document, so an embedded PersistentClient and a `chroma run` server behave the same. HNSW is approximate; to keep
recall@20 against exact search at or above 0.98 we ask for a wider candidate set with a high ef_search and re-score
the candidates exactly with their stored vectors (bench/bench_index.py measures this).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

import numpy as np

from catalog.config import CatalogConfig
from catalog.embed import DEFAULT_MODEL, ChromaEmbeddingFunction, Embedder, get_embedder
from catalog.exact import ExactSearch
from catalog.lexical import LexicalIndex, fuse
from catalog.schema import Product

# HNSW settings chosen with bench/bench_index.py: Chroma's defaults (M=16, ef=100) gave recall@20 of 0.50 on
# random vectors at 10k; these reach >= 0.98 together with the candidate re-check below.
HNSW_CONFIG = {"space": "cosine", "ef_construction": 200, "ef_search": 400, "max_neighbors": 32}
EXACT_THRESHOLD = 250_000  # up to this many products, answer from the exact in-memory copy (catalog/exact.py)
VERSION_CHECK_SECONDS = 1.0  # how often to look for writes by another process (an ingest while the app runs)
CANDIDATE_FACTOR = 5  # above the threshold: ask Chroma for k * this many candidates, then re-score them exactly
MIN_CANDIDATES = 100
WRITE_BATCH = 2000


@dataclass
class SearchFilters:
    """Hard constraints; each becomes a Chroma `where` clause. Text comparisons are case-insensitive."""

    min_price: float | None = None
    max_price: float | None = None
    brands: list[str] = field(default_factory=list)  # any of these brands
    exclude_brands: list[str] = field(default_factory=list)
    category: str | None = None  # matches any level of the category path ("Jackets" or "Outdoor")
    colour: str | None = None
    colours: list[str] = field(default_factory=list)  # any of these: a family ("blue" -> Blue, Navy, Sky Blue)
    size: str | None = None
    min_rating: float | None = None
    in_stock_only: bool = False
    exclude_ids: list[str] = field(default_factory=list)

    def to_where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.min_price is not None:
            clauses.append({"price": {"$gte": float(self.min_price)}})
        if self.max_price is not None:
            clauses.append({"price": {"$lte": float(self.max_price)}})
        if self.brands:
            clauses.append({"brand_key": {"$in": [_key(b) for b in self.brands]}})
        if self.exclude_brands:
            clauses.append({"brand_key": {"$nin": [_key(b) for b in self.exclude_brands]}})
        if self.category:
            c = _key(self.category)
            clauses.append({"$or": [{"category_key": c}, {"cat0": c}, {"cat1": c}, {"cat2": c}]})
        if self.colour:
            clauses.append({"colour": _key(self.colour)})
        if self.colours:
            clauses.append({"colour": {"$in": sorted({_key(c) for c in self.colours})}})
        if self.size:
            clauses.append({"size": _key(self.size)})
        if self.min_rating is not None:
            clauses.append({"rating": {"$gte": float(self.min_rating)}})
        if self.in_stock_only:
            clauses.append({"in_stock": True})
        if self.exclude_ids:
            clauses.append({"pid": {"$nin": list(self.exclude_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, p: Product) -> bool:
        """The same constraints checked in Python: used by tests and to label 'closest alternatives'."""
        meta = product_metadata(p)
        if self.min_price is not None and (p.price is None or p.price < self.min_price):
            return False
        if self.max_price is not None and (p.price is None or p.price > self.max_price):
            return False
        if self.brands and meta["brand_key"] not in {_key(b) for b in self.brands}:
            return False
        if self.exclude_brands and meta["brand_key"] in {_key(b) for b in self.exclude_brands}:
            return False
        if self.category and _key(self.category) not in {meta.get(k) for k in ("category_key", "cat0", "cat1", "cat2")}:
            return False
        if self.colour and meta.get("colour") != _key(self.colour):
            return False
        if self.colours and meta.get("colour") not in {_key(c) for c in self.colours}:
            return False
        if self.size and meta.get("size") != _key(self.size):
            return False
        if self.min_rating is not None and (p.rating is None or p.rating < self.min_rating):
            return False
        if self.in_stock_only and not p.in_stock:
            return False
        return p.id not in set(self.exclude_ids)


@dataclass
class SearchHit:
    product: Product
    score: float  # cosine similarity between the query and the product text


@dataclass
class UpsertStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0


def _key(text: str) -> str:
    return " ".join(str(text).lower().split())


def product_metadata(p: Product) -> dict[str, Any]:
    """Flat, filterable fields. Chroma metadata values must be scalars; a missing price is left out (not 0) so
    that 'under $50' never matches a product with no price."""
    levels = [_key(part) for part in p.category.split(">")] if p.category else []
    meta: dict[str, Any] = {
        "pid": p.id,
        "brand_key": _key(p.brand),
        "category_key": _key(p.category),
        "in_stock": bool(p.in_stock),
        "review_count": int(p.review_count),
        "content_hash": p.content_hash(),
    }
    for i, level in enumerate(levels[:2]):
        meta[f"cat{i}"] = level
    if levels:
        meta["cat2"] = levels[-1]  # the leaf, whatever the depth: "jackets" in "Outdoor > Clothing > Jackets"
    if p.price is not None:
        meta["price"] = float(p.price)
    if p.rating is not None:
        meta["rating"] = float(p.rating)
    for name in ("colour", "size", "material"):
        value = p.attributes.get(name)
        if value not in (None, ""):
            meta[name] = _key(value)
    return meta


def make_client(config: CatalogConfig):
    """Embedded PersistentClient in the data directory, or an HttpClient when a server URL is configured."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if config.chroma_url:
        url = urlparse(config.chroma_url if "://" in config.chroma_url else f"http://{config.chroma_url}")
        return chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                   ssl=url.scheme == "https", settings=settings)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(config.data_dir / "chroma"), settings=settings)


class IndexUnavailable(Exception):
    """The Chroma store cannot be opened or reached; the message says where."""


class ProductIndex:
    """Products in one Chroma collection. Open with `ProductIndex(config)`; the embedder loads on first use."""

    def __init__(self, config: CatalogConfig | None = None, embedder: Embedder | None = None, client=None,
                 exact_threshold: int = EXACT_THRESHOLD):
        self.config = config or CatalogConfig()
        self._embedder = embedder
        self.exact_threshold = exact_threshold
        self._exact: ExactSearch | None = None
        self._exact_version: str | None = None
        self._lexical: LexicalIndex | None = None  # BM25 over every product; rebuilt lazily after a write
        self._lexical_rows: list[str] | None = None  # the row list (the exact copy's ids) it was built for
        self._checked_at = 0.0
        self._lock = threading.Lock()
        try:
            self.client = client or make_client(self.config)
            # Always our own encoder: Chroma's default would try to download one.
            self._embedding_function = ChromaEmbeddingFunction(self.embedder) if embedder else _LazyEmbeddingFunction(self)
            self.collection = self.client.get_or_create_collection(
                self.config.collection_name, configuration={"hnsw": dict(HNSW_CONFIG)},
                embedding_function=self._embedding_function)
            # The second dense view of each product (Product.head_text), same ids; used when a query has text.
            self.heads = self.client.get_or_create_collection(
                self.config.collection_name + "-heads", configuration={"hnsw": dict(HNSW_CONFIG)},
                embedding_function=self._embedding_function)
        except Exception as e:  # a refused connection or a broken data dir surfaces as many exception types
            where = self.config.chroma_url or str(self.config.data_dir / "chroma")
            raise IndexUnavailable(f"cannot open the Chroma index at {where}: {type(e).__name__}: {e}") from e

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.config.embed_model, self.config.device)
        return self._embedder

    def count(self) -> int:
        return self.collection.count()

    # ---- writing -------------------------------------------------------------------------------------------

    def existing_hashes(self) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for batch in self._pages(include=["metadatas"]):
            for pid, meta in zip(batch["ids"], batch["metadatas"]):
                hashes[pid] = (meta or {}).get("content_hash", "")
        return hashes

    def plan_upsert(self, products: list[Product], delete_missing: bool = False) -> tuple[list[Product], list[str], UpsertStats]:
        """Which products need embedding (new or changed) and which ids to delete, without writing anything."""
        existing = self.existing_hashes()
        stats = UpsertStats()
        changed = []
        for p in products:
            old = existing.get(p.id)
            if old is None:
                stats.added += 1
                changed.append(p)
            elif old != p.content_hash():
                stats.updated += 1
                changed.append(p)
            else:
                stats.unchanged += 1
        wanted = {p.id for p in products}
        to_delete = sorted(set(existing) - wanted) if delete_missing else []
        stats.deleted = len(to_delete)
        return changed, to_delete, stats

    def embed_products(self, products: list[Product], progress: bool = False) -> np.ndarray:
        return self.embedder.encode([p.embedding_text() for p in products], progress=progress and "products")

    def embed_heads(self, products: list[Product], progress: bool = False) -> np.ndarray:
        return self.embedder.encode([p.head_text() for p in products], progress=progress and "product titles")

    def write(self, products: list[Product], vectors: np.ndarray, delete_ids: Iterable[str] = (),
              heads: np.ndarray | None = None) -> None:
        """Upsert first, delete last: a crash half-way leaves every product that should exist still searchable,
        and re-running the same ingest finishes the job (the content hashes make it idempotent). Head vectors
        are written first: a product whose head is missing (a crash in between) gets it back at the next load."""
        batch = min(WRITE_BATCH, self.client.get_max_batch_size())
        for start in range(0, len(products), batch):
            chunk = products[start:start + batch]
            if heads is not None:
                self.heads.upsert(ids=[p.id for p in chunk], embeddings=heads[start:start + batch])
            self.collection.upsert(
                ids=[p.id for p in chunk],
                embeddings=vectors[start:start + batch],
                metadatas=[product_metadata(p) for p in chunk],
                documents=[json.dumps(p.to_dict(), ensure_ascii=False) for p in chunk],
            )
        delete_ids = list(delete_ids)
        for start in range(0, len(delete_ids), batch):
            self.collection.delete(ids=delete_ids[start:start + batch])
            self.heads.delete(ids=delete_ids[start:start + batch])
        if products or delete_ids:
            version = str(time.time_ns())
            self.collection.modify(metadata={"version": version})
            with self._lock:
                self._lexical = None
                if self._exact is not None:
                    self._exact.upsert([p.id for p in products], vectors, [product_metadata(p) for p in products], heads)
                    self._exact.delete(delete_ids)
                    self._exact_version = version

    def upsert(self, products: list[Product], delete_missing: bool = False, progress: bool = False) -> UpsertStats:
        changed, to_delete, stats = self.plan_upsert(products, delete_missing)
        t0 = time.perf_counter()
        vectors = self.embed_products(changed, progress=progress)
        heads = self.embed_heads(changed, progress=progress)
        t1 = time.perf_counter()
        self.write(changed, vectors, to_delete, heads)
        stats.embed_seconds, stats.write_seconds = t1 - t0, time.perf_counter() - t1
        return stats

    # ---- reading -------------------------------------------------------------------------------------------

    def get(self, ids: list[str]) -> list[Product]:
        """Products by id, in the order asked; unknown ids are left out."""
        if not ids:
            return []
        found = self.collection.get(ids=list(ids), include=["documents"])
        by_id = {pid: _product(doc) for pid, doc in zip(found["ids"], found["documents"])}
        return [by_id[i] for i in ids if i in by_id]

    def vectors(self, ids: list[str]) -> tuple[list[str], np.ndarray]:
        """The stored vectors of these products (unknown ids are left out), in the order found."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        found = self.collection.get(ids=list(ids), include=["embeddings"])
        return list(found["ids"]), np.asarray(found["embeddings"], dtype=np.float32)

    def all_products(self) -> Iterator[Product]:
        for batch in self._pages(include=["documents"]):
            for doc in batch["documents"]:
                yield _product(doc)

    def all_vectors(self) -> tuple[list[str], np.ndarray]:
        ids, chunks = [], []
        for batch in self._pages(include=["embeddings"]):
            ids.extend(batch["ids"])
            chunks.append(np.asarray(batch["embeddings"], dtype=np.float32))
        dim = self.embedder.dim if not chunks else chunks[0].shape[1]
        return ids, (np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32))

    def search(self, query: str | np.ndarray, k: int = 20, filters: SearchFilters | None = None,
               candidates: int | None = None, text: str | None = None) -> list[SearchHit]:
        """Top-k products for a text (embedded here) or a query vector, satisfying every filter. With query text
        (a str query, or `text` beside a vector) dense and BM25 keyword scores are fused (catalog/lexical.py);
        a bare vector ranks by cosine alone."""
        if isinstance(query, str):
            text = query if text is None else text
            vector = self.embedder.encode_one(query)
        else:
            vector = np.asarray(query, np.float32)
        where = filters.to_where() if filters else None
        exact = self.exact_search()
        if exact is not None:
            lexical = self.lexical_index(exact.ids).scores(text) if text else None
            ranked = exact.search(vector, k, where, lexical=lexical)
            products = {p.id: p for p in self.get([pid for pid, _ in ranked])}
            return [SearchHit(products[pid], score) for pid, score in ranked if pid in products]
        n = max(candidates or k * CANDIDATE_FACTOR, MIN_CANDIDATES, k)
        result = self.collection.query(query_embeddings=[vector], n_results=n, where=where,
                                       include=["embeddings", "documents"])
        ids = result["ids"][0]
        if not ids:
            return []
        # Exact re-check: HNSW's order among the candidates is approximate; the stored vectors are not.
        scores = np.asarray(result["embeddings"][0], dtype=np.float32) @ vector
        if text:
            found = self.heads.get(ids=ids, include=["embeddings"])
            head_of = dict(zip(found["ids"], np.asarray(found["embeddings"], dtype=np.float32)))
            zero = np.zeros_like(vector)
            head_scores = np.array([head_of.get(i, zero) @ vector for i in ids], dtype=np.float32)
            scores = fuse(scores, self.lexical_index().scores_for(text, ids), head=head_scores)
        order = np.argsort(-scores, kind="stable")[:k]
        docs = result["documents"][0]
        return [SearchHit(_product(docs[i]), float(scores[i])) for i in order]

    def lexical_index(self, ids: list[str] | None = None) -> LexicalIndex:
        """BM25 over every product, rows in the order of `ids` when given (the exact copy's rows, holes included)."""
        with self._lock:
            lexical, rows = self._lexical, self._lexical_rows
        # Identity, not equality: comparing 100k ids on every query would cost more than the BM25 lookup. A write
        # drops the keyword index, and a reload of the exact copy brings a new ids list.
        if lexical is not None and (ids is None or (rows is ids and len(lexical.ids) == len(ids))):
            return lexical
        texts = {}
        for batch in self._pages(include=["documents"]):
            for pid, doc in zip(batch["ids"], batch["documents"]):
                texts[pid] = _product(doc).keyword_text()
        order = list(ids) if ids is not None else list(texts)
        lexical = LexicalIndex(order, (texts.get(pid, "") for pid in order))
        with self._lock:
            self._lexical, self._lexical_rows = lexical, ids
        return lexical

    def exact_search(self) -> ExactSearch | None:
        """The in-memory exact copy, loaded on first use and reloaded when another process wrote to the index;
        None when the catalog is above the threshold (then Chroma's HNSW answers)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < VERSION_CHECK_SECONDS:
                return self._exact
            self._checked_at = now
            version = (self.client.get_collection(self.config.collection_name,
                                                  embedding_function=self._embedding_function).metadata
                       or {}).get("version")
            if self._exact is not None and version == self._exact_version and len(self._exact) <= self.exact_threshold:
                return self._exact
            self._exact = None
            if self.count() > self.exact_threshold:
                return None
            exact = None
            for batch in self._pages(include=["embeddings", "metadatas"]):
                vectors = np.asarray(batch["embeddings"], np.float32)
                exact = exact or ExactSearch(vectors.shape[1])
                exact.upsert(batch["ids"], vectors, batch["metadatas"])
            exact = exact or ExactSearch(self.embedder.dim)
            self._load_heads(exact)
            self._exact, self._exact_version = exact, version
            return exact

    def _load_heads(self, exact: ExactSearch) -> None:
        """Head vectors into the exact copy; products without one (an index built before heads existed, or a
        crash between the two writes) get theirs embedded and stored now."""
        have: set[str] = set()
        offset = 0
        while True:
            batch = self.heads.get(include=["embeddings"], limit=5000, offset=offset)
            if not batch["ids"]:
                break
            known = [n for n, pid in enumerate(batch["ids"]) if pid in exact.pos]
            rows = [exact.pos[batch["ids"][n]] for n in known]
            exact.heads[rows] = np.asarray(batch["embeddings"], dtype=np.float32)[known]
            have.update(batch["ids"][n] for n in known)
            offset += len(batch["ids"])
        missing = [pid for pid in exact.ids if pid not in have and exact.alive[exact.pos[pid]]]
        for start in range(0, len(missing), WRITE_BATCH):
            products = self.get(missing[start:start + WRITE_BATCH])
            vectors = self.embed_heads(products)
            self.heads.upsert(ids=[p.id for p in products], embeddings=vectors)
            exact.heads[[exact.pos[p.id] for p in products]] = vectors

    def stats(self) -> dict[str, Any]:
        products = list(self.all_products())
        prices = [p.price for p in products if p.price is not None]
        categories: dict[str, int] = {}
        brands: dict[str, int] = {}
        for p in products:
            categories[p.category_top or "(none)"] = categories.get(p.category_top or "(none)", 0) + 1
            brands[p.brand or "(none)"] = brands.get(p.brand or "(none)", 0) + 1
        return {
            "products": len(products),
            "in_stock": sum(p.in_stock for p in products),
            "with_price": len(prices),
            "price_min": min(prices) if prices else None,
            "price_median": float(np.median(prices)) if prices else None,
            "price_max": max(prices) if prices else None,
            "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
            "brands": len(brands),
            "top_brands": dict(sorted(brands.items(), key=lambda kv: -kv[1])[:10]),
        }

    def _pages(self, include: list[str], page: int = 5000) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            batch = self.collection.get(include=include, limit=page, offset=offset)
            if not batch["ids"]:
                return
            yield batch
            offset += len(batch["ids"])


def _product(document: str) -> Product:
    return Product.from_dict(json.loads(document))


class _LazyEmbeddingFunction(ChromaEmbeddingFunction):
    """Opening an index to read stats or ids should not load the encoder; the first text query does."""

    def __init__(self, index: ProductIndex):
        self._index = index

    @property
    def embedder(self) -> Embedder:  # type: ignore[override]
        return self._index.embedder

    def get_config(self) -> dict:
        return {"model": self._index.config.embed_model or DEFAULT_MODEL}
