"""A small next-item model (GRU4Rec-style recurrent network) for the hybrid recommender, trained on CPU.

Each item is represented by a learned id embedding plus a linear projection of its (frozen) text embedding, so
rare items borrow strength from their text. Training uses full-softmax cross-entropy at every position of each
training sequence; the epoch count is chosen by NDCG@10 on validation rows (early stopping).

    model = SequenceModel(SequenceConfig(), item_text_embeddings)
    model.fit(train_sequences, valid_histories, valid_targets)
    scores = model.score_batch([[3, 17, 42]])          # (1, n_items) logits
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SequenceConfig:
    dim: int = 64  # hidden size; the catalogs we train on CPU are small, a wider model only overfits
    n_layers: int = 1  # GRU layers
    max_len: int = 50  # history positions the model reads (the most recent ones)
    dropout: float = 0.3  # sequences are short and few: strong dropout against overfitting
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 60
    eval_every: int = 2  # epochs between validation checks
    patience: int = 3  # checks without improvement before stopping
    use_text: bool = True  # add a projection of the text embedding to each item's id embedding
    seed: int = 0
    threads: int = 2  # torch CPU threads; the machines we run on are small and shared


class GRURec(nn.Module):
    """GRU4Rec-style: item vectors -> GRU -> hidden state scored against every item vector. A GRU is an order
    of magnitude cheaper than self-attention on CPU at these sequence lengths, and as accurate on short sequences."""

    def __init__(self, n_items: int, text: np.ndarray | None, cfg: SequenceConfig):
        super().__init__()
        self.n_items, self.cfg = n_items, cfg
        self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=n_items)  # last row is padding
        nn.init.normal_(self.item_emb.weight, std=0.02)
        if text is not None:
            self.register_buffer("text", torch.as_tensor(np.vstack([text, np.zeros((1, text.shape[1]), np.float32)])))
            self.text_proj = nn.Linear(text.shape[1], cfg.dim, bias=False)
        else:
            self.text, self.text_proj = None, None
        self.gru = nn.GRU(cfg.dim, cfg.dim, num_layers=cfg.n_layers, batch_first=True,
                          dropout=cfg.dropout if cfg.n_layers > 1 else 0.0)
        self.out = nn.Linear(cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def item_table(self) -> torch.Tensor:
        table = self.item_emb.weight
        if self.text_proj is not None:
            table = table + self.text_proj(self.text)
        return table

    def forward(self, seqs: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """seqs: (B, L) item indices, right-padded with n_items. Returns hidden states (B, L, dim); the state at
        position t has read items 0..t only, so padding after it changes nothing."""
        table = self.item_table() if table is None else table
        h, _ = self.gru(self.drop(table[seqs]))
        return self.out(self.drop(h))


@torch.no_grad()
def _adamw_step(params: list[torch.Tensor], moments: list[tuple[torch.Tensor, torch.Tensor]], step: int, lr: float,
                weight_decay: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
    """AdamW written out: torch.optim's first step imports torch._dynamo, which costs 3-9 s on a small CPU box."""
    for p, (m, v) in zip(params, moments):
        if p.grad is None:
            continue
        m.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
        if weight_decay:
            p.mul_(1.0 - lr * weight_decay)
        denom = (v / (1.0 - beta2**step)).sqrt_().add_(eps)
        p.addcdiv_(m, denom, value=-lr / (1.0 - beta1**step))


