"""HTML rendering: semantic markup in the manner of a clinical reference page.

Plain string building, no template engine: the page is small and fixed, and
every piece of source or model text goes through :func:`html.escape` (with
``quote=True``, so it is safe in attributes too).  Links are built only from
validated parts: a PMID must be digits, a URL must be http(s).  The standalone
page carries a Content-Security-Policy that forbids scripts outright, a second
line of defence should anything ever slip through.

Structure (class names are the styling contract)::

    article.curbside-article[data-audience]
      header > h1
      aside.warnings > h2 + ul > li.warning.warning-<code>
      section.bottom-line > h2 + p > strong (claims, each span.claim.claim-<verdict>), details.quotes
      (composed sentences: the exact quotes behind them, each with its citation)
      section.section#sec-<key> > h2, p.intro, ul > li.claim.claim-<verdict>, section.subsection > h3 ...
      p.partial-note
      section.references > h2 + ol > li#ref-<n>.reference[.retracted]
            span.ref-title, cite.ref-journal, span.ref-year, span.badge.badge-<label>, a.ref-link
      section.removed-claims (verbose only)
      footer > p.readability, p.disclaimer

Inline citations are ``<sup class="cite"><a href="#ref-1">[1]</a></sup>``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Final

from curbside.render.common import (
    PARTIAL_MARK,
    PARTIAL_NOTE,
    TITLE_ONLY_NOTE,
    citation_labels,
    doi_url,
    has_partial,
    numbers_for,
    prepare,
    pubmed_url,
    readability_line,
    safe_url,
    short_answer,
    slug,
    split_final_stop,
    title_only_documents,
    verification_line,
)
from curbside.types import COMPOSED_CATEGORY, Article, ArticleSection, Audience, Claim, Reference

_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.55;color:#1d2327;
max-width:46rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.8rem;margin-bottom:.5rem}h2{font-size:1.25rem;border-bottom:1px solid #dde3e8;padding-bottom:.2rem}
h3{font-size:1.05rem}
.bottom-line{background:#eef6fb;border-left:4px solid #1f6fa8;padding:.4rem 1rem;margin:1rem 0}
.quotes{font-size:.9rem;color:#37474f;margin:.2rem 0 .4rem}.quotes summary{cursor:pointer;color:#1f6fa8}.quotes q{font-style:italic}
.bottom-line h2{border:0;font-size:1rem;text-transform:uppercase;letter-spacing:.04em;color:#1f6fa8}
.warnings{background:#fff7e6;border-left:4px solid #d48806;padding:.4rem 1rem;margin:1rem 0}
.warnings h2{border:0;font-size:1rem}
.intro{color:#50575e;font-style:italic}
sup.cite a{text-decoration:none;color:#1f6fa8}
.claim-partial .partial-mark{color:#ad6800;font-weight:bold}
.partial-note{font-size:.9rem;color:#50575e}
.references li{margin-bottom:.4rem}
.badge{display:inline-block;font-size:.75rem;padding:0 .45rem;border-radius:.6rem;background:#e8ebed;color:#333}
.badge-guideline{background:#d9f7be;color:#135200}.badge-meta-analysis,.badge-systematic-review{background:#d6e4ff;color:#10239e}
.badge-rct{background:#efdbff;color:#391085}.badge-case-report,.badge-editorial{background:#fff1b8;color:#614700}
.retracted .ref-title{text-decoration:line-through}.retracted-flag{color:#a8071a;font-weight:bold}
.removed-claims{color:#50575e}.removed-claims .note{font-size:.85rem;font-style:italic}
footer{margin-top:2rem;border-top:1px solid #dde3e8;font-size:.85rem;color:#50575e}
""".strip()

_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cites(claim: Claim, numbers: Mapping[str, int]) -> str:
    out = []
    for label in citation_labels(claim, numbers):
        if label.isdigit():
            out.append(f'<sup class="cite"><a href="#ref-{label}">[{label}]</a></sup>')
        else:  # a draft's unnumbered document: shown, not linked
            out.append(f'<sup class="cite">[{_e(label)}]</sup>')
    return "".join(out)


def _claim_inner(claim: Claim, numbers: Mapping[str, int]) -> str:
    text, stop = split_final_stop(claim.shown)
    out = _e(text) + _cites(claim, numbers)
    if claim.verdict == "partial":
        out += f'<span class="partial-mark" title="{_e(PARTIAL_NOTE)}">{PARTIAL_MARK}</span>'
    return out + _e(stop)


def _quotes(claims: tuple[Claim, ...], numbers: Mapping[str, int]) -> str:
    """The exact quotes behind the composed sentences among ``claims``, folded away until opened."""
    cited = dict.fromkeys(
        c for claim in claims if claim.category == COMPOSED_CATEGORY for c in claim.citations
    )
    if not cited:
        return ""
    items = "".join(f"<li><q>{_e(c.quote)}</q> {_cites(Claim(c.quote, (c,)), numbers)}</li>" for c in cited)
    return f'<details class="quotes"><summary>The quotes behind this</summary><ul>{items}</ul></details>'


def _claim_attrs(claim: Claim) -> str:
    return f'class="claim claim-{slug(claim.verdict)}" data-support="{claim.support:.2f}"'


