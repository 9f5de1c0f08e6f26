"""BioASQ Task B expert questions as curbside data: questions, rebuilt gold documents, gold spans.

The shared file (``../shared/data/bioasq/bioasq_taskb_7b-9b_dev.json``) holds each
question's gold PubMed documents as URLs and, of their text, only the *snippets*
the experts marked.  A gold document is rebuilt from every snippet any question
marked in it: its title snippet as the title, and its abstract snippets in order
of their offsets, overlapping ones joined where their words overlap, the gaps
between them shown as " … ".  Offsets alone cannot be trusted (666 of 13,664
snippets disagree with their own length, and 1,256 documents have snippets that
disagree where they overlap), so every gold span is found again by its text in
the rebuilt document.

Used by ``bench/bioasq.py`` (the answer benchmark) and ``curbside train`` (the
relevance and verdict models): train on batches 7B and 8B, select on 9B.  The
data is read where it lies and never copied into the project.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from curbside.errors import InputError
from curbside.types import Document, Section

RELATIVE_PATH: Final = Path("bioasq") / "bioasq_taskb_7b-9b_dev.json"
GAP: Final = " … "
TRAIN_BATCHES: Final = ("7B", "8B")
SELECT_BATCHES: Final = ("9B",)
_PMID = re.compile(r"(\d+)\s*$")


@dataclass(frozen=True)
class GoldSpan:
    """Where a gold snippet lies in the rebuilt document: ``part`` "title" or "body", offsets into it."""

    document_id: str
    part: str
    start: int
    end: int


@dataclass(frozen=True)
class Question:
    id: str
    body: str
    type: str  # factoid, list, summary, yesno
    batch: str  # "7B1" ...
    documents: tuple[str, ...]  # "pmid:N" of every gold document with text
    spans: tuple[GoldSpan, ...]
    exact_answer: Any
    ideal_answer: tuple[str, ...]
    snippets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def split(self) -> str:
        return self.batch[:2]

    @property
    def yes(self) -> bool | None:
        """The gold yes/no answer (None for other question types)."""
        if self.type != "yesno" or not isinstance(self.exact_answer, str):
            return None
        return self.exact_answer.strip().lower() == "yes"


@dataclass(frozen=True)
class Dataset:
    questions: tuple[Question, ...]
    documents: dict[str, Document]
    dropped_documents: int  # gold documents without any snippet text: in no corpus, in no qrels

    def split(self, batches: Sequence[str]) -> list[Question]:
        return [q for q in self.questions if q.batch[:2] in batches]


def doc_id(url: str) -> str:
    match = _PMID.search(url)
    if not match:
        raise InputError(f"BioASQ document {url!r} does not end in a PubMed id")
    return f"pmid:{match.group(1)}"


def merge_snippets(texts: Iterable[tuple[int, str]]) -> str:
    """Abstract snippets, ordered by offset, joined: overlapping words merged, gaps marked."""
    out = ""
    for _, text in sorted(set(texts), key=lambda item: (item[0], -len(item[1]))):
        text = text.strip()
        if not text or text in out:
            continue
        if not out:
            out = text
            continue
        # The longest end of what we have that starts this snippet (an overlap by words).
        overlap = next((n for n in range(min(len(out), len(text)) - 1, 8, -1) if out.endswith(text[:n])), 0)
        out = out + text[overlap:] if overlap else out + GAP + text
    return out


def load(path: Path) -> Dataset:
    """Read the shared BioASQ file and rebuild its gold documents (see the module docstring)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the BioASQ questions: {exc}") from exc
    items: list[dict[str, Any]] = raw["questions"] if isinstance(raw, dict) else raw
    titles: dict[str, str] = {}
    abstracts: dict[str, list[tuple[int, str]]] = {}
    for item in items:
        for s in item.get("snippets", []):
            did = doc_id(s["document"])
            if s.get("beginSection") == "title":
                titles[did] = max(titles.get(did, ""), s["text"].strip(), key=len)
            else:
                abstracts.setdefault(did, []).append((int(s.get("offsetInBeginSection", 0)), s["text"]))
    documents: dict[str, Document] = {}
    for did in sorted(set(titles) | set(abstracts)):
        body = merge_snippets(abstracts.get(did, []))
        documents[did] = Document(
            id=did,
            title=titles.get(did, ""),
            sections=(Section(body, ""),) if body else (),
            identifiers={"pmid": did.split(":", 1)[1]},
            source="bioasq",
        )
    gold = {doc_id(url) for item in items for url in item.get("documents", [])}
    questions = []
    for item in items:
        spans = []
        for s in item.get("snippets", []):
            doc = documents.get(doc_id(s["document"]))
            if doc is None:
                continue
            part = "title" if s.get("beginSection") == "title" else "body"
            text = doc.title if part == "title" else doc.body
            at = text.find(s["text"].strip())
            if at >= 0:
                spans.append(GoldSpan(doc.id, part, at, at + len(s["text"].strip())))
        ideal = item.get("ideal_answer") or []
        questions.append(
            Question(
                id=item["id"],
                body=" ".join(item["body"].split()),
                type=item["type"],
                batch=item.get("batch", ""),
                documents=tuple(sorted({doc_id(u) for u in item.get("documents", [])} & set(documents))),
                spans=tuple(spans),
                exact_answer=item.get("exact_answer"),
                ideal_answer=tuple(ideal if isinstance(ideal, list) else [ideal]),
                snippets=tuple(s["text"] for s in item.get("snippets", [])),
            )
        )
    return Dataset(tuple(questions), documents, len(gold - set(documents)))


