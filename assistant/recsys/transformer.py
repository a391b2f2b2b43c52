"""A small SASRec/UniSRec-style next-item transformer over frozen item-text embeddings, trained on CPU in minutes.

Each item is a learned id embedding plus a projection of its cached (frozen) MiniLM text embedding, so rare items
borrow strength from their text. A causal self-attention stack reads a shopper's recent items; its state at each
position is scored against every item (full softmax: catalogs we train on CPU have thousands of items, so the whole
softmax is cheaper than sampling). Early stopping on validation NDCG@10; `epochs` refits a fixed count (train+valid).

    model = TransformerSeqModel(TransformerConfig(), item_text_embeddings)
    model.fit(train_sequences, valid_histories, valid_targets)
    logits = model.score_batch([[3, 17, 42]])                   # (1, n_items)
    model.save("runs/predictor-Scientific/sequence"); TransformerSeqModel.load(...)
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from assistant.recsys.sequence import next_item_ndcg, train_next_item

WEIGHTS_FILE, CONFIG_FILE = "model.pt", "config.json"


@dataclass
class TransformerConfig:
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 50  # most recent history positions read
    dropout: float = 0.3
    text_dropout: float = 0.1  # on the frozen text vector before its projection
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 128
    max_epochs: int = 80
    eval_every: int = 2
    patience: int = 4
    temperature: float = 1.0  # logits are divided by it
    cosine: bool = False  # score with cosine (normalised state and item vectors) / temperature, as UniSRec does
    use_id: bool = True  # learned id embedding on top of the text projection
    seed: int = 0
    threads: int = 1  # torch CPU threads: on a small shared machine 2 threads thrash when another job runs


class SASRecText(nn.Module):
    def __init__(self, n_items: int, text: np.ndarray, cfg: TransformerConfig):
        super().__init__()
        self.n_items, self.cfg = n_items, cfg
        pad_text = np.vstack([np.asarray(text, np.float32), np.zeros((1, text.shape[1]), np.float32)])
        self.register_buffer("text", torch.as_tensor(pad_text))
        self.text_proj = nn.Sequential(nn.Dropout(cfg.text_dropout), nn.Linear(text.shape[1], cfg.dim))
        self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=n_items) if cfg.use_id else None
        if self.item_emb is not None:
            nn.init.normal_(self.item_emb.weight, std=0.02)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.n_heads, dim_feedforward=cfg.dim * 2, dropout=cfg.dropout,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm_in, self.norm_out = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def item_table(self) -> torch.Tensor:
        """(n_items + 1, dim): every item's vector, the last row padding."""
        table = self.text_proj(self.text)
        if self.item_emb is not None:
            table = table + self.item_emb.weight
        return table

    def forward(self, seqs: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """seqs: (B, L) item indices, LEFT-padded with n_items (the most recent item is the last column). Returns
        (B, L, dim); position t has read items 0..t only."""
        L = seqs.shape[1]
        pos = torch.arange(self.cfg.max_len - L, self.cfg.max_len, device=seqs.device)  # the last column = newest
        x = self.drop(self.norm_in(table[seqs] + self.pos_emb(pos)[None]))
        pad = seqs == self.n_items
        # Causal, and no attention to left padding; each position still sees itself (no empty softmax rows).
        allowed = torch.ones(L, L, dtype=torch.bool, device=seqs.device).tril()[None] & ~pad[:, None, :]
        allowed |= torch.eye(L, dtype=torch.bool, device=seqs.device)[None]
        mask = torch.zeros(allowed.shape, device=seqs.device).masked_fill(~allowed, float("-inf"))
        h = self.encoder(x, mask=mask.repeat_interleave(self.cfg.n_heads, dim=0))
        return self.norm_out(h)


def _left_pad(seqs: Sequence[Sequence[int]], length: int, pad: int) -> torch.Tensor:
    out = torch.full((len(seqs), length), pad, dtype=torch.long)
    for n, s in enumerate(seqs):
        s = list(s)[-length:]
        if s:
            out[n, length - len(s):] = torch.as_tensor(s, dtype=torch.long)
    return out


class TransformerSeqModel:
    kind = "sequence"

    def __init__(self, config: TransformerConfig | None = None, item_text_embeddings: np.ndarray | None = None):
        self.config = config or TransformerConfig()
        text = np.asarray(item_text_embeddings, dtype=np.float32)
        self.n_items = int(text.shape[0])
        torch.manual_seed(self.config.seed)
        self.model = SASRecText(self.n_items, text, self.config)
        self.best_epoch, self.best_valid_ndcg = 0, None
        self.history: list[dict] = []
        self._table: torch.Tensor | None = None

    def fit(self, sequences: Sequence[Sequence[int]], valid_histories: Sequence[Sequence[int]] | None = None,
            valid_targets: Sequence[int] | None = None, epochs: int | None = None,
            log: Callable[[str], None] = lambda s: None, tensorboard_dir: str | None = None) -> TransformerSeqModel:
        """Next-item cross-entropy at every position of every sequence (oldest first). With validation rows: keep
        the epoch with the best NDCG@10, stop after `patience` checks without a gain; with `epochs`: exactly that.
        tensorboard_dir: loss and validation NDCG@10 curves per epoch."""
        cfg = self.config
        writer = None
        if tensorboard_dir:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(tensorboard_dir)

        def curves(rec: dict) -> None:
            for key in ("loss", "valid_ndcg@10"):
                if writer is not None and key in rec:
                    writer.add_scalar(f"transformer/{key}", rec[key], rec["epoch"])

        torch.set_num_threads(cfg.threads)
        L = cfg.max_len + 1
        seqs = [list(s)[-L:] for s in sequences if len(s) >= 2]
        lengths = np.array([len(s) for s in seqs])

        def batch(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            rows = _left_pad([seqs[i] for i in idx], int(lengths[idx].max()), self.n_items)
            inp, tgt = rows[:, :-1], rows[:, 1:]
            return inp, tgt, (tgt != self.n_items) & (inp != self.n_items)

        try:
            train_next_item(self, lengths, batch, self._logits, epochs, valid_histories, valid_targets, log,
                            "transformer", on_epoch=curves)
        finally:
            if writer is not None:
                writer.close()
        return self

    def _logits(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        items = table[: self.n_items]
        if self.config.cosine:
            h, items = F.normalize(h, dim=-1), F.normalize(items, dim=-1)
        return h @ items.T / self.config.temperature

    @torch.no_grad()
    def hidden(self, histories: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(states of the non-empty histories, the item table, their positions in `histories`)."""
        if self.model.training:
            self.model.eval()
            self._table = None
        if self._table is None:
            self._table = self.model.item_table()  # fixed after training: computed once, not per call
        idx = [n for n, h in enumerate(histories) if len(h)]
        if not idx:
            return torch.zeros((0, self.config.dim)), self._table, idx
        length = min(max(len(histories[n]) for n in idx), self.config.max_len)
        seqs = _left_pad([histories[n] for n in idx], length, self.n_items)
        return self.model(seqs, self._table)[:, -1], self._table, idx

    @torch.no_grad()
    def score_batch(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """Next-item logits (len(histories), n_items); an empty history scores every item 0."""
        out = np.zeros((len(histories), self.n_items), dtype=np.float32)
        h, table, idx = self.hidden(histories)
        if idx:
            out[idx] = self._logits(h, table).numpy()
        return out

    @torch.no_grad()
    def score_candidates(self, history: Sequence[int], candidates: np.ndarray) -> np.ndarray:
        """Log-softmax over all items of the next-item distribution, read at the candidates (a purchase log-prob).
        One shopper is a few small matrix products: on one thread, as several threads on a busy 2-core machine
        wait on each other far longer than the work takes (measured 45 ms vs 2 ms a call)."""
        if not len(history):
            return np.zeros(len(candidates))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            logits = torch.as_tensor(self.score_batch([history])[0])
        finally:
            torch.set_num_threads(threads)
        return torch.log_softmax(logits, 0)[torch.as_tensor(np.asarray(candidates, np.int64))].double().numpy()

    def ndcg(self, histories: Sequence[Sequence[int]], targets: Sequence[int], batch: int = 512) -> float:
        return next_item_ndcg(self.score_batch, histories, targets, batch)

    def save(self, out_dir: str, **meta: object) -> None:
        os.makedirs(out_dir, exist_ok=True)
        torch.save(self.model.state_dict(), os.path.join(out_dir, WEIGHTS_FILE))
        with open(os.path.join(out_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump({"config": asdict(self.config), "n_items": self.n_items, "text_dim": int(self.model.text.shape[1]),
                       "best_epoch": self.best_epoch,
                       "best_valid_ndcg@10": self.best_valid_ndcg, **meta}, f, indent=2)

    @classmethod
    def load(cls, out_dir: str, item_text_embeddings: np.ndarray | None = None) -> TransformerSeqModel:
        """The saved model; its frozen item-text table is saved with it (pass embeddings only to check the catalog)."""
        with open(os.path.join(out_dir, CONFIG_FILE), encoding="utf-8") as f:
            saved = json.load(f)
        n_items = int(saved["n_items"])
        if item_text_embeddings is not None and len(item_text_embeddings) != n_items:
            raise ValueError(f"{out_dir} was trained on {n_items} items, the catalog has {len(item_text_embeddings)}")
        m = cls(TransformerConfig(**saved["config"]), np.zeros((n_items, int(saved["text_dim"])), np.float32))
        m.model.load_state_dict(torch.load(os.path.join(out_dir, WEIGHTS_FILE), map_location="cpu", weights_only=True))
        m.model.eval()
        m.best_epoch, m.best_valid_ndcg = int(saved.get("best_epoch", 0)), saved.get("best_valid_ndcg@10")
        return m
