"""Training the learned models from expert-labelled data: ``curbside train relevance``.

Reproducible by construction: the examples come from the BioASQ file and the
corpus built from it (:func:`curbside.training.bioasq.build_store`), in a fixed order;
every random draw comes from one seeded generator; the model file records the
seed, the data's digest and the figures measured on the selection split.

Training examples for the relevance model, per question of the training batches
(7B, 8B):

* sentences: every candidate sentence the extractive synthesizer sees for the
  question (the passages retrieval returns, as ``curbside ask`` retrieves them),
  plus the sentences of the question's gold documents.  A sentence that overlaps
  a gold snippet of the question is positive.  BioASQ's judgements are pooled,
  so a sentence that is not marked may still answer: a negative from one of the
  question's own gold documents counts half, and one whose words mostly repeat a
  gold snippet (Jaccard > 0.6) is left out;
* passages: the top :data:`PASSAGE_POOL` retrieved chunks; a chunk that overlaps a
  gold snippet is positive.

The selection batch (9B) chooses the sentence threshold (best F1) and reports
the area under the ROC curve and precision at the threshold; it is never trained on.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from curbside.answer.extractive import MIN_QUALITY
from curbside.answer.scoring import learned_candidates, verdict_evidence
from curbside.answer.sentences import candidate_sentences, stems
from curbside.answer.yesno import question_flags
from curbside.errors import InputError
from curbside.ingestion.chunking import chunk_document, is_title_chunk, split_sentences
from curbside.models.relevance import (
    Head,
    RelevanceModel,
    lexical_features,
    passage_features,
    sentence_features,
)
from curbside.models.verdicts import CUE_NAMES, FEATURE_SETS, VerdictModel, coverage_cues, question_features
from curbside.retrieval.embeddings import Embedder, get_embedder
from curbside.retrieval.evidence import animal_only
from curbside.retrieval.questions import analyse
from curbside.retrieval.retrieve import Retriever
from curbside.retrieval.subject import subject_of, with_word_counts
from curbside.training.bioasq import (
    SELECT_BATCHES,
    TRAIN_BATCHES,
    Dataset,
    Question,
    build_store,
    load,
    overlaps,
)
from curbside.types import SECTION_SEPARATOR, Document, Hit, Query, Section

#: Chunks retrieved per question for the passage head (what the reranker sees).
PASSAGE_POOL: Final = 50
#: Hits per question for the sentence candidates (``curbside ask`` retrieves 2 x k = 24).
SENTENCE_POOL: Final = 24
Log = Callable[[str], None]


@dataclass
class Examples:
    """Feature rows with labels and weights, and the question each came from."""

    x: list[NDArray[np.float32]] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    w: list[float] = field(default_factory=list)
    group: list[str] = field(default_factory=list)

    def arrays(self) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        x = np.vstack(self.x).astype(np.float32) if self.x else np.zeros((0, 0), np.float32)
        return x, np.asarray(self.y, np.float32), np.asarray(self.w, np.float32)


def _label(doc_id: str, part: str, start: int, end: int, question: Question) -> bool:
    return any(s.document_id == doc_id and s.part == part and overlaps(start, end, s) for s in question.spans)


def _gold_sentences(doc: Document) -> list[tuple[str, int, int, str, str]]:
    """(text, start, end, label, part) of every sentence of a document (its title first)."""
    out = [(doc.title, 0, len(doc.title), "", "title")] if doc.title.strip() else []
    at = 0
    for section in doc.sections:
        for s, e in split_sentences(section.text):
            out.append((section.text[s:e], at + s, at + e, section.label, "body"))
        at += len(section.text) + len(SECTION_SEPARATOR)
    return out


#: What the relevance examples' features are made by; the verdict rows depend on these and VERDICT_CODE.
FEATURE_CODE: Final = (
    "models/relevance.py",
    "retrieval/subject.py",
    "answer/sentences.py",
    "data/question_frame.json",
    "data/relevance_features.json",
    "data/sentences.json",
)
VERDICT_CODE: Final = (
    "models/verdicts.py",
    "answer/scoring.py",
    "answer/yesno.py",
    "answer/polarity.py",
    "answer/arms.py",
    "data/comparison.json",
    "data/polarity.json",
    "data/yesno.json",
)


def features_key(embedder: Embedder, code: Sequence[str] = FEATURE_CODE) -> str:
    """A digest of what the examples' features depend on: the feature code, the word lists, the embedder."""
    import curbside

    root = Path(curbside.__file__).parent
    digest = hashlib.sha256(embedder.name.encode())
    for name in code:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:12]


