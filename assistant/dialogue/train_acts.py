"""Training of the dialogue-act head (assistant/dialogue/acts.py): a class-balanced multinomial logistic regression
over the MiniLM sentence embedding of a message, five surface cues and hashed word uni/bigrams (acts.features).

    python -m assistant.train dialogue --data ../shared/data --out assistant/dialogue/acts_head.npz
    python -m assistant.train dialogue --data ../shared/data --out runs/acts_train_only.npz --holdout

Sources (under --data) and the act each gets:
    customer-service-intents/bitext_customer_service_8k.csv   every utterance -> "service"
    clinc150/clinc150_train_val.json                          each intent -> its act in data/clinc150_acts.tsv
    esci-shopping-queries/esci_200_with_text.csv              every distinct query -> "search"
    amazon-scientific/Scientific.text                         3,000 keyword queries cut from titles -> "search"
                                                              (title_queries; training only, weight 0.3; skipped
                                                              when the file is absent)
    assistant/dialogue/data/shop_utterances.jsonl             our own labelled shop messages (see data/README.md)
    assistant/dialogue/data/templates.jsonl + slots.json      our templates filled with our words (training only)
SIMMC 2.1 is never read here: its licence (CC-BY-NC-SA) allows evaluation only (assistant/evaluation/dialogue.py).

Held-out parts (what `--holdout` leaves out and assistant/evaluation/dialogue.py measures on), all fixed by the seed:
20% of Bitext utterances, CLINC's val split (its train split is the training part), 50% of the distinct ESCI queries
and 20% of our own utterances, each row chosen by a seeded hash of its text. The shipped head is trained on
everything (held-out parts included), after the evaluation was run with `--holdout`. Embeddings are cached under
~/.cache/shop-assistant/dialogue-acts, keyed by a hash of the model name and the texts: the first run encodes about
29,000 messages (minutes on two CPU cores), a later one fits in seconds.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from assistant.dialogue.acts import ACTS, HASH_DIM, features, telegraphic

DATA = Path(__file__).resolve().parent / "data"
UTTERANCES = DATA / "shop_utterances.jsonl"
TEMPLATES, SLOTS = DATA / "templates.jsonl", DATA / "slots.json"
CLINC_TABLE = DATA / "clinc150_acts.tsv"
BITEXT = "customer-service-intents/bitext_customer_service_8k.csv"
CLINC = "clinc150/clinc150_train_val.json"
ESCI = "esci-shopping-queries/esci_200_with_text.csv"
TITLES = "amazon-scientific/Scientific.text"  # RecBole item texts: "title. categories. brand." after a tab
TITLE_QUERIES = 3000  # keyword queries cut from product titles (training only)
HELDOUT = {"bitext": 0.2, "esci": 0.5, "shop": 0.2}  # CLINC's held-out part is its own val split
FILLS = 8  # generated messages per template
TITLES_WEIGHT = 0.3  # a query cut from a title is not a shopper's own words
# Each source's weight relative to a public row, before class balancing: our own messages are few but are the only
# ones written for a shop chat, so they count more. Chosen with C on a split of the training parts only.
SOURCE_WEIGHT = {"bitext": 1.0, "clinc": 1.0, "esci": 1.0, "shop": 10.0, "templates": 1.0, "titles": TITLES_WEIGHT}
C = 4.0  # inverse L2 strength
TERSE_SOURCES = ("bitext", "clinc")  # sentences whose keyword forms are added to training (see _terse_rows)
TERSE_WEIGHT = 0.1  # a derived row counts half a real one
MAX_TERSE_WORDS = 4  # longer keyword strings read as sentences anyway


class ActDataError(Exception):
    """A data file is missing or malformed (the command line prints it as one line, exit code 2)."""


@dataclass
class Source:
    """One labelled source: texts, their acts, which rows are held out, and the source's own label per row."""
    name: str
    texts: list[str]
    acts: list[str]
    heldout: np.ndarray
    original: list[str] = field(default_factory=list)  # e.g. CLINC's intent; empty when there is none

    def part(self, heldout: bool) -> tuple[list[str], list[str]]:
        keep = np.flatnonzero(self.heldout == heldout)
        return [self.texts[i] for i in keep], [self.acts[i] for i in keep]


def _heldout(texts: list[str], fraction: float, seed: int, salt: str) -> np.ndarray:
    """Which texts are held out: a seeded hash of each text below `fraction`. Per text, so adding lines to a file
    never moves an existing line between training and evaluation; the same in training and evaluation."""
    def draw(text: str) -> float:
        return int(hashlib.sha256(f"{salt}:{seed}:{text}".encode()).hexdigest()[:12], 16) / 16 ** 12

    return np.array([draw(t) < fraction for t in texts], dtype=bool)


