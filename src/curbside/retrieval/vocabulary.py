"""The vocabulary: MeSH and built-in concept terms, spelling variants, tokens and stop words.

:class:`Vocabulary` maps normalised terms (1 to :data:`MAX_TERM_WORDS` words) to concepts with
their synonyms, spelling variants and narrower terms; :func:`americanise` and :func:`britishise`
give the spelling variants.  Normalisation lowercases, strips accents, maps British to American
spelling and drops a plural ``s``; it is used only to compare, never shown.  Question analysis
(:mod:`curbside.retrieval.questions`) reads it.  The data format and the rules are in docs/vocabulary.md.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from curbside.config import shared_data_dir
from curbside.datafiles import load_data, rules_of
from curbside.errors import ConfigError, InputError, SourceError, SourceFormatError
from curbside.types import Concept

#: Longest vocabulary term, in words, looked up in a question.
MAX_TERM_WORDS: Final = 6

# --------------------------------------------------------------------------------------
# Spelling variants.  Rules act on one lowercase word; both tables (data/spelling_and_words.json,
# with the stop words and the other word lists of this module) are deliberately narrow (word stems
# listed) because a general "ae" -> "e" rule would also rewrite "aerobic" or "aeruginosa" in the
# variants shown to users.

_Rule = tuple[re.Pattern[str], str]
_Rules = tuple[re.Pattern[str], tuple[_Rule, ...]]  # (any rule matches, the rules in order)
_WORDS: Final = load_data(
    "spelling_and_words.json",
    "spelling rules and word lists",
    rules_of(
        "stems", "to_american", "to_british", "stop_words", "generic_terms", "secondary", "abbreviation_words"
    ),
)


def _rules(table: list[list[str]]) -> _Rules:
    """Compile ``[pattern, replacement, comment]`` rules; ``IZE`` and ``OUR`` in a pattern expand to the
    stem groups of the data file."""
    stems = _WORDS["stems"]
    rules = tuple(
        (re.compile(functools.reduce(lambda p, kv: p.replace(*kv), stems.items(), rule[0])), rule[1])
        for rule in table
    )
    return re.compile("|".join(f"(?:{p.pattern})" for p, _ in rules)), rules


_TO_AMERICAN: Final = _rules(_WORDS["to_american"])
_TO_BRITISH: Final = _rules(_WORDS["to_british"])

_WORD: Final = re.compile(r"[^\W\d_]+")


def _apply(rules: _Rules, word: str) -> str:
    anything, table = rules
    if anything.search(word) is None:  # most words match no rule: one search instead of ~30 substitutions
        return word
    for pattern, repl in table:
        word = pattern.sub(repl, word)
    return word


def americanise(text: str) -> str:
    """``text`` lowercased with British spellings turned American ("Leucopenia" -> "leukopenia")."""
    return _WORD.sub(lambda m: _apply(_TO_AMERICAN, m.group()), text.lower())


def britishise(text: str) -> str:
    """``text`` lowercased with American spellings turned British ("Anemia" -> "anaemia")."""
    return _WORD.sub(lambda m: _apply(_TO_BRITISH, m.group()), text.lower())


def natural_order(name: str) -> str:
    """A MeSH inverted name in reading order: "Anemia, Iron-Deficiency" -> "Iron-Deficiency Anemia"."""
    if ", " not in name or "(" in name:
        return name
    return " ".join(reversed(name.split(", ")))


# --------------------------------------------------------------------------------------
# Tokens and keys.

TOKEN: Final = re.compile(r"[^\W_]+")
POSSESSIVE: Final = re.compile(r"(?<=\w)['’]s\b")


def _fold(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1 << 16)
def norm_token(token: str) -> str:
    """The comparison form of one token: lowercase, unaccented, American, singular."""
    word = _apply(_TO_AMERICAN, _fold(token.lower())) if token.isalpha() else _fold(token.lower())
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def term_tokens(term: str) -> list[str]:
    return TOKEN.findall(POSSESSIVE.sub("", term))


def term_key(tokens: Sequence[str]) -> str:
    return " ".join(norm_token(t) for t in tokens)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    text: str


def _spans(text: str) -> list[_Span]:
    """Tokens of a question with offsets; the ``s`` of a possessive ("Crohn's") is dropped."""
    out = []
    for m in TOKEN.finditer(text):
        if m.group() == "s" and m.start() > 0 and text[m.start() - 1] in "'’":
            continue
        out.append(_Span(m.start(), m.end(), m.group()))
    return out


# --------------------------------------------------------------------------------------
# Stop words.  Medical single letters (vitamin D, hepatitis B) are kept for concept
# matching; keywords drop them because alone they match nothing useful.


def word_set(text: str, sep: str | None = None) -> frozenset[str]:
    return frozenset(w.strip() for w in text.split(sep) if w.strip())


STOP_WORDS: Final = frozenset(_WORDS["stop_words"])
_STOP_KEYS: Final = frozenset(norm_token(w) for w in STOP_WORDS)

# Terms that name the *kind* of question or study, not its subject: never concepts (the
# question type carries them) even where MeSH has a descriptor of that name.
_GENERIC_TERMS: Final = frozenset(_WORDS["generic_terms"])
_GENERIC_KEYS: Final = frozenset(" ".join(norm_token(w) for w in t.split()) for t in _GENERIC_TERMS)

# Populations and settings: concepts, but never the "main" concept a pronoun refers to.
SECONDARY_KEYS: Final = frozenset(norm_token(w) for w in _WORDS["secondary"])


# --------------------------------------------------------------------------------------
# Vocabulary.

#: Environment variable naming a MeSH descriptor CSV for :meth:`Vocabulary.default`.
MESH_CSV_ENV: Final = "CURBSIDE_MESH_CSV"

# Abbreviations that are also English words: matched only in their written case.
_ABBREV_WORDS: Final = frozenset(_WORDS["abbreviation_words"])


@dataclass(slots=True)
class _Entry:
    preferred: str
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    narrower: tuple[str, ...] = ()
    mesh_ui: str = ""


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


@dataclass(repr=False, eq=False)
class Vocabulary:
    """Term -> :class:`~curbside.types.Concept` lookup with longest-match search in questions.

    Terms are compared in normalised form (see the module docstring).  Abbreviations
    ("MI", "ALL", "PE") are matched in their written case only, unless they contain a
    digit or have four or more letters ("T2DM", "COPD"), because "all" or "pe" in lower
    case are ordinary words.  When two concepts claim the same term the first loaded
    wins, so the hand-written built-in entries take precedence over MeSH.

    Build one with :meth:`builtin` or :meth:`default`; add to it with :meth:`add`,
    :meth:`load_json` and :meth:`load_mesh_csv`.  The instance returned by
    :meth:`default` is shared by the process: copy-free, so do not add to it.
    """

    _entries: list[_Entry] = field(default_factory=list)
    _by_key: dict[str, int] = field(default_factory=dict)
    _by_abbrev: dict[str, int] = field(default_factory=dict)
    _by_preferred: dict[str, int] = field(default_factory=dict)
    #: What was loaded, for ``curbside doctor`` and debugging ("built-in (405)", a CSV path...).
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Vocabulary of {len(self)} concepts from {', '.join(self.sources) or 'nothing'}>"

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.lookup(term) is not None

    # -- building -----------------------------------------------------------------------

    def add(
        self,
        preferred: str,
        *,
        synonyms: Sequence[str] = (),
        abbreviations: Sequence[str] = (),
        narrower: Sequence[str] = (),
        mesh_ui: str = "",
    ) -> None:
        """Add a concept, or merge into the one with the same preferred name (case-insensitive)."""
        preferred = preferred.strip()
        if not preferred:
            raise InputError("a vocabulary concept needs a non-empty preferred name")
        index = self._by_preferred.get(preferred.lower())
        if index is None:
            index = len(self._entries)
            self._entries.append(_Entry(preferred, mesh_ui=mesh_ui))
            self._by_preferred[preferred.lower()] = index
            self._register(preferred, index)
            self._register(natural_order(preferred), index)
        entry = self._entries[index]
        entry.mesh_ui = entry.mesh_ui or mesh_ui
        entry.synonyms = _merge(entry.synonyms, synonyms)
        entry.abbreviations = _merge(entry.abbreviations, abbreviations)
        entry.narrower = _merge(entry.narrower, narrower)
        for term in synonyms:
            self._register(term, index)
        for abbrev in abbreviations:
            tokens = term_tokens(abbrev)
            if tokens:
                self._by_abbrev.setdefault(" ".join(tokens), index)
            letters = sum(c.isalpha() for c in abbrev)
            if (letters >= 4 or any(c.isdigit() for c in abbrev)) and abbrev.lower() not in _ABBREV_WORDS:
                self._register(abbrev, index)

    def _register(self, term: str, index: int) -> None:
        tokens = term_tokens(term)
        if not tokens or len(tokens) > MAX_TERM_WORDS:
            return
        key = term_key(tokens)
        if key in _GENERIC_KEYS or all(k in _STOP_KEYS for k in key.split()):
            return
        self._by_key.setdefault(key, index)

    @classmethod
    def builtin(cls) -> Vocabulary:
        """A new vocabulary holding the hand-written concepts shipped in ``curbside/data/vocabulary.json``."""
        vocab = cls()
        text = resources.files("curbside").joinpath("data/vocabulary.json").read_text(encoding="utf-8")
        count = vocab._load_data(json.loads(text), "curbside/data/vocabulary.json")
        vocab.sources.append(f"built-in ({count} concepts)")
        return vocab

    def load_json(self, path: str | Path) -> int:
        """Add the concepts of a vocabulary JSON file (format in docs/vocabulary.md); returns their number."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read vocabulary file: {exc.strerror or exc}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a JSON vocabulary file: {exc}") from exc
        count = self._load_data(data, str(path))
        self.sources.append(f"{path} ({count} concepts)")
        return count

    def _load_data(self, data: Any, where: str) -> int:
        concepts = data.get("concepts") if isinstance(data, dict) else None
        if not isinstance(concepts, list):
            raise InputError(f"{where}: expected an object with a 'concepts' list")
        for n, item in enumerate(concepts, 1):
            at = f"{where}: concept {n}"
            if not isinstance(item, dict) or not isinstance(item.get("preferred"), str):
                raise InputError(f"{at}: expected an object with a 'preferred' name")
            ui = item.get("mesh_ui", "")
            self.add(
                item["preferred"],
                synonyms=_str_list(item.get("synonyms"), f"{at} 'synonyms'"),
                abbreviations=_str_list(item.get("abbreviations"), f"{at} 'abbreviations'"),
                narrower=_str_list(item.get("narrower"), f"{at} 'narrower'"),
                mesh_ui=ui if isinstance(ui, str) else "",
            )
        return len(concepts)

    def load_mesh_csv(self, path: str | Path) -> int:
        """Add every descriptor of a MeSH CSV (columns ``id,scheme,subject``); returns the rows read.

        ``id`` is a descriptor URL (``https://id.nlm.nih.gov/mesh/D007970``) or a bare UI;
        rows whose ``scheme`` is not MeSH are skipped.  A descriptor whose name is
        already a concept only contributes its UI.  Inverted names are also
        registered in reading order ("Anemia, Iron-Deficiency" as "iron-deficiency anemia").
        """
        path = Path(path)
        rows = 0
        try:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8-sig", newline="") as lines:
                reader = csv.reader(lines)
                header = [h.strip().lower() for h in next(reader, [])]
                try:
                    id_col, name_col = header.index("id"), header.index("subject")
                except ValueError:
                    raise SourceFormatError(
                        f"{path}: not a MeSH descriptor CSV: the header {header!r} lacks 'id' and 'subject'"
                    ) from None
                scheme_col = header.index("scheme") if "scheme" in header else None
                for row in reader:
                    if len(row) <= max(id_col, name_col):
                        continue
                    if scheme_col is not None and row[scheme_col].strip().lower() not in ("mesh", ""):
                        continue
                    name = row[name_col].strip()
                    if name:
                        rows += 1
                        self.add(name, mesh_ui=row[id_col].strip().rsplit("/", 1)[-1])
        except (OSError, EOFError) as exc:
            if isinstance(exc, gzip.BadGzipFile | EOFError):
                raise SourceFormatError(f"{path}: corrupt gzip file: {exc}") from exc
            raise SourceError(
                f"{path}: cannot read MeSH CSV: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceFormatError(f"{path}: unreadable MeSH CSV near row {rows + 2}: {exc}") from exc
        self.sources.append(f"{path} ({rows} descriptors)")
        return rows

    def load_mesh_xml(self, path: str | Path) -> int:
        """Add every descriptor of NLM's full MeSH descriptor file (``descYYYY.xml``, or ``.xml.gz``).

        Unlike the CSV, each descriptor brings its entry terms (as synonyms: "Leukocytopenia",
        "Leukopenias") and its narrower descriptors, read from the tree numbers (a child's
        tree number extends its parent's by one level).  Returns the descriptors read.
        """
        from lxml import etree

        path = Path(path)
        records: list[tuple[str, str, list[str], list[str]]] = []  # (ui, name, entry terms, tree numbers)
        try:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as stream:
                for _, elem in etree.iterparse(
                    stream, tag="DescriptorRecord", resolve_entities=False, no_network=True
                ):
                    ui = (elem.findtext("DescriptorUI") or "").strip()
                    name = (elem.findtext("DescriptorName/String") or "").strip()
                    terms = [
                        (t.text or "").strip()
                        for t in elem.iterfind("ConceptList/Concept/TermList/Term/String")
                    ]
                    trees = [(t.text or "").strip() for t in elem.iterfind("TreeNumberList/TreeNumber")]
                    if name:
                        records.append((ui, name, [t for t in terms if t and t != name], trees))
                    elem.clear(keep_tail=True)
                    while elem.getprevious() is not None:
                        del elem.getparent()[0]
        except (OSError, EOFError) as exc:
            if isinstance(exc, gzip.BadGzipFile | EOFError):
                raise SourceFormatError(f"{path}: corrupt gzip file: {exc}") from exc
            raise SourceError(
                f"{path}: cannot read MeSH XML: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
        except etree.XMLSyntaxError as exc:
            raise SourceFormatError(f"{path}: not a MeSH descriptor XML file: {exc}") from exc
        if not records:
            raise SourceFormatError(f"{path}: no DescriptorRecord found; is this a MeSH descriptor file?")
        by_tree = {tree: name for _, name, _, trees in records for tree in trees}
        children: dict[str, list[str]] = {}
        for tree, name in by_tree.items():
            parent = tree.rsplit(".", 1)[0] if "." in tree else None
            if parent is not None and parent in by_tree:
                children.setdefault(by_tree[parent], []).append(name)
        for ui, name, terms, _ in records:
            # Entry terms are inverted like names ("Neutrophil Count, Low"); text says them in order.
            synonyms = list(dict.fromkeys(natural_order(t) for t in terms))
            self.add(name, synonyms=synonyms, narrower=sorted(set(children.get(name, ()))), mesh_ui=ui)
        self.sources.append(f"{path} ({len(records)} descriptors with entry terms)")
        return len(records)

    @classmethod
    def default(cls) -> Vocabulary:
        """The built-in concepts plus MeSH descriptors when a MeSH file is found; loaded once per process.

        The file is ``$CURBSIDE_MESH_CSV`` when set (a name ending in ``.xml`` or ``.xml.gz``
        is read as NLM's full descriptor XML, anything else as the CSV), else, in the
        shared data folder (:func:`curbside.config.shared_data_dir`), ``mesh/desc*.xml[.gz]``
        or ``mesh/mesh_descriptors*.csv``, else none.
        """
        return _default_vocabulary(_default_mesh_csv())

    # -- lookup -------------------------------------------------------------------------

    def lookup(self, term: str) -> Concept | None:
        """The concept a whole term names ("leucopenia", "WBC", "type 2 diabetes"), or ``None``."""
        tokens = term_tokens(term)
        if not tokens:
            return None
        index = self._by_abbrev.get(" ".join(tokens))
        if index is None:
            index = self._by_key.get(term_key(tokens))
        return None if index is None else self._concept(index, term.strip())

    def find(self, text: str) -> list[Concept]:
        """Concepts in ``text`` in reading order: longest terms first, no overlaps, each concept once."""
        spans = _spans(text)
        norms = [norm_token(s.text) for s in spans]
        found: list[tuple[int, int, int]] = []  # (words, first token, entry)
        for i in range(len(spans)):
            for n in range(min(MAX_TERM_WORDS, len(spans) - i), 0, -1):
                index = self._by_abbrev.get(" ".join(s.text for s in spans[i : i + n]))
                if index is None:
                    index = self._by_key.get(" ".join(norms[i : i + n]))
                if index is not None:
                    found.append((n, i, index))
                    break
        taken = [False] * len(spans)
        chosen: list[tuple[int, int, int]] = []
        for n, i, index in sorted(found, key=lambda f: (-f[0], f[1])):
            if not any(taken[i : i + n]):
                taken[i : i + n] = [True] * n
                chosen.append((i, n, index))
        concepts: list[Concept] = []
        seen: set[int] = set()
        for i, n, index in sorted(chosen):
            if index not in seen:
                seen.add(index)
                concepts.append(self._concept(index, text[spans[i].start : spans[i + n - 1].end]))
        return concepts

    def _concept(self, index: int, written: str) -> Concept:
        entry = self._entries[index]
        seen = {entry.preferred.lower()}
        synonyms: list[str] = []

        def add(term: str) -> None:
            if term and term.lower() not in seen:
                seen.add(term.lower())
                synonyms.append(term)

        natural = natural_order(entry.preferred)
        add(natural)
        for term in (*entry.synonyms, *entry.abbreviations):
            add(term)
        for term in (natural, *entry.synonyms):
            add(britishise(term))
            add(americanise(term))
        add(written)
        return Concept(
            text=written,
            preferred=entry.preferred,
            synonyms=tuple(synonyms),
            narrower=entry.narrower,
            mesh_ui=entry.mesh_ui,
        )


def _merge(old: tuple[str, ...], new: Iterable[str]) -> tuple[str, ...]:
    out = list(old)
    for term in new:
        if term not in out:
            out.append(term)
    return tuple(out)


def _default_mesh_csv() -> str | None:
    env = os.environ.get(MESH_CSV_ENV, "").strip()
    if env:
        if not Path(env).is_file():
            raise ConfigError(f"{MESH_CSV_ENV} points to {env}, which is not a file")
        return env
    shared = shared_data_dir()
    if shared is None:
        return None
    # The full descriptor file (entry terms, tree) beats the names-only CSV when both are there.
    for pattern in ("desc*.xml.gz", "desc*.xml", "mesh_descriptors*.csv"):
        candidates = sorted((shared / "mesh").glob(pattern), reverse=True)
        if candidates:
            return str(candidates[0])
    return None


@functools.lru_cache(maxsize=4)
def _default_vocabulary(mesh_csv: str | None) -> Vocabulary:
    vocab = Vocabulary.builtin()
    if mesh_csv is not None:
        if mesh_csv.endswith((".xml", ".xml.gz")):
            vocab.load_mesh_xml(mesh_csv)
        else:
            vocab.load_mesh_csv(mesh_csv)
    return vocab