def _cached(path: Path | None) -> tuple[Examples, Examples] | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as f:
            sentences = Examples(list(f["sx"]), list(f["sy"]), list(f["sw"]))
            passages = Examples(list(f["px"]), list(f["py"]), [1.0] * len(f["py"]))
    except (OSError, ValueError, KeyError):
        return None  # a file cut short by a kill: collect the question again
    return sentences, passages


def _save(path: Path | None, sentences: Examples, passages: Examples) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("wb") as fh:
        np.savez(
            fh,
            sx=np.asarray(sentences.x, np.float32).reshape(len(sentences.x), -1),
            sy=np.asarray(sentences.y, np.float32),
            sw=np.asarray(sentences.w, np.float32),
            px=np.asarray(passages.x, np.float32).reshape(len(passages.x), -1),
            py=np.asarray(passages.y, np.float32),
        )
    partial.replace(path)  # whole or absent: a kill never leaves half a file under the real name


def collect(
    questions: Sequence[Question],
    dataset: Dataset,
    retriever: Retriever,
    embedder: Embedder,
    log: Log,
    cache: Path | None = None,
) -> tuple[Examples, Examples]:
    """(sentence examples, passage examples) for ``questions`` (see the module docstring).

    With ``cache``, each question's examples are kept there as they are made, so a
    run that is killed resumes where it stopped (the folder's name should carry
    :func:`features_key`, so that changed features are never read back)."""
    sentences, passages = Examples(), Examples()
    started = time.perf_counter()
    for n, question in enumerate(questions, 1):
        path = cache / f"{hashlib.sha256(question.id.encode()).hexdigest()[:16]}.npz" if cache else None
        done = _cached(path)
        if done is None:
            done = _collect_one(question, dataset, retriever, embedder)
            _save(path, *done)
        for target, part in ((sentences, done[0]), (passages, done[1])):
            target.x += part.x
            target.y += part.y
            target.w += part.w
            target.group += [question.id] * len(part.y)
        if n % 50 == 0 or n == len(questions):
            log(
                f"  {n}/{len(questions)} questions, {len(sentences.y):,} sentences ({time.perf_counter() - started:.0f} s)"
            )
    return sentences, passages