def _need(path: Path) -> Path:
    if not path.is_file():
        raise ActDataError(f"{path} not found")
    return path


def load_bitext(data_dir: str | Path, seed: int = 0) -> Source:
    path = _need(Path(data_dir) / BITEXT)
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "utterance" not in rows[0]:
        raise ActDataError(f"{path}: needs an 'utterance' column")
    texts = sorted({r["utterance"].strip() for r in rows if r["utterance"].strip()})  # split by distinct utterance
    return Source("bitext", texts, ["service"] * len(texts), _heldout(texts, HELDOUT["bitext"], seed, "bitext"))


def clinc_table(path: Path = CLINC_TABLE) -> dict[str, str]:
    """CLINC intent -> act, one deliberate row per intent (the why column says the reason)."""
    with open(path, encoding="utf-8", newline="") as f:
        table = {r["intent"]: r["act"] for r in csv.DictReader(f, delimiter="\t")}
    unknown = set(table.values()) - set(ACTS)
    if unknown:
        raise ActDataError(f"{path}: unknown acts {sorted(unknown)}")
    return table


def load_clinc(data_dir: str | Path) -> Source:
    path = _need(Path(data_dir) / CLINC)
    data = json.loads(path.read_text(encoding="utf-8"))
    table = clinc_table()
    rows = [(t, i, False) for t, i in data["train"] + data.get("oos_train", [])]
    rows += [(t, i, True) for t, i in data["val"] + data.get("oos_val", [])]
    missing = {i for _, i, _ in rows} - set(table)
    if missing:
        raise ActDataError(f"{CLINC_TABLE}: no act for CLINC intents {sorted(missing)}")
    return Source("clinc", [t for t, _, _ in rows], [table[i] for _, i, _ in rows],
                  np.array([h for _, _, h in rows], dtype=bool), [i for _, i, _ in rows])


def load_esci(data_dir: str | Path, seed: int = 0) -> Source:
    path = _need(Path(data_dir) / ESCI)
    with open(path, encoding="utf-8", newline="") as f:
        queries = sorted({r["query"].strip() for r in csv.DictReader(f) if r.get("query", "").strip()})
    if not queries:
        raise ActDataError(f"{path}: no 'query' column or no queries")
    return Source("esci", queries, ["search"] * len(queries), _heldout(queries, HELDOUT["esci"], seed, "esci"))


_TITLE_WORD = re.compile(r"[a-z][a-z'-]+")
# Units and counts left over once the numbers are dropped ("8 ounce" -> "ounce"), and words a query never ends on.
_NOT_QUERY_WORDS = frozenset("""mm cm ml oz ounce ounces lb lbs kg pcs pc pack packs count ct inch inches ft feet
mil gauge qty set pair pairs""".split())
_NOT_AT_ENDS = frozenset("of with for and the in to by on or from at per".split())


def title_queries(titles: list[str], n: int, seed: int = 0) -> list[str]:
    """Keyword queries cut from product titles, the way shoppers type them: 2-4 words of one comma-separated part,
    most often ending where the part ends (where the product's own noun usually is), model numbers and sizes
    dropped. ESCI has only 200 real queries; without more keyword searches from many products, a terse query
    ("gas can nozzle replacement") read like the keyword forms of other-domain requests."""
    rng = np.random.default_rng([seed, 11])
    parts = [words for t in titles for part in t.lower().split(",")[:3]
             if len(words := [w for w in _TITLE_WORD.findall(part) if w not in _NOT_QUERY_WORDS]) >= 2]
    out, seen = [], set()
    for i in rng.permutation(len(parts))[: n * 3]:
        words = parts[i]
        size = min(len(words), int(rng.integers(2, 5)))
        end = len(words) if rng.random() < 0.6 else int(rng.integers(size, len(words) + 1))
        query = " ".join(words[end - size:end])
        if words[end - size] not in _NOT_AT_ENDS and words[end - 1] not in _NOT_AT_ENDS and query not in seen:
            seen.add(query)
            out.append(query)
        if len(out) == n:
            break
    return out


def load_titles(data_dir: str | Path, seed: int = 0, n: int = TITLE_QUERIES) -> Source | None:
    """Searches cut from the Amazon Scientific product titles (title_queries), training only; None without the file."""
    path = Path(data_dir) / TITLES
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    titles = [line.split("\t", 1)[1].split(". ")[0] for line in lines if "\t" in line]
    queries = title_queries(titles, n, seed)
    return Source("titles", queries, ["search"] * len(queries), np.zeros(len(queries), dtype=bool))


