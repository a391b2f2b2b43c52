"""Every setting of the app, in one place: resolved once at start (command-line flag, else environment variable,
else the default), validated, and passed down. Nothing below the entry point reads the environment.

    settings = Settings.parse(["--port", "8080"])        # SystemExit with a clear message on a bad value
    settings.catalog                                    # the CatalogConfig part (its variables: catalog/config.py)

`python app.py --help` lists them all with their variables and defaults.
"""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from catalog.config import CATALOG_ENV, CatalogConfig

LLM_BACKENDS = ("template", "local", "openai")
MAX_HISTORY_TURNS = 20  # chat messages the reply model reads; more only slows a small model down


def _opt(env: str, help: str, default: Any = None, **argparse_kwargs: Any) -> Any:
    return field(default=default, metadata={"env": env, "help": help, "argparse": argparse_kwargs})


def _catalog(name: str, default: Any = None) -> Any:
    env, help = CATALOG_ENV[name]
    return _opt(env, help, default)


@dataclass
class Settings:
    host: str = _opt("SHOP_HOST", "address to serve on (0.0.0.0: every interface)", "127.0.0.1")
    port: int = _opt("SHOP_PORT", "port to serve on", 7860, type=int)
    data_dir: str = _catalog("data_dir", "data")
    catalog_file: str | None = _opt("SHOP_CATALOG", "on first run (empty index): ingest this product file (CSV, TSV, "
                                    "JSON, JSONL, Parquet) instead of building the demo shop", None,
                                    flag="--catalog")
    column_map: list[str] = _opt("SHOP_CATALOG_MAP", "with --catalog: use the file's COLUMN for our FIELD (id, title, "
                                 "price, ...), FIELD=COLUMN; repeatable (env: comma-separated)", None,
                                 flag="--map", action="append", metavar="FIELD=COLUMN")
    policies: str | None = _opt("SHOP_POLICIES", "the shop's policies/FAQ: a Markdown, text, JSON or CSV file or a "
                                "folder of them, added (or updated) at start; see `python -m catalog policies`")
    contact: str = _opt("SHOP_CONTACT", "how shoppers reach a person (e-mail, phone, page), given when the policies do "
                        "not answer a question", "")
    chroma_url: str | None = _catalog("chroma_url")
    embed_model: str | None = _catalog("embed_model")
    device: str | None = _catalog("device")
    pseudonym_key: str | None = _catalog("pseudonym_key")
    db_url: str | None = _catalog("db_url")
    state_url: str | None = _opt("SHOP_STATE_URL", "a Redis server for conversations and carts, shared by every "
                                 "replica, e.g. redis://localhost:6379/0 (default: this process's memory)")
    session_ttl: int = _opt("SHOP_SESSION_TTL", "seconds a conversation and its cart are kept in Redis after the "
                            "last message", 86_400, type=int)
    refit_minutes: int = _opt("SHOP_REFIT_MINUTES", "every this many minutes, refit the recommender and vocabulary "
                              "if the catalog changed (0: never)", 60, type=int)
    llm_backend: str | None = _opt("SHOP_LLM_BACKEND", "reply backend: template, local (SmolLM2-135M in this process) "
                                   "or openai (any OpenAI-compatible server); default: openai when --llm-url is set, "
                                   "else local", None, choices=LLM_BACKENDS)
    llm_model: str | None = _opt("SHOP_LLM_MODEL", "local: an HF id, folder or .gguf file (default: the packaged "
                                 "SmolLM2-135M GGUF); openai: the served model's name")
    llm_url: str | None = _opt("SHOP_LLM_URL", "an OpenAI-compatible server, e.g. http://localhost:8000/v1")
    llm_api_key: str | None = _opt("SHOP_LLM_API_KEY", "bearer key for that server")
    llm_threads: int = _opt("SHOP_LLM_THREADS", "CPU threads for the local model (0: torch's default)", 0, type=int)
    api_key: str | None = _opt("SHOP_API_KEY", "required by the API's write, delete and agent endpoints and by "
                               "/agent/ (unset: open in the demo shop, refused otherwise)")
    user_secret: str | None = _opt("SHOP_USER_SECRET", "the secret your site signs user tokens with "
                                   "(assistant/serving/usertoken.py); without it every shopper is anonymous")
    frame_origins: list[str] = _opt("SHOP_FRAME_ORIGINS", "an origin allowed to embed /widget in an iframe, e.g. "
                                    "https://shop.example.com; repeatable (env: comma-separated); localhost and "
                                    "127.0.0.1 are always allowed", None, flag="--frame-origin", action="append")
    concurrency: int = _opt("SHOP_CONCURRENCY", "replies generated at once per view (0: 2 with the local model, "
                            "8 otherwise)", 0, type=int)
    history_turns: int = _opt("SHOP_HISTORY_TURNS", f"chat messages kept per session and read by the reply model "
                              f"(0-{MAX_HISTORY_TURNS})", 6, type=int)

    @property
    def catalog(self) -> CatalogConfig:
        return CatalogConfig(data_dir=self.data_dir, chroma_url=self.chroma_url, embed_model=self.embed_model,
                             device=self.device, pseudonym_key=self.pseudonym_key, db_url=self.db_url)

    @property
    def backend_kind(self) -> str:
        return self.llm_backend or ("openai" if self.llm_url else "local")

    @classmethod
    def parser(cls, description: str = "") -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
        for f in fields(cls):
            extra = dict(f.metadata["argparse"])
            flag = extra.pop("flag", "--" + f.name.replace("_", "-"))
            shown = f" (default: {f.default})" if f.default not in (None, []) else ""
            p.add_argument(flag, dest=f.name, default=None, help=f"${f.metadata['env']}: {f.metadata['help']}{shown}",
                           **extra)
        return p

    @classmethod
    def parse(cls, argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
              description: str = "") -> Settings:
        """Flags, else the environment, else the defaults; a bad value exits with a message (argparse.error)."""
        parser = cls.parser(description)
        args = parser.parse_args(argv)
        try:
            return cls.resolve(vars(args), os.environ if environ is None else environ)
        except ValueError as exc:
            parser.error(str(exc))
            raise  # unreachable: parser.error exits

    @classmethod
    def resolve(cls, flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = flags.get(f.name)
            if value is None:
                raw = environ.get(f.metadata["env"]) or None
                value = _from_env(f, raw) if raw is not None else f.default
            values[f.name] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.llm_backend is not None and self.llm_backend not in LLM_BACKENDS:
            raise ValueError(f"SHOP_LLM_BACKEND must be one of {', '.join(LLM_BACKENDS)}, not {self.llm_backend!r}")
        if self.backend_kind == "openai" and not self.llm_url:
            raise ValueError("the openai reply backend needs --llm-url (SHOP_LLM_URL)")
        if not 0 <= self.history_turns <= MAX_HISTORY_TURNS:
            raise ValueError(f"--history-turns must be between 0 and {MAX_HISTORY_TURNS}, not {self.history_turns}")
        if not 0 < self.port < 65536:
            raise ValueError(f"--port must be between 1 and 65535, not {self.port}")
        if self.session_ttl < 60 or self.refit_minutes < 0:
            raise ValueError("--session-ttl must be at least 60 seconds and --refit-minutes not negative")
        if self.state_url and not self.state_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("--state-url must be a redis://, rediss:// or unix:// URL")
        if self.db_url and not self.db_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("--db-url must be a postgresql:// URL")
        if self.concurrency < 0 or self.llm_threads < 0:
            raise ValueError("--concurrency and --llm-threads must not be negative")
        for item in self.column_map or []:
            if "=" not in item:
                raise ValueError(f"--map takes FIELD=COLUMN, not {item!r}")
        if self.column_map and not self.catalog_file:
            raise ValueError("--map (SHOP_CATALOG_MAP) names the columns of a --catalog file; give --catalog FILE too")


def _from_env(f: Any, raw: str) -> Any:
    kind = f.metadata["argparse"]
    if kind.get("action") == "append":
        return [v for v in re.split(r"[\s,]+", raw) if v]
    if kind.get("type") is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{f.metadata['env']} must be a whole number, not {raw!r}") from None
    return raw
