"""Markdown rendering, and printing that Markdown to a terminal with rich.

Layout (CommonMark; every piece of source or model text is escaped, so a title
or claim cannot inject links, HTML or headings)::

    # Title

    ## Warnings                         (only when there are any)

    > - Thin evidence: ...

    **Short answer: yes.** **Claim one [1][2]. Claim two [3]†**

    ## Section heading
    Intro text written by curbside.
    - Claim [1]
    - Partially supported claim [2] †
    ### Subsection heading
    ...

    † Partially supported: the cited passage supports only part of this statement.

    ## References
    1. Title. *Journal*. 2020. [Meta-analysis] PMID: 123 (https://pubmed.ncbi.nlm.nih.gov/123/)

    ## Removed claims                   (each with why; verbose adds its relevance score)
    ## Quoted where the composed sentence failed its checks   (verbose: each such claim with why)
    ## Quotes behind the composed sentences   (verbose: each composed sentence, then its exact quotes)

    ---
    *Readability: ...*                  (patient and student articles)
    *Disclaimer*
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

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
    split_final_stop,
    title_only_documents,
    verification_line,
)
from curbside.types import (
    COMPOSED_CATEGORY,
    COMPOSITION_FAILED,
    Article,
    ArticleSection,
    Audience,
    Claim,
    Reference,
)

if TYPE_CHECKING:
    from rich.console import Console

# Backslash-escape what CommonMark would read as markup; "&" only where it would start an entity.
_INLINE: Final = re.compile(r"([\\`*_\[\]<>~|])|&(?=#?\w+;)")
_LINE_START: Final = re.compile(r"^(\s*)(?:([-+#>=])|(\d+)([.)]))")
_SPACE: Final = re.compile(r"\s+")


def escape(text: str, *, line_start: bool = False) -> str:
    """``text`` as literal Markdown on one line: whitespace collapsed, markup characters escaped.

    ``line_start``: the text begins a line, where "- ", "# " or "1. " would start a list or a heading.
    """
    flat = _SPACE.sub(" ", text).strip()
    flat = _INLINE.sub(lambda m: "\\" + m.group(0), flat)
    if not line_start:
        return flat
    # Escape the marker itself: "1\\. item", not "\\1. item" (a backslash before a digit stays literal).
    return _LINE_START.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else m.group(3) + "\\" + m.group(4)), flat
    )


def _marks(claim: Claim, numbers: Mapping[str, int]) -> str:
    """``[1][3]``: the reference numbers ``claim`` cites (an unnumbered record by its escaped id)."""
    labels = citation_labels(claim, numbers)
    return "".join(f"[{label}]" if label.isdigit() else f"\\[{escape(label)}\\]" for label in labels)


def _claim(claim: Claim, numbers: Mapping[str, int], *, line_start: bool = False) -> str:
    text, stop = split_final_stop(escape(claim.shown, line_start=line_start))
    marks = _marks(claim, numbers)
    if claim.verdict == "partial":
        marks += PARTIAL_MARK
    return f"{text} {marks}{stop}" if marks else text + stop


def _section(section: ArticleSection, numbers: Mapping[str, int], level: int, out: list[str]) -> None:
    out.append(f"{'#' * min(level, 6)} {escape(section.heading)}")
    out.append("")
    if section.intro:
        out.append(f"*{escape(section.intro)}*")
        out.append("")
    if section.claims:
        if section.style == "paragraph":
            first, *rest = section.claims
            out.append(
                " ".join([_claim(first, numbers, line_start=True), *(_claim(c, numbers) for c in rest)])
            )
        else:
            out.extend(f"- {_claim(c, numbers)}" for c in section.claims)
        out.append("")
    for sub in section.subsections:
        _section(sub, numbers, level + 1, out)


def reference_line(ref: Reference, *, title_only: bool = False) -> str:
    """``Title. *Journal*. Year. [Type] PMID: n (url)``, flagged when retracted; ``title_only`` notes
    a record cited by its title alone."""
    parts = []
    if ref.retracted:
        parts.append("**[RETRACTED]**")
    title = escape(ref.title).rstrip(".") or "Untitled"
    parts.append(f"{title}.")
    if ref.journal:
        parts.append(f"*{escape(ref.journal).rstrip('.')}*.")
    if ref.year:
        parts.append(f"{ref.year}.")
    parts.append(f"[{escape(ref.label)}]")
    if title_only:
        parts.append(f"({TITLE_ONLY_NOTE}.)")
    # PubMed and DOI links are built from validated parts (digits; percent-encoded DOI), so they can
    # stand bare; any other URL is source data and goes in an autolink with its delimiters encoded.
    pubmed = pubmed_url(ref.pmid)
    doi = doi_url(ref.doi)
    if pubmed:
        parts.append(f"PMID: {ref.pmid} ({pubmed})")
    elif doi:
        parts.append(f"doi: {escape(ref.doi or '')} ({doi})")
    url = safe_url(ref.url)
    if url and not pubmed and not doi:
        parts.append(f"<{url.replace('>', '%3E').replace(' ', '%20')}>")
    return " ".join(parts)


def render_markdown(article: Article, audience: Audience | None = None, *, verbose: bool = False) -> str:
    """The article as Markdown; ``audience`` rewords it first (see :func:`curbside.answer.audience.adapt`).

    Claims the verifier removed are always listed with why; ``verbose`` adds the relevance
    score the model gave each.
    """
    article = prepare(article, audience)
    numbers = numbers_for(article)
    out = [f"# {escape(article.title)}", ""]
    if article.warnings:
        out += ["## Warnings", ""]
        out += [f"> - {escape(w.message)}" for w in article.warnings]
        out.append("")
    lead = []
    answer = short_answer(article)
    if answer is not None:
        lead.append(f"**{answer}**")
    if article.bottom_line:
        lead.append("**" + " ".join(_claim(c, numbers) for c in article.bottom_line) + "**")
    if lead:
        out += [" ".join(lead), ""]
    for section in article.sections:
        _section(section, numbers, 2, out)
    if has_partial(article):
        out += [f"{PARTIAL_MARK} {PARTIAL_NOTE}", ""]
    if article.references:
        out += ["## References", ""]
        titles = title_only_documents(article)
        out += [
            f"{ref.number}. {reference_line(ref, title_only=ref.document_id in titles)}"
            for ref in article.references
        ]
        out.append("")
    if article.removed_claims:
        # Removed claims are always listed with why: a reader must see what was taken out.
        out += [
            "## Removed claims",
            "",
            "*Draft claims the verifier removed: not supported by the passage they cite, "
            "misleading where they stood, or not about the question.*",
            "",
        ]
        for claim in article.removed_claims:
            note = f" — *{escape(claim.note)}*" if claim.note else ""
            if verbose and claim.relevance is not None:
                note += f" (relevance {claim.relevance:.2f})"
            out.append(f"- {_claim(claim, numbers)}{note}")
        out.append("")
    fallen_back = [c for c in article.all_claims() if COMPOSITION_FAILED in c.note]
    if verbose and fallen_back:
        out += ["## Quoted where the composed sentence failed its checks", ""]
        out += [f"- {_claim(c, numbers)} — *{escape(c.note)}*" for c in fallen_back]
        out.append("")
    composed = [c for c in article.all_claims() if c.category == COMPOSED_CATEGORY]
    if verbose and composed:
        out += ["## Quotes behind the composed sentences", ""]
        for claim in composed:
            out.append(f"- {_claim(claim, numbers)}")
            out += [
                f"    > {escape(c.quote)} {_marks(Claim(c.quote, (c,)), numbers)}" for c in claim.citations
            ]
        out.append("")
    out += ["---", ""]
    checked = verification_line(article)
    if checked:
        out += [f"*{escape(checked)}*", ""]
    line = readability_line(article)
    if line:
        out += [f"*{escape(line)}*", ""]
    out.append(f"*{escape(article.disclaimer)}*")
    return "\n".join(out) + "\n"


def markdown_renderer(article: Article, audience: Audience | None, verbose: bool) -> str:
    """The registered ``md`` renderer (see :mod:`curbside.render` for the renderer convention)."""
    return render_markdown(article, audience, verbose=verbose)


def print_markdown(
    article: Article,
    console: Console | None = None,
    *,
    audience: Audience | None = None,
    verbose: bool = False,
) -> None:
    """Render the article to a terminal (headings, bold, lists) with rich."""
    from rich.console import Console
    from rich.markdown import Markdown

    (console or Console()).print(Markdown(render_markdown(article, audience, verbose=verbose)))