def load_shop(path: str | Path = UTTERANCES, seed: int = 0) -> Source:
    """Our own utterances ({"text", "act"} a line), 20% held out (about 20% of every act)."""
    texts, acts = [], []
    for n, line in enumerate(Path(_need(Path(path))).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("act") not in ACTS or not isinstance(row.get("text"), str):
            raise ActDataError(f"{path}: line {n}: needs a text and one of the acts {ACTS}")
        texts.append(row["text"])
        acts.append(row["act"])
    return Source("shop", texts, acts, _heldout(texts, HELDOUT["shop"], seed, "shop"))


def generate(seed: int = 0, templates: str | Path = TEMPLATES, slots: str | Path = SLOTS, fills: int = FILLS) -> Source:
    """Training-only messages from our templates ("is the {item} {property}?" -> ask_product) filled with our own
    slot words (product types across many domains, colours, sizes, ...): the same act worded around many products.
    Every slot is drawn on its own; a template without slots gives one message. Never held out: the evaluation
    measures on hand-written messages only."""
    words = json.loads(Path(_need(Path(slots))).read_text(encoding="utf-8"))
    rng = np.random.default_rng([seed, 7])
    texts, acts, seen = [], [], set()
    for n, line in enumerate(Path(_need(Path(templates))).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        parts = row["template"].split("{")
        if row.get("act") not in ACTS or any("}" not in p or p.split("}")[0] not in words for p in parts[1:]):
            raise ActDataError(f"{templates}: line {n}: an unknown act or slot")
        for _ in range(fills if len(parts) > 1 else 1):
            text = parts[0] + "".join(str(rng.choice(words[p.split("}")[0]])) + p.split("}", 1)[1] for p in parts[1:])
            if text.lower() not in seen:
                seen.add(text.lower())
                texts.append(text)
                acts.append(row["act"])
    return Source("templates", texts, acts, np.zeros(len(texts), dtype=bool))


def load_sources(data_dir: str | Path, seed: int = 0, utterances: str | Path = UTTERANCES,
                 templates: str | Path | None = TEMPLATES) -> list[Source]:
    """Every training source; `templates=None` leaves the generated messages out."""
    sources = [load_bitext(data_dir, seed), load_clinc(data_dir), load_esci(data_dir, seed), load_shop(utterances, seed)]
    titles = load_titles(data_dir, seed)
    return sources + ([titles] if titles else []) + ([generate(seed, templates)] if templates else [])


def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "shop-assistant" / "dialogue-acts"


def cached_embeddings(texts: list[str], embedder, cache_dir: str | Path | None = None) -> np.ndarray:
    """The texts' embeddings, cached on disk keyed by the model and a hash of the texts (a changed text set is a
    new file: nothing stale is ever read)."""
    digest = hashlib.sha256("\n".join([embedder.model_name, *texts]).encode("utf-8")).hexdigest()[:20]
    path = Path(cache_dir or default_cache_dir()) / f"{digest}.n{len(texts)}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape == (len(texts), embedder.dim):
            return vectors
    vectors = embedder.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)  # atomic: a concurrent run never reads half a file
    return vectors


def balanced_weights(y: np.ndarray, source_weight: np.ndarray) -> np.ndarray:
    """Row weights: the source's weight, scaled so that every act weighs the same in total. Equal totals make the
    head's implicit prior uniform over acts, so acts.py's priors (ACT_MIX, P_SHOWN) are the only ones applied."""
    w = np.asarray(source_weight, dtype=np.float64).copy()
    present = np.unique(y)
    for act in present:
        rows = y == act
        w[rows] *= len(y) / (len(present) * w[rows].sum())
    return w


def feature_matrix(vectors: np.ndarray, texts: list[str]):
    """acts.features as one sparse matrix (rows: texts; columns: the dense part, then the HASH_DIM gram slots)."""
    from scipy import sparse

    dense, grams = features(vectors, texts)
    rows = np.repeat(np.arange(len(texts)), [len(g) for g in grams])
    values = np.concatenate([np.full(len(g), 1 / np.sqrt(len(g)), dtype=np.float32) for g in grams if len(g)] or [[]])
    ids = np.concatenate([g for g in grams] or [[]]).astype(np.int64)
    hashed = sparse.csr_matrix((values, (rows, ids)), shape=(len(texts), HASH_DIM), dtype=np.float32)
    return sparse.hstack([sparse.csr_matrix(dense), hashed]).tocsr()


def fit_head(x, y: np.ndarray, seed: int = 0, c: float = C,
             sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression: (weights (acts, features), bias (acts,)), acts absent from y never win."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    model.fit(x, y, sample_weight=balanced_weights(y, np.ones(len(y)) if sample_weight is None else sample_weight))
    weights = np.zeros((len(ACTS), x.shape[1]), dtype=np.float32)
    bias = np.full(len(ACTS), -1e4, dtype=np.float32)  # an act with no training row is never predicted
    coef, intercept = model.coef_, model.intercept_
    if len(present) == 2:  # sklearn keeps one row for two classes: make it the symmetric softmax pair
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    for row, act in enumerate(present):
        weights[act], bias[act] = coef[row], intercept[row]
    return weights, bias


def _training_rows(sources: list[Source], holdout: bool) -> tuple[list[str], list[str], list[float], dict]:
    texts, acts, weights, counts = [], [], [], {}
    for source in sources:
        parts = [source.part(False)] + ([] if holdout else [source.part(True)])
        for t, a in parts:
            texts += t
            acts += a
            weights += [SOURCE_WEIGHT.get(source.name, 1.0)] * len(t)
        counts[source.name] = sum(len(t) for t, _ in parts)
        if source.name in TERSE_SOURCES:
            terse = _terse_rows(parts)
            texts += [t for t, _ in terse]
            acts += [a for _, a in terse]
            weights += [TERSE_WEIGHT] * len(terse)
            counts[f"{source.name} (keywords)"] = len(terse)
    return texts, acts, weights, counts


def _terse_rows(parts: list[tuple[list[str], list[str]]]) -> list[tuple[str, str]]:
    """Keyword forms of full sentences ("what's the weather like tomorrow?" -> "weather like tomorrow"), once each:
    shoppers type telegraphically, and without them every keyword message looked like a product search (the only
    public keyword data, ESCI, is all searches)."""
    seen, rows = set(), []
    for texts, acts in parts:
        for text, act in zip(texts, acts):
            short = telegraphic(text)
            if short and short != text.lower() and len(short.split()) <= MAX_TERSE_WORDS and short not in seen:
                seen.add(short)
                rows.append((short, act))
    return rows


def train_acts(data_dir: str | Path, out_path: str | Path, seed: int = 0, holdout: bool = False,
               utterances: str | Path = UTTERANCES, templates: str | Path | None = TEMPLATES, embedder=None,
               cache_dir: str | Path | None = None, log: Callable[[str], None] = lambda s: None) -> dict:
    """Fit the head on the sources (only their training parts with holdout=True) and save it to out_path.
    Returns a report: rows per source and act, seconds for the embeddings and the fit, training accuracy."""
    sources = load_sources(data_dir, seed, utterances, templates)  # a data problem shows before the encoder loads
    if embedder is None:
        from catalog.embed import get_embedder

        embedder = get_embedder()
    texts, acts, row_weight, counts = _training_rows(sources, holdout)
    t0 = time.perf_counter()
    vectors = np.vstack([cached_embeddings(s.texts, embedder, cache_dir) for s in sources])
    everything = [t for s in sources for t in s.texts]
    derived = sorted(set(texts) - set(everything))  # the keyword forms (_terse_rows)
    if derived:
        vectors = np.vstack([vectors, cached_embeddings(derived, embedder, cache_dir)])
        everything += derived
    index = {t: n for n, t in enumerate(everything)}  # a text in two sources has the same embedding in both
    x = feature_matrix(vectors[[index[t] for t in texts]], texts)
    embed_seconds = time.perf_counter() - t0
    log(f"{len(texts)} training messages embedded in {embed_seconds:.1f}s ({counts})")
    y = np.array([ACTS.index(a) for a in acts])
    t0 = time.perf_counter()
    weights, bias = fit_head(x, y, seed, sample_weight=np.array(row_weight))
    fit_seconds = time.perf_counter() - t0
    accuracy = float(np.mean(np.argmax(x @ weights.T + bias, axis=1) == y))  # sparse @ dense: a dense array
    meta = {"model": "logistic regression, class-balanced", "C": C, "hash_dim": HASH_DIM,
            "source_weight": SOURCE_WEIGHT, "embed_model": embedder.model_name, "seed": seed, "holdout": holdout,
            "rows": counts, "per_act": {a: acts.count(a) for a in ACTS}, "simmc_used": False,
            "trained": time.strftime("%Y-%m-%d")}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "wb") as f:  # a file object: np.savez would append ".npz" to any other suffix
        np.savez_compressed(f, acts=np.array(ACTS), weights=weights, bias=bias, meta=np.array(json.dumps(meta)))
    log(f"fitted in {fit_seconds:.1f}s, training accuracy {accuracy:.4f}; saved {out_path}")
    return {**meta, "out": str(out_path), "embed_seconds": round(embed_seconds, 2),
            "fit_seconds": round(fit_seconds, 2), "train_accuracy": round(accuracy, 4),
            "bytes": os.path.getsize(out_path)}
