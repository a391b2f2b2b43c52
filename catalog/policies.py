"""The shop's policy/FAQ documents (returns, shipping, warranty, ...) in their own Chroma collection, for
after-sales answers. Documents are short, so each one is a single entry; a question retrieves the closest ones."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catalog.embed import ChromaEmbeddingFunction, Embedder

COLLECTION = "policies"


def read_policy_file(path: str | Path) -> list[dict[str, str]]:
    """JSONL with {"id", "title", "text"} per line; a line without all three is an error naming the line."""
    docs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        doc = json.loads(line)
        missing = [k for k in ("id", "title", "text") if not str(doc.get(k, "")).strip()]
        if missing:
            raise ValueError(f"{path}: line {number}: policy document without {', '.join(missing)}")
        docs.append({"id": str(doc["id"]), "title": str(doc["title"]), "text": str(doc["text"])})
    return docs


class PolicyIndex:
    def __init__(self, client: Any, embedder: Embedder):
        self.embedder = embedder
        self.collection = client.get_or_create_collection(
            COLLECTION, configuration={"hnsw": {"space": "cosine"}}, embedding_function=ChromaEmbeddingFunction(embedder))

    def upsert(self, docs: list[dict[str, str]]) -> int:
        if not docs:
            return 0
        vectors = self.embedder.encode([f"{d['title']}. {d['text']}" for d in docs])
        self.collection.upsert(ids=[d["id"] for d in docs], embeddings=vectors, documents=[d["text"] for d in docs],
                               metadatas=[{"title": d["title"]} for d in docs])
        return len(docs)

    def count(self) -> int:
        return self.collection.count()

    def get(self, doc_id: str) -> dict[str, str] | None:
        found = self.collection.get(ids=[doc_id], include=["documents", "metadatas"])
        if not found["ids"]:
            return None
        return {"id": doc_id, "title": found["metadatas"][0]["title"], "text": found["documents"][0]}

    def search(self, question: str, k: int = 2) -> list[dict[str, Any]]:
        n = min(k, self.count())
        if n == 0:
            return []
        result = self.collection.query(query_embeddings=[self.embedder.encode_one(question)], n_results=n,
                                       include=["documents", "metadatas", "distances"])
        return [{"id": i, "title": m["title"], "text": d, "score": 1.0 - dist} for i, d, m, dist in
                zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])]
