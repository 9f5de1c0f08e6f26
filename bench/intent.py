"""Benchmark: question intents (curbside.retrieval.intent) on hand-labelled questions, beside a majority baseline.

Two labelled sets, each with a BioASQ part (ids; the question text is read from the
shared data) and a clinician-style part:

* ``dev``: tests/fixtures/question_intents.json, 240 BioASQ + 60 clinical; the rules
  were adjusted once after seeing its errors, so its figures are optimistic;
* ``held-out``: bench/data/question_intents_heldout.json, 120 BioASQ + 40 clinical,
  labelled blind to the rules, the clinical ones in colloquial ward phrasing.

Prints a table and a JSON line with accuracy per part, the majority-class baseline,
and the commonest confusions.

    .venv/bin/python bench/intent.py
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from curbside.config import shared_data_dir
from curbside.retrieval.intent import intent_of

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "dev": ROOT / "tests" / "fixtures" / "question_intents.json",
    "held-out": ROOT / "bench" / "data" / "question_intents_heldout.json",
}


def main() -> int:
    shared = shared_data_dir()
    if shared is None:
        print("shared data not found: set CURBSIDE_SHARED_DATA", file=sys.stderr)
        return 2
    raw = json.loads((shared / "bioasq" / "bioasq_taskb_7b-9b_dev.json").read_text("utf-8"))
    body = {q["id"]: q["body"] for q in (raw["questions"] if isinstance(raw, dict) else raw)}
    report: dict[str, dict[str, object]] = {}
    print(f"{'set':10} {'part':9} {'n':>4} {'accuracy':>9} {'majority':>9}")
    for name, path in SETS.items():
        labels = json.loads(path.read_text("utf-8"))
        parts = {
            "bioasq": [(body[i], gold) for i, gold in labels["bioasq"].items() if i in body],
            "clinical": [(c["question"], c["type"]) for c in labels["clinical"]],
        }
        for part, items in parts.items():
            got = [intent_of(text) for text, _ in items]
            right = sum(g == gold for g, (_, gold) in zip(got, items, strict=True))
            majority = Counter(gold for _, gold in items).most_common(1)[0][1] / len(items)
            confusions = Counter((gold, g) for g, (_, gold) in zip(got, items, strict=True) if g != gold)
            report[f"{name}/{part}"] = {
                "n": len(items),
                "accuracy": round(right / len(items), 3),
                "majority": round(majority, 3),
                "confusions": [f"{a}->{b}: {n}" for (a, b), n in confusions.most_common(5)],
            }
            print(f"{name:10} {part:9} {len(items):4} {right / len(items):9.3f} {majority:9.3f}")
    print(json.dumps({"bench": "intent", "results": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