def _right_pad(seqs: Sequence[Sequence[int]], max_len: int, pad: int) -> torch.Tensor:
    out = torch.full((len(seqs), max_len), pad, dtype=torch.long)
    for n, s in enumerate(seqs):
        s = list(s)[-max_len:]
        if s:
            out[n, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


class SequenceModel:
    def __init__(self, config: SequenceConfig | None = None, item_text_embeddings: np.ndarray | None = None,
                 n_items: int | None = None):
        self.config = config or SequenceConfig()
        text = np.asarray(item_text_embeddings, dtype=np.float32) if item_text_embeddings is not None else None
        self.n_items = int(n_items if n_items is not None else text.shape[0])
        torch.manual_seed(self.config.seed)
        self.model = GRURec(self.n_items, text if self.config.use_text else None, self.config)
        self.best_epoch = 0
        self.history: list[dict] = []

    def fit(self, sequences: Sequence[Sequence[int]], valid_histories: Sequence[Sequence[int]] | None = None,
            valid_targets: Sequence[int] | None = None, epochs: int | None = None,
            log: Callable[[str], None] = lambda s: None) -> SequenceModel:
        """Train on sequences (oldest first). With validation rows, keep the best epoch by NDCG@10 and stop early;
        with `epochs`, train exactly that many (used for the refit on train+valid)."""
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        L = cfg.max_len + 1  # inputs are positions 0..L-2, targets 1..L-1
        seqs = [list(s)[-L:] for s in sequences if len(s) >= 2]
        data = _right_pad(seqs, L, self.n_items)
        lengths = np.array([len(s) for s in seqs])

        def batch(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            rows = data[idx][:, : int(lengths[idx].max())]
            inp, tgt = rows[:, :-1], rows[:, 1:]
            return inp, tgt, tgt != self.n_items

        train_next_item(self, lengths, batch, lambda h, table: h @ table[: self.n_items].T, epochs, valid_histories,
                        valid_targets, log, "sequence model")
        return self

    @torch.no_grad()
    def score_batch(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """Next-item logits (len(histories), n_items). An empty history scores all items 0."""
        if self.model.training:
            self.model.eval()
            self._table = None
        out = np.zeros((len(histories), self.n_items), dtype=np.float32)
        idx = [n for n, h in enumerate(histories) if len(h)]
        if idx:
            lengths = torch.as_tensor([min(len(histories[n]), self.config.max_len) for n in idx])
            seqs = _right_pad([histories[n] for n in idx], int(lengths.max()), self.n_items)
            if getattr(self, "_table", None) is None or self.model.training:
                self._table = self.model.item_table()  # fixed after training: computed once, not per call
            table = self._table
            h = self.model(seqs, table)[torch.arange(len(idx)), lengths - 1]
            out[idx] = (h @ table[: self.n_items].T).numpy()
        return out

    def ndcg(self, histories: Sequence[Sequence[int]], targets: Sequence[int], batch: int = 512) -> float:
        return next_item_ndcg(self.score_batch, histories, targets, batch)


def train_next_item(owner: Any, lengths: np.ndarray, batch: Callable[[np.ndarray], tuple[torch.Tensor, ...]],
                    logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], epochs: int | None,
                    valid_histories: Sequence[Sequence[int]] | None, valid_targets: Sequence[int] | None,
                    log: Callable[[str], None], label: str, on_epoch: Callable[[dict], None] | None = None) -> None:
    """The next-item training loop both sequence models share (this module's GRU, transformer.py's SASRec):
    cross-entropy at every kept position, AdamW, batches of similar lengths in random order. With validation rows:
    keep the epoch with the best NDCG@10, stop after `patience` checks without a gain; with `epochs`: exactly that
    many (the refit on train+valid). `owner` has .model, .config, .ndcg, .history, .best_epoch; batch(idx) gives
    (inputs, targets, kept positions) for the sequences at idx; logits(states, item table) scores every item."""
    cfg, model = owner.config, owner.model
    rng = np.random.default_rng(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    step, bad, best, best_state = 0, 0, -1.0, None
    n_epochs = epochs if epochs is not None else cfg.max_epochs
    for epoch in range(1, n_epochs + 1):
        t = time.perf_counter()
        model.train()
        # Length buckets: most sequences are short, so a batch of similar lengths trims most of the padding.
        order = np.argsort(lengths + rng.random(len(lengths)), kind="stable")
        batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        total = 0.0
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            inp, tgt, keep = batch(idx)
            table = model.item_table()
            h = model(inp, table)[keep]
            loss = F.cross_entropy(logits(h, table), tgt[keep])
            for p in params:
                p.grad = None
            loss.backward()
            step += 1
            _adamw_step(params, moments, step, cfg.lr, cfg.weight_decay)
            total += float(loss.detach()) * len(idx)
        rec = {"epoch": epoch, "loss": total / max(len(lengths), 1), "s": time.perf_counter() - t}
        if epochs is None and valid_histories is not None and (epoch % cfg.eval_every == 0 or epoch == n_epochs):
            rec["valid_ndcg@10"] = owner.ndcg(valid_histories, valid_targets)
            if rec["valid_ndcg@10"] > best:
                best, best_state, bad, owner.best_epoch = rec["valid_ndcg@10"], copy.deepcopy(model.state_dict()), 0, epoch
            else:
                bad += 1
        owner.history.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
        log(f"  {label} " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
        if bad >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        owner.best_valid_ndcg = best
    else:
        owner.best_epoch = n_epochs
    model.eval()
    owner._table = None


def next_item_ndcg(score_batch: Callable[[Sequence[Sequence[int]]], np.ndarray], histories: Sequence[Sequence[int]],
                   targets: Sequence[int], batch: int = 512) -> float:
    """NDCG@10 of the next item over all items (a tie counts against the target), in batches of histories."""
    gains = []
    for s in range(0, len(histories), batch):
        sc = score_batch(histories[s:s + batch])
        tg = np.asarray(targets[s:s + batch])
        rank = (sc >= sc[np.arange(len(tg)), tg][:, None]).sum(axis=1)
        gains.append(np.where(rank <= 10, 1.0 / np.log2(rank + 1.0), 0.0))
    return float(np.concatenate(gains).mean()) if gains else 0.0
