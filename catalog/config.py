"""Where the catalog lives and which models and servers it uses. Flags override the environment, which
overrides these defaults."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CatalogConfig:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("SHOP_DATA_DIR", "data")))  # Chroma files, rejects, event DB
    chroma_url: str | None = field(default_factory=lambda: os.environ.get("SHOP_CHROMA_URL") or None)  # http://host:port of a `chroma run` server; None = embedded
    embed_model: str | None = field(default_factory=lambda: os.environ.get("SHOP_EMBED_MODEL") or None)  # sentence-transformers id or path; None = packaged MiniLM
    device: str | None = field(default_factory=lambda: os.environ.get("SHOP_DEVICE") or None)  # "cuda", "cpu"; None = CUDA when present
    collection: str = "products"  # Chroma collection holding the product vectors (of the default encoder)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    pseudonym_key: str | None = field(default_factory=lambda: os.environ.get("SHOP_PSEUDONYM_KEY") or None)  # set: user ids are stored as keyed hashes

    @property
    def collection_name(self) -> str:
        """Vectors of different encoders must never mix (nor can they: dimensions differ), so another embedding
        model gets a collection of its own, and switching models re-embeds the catalog instead of corrupting it."""
        model = (self.embed_model or "").strip()
        if model in ("", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
            return self.collection
        slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model).strip("-._")[-40:]
        digest = hashlib.sha1(model.encode("utf-8")).hexdigest()[:8]
        return f"{self.collection}-{slug}-{digest}"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.sqlite3"
