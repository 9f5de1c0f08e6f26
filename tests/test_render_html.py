"""HTML rendering: structure, citation links, badges, escaping of hostile text, well-formed output."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

from _articles import composed_article, sample_article, title_only_article, with_text
from curbside.render import render
from curbside.render.html import reference_item, render_html
from curbside.types import DISCLAIMER, Reference

_VOID = {"meta", "br", "img", "hr", "link", "input"}


class _Tags(HTMLParser):
    """Collects tags and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


def test_standalone_page_is_well_formed_with_css_and_csp() -> None:
    page = render_html(sample_article())
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page and ".badge-meta-analysis" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    tags = parse(page)
    assert tags.errors == [] and tags.stack == []


def test_fragment_is_just_the_article() -> None:
    fragment = render_html(sample_article(), standalone=False)
    assert fragment.startswith('<article class="curbside-article" data-audience="clinician">')
    assert "<html" not in fragment and "<style>" not in fragment
    tags = parse(fragment)
    assert tags.errors == [] and tags.stack == []


def test_semantic_parts_and_citation_links() -> None:
    page = render_html(sample_article())
    assert "<header><h1>Causes of Leukopenia</h1></header>" in page
    assert '<section class="bottom-line">' in page
    assert '<aside class="warnings" role="note">' in page
    assert 'class="warning warning-retracted-source"' in page
    assert '<a href="#ref-1">[1]</a>' in page
    assert '<li id="ref-1" class="reference">' in page
    # Every citation link points at a reference that exists.
    tags = parse(page)
    targets = {a.get("href") or "" for t, a in tags.starts if t == "a"}
    targets = {t for t in targets if t.startswith("#")}
    ids = {a.get("id") for _, a in tags.starts}
    assert targets and {t[1:] for t in targets} <= ids
    assert page.index('class="warnings"') < page.index('id="sec-causes"') < page.index('class="references"')
    assert f'<p class="disclaimer">{DISCLAIMER}</p>' in page


def test_badges_partial_and_retracted() -> None:
    page = render_html(sample_article())
    assert '<span class="badge badge-meta-analysis">Meta-analysis</span>' in page
    assert '<span class="badge badge-case-report">Case report</span>' in page
    assert (
        '<li id="ref-3" class="reference retracted"><strong class="retracted-flag">Retracted</strong>' in page
    )
    assert 'class="claim claim-partial"' in page and 'class="partial-mark"' in page
    assert 'class="partial-note"' in page
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/101/"' in page
    assert 'href="https://doi.org/10.1000/jch.2021.1"' in page


def test_removed_claims_folded_unless_verbose() -> None:
    folded = render_html(sample_article())
    assert '<details class="removed-claims"><summary>' in folded
    assert "Aspirin prevents myocardial infarction" in folded
    assert "claim words not in cited passage" in folded
    verbose = render_html(sample_article(), verbose=True)
    assert '<details class="removed-claims" open>' in verbose


XSS_TITLE = '<script>alert("t")</script>'
XSS_CLAIM = '<img src=x onerror=alert(1)> and " onmouseover="alert(2)'


def test_hostile_title_and_claim_render_inert() -> None:
    article = with_text(sample_article(), XSS_TITLE, XSS_CLAIM)
    for page in (render_html(article), render_html(article, standalone=False)):
        assert "<script" not in page
        assert "<img" not in page
        assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        tags = parse(page)
        assert tags.errors == []
        # No element gained an event-handler attribute.
        assert not any(k.startswith("on") for _, attrs in tags.starts for k in attrs)
    # The <title> of the page is escaped as well.
    assert "<title>&lt;script&gt;" in render_html(article)


def test_hostile_reference_fields_render_inert() -> None:
    ref = Reference(
        1,
        "x",
        'Evil "title" <b>',
        "<i>Journal</i>",
        2020,
        "Meta-analysis",
        pmid="1 onclick=alert(1)",
        doi=None,
        url="javascript:alert(1)",
    )
    item = reference_item(ref)
    assert "javascript:" not in item
    assert "onclick" not in item  # an invalid PMID builds no link at all
    assert "&lt;b&gt;" in item and "&lt;i&gt;Journal&lt;/i&gt;" in item
    assert parse(item).errors == []


def test_hostile_section_key_and_warning_do_not_break_attributes() -> None:
    article = sample_article()
    section = replace(article.sections[0], key='x" onload="alert(1)')
    page = render_html(replace(article, sections=(section, *article.sections[1:])))
    tags = parse(page)
    assert not any(k.startswith("on") for _, attrs in tags.starts for k in attrs)
    assert 'id="sec-x-onload-alert-1"' in page


def test_audience_and_render_entry_point() -> None:
    article = sample_article()
    assert render(article, "html") == render_html(article)
    patient = render(article, "html", audience="patient")
    assert 'data-audience="patient"' in patient
    assert 'id="sec-seek-care"' in patient
    assert '<p class="readability">' in patient
    assert '<p class="readability">' not in render_html(article)


def test_a_record_cited_by_its_title_is_marked_in_the_references() -> None:
    page = render_html(title_only_article())
    assert page.count('class="title-only"') == 1
    item = next(li for li in page.split("<li ") if 'class="title-only"' in li)
    assert "Agranulocytosis during mianserin treatment" in item


def test_a_composed_sentence_opens_to_the_exact_quotes_behind_it() -> None:
    article = composed_article()
    fragment = render_html(article, standalone=False)
    tags = parse(fragment)
    assert tags.errors == [] and tags.stack == []
    lead = article.bottom_line[0]
    assert len(lead.citations) == 2
    bottom = fragment.split('<section class="bottom-line">')[1].split("</section>")[0]
    assert '<details class="quotes"><summary>The quotes behind this</summary>' in bottom
    for c in lead.citations:
        assert f"<q>{c.quote}</q>" in bottom
    assert bottom.count('<a href="#ref-') >= 2  # each quote links to its reference
    # A quoted claim needs no such box: its text is the quote.
    quoted = sample_article()
    assert 'class="quotes"' not in render_html(quoted, standalone=False)
