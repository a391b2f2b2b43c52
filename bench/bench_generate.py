"""Reply-generation speed of the local backend: time to first token, per-stream decode speed and total throughput.

Random-init models built from inline configs (speed depends on shapes, not weight values), bf16 on CUDA, a 512-token
prompt and 128 new tokens per session, through `LocalLMBackend.generate_ids` (the code path the app serves with):

    python bench/bench_generate.py --device cuda --arch qwen2.5-0.5b smollm2-135m --batch 1 16 32
    python bench/bench_generate.py --device cpu --tiny                  # small configs, a few tokens: CPU smoke run
    python bench/bench_generate.py --dry-run                            # only build the full-size configs

Modes (--modes): "plain" is model.generate() with the default dynamic KV cache (baseline: 38-44 tok/s per stream on
an H100 at batch 1); "static" is a static KV cache with the decode step compiled by torch.compile (mode
"reduce-overhead": CUDA graphs; transformers' `cache_implementation="static"` + `CompileConfig`). A batch of B means B
concurrent sessions served as one batch. Targets: >= 400 tok/s per stream at batch 1, >= 8,000 tok/s total at 32.

Columns: ttft_ms is prefill + first token (generate with max_new_tokens=1); decode_tok_s is per-stream tokens/s
after the first token, (new_tokens - 1) / (t_total - ttft); total_tok_s is batch * new_tokens / t_total.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig, Qwen2Config  # noqa: E402

from assistant.reply.backends import LocalLMBackend  # noqa: E402


def arch_config(arch: str, tiny: bool = False):
    """The architecture's real shapes, or a tiny config of the same class for CPU smoke runs."""
    if arch == "qwen2.5-0.5b":
        if tiny:
            return Qwen2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                               intermediate_size=128, vocab_size=1024, tie_word_embeddings=True,
                               max_position_embeddings=1024)
        return Qwen2Config(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                           intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True,
                           max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6)
    if arch == "smollm2-135m":
        if tiny:
            return LlamaConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1,
                               intermediate_size=96, vocab_size=1024, tie_word_embeddings=True,
                               max_position_embeddings=1024)
        return LlamaConfig(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                           intermediate_size=1536, vocab_size=49152, tie_word_embeddings=True,
                           max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5)
    raise ValueError(f"unknown arch {arch!r}; expected qwen2.5-0.5b or smollm2-135m")


def build_model(arch: str, device: str, tiny: bool, dtype: torch.dtype):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(arch_config(arch, tiny), dtype=dtype).to(device).eval()
    # No EOS: random weights would stop at arbitrary points, and every session must produce the same token count.
    model.generation_config = GenerationConfig(pad_token_id=0, eos_token_id=None, bos_token_id=None)
    return model


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(backend: LocalLMBackend, ids: torch.Tensor, mask: torch.Tensor, new_tokens: int, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    out = backend.generate_ids(ids, mask, new_tokens, min_new_tokens=new_tokens)
    _sync(device)
    elapsed = time.perf_counter() - start
    if out.shape[1] != new_tokens:
        raise RuntimeError(f"expected {new_tokens} new tokens, got {out.shape[1]}")
    return elapsed


def run_case(model, arch: str, mode: str, batch: int, prompt_len: int, new_tokens: int, device: str,
             warmup: int, repeats: int, compile_backend: str) -> dict:
    backend = LocalLMBackend.from_objects(model, None, compile=(mode == "static"), compile_backend=compile_backend,
                                          max_new_tokens=new_tokens, repetition_penalty=1.0)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(batch)
    ids = torch.randint(3, vocab, (batch, prompt_len), generator=gen)
    mask = torch.ones_like(ids)
    # Compilation and CUDA-graph recording happen in the warm-up calls, never in the timed ones.
    for _ in range(warmup):
        _timed(backend, ids, mask, new_tokens, device)
        _timed(backend, ids, mask, 1, device)
    ttft = statistics.median(_timed(backend, ids, mask, 1, device) for _ in range(repeats))
    total = statistics.median(_timed(backend, ids, mask, new_tokens, device) for _ in range(repeats))
    decode = (new_tokens - 1) / max(total - ttft, 1e-9)
    return {"arch": arch, "mode": mode, "batch": batch, "prompt": prompt_len, "new_tokens": new_tokens,
            "ttft_ms": round(ttft * 1000, 2), "total_s": round(total, 4), "decode_tok_s": round(decode, 1),
            "stream_tok_s": round(new_tokens / total, 1), "total_tok_s": round(batch * new_tokens / total, 1)}


def dry_run(archs: list[str]) -> list[dict]:
    rows = []
    for arch in archs:
        config = arch_config(arch)
        with torch.device("meta"):  # shapes only: the full-size models are never allocated here
            model = AutoModelForCausalLM.from_config(config)
        params = sum(p.numel() for p in model.parameters())
        rows.append({"arch": arch, "class": type(model).__name__, "params_m": round(params / 1e6, 1)})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--arch", nargs="+", default=["qwen2.5-0.5b", "smollm2-135m"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 16, 32])
    ap.add_argument("--modes", nargs="+", default=["plain", "static"], choices=["plain", "static"])
    ap.add_argument("--prompt-len", type=int, default=None, help="default 512 (32 with --tiny)")
    ap.add_argument("--new-tokens", type=int, default=None, help="default 128 (6 with --tiny)")
    ap.add_argument("--warmup", type=int, default=None, help="default 3 (1 with --tiny)")
    ap.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --tiny)")
    ap.add_argument("--compile-backend", default="inductor",
                    help="torch.compile backend for the static mode; 'eager' traces the graph without codegen (fast "
                         "CPU checks)")
    ap.add_argument("--tiny", action="store_true", help="tiny configs of the same architectures (CPU smoke run)")
    ap.add_argument("--dry-run", action="store_true", help="build the full-size configs on the meta device and stop")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)

    if args.dry_run:
        rows = dry_run(args.arch)
    else:
        dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
        prompt_len = args.prompt_len or (32 if args.tiny else 512)
        new_tokens = args.new_tokens or (6 if args.tiny else 128)
        warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
        repeats = args.repeats or (1 if args.tiny else 3)
        rows = []
        for arch in args.arch:
            model = build_model(arch, args.device, args.tiny, dtype)
            for mode in args.modes:
                for batch in args.batch:
                    row = run_case(model, arch, mode, batch, prompt_len, new_tokens, args.device, warmup, repeats,
                                   args.compile_backend)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            del model
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
        device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
        print(f"\n{device_name}, dtype {dtype}, prompt {prompt_len}, {new_tokens} new tokens")
        print(f"{'arch':14} {'mode':7} {'batch':>5} {'ttft_ms':>9} {'decode tok/s/stream':>20} {'total tok/s':>12}")
        for r in rows:
            print(f"{r['arch']:14} {r['mode']:7} {r['batch']:5d} {r['ttft_ms']:9.1f} {r['decode_tok_s']:20.1f} "
                  f"{r['total_tok_s']:12.1f}")
    if args.dry_run:
        for r in rows:
            print(json.dumps(r))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