def _collect_one(
    question: Question, dataset: Dataset, retriever: Retriever, embedder: Embedder
) -> tuple[Examples, Examples]:
    """The sentence and passage examples of one question."""
    sentences, passages = Examples(), Examples()
    query = with_word_counts(analyse(question.body), retriever.store)
    subject = subject_of(query)
    hits: list[Hit] = retriever.search(query, PASSAGE_POOL)
    if hits:
        rows = passage_features(query, hits)
        for row, hit in zip(rows, hits, strict=True):
            passages.x.append(row)
            passages.y.append(
                float(_label(hit.document.id, "body", hit.chunk.start, hit.chunk.end, question))
            )
            passages.w.append(1.0)
    seen: set[tuple[str, int, str]] = set()
    items: list[tuple[str, str, int, int, str, str, float, float, bool]] = []
    for c in candidate_sentences(query, hits[:SENTENCE_POOL]):
        seen.add((c.document.id, c.start, c.part))
        position = c.start / max(1, len(c.document.body))
        items.append(
            (
                c.text,
                c.document.id,
                c.start,
                c.end,
                c.label,
                c.part,
                position,
                c.evidence,
                animal_only(c.document),
            )
        )
    for doc_id in question.documents:
        doc = dataset.documents[doc_id]
        for text, start, end, label, part in _gold_sentences(doc):
            if (doc_id, start, part) not in seen:
                items.append(
                    (text, doc_id, start, end, label, part, start / max(1, len(doc.body)), 0.0, False)
                )
    gold_words = [stems(t) for t in question.snippets]
    kept = []
    for item in items:
        text, doc_id, start, end, label, part = item[:6]
        positive = _label(doc_id, part, start, end, question)
        weight = 1.0
        if not positive:
            words = stems(text)
            if any(len(words & g) / max(1, len(words | g)) > 0.6 for g in gold_words):
                continue  # repeats a gold snippet: probably relevant, only not marked
            if doc_id in question.documents:
                weight = 0.5  # a gold document's other sentences: pooled judgements may miss some
        kept.append((item, positive, weight))
    if kept:
        lexical = np.asarray(
            [
                lexical_features(
                    query,
                    subject,
                    it[0],
                    label=it[4],
                    part=it[5],
                    position=it[6],
                    evidence=it[7],
                    animal=it[8],
                )
                for it, _, _ in kept
            ],
            dtype=np.float32,
        )
        vectors = embedder.embed([question.body, *(it[0] for it, _, _ in kept)])
        rows = sentence_features(vectors[0], vectors[1:], lexical)
        for row, (_, positive, weight) in zip(rows, kept, strict=True):
            sentences.x.append(row)
            sentences.y.append(float(positive))
            sentences.w.append(weight)
    return sentences, passages


