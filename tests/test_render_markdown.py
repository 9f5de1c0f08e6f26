"""Markdown rendering: layout, citations, partial marks, references, escaping, terminal output."""

from __future__ import annotations

import io
import re
from dataclasses import replace

from rich.console import Console

from _articles import composed_article, draft, sample_article, title_only_article, with_text
from curbside.render import get_renderer, render
from curbside.render.common import split_final_stop
from curbside.render.markdown import escape, print_markdown, reference_line, render_markdown
from curbside.types import DISCLAIMER, Article, ArticleSection, Claim, Reference


def test_layout_and_order() -> None:
    md = render_markdown(sample_article())
    lines = md.splitlines()
    assert lines[0] == "# Causes of Leukopenia"
    order = [
        md.index(h) for h in ("## Warnings", "**Drug-induced", "## Causes", "### Idiopathic", "## References")
    ]
    assert order == sorted(order)
    assert "> - Cited source \\[3\\] has been retracted." in md
    # The disclaimer closes the article.
    assert lines[-1] == f"*{DISCLAIMER}*"
    assert md.index("## References") < md.index("## Removed claims")


def test_bottom_line_is_bold_with_inline_citations() -> None:
    md = render_markdown(sample_article())
    bottom = next(line for line in md.splitlines() if line.startswith("**"))
    assert bottom.endswith("**")
    assert "guides urgency [1]." in bottom
    assert "comorbidity [2]." in bottom


def test_partial_claims_are_marked_and_explained() -> None:
    article = sample_article()
    partial = [c for c in article.all_claims() if c.verdict == "partial"]
    assert partial, "the sample article must contain a partial claim"
    md = render_markdown(article)
    assert "- Neutropenia was observed in 55% of patients receiving clozapine [1]†." in md
    assert "† Partially supported" in md
    # Supported claims carry no mark.
    assert "drug history [3]." in md


def test_reference_lines() -> None:
    md = render_markdown(sample_article())
    assert (
        "1. Drug-induced neutropenia: a systematic review and meta-analysis. *Journal of Clinical Haematology*. "
        "2021. [Meta-analysis] PMID: 101 (https://pubmed.ncbi.nlm.nih.gov/101/)"
    ) in md
    assert re.search(r"^3\. \*\*\[RETRACTED\]\*\* A retracted report", md, re.M)


def test_reference_without_pmid_uses_doi_then_safe_url() -> None:
    ref = Reference(1, "doi:10.1/x", "T", None, None, "Guideline", doi="10.1/x")
    assert reference_line(ref).endswith("doi: 10.1/x (https://doi.org/10.1/x)")
    sici = Reference(1, "doi:x", "T", None, None, "RCT", doi="10.1002/(SICI)1097<1>")
    assert reference_line(sici).endswith("(https://doi.org/10.1002/%28SICI%291097%3C1%3E)")
    web = Reference(1, "guideline:x", "T", "NICE", 2022, "Guideline", url="https://example.org/g")
    assert reference_line(web).endswith("<https://example.org/g>")
    evil = Reference(1, "guideline:y", "T", None, None, "Guideline", url="javascript:alert(1)")
    assert "javascript" not in reference_line(evil)


def test_removed_claims_listed_with_notes() -> None:
    md = render_markdown(sample_article())
    section = md[md.index("## Removed claims") :]
    assert "Aspirin prevents myocardial infarction in elderly men [2]." in section
    assert "claim words not in cited passage" in section


def test_escaping_keeps_source_text_literal() -> None:
    article = with_text(
        sample_article(), "Leukopenia *bold* <script>alert(1)</script>", "[click](http://x) & more"
    )
    md = render_markdown(article)
    assert "# Leukopenia \\*bold\\* \\<script\\>alert(1)\\</script\\>" in md
    assert "\\[click\\](http://x)" in md
    assert "<script>" not in md
    assert escape("- not a list\n# not a heading", line_start=True) == "\\- not a list # not a heading"
    assert escape("1. item", line_start=True) == "1\\. item"
    assert escape("1. item") == "1. item"  # mid-line it is just text
    assert escape("AT&amp;T") == "AT\\&amp;T"