def overlaps(start: int, end: int, span: GoldSpan) -> bool:
    """Whether ``[start, end)`` shares at least one character with ``span``."""
    return start < span.end and span.start < end


# --------------------------------------------------------------------------------------------------
# judging an answer against a question's gold


_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def rouge(candidate: str, reference: str, n: int = 2) -> float:
    """ROUGE-n F1 (lower-cased word n-grams, no stemming); 0.0 when either side has none."""
    cand, ref = _tokens(candidate), _tokens(reference)
    grams_c = [tuple(cand[i : i + n]) for i in range(len(cand) - n + 1)]
    grams_r = [tuple(ref[i : i + n]) for i in range(len(ref) - n + 1)]
    if not grams_c or not grams_r:
        return 0.0
    counts: dict[tuple[str, ...], int] = {}
    for g in grams_r:
        counts[g] = counts.get(g, 0) + 1
    hit = 0
    for g in grams_c:
        if counts.get(g, 0) > 0:
            counts[g] -= 1
            hit += 1
    if not hit:
        return 0.0
    precision, recall = hit / len(grams_c), hit / len(grams_r)
    return 2 * precision * recall / (precision + recall)


def claim_is_relevant(citations: Iterable[Any], question: Question) -> bool:
    """Whether any citation's span shares text with one of the question's gold snippets."""
    return any(
        overlaps(c.start, c.end, span)
        for c in citations
        for span in question.spans
        if span.document_id == c.document_id and span.part == c.part
    )


def answer_scores(article: Any, question: Question) -> dict[str, float | None]:
    """Scores of one article (a :class:`curbside.types.Article`) against the question's gold.

    ``claim_relevance``: share of claims whose cited span overlaps a gold snippet;
    ``snippet_recall``: share of gold snippets some citation overlaps;
    ``gold_cited``: 1 if a gold document is cited; ``first_relevant``: the first
    bottom-line claim's relevance (None without one); ``rouge2``: ROUGE-2 F1 of
    the bottom line against the ideal answer; ``rouge2_all``: of every claim.
    """
    claims = list(article.all_claims())
    relevant = [claim_is_relevant(c.citations, question) for c in claims]
    cited = [cit for c in claims for cit in c.citations]
    covered = sum(
        1
        for span in question.spans
        if any(
            c.document_id == span.document_id and c.part == span.part and overlaps(c.start, c.end, span)
            for c in cited
        )
    )
    ideal = " ".join(question.ideal_answer)
    bottom = " ".join(c.text for c in article.bottom_line)
    return {
        "claims": float(len(claims)),
        "claim_relevance": sum(relevant) / len(claims) if claims else None,
        "snippet_recall": covered / len(question.spans) if question.spans else None,
        "gold_cited": float(any(c.document_id in question.documents for c in cited)),
        "first_relevant": float(claim_is_relevant(article.bottom_line[0].citations, question))
        if article.bottom_line
        else None,
        "rouge2": rouge(bottom, ideal) if ideal else None,
        "rouge2_all": rouge(" ".join(c.text for c in claims), ideal) if ideal else None,
    }


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (round(centre - half, 4), round(centre + half, 4))


# --------------------------------------------------------------------------------------------------
# the corpus the benchmark and the training read


def build_store(
    dataset: Dataset,
    folder: Path,
    distractors: Sequence[Path] = (),
    *,
    embed: bool = True,
    log: Any = None,
) -> tuple[Any, Any]:
    """A SQLite store in ``folder`` of the rebuilt gold documents plus ``distractors`` (MEDLINE files).

    Built once (a marker file records it), then embedded resumably with the default
    embedder when ``embed``.  Returns ``(store, settings)``; the caller closes the store.
    """
    from curbside import api
    from curbside.config import Settings
    from curbside.ingestion.run import ingest_paths
    from curbside.retrieval.embeddings import get_embedder
    from curbside.store.sqlite import SQLiteStore

    say = log or (lambda _message: None)
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(db=str(folder / "store.db"), data_dir=folder / "data", cache_dir=folder / "cache")
    store = SQLiteStore(folder / "store.db")
    if not (folder / "ingested").exists():
        gold = folder / "gold.jsonl"
        with gold.open("w", encoding="utf-8") as fh:
            for doc in dataset.documents.values():
                fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
        say(
            f"ingesting {len(dataset.documents):,} rebuilt gold documents and {len(distractors)} distractor files"
        )
        report = ingest_paths(store, [*map(str, distractors), str(gold)], settings)
        if report.failed:
            raise InputError(f"ingest failed: {[i.error for i in report.failed]}")
        (folder / "ingested").write_text("ok")
    if embed:
        embedder = get_embedder(settings.embedder, settings)
        remaining = store.vector_coverage(embedder.name).remaining
        if remaining:
            say(f"embedding {remaining:,} chunks (resumable)")
            api.index(store=store, settings=settings, embedder=embedder)
    return store, settings