def fit(
    x: NDArray[np.float32],
    y: NDArray[np.float32],
    w: NDArray[np.float32],
    *,
    hidden: int = 32,
    epochs: int = 30,
    seed: int = 13,
    l2: float = 1e-4,
    rate: float = 1e-3,
) -> Head:
    """A one-hidden-layer perceptron fitted by Adam on weighted cross-entropy (numpy only)."""
    if x.shape[0] == 0 or len(set(y.tolist())) < 2:
        raise InputError("training needs both relevant and irrelevant examples")
    rng = np.random.default_rng(seed)
    mean, scale = _scaling(x)
    z = ((x - mean) / scale).astype(np.float32)
    d = z.shape[1]
    params = {
        "w1": rng.normal(0, math.sqrt(2 / d), (d, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0, math.sqrt(1 / hidden), (hidden, 1)).astype(np.float32),
        "b2": np.zeros(1, np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    # Positives are rare: weigh them up to balance the classes in the loss.
    balance = np.where(y > 0, (y == 0).sum() / max(1, (y > 0).sum()), 1.0).astype(np.float32)
    weight = w * balance
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(order), 256):
            idx = order[start : start + 256]
            xb, yb, wb = z[idx], y[idx], weight[idx]
            h_pre = xb @ params["w1"] + params["b1"]
            h = np.maximum(h_pre, 0)
            logit = (h @ params["w2"] + params["b2"]).ravel()
            p = 1 / (1 + np.exp(-np.clip(logit, -30, 30)))
            g_logit = (wb * (p - yb) / wb.sum())[:, None].astype(np.float32)
            grads = {
                "w2": h.T @ g_logit + l2 * params["w2"],
                "b2": g_logit.sum(axis=0),
            }
            g_h = (g_logit @ params["w2"].T) * (h_pre > 0)
            grads["w1"] = xb.T @ g_h + l2 * params["w1"]
            grads["b1"] = g_h.sum(axis=0)
            step += 1
            for k, g in grads.items():
                m, v = moments[k]
                m[...] = 0.9 * m + 0.1 * g
                v[...] = 0.999 * v + 0.001 * g * g
                m_hat = m / (1 - 0.9**step)
                v_hat = v / (1 - 0.999**step)
                params[k] -= (rate * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)
    return Head(
        mean.astype(np.float32),
        scale.astype(np.float32),
        params["w1"],
        params["b1"],
        params["w2"],
        params["b2"],
    )


#: Weight penalties tried for each head, the one with the best 9B AUC kept: 768 vector products
#: from a few thousand positives overfit with a light penalty (9B sentence AUC 0.879 at 1e-4).
L2_GRID: Final = (1e-3, 3e-3, 1e-2, 3e-2)


def _select_l2(
    x: NDArray[np.float32],
    y: NDArray[np.float32],
    w: NDArray[np.float32],
    vx: NDArray[np.float32],
    vy: NDArray[np.float32],
    hidden: int,
    epochs: int,
    seed: int,
    say: Log,
    what: str,
) -> tuple[Head, float, NDArray[np.float32]]:
    """The head of :data:`L2_GRID` with the best selection AUC, its penalty and its selection scores."""
    best: tuple[float, Head, float, NDArray[np.float32]] | None = None
    for l2 in L2_GRID:
        head = fit(x, y, w, hidden=hidden, epochs=epochs, seed=seed, l2=l2)
        scores = head.predict(vx)
        area = auc(scores, vy) if 0 < vy.sum() < len(vy) else 0.5
        say(f"  {what} head, L2 {l2:g}: 9B AUC {area:.4f}")
        if best is None or area > best[0]:
            best = (area, head, l2, scores)
    assert best is not None
    return best[1], best[2], best[3]


def auc(scores: NDArray[np.float32], labels: NDArray[np.float32]) -> float:
    """Area under the ROC curve (the chance a relevant example outscores an irrelevant one)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels > 0
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def best_threshold(scores: NDArray[np.float32], labels: NDArray[np.float32]) -> tuple[float, float, float]:
    """``(threshold, precision, f1)`` with the best F1 over the scores seen."""
    best = (0.5, 0.0, 0.0)
    for t in np.unique(np.round(scores, 3)):
        chosen = scores >= t
        tp = float((chosen & (labels > 0)).sum())
        if not tp:
            continue
        precision, recall = tp / chosen.sum(), tp / (labels > 0).sum()
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best[2]:
            best = (float(t), precision, f1)
    return best


def train_relevance(
    questions_path: Path,
    work: Path,
    distractors: Sequence[Path] = (),
    *,
    seed: int = 13,
    hidden: int = 32,
    epochs: int = 30,
    log: Log | None = None,
    settings_override: dict[str, Any] | None = None,
) -> RelevanceModel:
    """Build the corpus (cached in ``work``), collect examples, fit both heads, pick the threshold on 9B."""
    say = log or (lambda _m: None)
    dataset = load(questions_path)
    store, settings = build_store(dataset, work / "corpus", distractors, log=say)
    try:
        settings = settings.model_copy(update={"relevance_model": "none", **(settings_override or {})})
        embedder = get_embedder(settings.embedder, settings)
        from curbside.api import make_retriever

        retriever = make_retriever(settings, store)
        train = dataset.split(TRAIN_BATCHES)
        select = dataset.split(SELECT_BATCHES)
        say(f"collecting examples: {len(train)} training and {len(select)} selection questions")
        cache = work / f"examples-{features_key(embedder)}"
        train_s, train_p = collect(train, dataset, retriever, embedder, say, cache)
        select_s, select_p = collect(select, dataset, retriever, embedder, say, cache)
    finally:
        store.close()
    xs, ys, ws = train_s.arrays()
    xp, yp, wp = train_p.arrays()
    say(
        f"fitting: {len(ys):,} sentences ({int(ys.sum()):,} relevant), {len(yp):,} passages ({int(yp.sum()):,} relevant)"
    )
    vs, vys, _ = select_s.arrays()
    vp, vyp, _ = select_p.arrays()
    sentence, s_l2, s_scores = _select_l2(xs, ys, ws, vs, vys, hidden, epochs, seed, say, "sentence")
    passage, p_l2, p_scores = _select_l2(xp, yp, wp, vp, vyp, hidden, epochs, seed, say, "passage")
    threshold, precision, f1 = best_threshold(s_scores, vys)
    digest = hashlib.sha256(questions_path.read_bytes()).hexdigest()[:16]
    info = {
        "version": f"{time.strftime('%Y%m%d')}-{digest[:6]}",
        "seed": seed,
        "hidden": hidden,
        "epochs": epochs,
        "sentence_l2": s_l2,
        "passage_l2": p_l2,
        "data_sha256": digest,
        "trained_on": list(TRAIN_BATCHES),
        "selected_on": list(SELECT_BATCHES),
        "train_sentences": len(ys),
        "train_passages": len(yp),
        "select_sentence_auc": round(auc(s_scores, vys), 4),
        "select_passage_auc": round(auc(p_scores, vyp), 4),
        "select_precision_at_threshold": round(precision, 4),
        "select_f1_at_threshold": round(f1, 4),
        "embedder": embedder.name,
    }
    say(
        f"selection (9B): sentence AUC {info['select_sentence_auc']}, passage AUC {info['select_passage_auc']}, "
        f"threshold {threshold:.3f} (precision {precision:.3f}, F1 {f1:.3f})"
    )
    return RelevanceModel(sentence, passage, threshold, info)


# --------------------------------------------------------------------------------------------------
# the verdict model


def pubmedqa_documents(path: Path) -> list[tuple[Document, str, str]]:
    """``(document, question, final_decision)`` of every PubMedQA entry: its abstract as labelled sections."""
    records: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for pmid, rec in records.items():
        contexts = list(rec["CONTEXTS"])
        labels = list(rec.get("LABELS") or [])
        sections = tuple(
            Section(text, labels[i] if i < len(labels) else "") for i, text in enumerate(contexts)
        )
        doc = Document(id=f"pmid:{pmid}", title="", sections=sections, identifiers={"pmid": pmid})
        out.append((doc, " ".join(rec["QUESTION"].split()), rec["final_decision"]))
    return out


def _verdict_row(
    query: Query,
    hits: Sequence[Hit],
    relevance: RelevanceModel,
    embedder: Embedder,
) -> NDArray[np.float32]:
    """The verdict features of one question, by the same path ``curbside ask`` takes."""
    hits = [h for h in hits if not is_title_chunk(h.chunk)]
    candidates = learned_candidates(query, candidate_sentences(query, hits), relevance, embedder)
    usable = [
        c for c in candidates if c.relevance >= relevance.sentence_threshold and c.quality >= MIN_QUALITY
    ]
    evidence = verdict_evidence(query, hits, usable, relevance, embedder)
    coverage = coverage_cues(subject_of(query), evidence)
    return question_features(query, evidence, embedder, question_flags(query), coverage)


def _verdict_rows(
    items: Sequence[tuple[str, Callable[[], NDArray[np.float32]]]],
    cache: Path,
    log: Log,
    what: str,
) -> list[NDArray[np.float32]]:
    """The feature rows of ``items`` (``(id, make_row)``), each kept in ``cache`` once made, so a
    killed ``curbside train verdict`` resumes where it stopped."""
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    started = time.perf_counter()
    for n, (item_id, make) in enumerate(items, 1):
        path = cache / f"{hashlib.sha256(item_id.encode()).hexdigest()[:16]}.npy"
        row: NDArray[np.float32] | None = None
        if path.is_file():
            try:
                row = np.load(path, allow_pickle=False).astype(np.float32)
            except (OSError, ValueError):
                row = None  # cut short by a kill: make it again
        if row is None:
            row = make()
            partial = path.with_suffix(".part")
            with partial.open("wb") as fh:
                np.save(fh, row)
            partial.replace(path)
        rows.append(row)
        if n % 100 == 0 or n == len(items):
            log(f"  {what}: {n}/{len(items)} ({time.perf_counter() - started:.0f} s)")
    return rows


def fit_logistic(
    x: NDArray[np.float32], y: NDArray[np.float32], *, l2: float, steps: int = 2000
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], float]:
    """``(mean, scale, weights, bias)`` of an L2-regularised logistic regression (full-batch gradient descent)."""
    mean, scale = _scaling(x)
    z = ((x - mean) / scale).astype(np.float64)
    weights = np.zeros(z.shape[1], np.float64)
    bias = 0.0
    rate = 0.1 / (1 + l2 / len(y))  # a strong penalty on few examples must not make the steps diverge
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(z @ weights + bias, -30, 30)))
        grad_w = z.T @ (p - y) / len(y) + l2 * weights / len(y)
        grad_b = float((p - y).mean())
        weights = weights - rate * grad_w
        bias -= rate * grad_b
    return mean, scale, weights.astype(np.float32), bias


def _scaling(x: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-feature mean and scale; a feature that barely varies is left unscaled, not blown up."""
    std = x.std(axis=0)
    return x.mean(axis=0).astype(np.float32), np.where(std < 1e-4, 1.0, std).astype(np.float32)


def train_verdict(
    questions_path: Path,
    pubmedqa_path: Path | None,
    work: Path,
    distractors: Sequence[Path] = (),
    *,
    relevance: RelevanceModel,
    seed: int = 13,
    folds: int = 5,
    log: Log | None = None,
) -> tuple[VerdictModel, dict[str, Any]]:
    """Fit the verdict model on BioASQ 7B-8B yes/no questions plus PubMedQA; pick L2 on 9B.

    Returns the model and its report: 9B accuracy beside always-yes, and PubMedQA
    accuracy by ``folds``-fold cross-validation (each fold predicted by a model that
    never saw it), counting "maybe" questions as missed (the model answers yes or no).
    """
    say = log or (lambda _m: None)
    dataset = load(questions_path)
    store, settings = build_store(dataset, work / "corpus", distractors, log=say)
    try:
        embedder = get_embedder(settings.embedder, settings)
        from curbside.api import make_retriever

        retriever = make_retriever(settings.model_copy(update={"relevance_model": "none"}), store)
        key = hashlib.sha256(
            f"{features_key(embedder, (*FEATURE_CODE, *VERDICT_CODE))}:"
            f"{json.dumps(relevance.info, sort_keys=True)}:{relevance.sentence_threshold}".encode()
        ).hexdigest()[:12]
        cache = work / f"verdict-{key}"
        labelled: dict[str, list[float]] = {}
        rows: dict[str, list[NDArray[np.float32]]] = {}
        for split, batches in (("train", TRAIN_BATCHES), ("select", SELECT_BATCHES)):
            questions = [q for q in dataset.split(batches) if q.yes is not None]
            say(f"verdict evidence for {len(questions)} {split} yes/no questions")

            def make(q: Question) -> Callable[[], NDArray[np.float32]]:
                def row() -> NDArray[np.float32]:
                    query = with_word_counts(analyse(q.body), store)
                    hits = retriever.search(query, SENTENCE_POOL)
                    return _verdict_row(query, hits, relevance, embedder)

                return row

            rows[split] = _verdict_rows([(q.id, make(q)) for q in questions], cache, say, split)
            labelled[split] = [float(bool(q.yes)) for q in questions]
    finally:
        store.close()
    pubmed: list[tuple[NDArray[np.float32], str]] = []
    if pubmedqa_path is not None:
        entries = pubmedqa_documents(pubmedqa_path)
        say(f"verdict evidence for {len(entries)} PubMedQA questions")

        def make_pubmed(doc: Document, question: str) -> Callable[[], NDArray[np.float32]]:
            def row() -> NDArray[np.float32]:
                hits = [Hit(chunk, doc, 1.0) for chunk in chunk_document(doc)]
                return _verdict_row(analyse(question), hits, relevance, embedder)

            return row

        pubmed_rows = _verdict_rows(
            [(f"pubmedqa:{doc.id}", make_pubmed(doc, question)) for doc, question, _ in entries],
            cache,
            say,
            "PubMedQA",
        )
        pubmed = [(x, decision) for x, (_, _, decision) in zip(pubmed_rows, entries, strict=True)]
    pubmed_yn = [(x, float(d == "yes")) for x, d in pubmed if d in ("yes", "no")]
    cues = len(CUE_NAMES)

    def columns(x: NDArray[np.float32], feature_set: str) -> NDArray[np.float32]:
        return x[:, -cues:] if feature_set == "cues" else x

    xt_all = np.vstack(rows["train"] + [x for x, _ in pubmed_yn])
    yt = np.asarray(labelled["train"] + [y for _, y in pubmed_yn], np.float32)
    xs_all = np.vstack(rows["select"])
    ys = np.asarray(labelled["select"], np.float32)
    # (accuracy, prefer the smaller feature set on a tie, l2, feature set)
    best: tuple[float, int, float, str] = (-1.0, 0, 1.0, "cues")
    for feature_set in FEATURE_SETS:
        xt, xs = columns(xt_all, feature_set), columns(xs_all, feature_set)
        for l2 in (1.0, 10.0, 100.0, 1000.0):
            mean, scale, weights, bias = fit_logistic(xt, yt, l2=l2)
            p = 1 / (1 + np.exp(-(((xs - mean) / scale) @ weights + bias)))
            accuracy = float(((p >= 0.5) == (ys > 0)).mean())
            say(f"  {feature_set}, L2 {l2:g}: 9B accuracy {accuracy:.3f}")
            candidate = (accuracy, -FEATURE_SETS.index(feature_set), l2, feature_set)
            if candidate[:2] > best[:2]:
                best = candidate
    accuracy, _, l2, feature_set = best
    mean, scale, weights, bias = fit_logistic(columns(xt_all, feature_set), yt, l2=l2)
    report: dict[str, Any] = {
        "select_questions": len(ys),
        "select_accuracy": round(accuracy, 4),
        "select_always_yes": round(float(ys.mean()), 4),
        "l2": l2,
        "feature_set": feature_set,
    }
    if pubmed:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(pubmed))
        correct = 0
        bio_x = [columns(x[None, :], feature_set) for x in rows["train"]]
        bio_y = labelled["train"]
        for fold in range(folds):
            held = set(order[fold::folds].tolist())
            train_rows = [
                (columns(x[None, :], feature_set), float(d == "yes"))
                for i, (x, d) in enumerate(pubmed)
                if i not in held and d in ("yes", "no")
            ]
            fx = np.vstack(bio_x + [x for x, _ in train_rows])
            fy = np.asarray(bio_y + [y for _, y in train_rows], np.float32)
            m, s, w, b = fit_logistic(fx, fy, l2=l2)
            for i in held:
                x, decision = pubmed[i]
                x = columns(x[None, :], feature_set)[0]
                p_yes = float(1 / (1 + np.exp(-(((x - m) / s) @ w + b))))
                correct += ("yes" if p_yes >= 0.5 else "no") == decision
        report.update(
            pubmedqa_cv_accuracy=round(correct / len(pubmed), 4),
            pubmedqa_majority=round(
                max(sum(d == c for _, d in pubmed) for c in ("yes", "no", "maybe")) / len(pubmed), 4
            ),
            pubmedqa_questions=len(pubmed),
        )
    info = {
        "version": time.strftime("%Y%m%d"),
        "seed": seed,
        "trained_on": [*TRAIN_BATCHES, *(["pubmedqa"] if pubmed else [])],
        "selected_on": list(SELECT_BATCHES),
        "embedder": embedder.name,
        "relevance_model": relevance.name,
        **report,
    }
    say(f"verdict model: {report}")
    return VerdictModel(mean, scale, weights, bias, 0.5, info), report