def test_draft_without_references_shows_document_ids() -> None:
    md = render_markdown(draft())
    assert "\\[pmid:101\\]" in md
    assert "## References" not in md


def test_paragraph_sections_and_yes_no_verdict() -> None:
    claim = Claim("Yes, it can.", (), verdict="supported")
    article = Article(
        "Can it?",
        "yesno",
        "Can it?",
        (claim,),
        (ArticleSection("evidence", "Evidence", (claim, claim), style="paragraph"),),
        verdict="yes",
    )
    md = render_markdown(article)
    assert "**Short answer: yes.** **Yes, it can.**" in md
    assert "Yes, it can. Yes, it can." in md


def test_render_entry_point_and_registry() -> None:
    article = sample_article()
    assert render(article, "md") == render_markdown(article)
    assert get_renderer("md")(article, None, True) == render_markdown(article, verbose=True)
    patient = render(article, "md", audience="patient")
    assert "## When to seek care" in patient
    assert "Readability:" in patient
    assert "Readability:" not in render(article, "md")


def test_print_markdown_to_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None)
    print_markdown(sample_article(), console)
    out = buffer.getvalue()
    assert "Causes of Leukopenia" in out
    assert "References" in out
    assert "# Causes" not in out  # rendered, not printed raw


def test_empty_article_still_has_disclaimer() -> None:
    article = replace(sample_article(), bottom_line=(), sections=(), references=(), warnings=())
    md = render_markdown(article)
    assert md.startswith("# Causes of Leukopenia")
    assert md.rstrip().endswith(f"*{DISCLAIMER}*")


def test_a_record_cited_by_its_title_is_marked_in_the_references() -> None:
    text = render_markdown(title_only_article())
    assert 'Reported in a case report titled "Agranulocytosis during mianserin treatment"' in text
    lines = [line for line in text.splitlines() if "Title only" in line]
    assert len(lines) == 1 and "Agranulocytosis during mianserin treatment" in lines[0]
    assert "Title only" not in render_markdown(sample_article())


def test_a_quote_without_a_final_stop_still_ends_its_sentence_after_its_citation() -> None:
    assert split_final_stop("Leucine, isoleucine and valine are essential aminoacids") == (
        "Leucine, isoleucine and valine are essential aminoacids",
        ".",
    )
    assert split_final_stop("Results were 3.5 vs. 4.1!") == ("Results were 3.5 vs. 4.1", "!")
    assert split_final_stop('Reported in a case report titled "Leucopenia"') == (
        'Reported in a case report titled "Leucopenia"',
        "",
    )


def test_verbose_markdown_lists_the_quotes_behind_composed_sentences() -> None:
    article = composed_article()
    assert "## Quotes behind the composed sentences" not in render(article, "md")
    verbose = render(article, "md", verbose=True)
    block = verbose.split("## Quotes behind the composed sentences")[1].split("---")[0]
    assert "- Drugs and infections are reported causes of leukopenia" in block
    for c in article.bottom_line[0].citations:
        assert f"    > {c.quote}" in block


def test_verbose_markdown_says_why_a_claim_stands_as_a_quote() -> None:
    from dataclasses import replace as swap

    from curbside.types import COMPOSITION_FAILED

    article = sample_article()
    claim = article.sections[0].claims[0]
    failed = swap(claim, note=f"{COMPOSITION_FAILED} (it says 'common', which the cited claims do not)")
    article = swap(article, sections=(swap(article.sections[0], claims=(failed,)), *article.sections[1:]))
    verbose = render(article, "md", verbose=True)
    block = verbose.split("## Quoted where the composed sentence failed its checks")[1].split("##")[0]
    assert "it says 'common', which the cited claims do not" in block
    assert "## Quoted where" not in render(article, "md")
