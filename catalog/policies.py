"""The shop's own policies and FAQ (returns, shipping, warranty, ...) in their own Chroma collection, for service
answers. A shop brings them as files; each becomes short documents a question retrieves by meaning.

    docs = read_policies("policies/")      # Markdown, text, JSON/JSONL or CSV FAQ files (or one file)
    PolicyIndex(index.client, index.embedder).upsert(docs)    # re-adding a file updates its documents
    python -m catalog policies add policies/ ; python -m catalog policies list

Formats, one document per heading or row:
- Markdown (.md): every heading starts a document (its title); text before the first heading is a document titled
  after the file.
- Text (.txt): the whole file is one document titled after the file (Markdown headings in it split it too).
- JSON (.json: a list, or a list under "policies"/"faq"/"documents") and JSONL (.jsonl): objects with a title (or
  "question") and a text (or "answer"); an "id" is optional.
- CSV (.csv): columns title/question and text/answer (any case), id optional.
A document's id is its own "id" or "<file stem>-<slug of its title>", so adding the same file again updates it.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from catalog.embed import ChromaEmbeddingFunction, Embedder

COLLECTION = "policies"
SUFFIXES = (".md", ".markdown", ".txt", ".json", ".jsonl", ".csv")
MAX_POLICY_CHARS = 20_000  # one document; longer text belongs under more headings
_HEADING = re.compile(r"^#{1,6}[ \t]{1,10}(\S.{0,200})$", re.M)
_SLUG = re.compile(r"[^a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9'\"(])")  # linear: fixed lookbehind, one class repeated
# Answering: a document's score is the mean of three cosine similarities to the question (the whole document, its
# title, its best sentence); below ANSWER_MIN_SCORE no policy answers. Chosen on Bitext requests mapped to the demo's
# policies (python -m assistant.evaluate policies): 0.87 answered from the right policy, 0.71 of requests that no
# policy covers left unanswered, against 0.65 / 0.80 for the whole-document score alone at its best threshold.
ANSWER_MIN_SCORE = 0.33
ANSWER_CANDIDATES = 5  # documents re-scored per question
SENTENCE_MARGIN = 0.12  # sentences this close to the best one of the chosen document are quoted with it
MAX_ANSWER_SENTENCES = 3
MAX_ENCODED_DOCS = 2048  # documents whose sentence vectors are kept between questions
TITLE_KEYS, TEXT_KEYS = ("title", "question", "q", "name", "heading"), ("text", "answer", "a", "body", "content")


class PolicyFileError(ValueError):
    """A policy file that cannot be read; the message names the file and, where it can, the line or row."""


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:60] or "policy"


def read_policies(path: str | Path) -> list[dict[str, str]]:
    """The documents of one file, or of every policy file in a folder (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
        if not files:
            raise PolicyFileError(f"{path}: no policy files ({', '.join(SUFFIXES)})")
        return [doc for f in files for doc in read_policies(f)]
    if not path.is_file():
        raise PolicyFileError(f"{path}: no such file or folder")
    if path.suffix.lower() not in SUFFIXES:
        raise PolicyFileError(f"{path}: not a policy file; expected one of {', '.join(SUFFIXES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        rows = _json_rows(path, text, lines=suffix == ".jsonl")
    elif suffix == ".csv":
        rows = _csv_rows(path, text)
    else:
        rows = _markdown_rows(path, text)
    return _documents(path, rows)


def read_policy_file(path: str | Path) -> list[dict[str, str]]:
    """The demo's JSONL policy file ({"id", "title", "text"} per line)."""
    return read_policies(path)


def _markdown_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    heads = list(_HEADING.finditer(text))
    rows = []
    intro = text[:heads[0].start()] if heads else text
    if intro.strip():
        rows.append(("top", {"title": path.stem.replace("_", " ").replace("-", " ").strip().capitalize(),
                             "text": intro}))
    for n, head in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        body = text[head.end():end]
        if body.strip():  # a heading with only sub-headings under it is no document of its own
            rows.append((f"line {text.count(chr(10), 0, head.start()) + 1}", {"title": head.group(1), "text": body}))
    return rows


def _json_rows(path: Path, text: str, lines: bool) -> list[tuple[str, dict[str, Any]]]:
    try:
        if lines:
            items = [(f"line {n}", json.loads(line)) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        else:
            data = json.loads(text)
            if isinstance(data, dict):
                data = next((data[k] for k in ("policies", "faq", "documents") if isinstance(data.get(k), list)), None)
            if not isinstance(data, list):
                raise PolicyFileError(f"{path}: expected a list of objects (or one under \"policies\" or \"faq\")")
            items = [(f"item {n}", item) for n, item in enumerate(data, 1)]
    except json.JSONDecodeError as exc:
        raise PolicyFileError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    for where, item in items:
        if not isinstance(item, dict):
            raise PolicyFileError(f"{path}: {where}: expected an object with a title and a text")
    return items


def _csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = [(f"row {n}", {str(k).strip().lower(): v for k, v in row.items() if k is not None})
                for n, row in enumerate(reader, 2)]
    except csv.Error as exc:
        raise PolicyFileError(f"{path}: {exc}") from None
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if not any(k in columns for k in TITLE_KEYS) or not any(k in columns for k in TEXT_KEYS):
        raise PolicyFileError(f"{path}: needs a title (or question) column and a text (or answer) column; "
                              f"found {', '.join(reader.fieldnames or []) or 'no columns'}")
    return rows


def _documents(path: Path, rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, str]]:
    docs, seen = [], set()
    for where, row in rows:
        title = " ".join(str(next((row[k] for k in TITLE_KEYS if row.get(k)), "")).split())
        body = " ".join(str(next((row[k] for k in TEXT_KEYS if row.get(k)), "")).split())
        if not title or not body:
            raise PolicyFileError(f"{path}: {where}: a policy needs a title (or question) and a text (or answer)")
        if len(body) > MAX_POLICY_CHARS:
            raise PolicyFileError(f"{path}: {where}: {len(body):,} characters; split it under more headings "
                                  f"(at most {MAX_POLICY_CHARS:,} per document)")
        doc_id = str(row.get("id") or f"{slug(path.stem)}-{slug(title)}")
        if doc_id in seen:
            raise PolicyFileError(f"{path}: {where}: a second document with the id {doc_id!r}")
        seen.add(doc_id)
        docs.append({"id": doc_id, "title": title, "text": body})
    return docs


class PolicyIndex:
    def __init__(self, client: Any, embedder: Embedder):
        self.embedder = embedder
        self._encoded: dict[tuple[str, str], tuple[np.ndarray, list[str], np.ndarray]] = {}
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

    def all(self) -> list[dict[str, str]]:
        found = self.collection.get(include=["documents", "metadatas"])
        docs = [{"id": i, "title": m["title"], "text": d}
                for i, d, m in zip(found["ids"], found["documents"], found["metadatas"])]
        return sorted(docs, key=lambda d: d["id"])

    def delete(self, ids: list[str]) -> None:
        if ids:
            self.collection.delete(ids=list(ids))

    def search(self, question: str, k: int = 2) -> list[dict[str, Any]]:
        n = min(k, self.count())
        if n == 0:
            return []
        result = self.collection.query(query_embeddings=[self.embedder.encode_one(question)], n_results=n,
                                       include=["documents", "metadatas", "distances"])
        return [{"id": i, "title": m["title"], "text": d, "score": 1.0 - dist} for i, d, m, dist in
                zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])]

    def answer(self, question: str) -> dict[str, Any] | None:
        """The one to three sentences of one policy that answer the question (in the policy's order), with that
        policy's id and title and the score; None when no policy is close enough. Extractive: nothing is reworded."""
        candidates = self.search(question, k=ANSWER_CANDIDATES)
        if not candidates:
            return None
        q = self.embedder.encode_one(question)
        best: tuple[float, dict[str, Any], list[str], np.ndarray] | None = None
        for doc in candidates:
            title, sentences, vectors = self._parts(doc)
            scores = vectors @ q
            score = (doc["score"] + float(title @ q) + float(scores.max())) / 3
            if best is None or score > best[0]:
                best = (score, doc, sentences, scores)
        score, doc, sentences, scores = best
        if score < ANSWER_MIN_SCORE:
            return None
        top = set(np.argsort(-scores)[:MAX_ANSWER_SENTENCES].tolist())
        chosen = [s for i, s in enumerate(sentences) if i in top and scores[i] >= scores.max() - SENTENCE_MARGIN]
        return {"id": doc["id"], "title": doc["title"], "text": " ".join(chosen), "score": score}

    def _parts(self, doc: dict[str, Any]) -> tuple[np.ndarray, list[str], np.ndarray]:
        """A document's title vector, sentences and their vectors, encoded once per text (policies rarely change)."""
        key = (doc["title"], doc["text"])
        if key not in self._encoded:
            sentences = split_sentences(doc["text"])
            vectors = self.embedder.encode([doc["title"], *sentences])
            if len(self._encoded) >= MAX_ENCODED_DOCS:
                self._encoded.pop(next(iter(self._encoded)))
            self._encoded[key] = (vectors[0], sentences, vectors[1:])
        return self._encoded[key]


def split_sentences(text: str) -> list[str]:
    """A policy's sentences; "$5.99" and "e.g. x" stay whole (a split needs a space and a capital or digit after)."""
    return [s for s in (p.strip() for p in _SENTENCE.split(" ".join(text.split()))) if s] or [text]
