"""The answer-role model (curbside.models.roles) and its training (curbside.training.roles)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_doc
from curbside.config import Settings
from curbside.errors import InputError, ModelError
from curbside.models.relevance import load_relevance
from curbside.models.roles import RoleModel, load_roles, role_features, rule_answer
from curbside.retrieval.questions import analyse
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore
from curbside.testing import FakeEmbedder
from curbside.training.roles import Labelled, load_labelled, train_roles
from curbside.types import Section


def test_rule_answer_reads_cause_cues_for_causes_and_harm_cues_for_harms() -> None:
    assert rule_answer("causes", "Leukopenia induced by clozapine was reported.")
    assert not rule_answer("causes", "Clozapine was not associated with leukopenia.")
    assert rule_answer("adverse_effects", "Seizures occurred in two patients on clozapine (toxicity).")


def test_features_have_one_row_per_sentence_and_say_which_side_the_subject_stands_on() -> None:
    query = analyse("What are the causes of leukopenia?")
    texts = ["Leukopenia leads to infection.", "Clozapine causes leukopenia."]
    vectors = FakeEmbedder(dim=8).embed(texts)
    x = role_features(query, "causes", texts, vectors, [False, False])
    assert x.shape[0] == 2 and x.shape[1] > 8
    assert not np.array_equal(x[0, 8:], x[1, 8:])  # the subject acts in one, is acted on in the other


def test_model_round_trips_and_refuses_other_shapes_and_formats(tmp_path: Path) -> None:
    model = RoleModel(
        np.zeros(3, np.float32), np.ones(3, np.float32), np.ones(3, np.float32), 0.0, 0.3, {"v": 1}
    )
    path = tmp_path / "roles.npz"
    model.save(path)
    loaded = RoleModel.load(path)
    assert loaded.threshold == 0.3 and loaded.info == {"v": 1}
    assert loaded.predict(np.ones((2, 3), np.float32)).shape == (2,)
    with pytest.raises(ModelError, match="expects 3 features"):
        loaded.predict(np.ones((1, 4), np.float32))
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot read the answer-role model"):
        RoleModel.load(path)


def test_the_packaged_model_reads_the_relevance_models_embedder_and_says_how_it_was_chosen() -> None:
    settings = Settings()
    model, relevance = load_roles(settings), load_relevance(settings)
    assert model is not None and relevance is not None
    assert model.embedder == relevance.embedder
    assert 0 < model.threshold < 1
    cv = model.info["cv"]
    # Cross-validated by question: the gate must file fewer non-answers than the cue rules alone.
    assert cv["rules_and_model"]["precision"] > cv["rules"]["precision"]


def test_no_model_when_settings_say_none(tmp_path: Path) -> None:
    assert load_roles(Settings(roles_model="none")) is None


def _labels(tmp_path: Path, store: SQLiteStore, rows: list[tuple[str, int, str, str]]) -> Path:
    docs = {n: make_doc(n, sections=(Section(text, "RESULTS"),), mesh=()) for _, n, text, _ in rows}
    fp = FileProgress(key="k", path="test", source_type="test")
    store.write_batch(Batch(fp, documents=list(docs.values()), records=len(docs)))
    out = []
    for question, n, text, role in rows:
        body = docs[n].body
        start = body.find(text)
        out.append(
            {"question": question, "store": "t", "doc": f"pmid:{n}", "part": "body", "start": start,
             "end": start + len(text), "sha1": hashlib.sha1(text.encode()).hexdigest()[:12], "role": role,
             "species": "human"}
        )  # fmt: skip
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"sentences": out}))
    return path


def test_labels_are_read_back_from_the_store_and_a_changed_text_is_refused(
    tmp_path: Path, store: SQLiteStore
) -> None:
    path = _labels(
        tmp_path, store, [("What causes leukopenia?", 1, "Clozapine causes leukopenia.", "answer")]
    )
    (only,) = load_labelled(path, {"t": store})
    assert only.text == "Clozapine causes leukopenia." and only.role == "answer"
    data = json.loads(path.read_text())
    data["sentences"][0]["sha1"] = "0" * 12
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="differs in the t store"):
        load_labelled(path, {"t": store})
    with pytest.raises(InputError, match="none of its sentences"):
        load_labelled(path, {"other": store})


def test_training_cross_validates_by_question_and_reports_rules_beside_the_gate() -> None:
    labelled = []
    for i, condition in enumerate(
        ("leukopenia", "anemia", "hyponatremia", "neutropenia", "thrombocytopenia", "gout")
    ):
        q = f"What causes {condition}?"
        labelled += [
            Labelled(q, f"Drug {i} induced {condition} in patients.", False, "answer", "human"),
            Labelled(q, f"Toxin exposure caused {condition} in workers.", False, "answer", "human"),
            Labelled(q, f"{condition} was treated with drug {i} and improved.", False, "treatment", "human"),
            Labelled(
                q, f"Patients with {condition} were associated with longer stays.", False, "other", "human"
            ),
        ]
    model, report = train_roles(labelled, FakeEmbedder(dim=16), l2=1.0)
    assert report.questions == 6 and report.sentences == 24 and report.answers == 12
    assert report.threshold == model.threshold
    assert set(report.as_dict()["rules"]) == {"precision", "recall", "f1"}
    with pytest.raises(InputError, match="at least 5 questions"):
        train_roles(labelled[:8], FakeEmbedder(dim=16))
