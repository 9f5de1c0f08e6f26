"""JSON rendering: schema validity, round trips, and clear errors on bad input."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from _articles import draft, sample_article, title_only_article
from curbside.errors import InputError
from curbside.render import render
from curbside.render.json import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    article_from_dict,
    article_from_json,
    article_to_dict,
    render_json,
    schema,
)
from curbside.types import Article


def validate(data: Any) -> None:
    jsonschema.Draft202012Validator(schema()).validate(data)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION


@pytest.mark.parametrize("audience", [None, "student", "patient"])
def test_output_validates_against_the_schema(audience: Any) -> None:
    text = render_json(sample_article(), audience)
    data = json.loads(text)
    validate(data)
    assert data["schema"] == SCHEMA_NAME and data["schema_version"] == SCHEMA_VERSION
    assert data["audience"] == (audience or "clinician")


def test_draft_and_verbose_articles_validate_too() -> None:
    validate(json.loads(render_json(draft())))
    validate(json.loads(render(sample_article(), "json", verbose=True)))


def test_schema_rejects_what_the_reader_rejects() -> None:
    data = article_to_dict(sample_article())
    data["bottom_line"][0]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validate(data)
    with pytest.raises(InputError, match=r"bottom_line\[0\]\.verdict"):
        article_from_dict(data)


def test_round_trip_is_lossless() -> None:
    article = sample_article()
    assert article_from_dict(article_to_dict(article)) == article
    assert article_from_json(render_json(article)) == article
    patient = article_from_json(render_json(article, "patient"))
    assert patient.audience == "patient"
    assert patient.metadata["audience_adapted"] is True


def test_content_of_the_document() -> None:
    data = article_to_dict(sample_article())
    assert data["references"][0]["label"] == "Meta-analysis"
    assert data["references"][2]["retracted"] is True
    claim = data["sections"][0]["claims"][0]
    assert claim["verdict"] == "partial"
    assert claim["supporting"]["quote"] == "Neutropenia was observed in 40% of patients receiving clozapine."
    assert data["removed_claims"][0]["verdict"] == "unsupported"
    assert data["metadata"]["verification"]["checked"] == 6


def test_reader_errors_name_the_field() -> None:
    data = article_to_dict(sample_article())
    del data["title"]
    with pytest.raises(InputError, match="missing field 'title'"):
        article_from_dict(data)
    data = article_to_dict(sample_article())
    data["sections"][0]["subsections"][0]["claims"][0]["citations"][0]["start"] = "0"
    with pytest.raises(
        InputError, match=r"sections\[0\]\.subsections\[0\]\.claims\[0\]\.citations\[0\]\.start"
    ):
        article_from_dict(data)
    data = article_to_dict(sample_article())
    data["references"][0]["number"] = True
    with pytest.raises(InputError, match="expected int, got bool"):
        article_from_dict(data)
    data = article_to_dict(sample_article())
    data["warnings"][0]["code"] = "spooky"
    with pytest.raises(InputError, match="not one of"):
        article_from_dict(data)


def test_versions_are_checked() -> None:
    data = article_to_dict(sample_article())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="newer"):
        article_from_dict(data)
    data["schema_version"] = SCHEMA_VERSION
    data["schema"] = "something.else"
    with pytest.raises(InputError, match="schema"):
        article_from_dict(data)
    with pytest.raises(InputError, match="not valid JSON"):
        article_from_json("{")


def test_metadata_that_is_not_json_is_a_clear_error() -> None:
    article = Article("q", "general", "t", (), (), metadata={"when": object()})
    with pytest.raises(InputError, match="metadata cannot be written as JSON"):
        render_json(article)
    with pytest.raises(InputError, match="metadata cannot be written as JSON"):
        render_json(Article("q", "general", "t", (), (), metadata={"x": float("nan")}))


def test_title_citations_validate_and_keep_their_part() -> None:
    article = title_only_article()
    data = json.loads(render_json(article))
    validate(data)
    parts = {
        c["document_id"]: c["part"] for s in data["sections"] for cl in s["claims"] for c in cl["citations"]
    }
    assert parts["pmid:201"] == "title" and parts["pmid:101"] == "body"
    assert article_from_dict(data) == article
    # Older documents without "part" still read, as body citations.
    for s in data["sections"]:
        for cl in s["claims"]:
            for c in cl["citations"]:
                c.pop("part")
    validate(data)
    assert {c.part for c in article_from_dict(data).all_claims() for c in c.citations} == {"body"}


def test_an_unknown_citation_part_is_rejected_by_name() -> None:
    data = json.loads(render_json(title_only_article()))
    data["sections"][0]["claims"][0]["citations"][0]["part"] = "abstract"
    with pytest.raises(InputError, match="part"):
        article_from_dict(data)
