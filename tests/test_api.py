"""The ask pipeline end to end over a real SQLite store: what reaches the article."""

from __future__ import annotations

import json
from pathlib import Path

from curbside import api
from curbside.config import Settings
from curbside.types import Document, MeshHeading, MeshQualifier, Section


def _write(path: Path, *docs: Document) -> Path:
    path.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in docs), encoding="utf-8")
    return path


def test_ask_cites_a_title_only_case_report_by_its_title(settings: Settings, tmp_path: Path) -> None:
    abstract = Document(
        id="pmid:1",
        title="Leukopenia in systemic lupus erythematosus",
        sections=(Section("Leukopenia is caused by lupus autoantibodies against neutrophils."),),
        identifiers={"pmid": "1"},
        mesh=(MeshHeading("Leukopenia", "", True, (MeshQualifier("etiology", "", False),)),),
    )
    title_only = Document(
        id="pmid:2",
        title="Leukopenia during mianserin treatment.",
        identifiers={"pmid": "2"},
        kind="case-report",
        publication_types=("Case Reports",),
        mesh=(
            MeshHeading("Leukopenia", "", True, (MeshQualifier("chemically induced", "", True),)),
            MeshHeading("Mianserin", "", False, (MeshQualifier("adverse effects", "", False),)),
        ),
    )
    api.ingest([_write(tmp_path / "docs.jsonl", abstract, title_only)], settings=settings)
    article = api.ask("What are the causes of leukopenia?", settings=settings)
    # In the sections the title-only record is a reported case, quoted by its title (the bottom
    # line may also name what it reports, citing the same title).
    titled = [c for s in article.sections for c in s.all_claims() if c.citations[0].part == "title"]
    assert [c.text for c in titled] == [
        'Reported in a case report titled "Leukopenia during mianserin treatment".'
    ]
    assert titled[0].verdict == "supported"
    assert titled[0].citations[0].quote == title_only.title[: len("Leukopenia during mianserin treatment")]
    assert {r.document_id for r in article.references} == {"pmid:1", "pmid:2"}