def _section(section: ArticleSection, numbers: Mapping[str, int], level: int, out: list[str]) -> None:
    cls = "section" if level == 2 else "subsection"
    out.append(f'<section class="{cls} section-{slug(section.key)}" id="sec-{slug(section.key)}">')
    h = min(level, 6)
    out.append(f"<h{h}>{_e(section.heading)}</h{h}>")
    if section.intro:
        out.append(f'<p class="intro">{_e(section.intro)}</p>')
    if section.claims:
        if section.style == "paragraph":
            spans = " ".join(
                f"<span {_claim_attrs(c)}>{_claim_inner(c, numbers)}</span>" for c in section.claims
            )
            out.append(f"<p>{spans}</p>{_quotes(section.claims, numbers)}")
        else:
            out.append("<ul>")
            out += [
                f"<li {_claim_attrs(c)}>{_claim_inner(c, numbers)}{_quotes((c,), numbers)}</li>"
                for c in section.claims
            ]
            out.append("</ul>")
    for sub in section.subsections:
        _section(sub, numbers, level + 1, out)
    out.append("</section>")


def _link(url: str, text: str) -> str:
    return f'<a class="ref-link" href="{_e(url)}" rel="noopener noreferrer">{_e(text)}</a>'


def reference_item(ref: Reference, *, title_only: bool = False) -> str:
    """One ``<li>`` of the reference list; ``title_only`` notes a record cited by its title alone."""
    cls = "reference retracted" if ref.retracted else "reference"
    parts = [f'<li id="ref-{ref.number}" class="{cls}">']
    if ref.retracted:
        parts.append('<strong class="retracted-flag">Retracted</strong> ')
    parts.append(f'<span class="ref-title">{_e(ref.title.rstrip(".") or "Untitled")}.</span>')
    if ref.journal:
        parts.append(f' <cite class="ref-journal">{_e(ref.journal.rstrip("."))}</cite>.')
    if ref.year:
        parts.append(f' <span class="ref-year">{ref.year}</span>.')
    parts.append(f' <span class="badge badge-{slug(ref.label)}">{_e(ref.label)}</span>')
    if title_only:
        parts.append(f' <span class="title-only">({_e(TITLE_ONLY_NOTE)}.)</span>')
    pubmed = pubmed_url(ref.pmid)
    doi = doi_url(ref.doi)
    url = safe_url(ref.url)
    if pubmed:
        parts.append(" " + _link(pubmed, f"PMID: {ref.pmid}"))
    if doi:
        parts.append(" " + _link(doi, f"doi: {ref.doi}"))
    if url and not pubmed and not doi:
        parts.append(" " + _link(url, "Source"))
    parts.append("</li>")
    return "".join(parts)


def render_html(
    article: Article, *, audience: Audience | None = None, standalone: bool = True, verbose: bool = False
) -> str:
    """The article as HTML: a full page with inline CSS if ``standalone``, else the ``<article>`` element."""
    article = prepare(article, audience)
    numbers = numbers_for(article)
    out = [f'<article class="curbside-article" data-audience="{_e(article.audience)}">']
    out.append(f"<header><h1>{_e(article.title)}</h1></header>")
    if article.warnings:
        out.append('<aside class="warnings" role="note"><h2>Warnings</h2><ul>')
        out += [f'<li class="warning warning-{slug(w.code)}">{_e(w.message)}</li>' for w in article.warnings]
        out.append("</ul></aside>")
    if article.bottom_line or article.verdict is not None:
        out.append('<section class="bottom-line"><h2>Bottom line</h2><p><strong>')
        answer = short_answer(article)
        if answer is not None:
            out.append(f'<span class="short-answer">{_e(answer)}</span> ')
        out.append(
            " ".join(
                f"<span {_claim_attrs(c)}>{_claim_inner(c, numbers)}</span>" for c in article.bottom_line
            )
        )
        out.append("</strong></p>" + _quotes(article.bottom_line, numbers) + "</section>")
    for section in article.sections:
        _section(section, numbers, 2, out)
    if has_partial(article):
        out.append(f'<p class="partial-note">{PARTIAL_MARK} {_e(PARTIAL_NOTE)}</p>')
    if article.references:
        out.append('<section class="references"><h2>References</h2><ol>')
        titles = title_only_documents(article)
        out += [reference_item(ref, title_only=ref.document_id in titles) for ref in article.references]
        out.append("</ol></section>")
    if article.removed_claims:
        # Removed claims stay visible, each with why: folded away unless the caller asked for detail.
        out.append(
            f'<details class="removed-claims"{" open" if verbose else ""}><summary><h2>Removed claims</h2></summary>'
        )
        out.append(
            '<p class="intro">Draft claims the verifier removed: not supported by the passage they cite, '
            "misleading where they stood, or not about the question.</p><ul>"
        )
        for claim in article.removed_claims:
            note = f' <span class="note">{_e(claim.note)}</span>' if claim.note else ""
            out.append(f"<li {_claim_attrs(claim)}>{_claim_inner(claim, numbers)}{note}</li>")
        out.append("</ul></details>")
    out.append("<footer>")
    checked = verification_line(article)
    if checked:
        out.append(f'<p class="verification">{_e(checked)}</p>')
    line = readability_line(article)
    if line:
        out.append(f'<p class="readability">{_e(line)}</p>')
    out.append(f'<p class="disclaimer">{_e(article.disclaimer)}</p>')
    out.append("</footer></article>")
    body = "\n".join(out)
    if not standalone:
        return body + "\n"
    lang = "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{_e(article.title)} — curbside</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def html_renderer(article: Article, audience: Audience | None, verbose: bool) -> str:
    """The registered ``html`` renderer: a standalone page (see :mod:`curbside.render`)."""
    return render_html(article, audience=audience, standalone=True, verbose=verbose)
