"""Where the catalog lives and which models and servers it uses. `CatalogConfig.from_env()` reads the catalog's
settings from the environment (the table below is the one place their variable names are defined; the app's
settings, assistant/serving/settings.py, reuse it); flags override both.

    config = CatalogConfig.from_env()            # SHOP_DATA_DIR, SHOP_CHROMA_URL, ...
    config = CatalogConfig(data_dir="/tmp/shop")  # or explicit
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

# field -> (environment variable, what it is)
CATALOG_ENV = {
    "data_dir": ("SHOP_DATA_DIR", "data directory: the Chroma index, behaviour events, chats, models, rejects"),
    "chroma_url": ("SHOP_CHROMA_URL", "a `chroma run` server, e.g. http://localhost:8000 (default: embedded)"),
    "embed_model": ("SHOP_EMBED_MODEL", "sentence-transformers id or path (default: the packaged all-MiniLM-L6-v2)"),
    "device": ("SHOP_DEVICE", "cuda or cpu for the encoder (default: CUDA when present)"),
    "pseudonym_key": ("SHOP_PSEUDONYM_KEY", "when set, user ids are stored as keyed hashes (HMAC)"),
    "db_url": ("SHOP_DB_URL", "a PostgreSQL server for behaviour events and chat transcripts, e.g. "
                              "postgresql://shop:pw@localhost/shop (default: SQLite files in the data directory)"),
}


@dataclass
class CatalogConfig:
    data_dir: Path = Path("data")  # Chroma files, rejects, event DB, chat log, models
    chroma_url: str | None = None  # http://host:port of a `chroma run` server; None = embedded
    embed_model: str | None = None  # sentence-transformers id or path; None = packaged MiniLM
    device: str | None = None  # "cuda", "cpu"; None = CUDA when present
    pseudonym_key: str | None = None  # set: user ids are stored as keyed hashes
    db_url: str | None = None  # postgresql://...: events and transcripts there, shared by replicas; None = SQLite
    collection: str = "products"  # Chroma collection holding the product vectors (of the default encoder)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> CatalogConfig:
        """The environment's values (see CATALOG_ENV), then `overrides` that are not None (command-line flags)."""
        environ = os.environ if environ is None else environ
        values = {f: environ.get(var) or None for f, (var, _) in CATALOG_ENV.items()}
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = values["data_dir"] or "data"
        return cls(**values)

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
