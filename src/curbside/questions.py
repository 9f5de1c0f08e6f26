"""Question understanding: type, concepts, keywords, search expressions and follow-ups.

``analyse(text)`` turns a clinician's question into a :class:`~curbside.types.Query`:

1. :func:`classify` gives the question type by rules (see its docstring for the order).
2. :class:`Vocabulary` finds the concepts: the longest vocabulary terms (1 to 6 words)
   in the question, matched on *normalised* tokens, so "leucopenia", "Leukopenias" and
   "leukopenia" all find the MeSH descriptor Leukopenia with its narrower terms.
   Normalisation lowercases, strips accents, maps British to American spelling
   (``aemia`` -> ``emia``, ``haem`` -> ``hem``, ``oedema`` -> ``edema``...) and drops a
   plural ``s``; it is used only to compare, never shown.
3. Keywords are the content words left after an English and question-frame stop list.

:func:`expand_terms` and :func:`fts_query` turn a query into lexical search terms and a
safe SQLite FTS5 expression; :func:`standalone_question` rewrites a follow-up question
("How is it treated?") into one that can be searched on its own.

The vocabulary data format and the spelling rules are described in docs/vocabulary.md.
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
from typing import Any, Final, get_args

from curbside.config import shared_data_dir
from curbside.errors import ConfigError, InputError, QueryError, SourceError, SourceFormatError
from curbside.types import Concept, DocumentKind, Query, QuestionType

__all__ = [
    "MAX_QUERY_CHARS",
    "Vocabulary",
    "americanise",
    "analyse",
    "asks_yes_no",
    "britishise",
    "classify",
    "expand_terms",
    "fts_expression",
    "fts_query",
    "natural_order",
    "split_terms",
    "standalone_question",
]

#: Longest question accepted, in characters; longer text is a document, not a question.
MAX_QUERY_CHARS: Final = 2000

#: Longest vocabulary term, in words, looked up in a question.
MAX_TERM_WORDS: Final = 6

# --------------------------------------------------------------------------------------
# Spelling variants.  Rules act on one lowercase word; both tables are deliberately
# narrow (word stems listed) because a general "ae" -> "e" rule would also rewrite
# "aerobic" or "aeruginosa" in the variants shown to users.

_Rule = tuple[re.Pattern[str], str]
_IZE = (  # stems whose British -ise/-ised/-ising is American -ize (not "exercise", "advise", "promise")
    "(random|hospital|standard|normal|immun|steril|optim|minim|character|local|general|stabil|categor|util"
    "|visual|recogn|special|revascular|vascular|organ|anonym|mobil|sensit|neutral|summar|central|emphas"
    "|priorit|metabol|ion|capital)"
)


_Rules = tuple[re.Pattern[str], tuple[_Rule, ...]]  # (any rule matches, the rules in order)


def _rules(table: str) -> _Rules:
    """Parse ``pattern replacement`` pairs, one per line; ``IZE`` and ``OUR`` expand to stem groups."""
    pairs = (line.split("#")[0].split() for line in table.strip().splitlines())
    stems = {"IZE": _IZE, "OUR": "(tum|col|behavi|hum|lab|fav|od|vap|rum)"}
    rules = tuple(
        (re.compile(functools.reduce(lambda p, kv: p.replace(*kv), stems.items(), pat)), repl)
        for pat, repl in pairs
    )
    return re.compile("|".join(f"(?:{p.pattern})" for p, _ in rules)), rules


_TO_AMERICAN: Final = _rules(
    r"""
    leuc(?=o(?!v)|a)                            leuk      # leucopenia, leucaemia; not leucovorin, leucine
    aemi                                        emi       # anaemia, ischaemic, septicaemia
    haem                                        hem       # haemorrhage, haematology
    oe(?=soph|dem|strog|strad|striol|strous)    e         # oesophagus, oedema, lymphoedema, oestrogen
    paed                                        ped       # paediatric, orthopaedic
    ^foet fet
    ^faec fec
    ^coeli celi
    ^caesar cesar
    ^caec cec
    anaes anes
    gynaec gynec
    ^aetiol etiol
    rrhoe rrhe                                            # diarrhoea, gonorrhoea
    pnoe pne                                              # dyspnoea, apnoea
    ^OURour \1or                                          # tumour, behavioural
    isation ization
    ^IZEis(e|ed|es|er|ers|ing)$ \1iz\2
    ^(ana|dia|para|cata|hydro|electro)lys(e|ed|ing)$ \1lyz\2
    ^(fib|cent|lit|theat|calib)re(s|d)?$ \1er\2
    sulph sulf
    ^ageing$ aging
    ^aluminium$ aluminum
    ^grey$ gray
    ^programme(s?)$ program\1
    ^manoeuvre(s?)$ maneuver\1
    ^defence(s?)$ defense\1
    """
)
_TO_BRITISH: Final = _rules(
    r"""
    ^leuk(?=o(?!v))                             leuc      # leukopenia -> leucopenia; leukemia -> leukaemia
    ^hem(?=o|a)                                 haem      # hemorrhage, hematoma; not hemisphere
    (?<!acad)(?<!a)emia$                        aemia
    (glyc|isch|an|ur|lipid|kal|natr|calc|tox|septic|leuk|vol|ox|bacter|vir)emic$ \1aemic
    ^(lymph)?edem \1oedem
    ^gastroesophag gastro-oesophag
    ^esophag oesophag
    ^estr(?=ogen|adiol|iol|ous$) oestr
    pediatr paediatr
    orthoped orthopaed
    ^fet(al|us|uses)$ foet\1
    ^fec(al|es)$ faec\1
    ^celiac coeliac
    ^cesarean caesarean
    ^cec(um|al)$ caec\1
    anesthe anaesthe
    gynec gynaec
    ^etiolog aetiolog
    rrhe(a|ic)$ rrhoe\1
    pnea$ pnoea
    ^OURor(s|ed|ing)?$ \1our\2
    ^behavioral$ behavioural
    ization isation
    ^IZEiz(e|ed|es|er|ers|ing)$ \1is\2
    ^(ana|dia|para|cata|hydro|electro)lyz(e|ed|ing)$ \1lys\2
    ^(fib|cent|lit|theat|calib)er(s?)$ \1re\2
    sulf sulph
    ^aging$ ageing
    ^aluminum$ aluminium
    ^gray$ grey
    ^maneuver(s?)$ manoeuvre\1
    ^defense(s?)$ defence\1
    """
)

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

_TOKEN: Final = re.compile(r"[^\W_]+")
_POSSESSIVE: Final = re.compile(r"(?<=\w)['’]s\b")


def _fold(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1 << 16)
def _norm_token(token: str) -> str:
    """The comparison form of one token: lowercase, unaccented, American, singular."""
    word = _apply(_TO_AMERICAN, _fold(token.lower())) if token.isalpha() else _fold(token.lower())
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _term_tokens(term: str) -> list[str]:
    return _TOKEN.findall(_POSSESSIVE.sub("", term))


def _key(tokens: Sequence[str]) -> str:
    return " ".join(_norm_token(t) for t in tokens)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    text: str


def _spans(text: str) -> list[_Span]:
    """Tokens of a question with offsets; the ``s`` of a possessive ("Crohn's") is dropped."""
    out = []
    for m in _TOKEN.finditer(text):
        if m.group() == "s" and m.start() > 0 and text[m.start() - 1] in "'’":
            continue
        out.append(_Span(m.start(), m.end(), m.group()))
    return out


# --------------------------------------------------------------------------------------
# Stop words.  Medical single letters (vitamin D, hepatitis B) are kept for concept
# matching; keywords drop them because alone they match nothing useful.


def _words(text: str, sep: str | None = None) -> frozenset[str]:
    return frozenset(w.strip() for w in text.split(sep) if w.strip())


_STOP_WORDS: Final = _words(
    """
    a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could couldn did didn do does doesn doing don down during each
    either else etc ever every few for from further get gets got had hadn has hasn have haven having he her
    here hers herself him himself his how however i if in into is isn it its itself just let lets like may
    me might mightn more most must mustn my myself neither no nor not now of off often on once one ones only
    or other others otherwise our ours ourselves out over own per please quite rather really s same shall
    shan she should shouldn so some such t than that the their theirs them themselves then there these they
    this those though through thus to too under until up upon us very via vs versus was wasn we were weren
    what whatever when whenever where whereas wherever whether which while who whom whose why will with
    within without won would wouldn yet you your yours yourself yourselves
    cause causes define definition meaning mean means explain describe tell know known best usual usually
    typical typically currently common commonly main difference differences much many kind kinds type
    types way ways thing things anything something someone anyone
    """
)
_STOP_KEYS: Final = frozenset(_norm_token(w) for w in _STOP_WORDS)

# Terms that name the *kind* of question or study, not its subject: never concepts (the
# question type carries them) even where MeSH has a descriptor of that name.
_GENERIC_TERMS: Final = _words(
    "therapeutics|treatment|therapy|management|diagnosis|prognosis|mortality|survival|death|risk|risk factors"
    "|time factors|treatment outcome|drug therapy|signs and symptoms|causality|etiology|disease|syndrome"
    "|patients|humans|persons|time|outcome|role|methods|research|evidence|efficacy|safety|effect|use"
    "|incidence|prevalence|association|symptoms|dose|dosage|physicians|health|comparison|hope|life|work"
    "|play|language|light|affect|lead|back|hand|arm|face|attitude|awareness|behavior|books|cells|communication"
    "|consensus|contraindications|culture|economics|education|emergencies|environment|fear|genes|goals"
    "|growth|happiness|history|knowledge|learning|love|marriage|medicine|motivation|names|perception"
    "|plasma|pleasure|policy|pressure|probability|reading|rest|running|serum|sound|teaching|thinking"
    "|tissues|trust|uncertainty|water|writing|air|art|music|color|movement|noise|family|friends",
    "|",
)
_GENERIC_KEYS: Final = frozenset(" ".join(_norm_token(w) for w in t.split()) for t in _GENERIC_TERMS)

# Populations and settings: concepts, but never the "main" concept a pronoun refers to.
_SECONDARY_KEYS: Final = frozenset(
    _norm_token(w)
    for w in _words(
        "child children infant infants newborn adult adults aged elderly adolescent adolescents women woman "
        "men man male female pregnancy pregnant population hospitals hospital mothers fathers parents nurses "
        "students volunteers dentists inpatients outpatients smokers"
    )
)


# --------------------------------------------------------------------------------------
# Vocabulary.

#: Environment variable naming a MeSH descriptor CSV for :meth:`Vocabulary.default`.
MESH_CSV_ENV: Final = "CURBSIDE_MESH_CSV"

# Abbreviations that are also English words: matched only in their written case.
_ABBREV_WORDS: Final = frozenset({"aids", "cart", "mind", "rest", "care", "dash"})


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
            tokens = _term_tokens(abbrev)
            if tokens:
                self._by_abbrev.setdefault(" ".join(tokens), index)
            letters = sum(c.isalpha() for c in abbrev)
            if (letters >= 4 or any(c.isdigit() for c in abbrev)) and abbrev.lower() not in _ABBREV_WORDS:
                self._register(abbrev, index)

    def _register(self, term: str, index: int) -> None:
        tokens = _term_tokens(term)
        if not tokens or len(tokens) > MAX_TERM_WORDS:
            return
        key = _key(tokens)
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
        tokens = _term_tokens(term)
        if not tokens:
            return None
        index = self._by_abbrev.get(" ".join(tokens))
        if index is None:
            index = self._by_key.get(_key(tokens))
        return None if index is None else self._concept(index, term.strip())

    def find(self, text: str) -> list[Concept]:
        """Concepts in ``text`` in reading order: longest terms first, no overlaps, each concept once."""
        spans = _spans(text)
        norms = [_norm_token(s.text) for s in spans]
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


# --------------------------------------------------------------------------------------
# Question type.

_AUX: Final = _words("is are does do can should could will has have was were did would may might must shall")
_WH: Final = _words(
    "what which who whom whose when where why how define describe explain list name tell give"
)
_CLAUSE: Final = re.compile(r"[:;,?!]|\.(?=\s)|\s[-–—]+\s|--")
_FIRST_WORD: Final = re.compile(r"[^\W\d_]+")

_COMPARISON: Final = re.compile(
    r"\bvs\b|\bversus\b|\bcompared? (?:with|to)\b|\bcomparisons? (?:of|between|with)\b|\bcompare\b"
    r"|\bdifferences? between\b|\b(?:better|worse|safer|more effective|less effective) than\b"
    r"|\b(?:superior|inferior|non-?inferior) to\b"
)
_DOSING: Final = re.compile(
    r"\bdos(?:e|es|ing|age|ages)\b|\b\d+(?:\.\d+)?\s*(?:mg|mcg|µg|g|ml|units?|iu)\b|\bmg(?:/kg)?\b|\bmcg\b"
    r"|\bhow much\b|\btitrat\w*"
)
# Intents searched by position: the earliest match wins ("risk factors for mortality" asks
# for causes, "mortality of ... treated with" for prognosis); ties go to the earlier entry.
_INTENTS: Final[tuple[tuple[QuestionType, re.Pattern[str]], ...]] = (
    (
        "prognosis",
        re.compile(
            r"\bprognos\w*|\bsurviv\w*|\boutcomes?\b|\bmortality\b|\blife expectancy\b|\bnatural history\b"
            r"|\brecurrence\b"
        ),
    ),
    (
        "diagnosis",
        re.compile(
            r"\bdiagnos\w*|\bhow (?:to|do you|do i|should i|can i|should we|do we) (?:test|screen|detect|confirm"
            r"|investigate|work)|\btest(?:s|ing)? for\b|\bwork-? ?up\b|\bevaluat\w*|\bscreen(?:ing)? for\b"
            r"|\binvestigations? (?:of|for)\b|\bdifferential\b"
        ),
    ),
    (
        "treatment",
        re.compile(
            r"\btreat\w*|\bmanag\w*|\btherap\w*|\bfirst-? ?line\b|\bsecond-? ?line\b|\bdrug of choice\b"
            r"|\bmedications? for\b|\bcured?\b"
        ),
    ),
    (
        "causes",
        re.compile(
            r"\bcaus\w*|\ba?etiolog\w*|\bwhy (?:do|does|is|are|did|would|can)\b|\brisk factors?\b"
            r"|\bpathogenesis\b|\bpathophysiolog\w*"
        ),
    ),
)
_DEFINITION: Final = re.compile(
    r"^\W*(?:what|who)(?:['’]s| is| are)\b|\bdefin\w*|\bclassif\w*|\bmeaning of\b"
    r"|\bwhat does .+ (?:mean|stand for)\b|\bexplain\b|\bdescribe\b"
)


def _is_yesno(lower: str) -> bool:
    """Starts with an auxiliary verb, or has a clause that does after a title ("Drug X: is it safe?")."""
    firsts = [m.group() for part in _CLAUSE.split(lower) if (m := _FIRST_WORD.search(part))]
    if not firsts:
        return False
    if firsts[0] in _AUX:
        return True
    return firsts[0] not in _WH and any(w in _AUX for w in firsts[1:])


#: A title-style question's last part starting with one of these asks for a topic, not a verdict
#: ("Leukopenia: causes?").
_TOPIC_WORDS: Final = _words(
    "cause causes etiology aetiology treatment treatments therapy management diagnosis definition dose "
    "dosing prognosis symptoms signs overview types classification options"
)
_TITLE_BREAK: Final = re.compile(r"[:,]|\.(?=\s)|\s[-–—]+\s|--")


def _is_title_yesno(lower: str) -> bool:
    """A title with a question after it and no question word: "Aripiprazole: a new risk factor for X?".

    Journal titles of this shape (most PubMedQA questions) ask whether the claim holds.
    """
    parts = [p for p in _TITLE_BREAK.split(lower.strip()) if p.strip()]
    if len(parts) < 2 or not lower.rstrip().endswith("?"):
        return False
    firsts = [m.group() for p in parts if (m := _FIRST_WORD.search(p))]
    return bool(firsts) and not any(w in _WH for w in firsts) and firsts[-1] not in _TOPIC_WORDS


def asks_yes_no(text: str) -> bool:
    """Whether ``text`` asks for a yes/no verdict, whatever else it asks ("Is A better than B?" too)."""
    lower = " ".join(text.lower().split())
    return _is_yesno(lower) or _is_title_yesno(lower)


def classify(text: str) -> QuestionType:
    """The type of a question, by rules tried in this order.

    1. comparison: "vs", "versus", "compared with", "difference between", "better than", "superior to";
    2. yesno: the question, or a clause after a title or comma ("Aspirin: does it work?",
       "In sepsis, do steroids help?"), starts with an auxiliary verb (is, are, does, do, can,
       should, could, will, has, have, was, were, did, would, may, might, must, shall);
    3. dosing: "dose", "dosing", "mg", "how much";
    4. the earliest of the prognosis / diagnosis / treatment / causes cue words;
    5. definition: "what is", "define", "classification", "meaning of";
    6. general.

    A comparison asked as a yes/no question ("Is A better than B?") is a comparison: the
    answer needs both arms side by side, not only a verdict.  Yes/no comes before dosing
    because "Does high-dose vitamin D prevent falls?" asks about an effect, not a dose.
    """
    lower = " ".join(text.lower().split())
    if _COMPARISON.search(lower):
        return "comparison"
    if _is_yesno(lower) or _is_title_yesno(lower):
        return "yesno"
    if _DOSING.search(lower):
        return "dosing"
    best: tuple[int, QuestionType] | None = None
    for qtype, pattern in _INTENTS:
        m = pattern.search(lower)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), qtype)
    if best is not None:
        return best[1]
    if _DEFINITION.search(lower):
        return "definition"
    return "general"


# --------------------------------------------------------------------------------------
# Analysis.

_KEYWORD: Final = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:-[^\W_]+)*")
_KINDS: Final = frozenset(get_args(DocumentKind))


def _keywords(text: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for m in _KEYWORD.finditer(_POSSESSIVE.sub("", text)):
        word = m.group().lower()
        if word in _STOP_WORDS or (len(word) == 1 and not word.isdigit()):
            continue
        if "-" in word and all(p in _STOP_WORDS or len(p) == 1 for p in word.split("-")):
            continue
        out[word] = None
    return tuple(out)


def analyse(
    text: str,
    *,
    vocabulary: Vocabulary | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    publication_types: Sequence[str] = (),
    kinds: Sequence[str] = (),
) -> Query:
    """Validate and analyse a question into a :class:`~curbside.types.Query`.

    Raises :class:`~curbside.errors.QueryError` when the text is empty, longer than
    :data:`MAX_QUERY_CHARS`, has nothing but stop words and punctuation, or the
    filters contradict each other.  ``vocabulary`` defaults to :meth:`Vocabulary.default`.
    """
    clean = " ".join(text.split())
    if not clean:
        raise QueryError("the query is empty", hint="Ask a clinical question, e.g. 'What causes leukopenia?'")
    if len(clean) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(clean):,} characters long; the limit is {MAX_QUERY_CHARS:,}",
            hint="Ask the question in a sentence or two.",
        )
    if year_from is not None and year_to is not None and year_from > year_to:
        raise QueryError(f"the year range is empty: from {year_from} is after to {year_to}")
    bad_kinds = [k for k in kinds if k not in _KINDS]
    if bad_kinds:
        raise QueryError(
            f"unknown document kind {', '.join(map(repr, bad_kinds))}; known kinds: {', '.join(sorted(_KINDS))}"
        )
    vocab = vocabulary if vocabulary is not None else Vocabulary.default()
    keywords = _keywords(clean)
    concepts = tuple(vocab.find(clean))
    if not keywords and not concepts:
        shown = clean if len(clean) <= 60 else clean[:57] + "..."
        raise QueryError(
            f"the query has no searchable words: {shown!r} is only stop words and punctuation",
            hint="Name the condition, drug or test you are asking about.",
        )
    return Query(
        text=clean,
        qtype=classify(clean),
        concepts=concepts,
        keywords=keywords,
        year_from=year_from,
        year_to=year_to,
        publication_types=tuple(publication_types),
        kinds=tuple(kinds),
    )


def expand_terms(query: Query) -> list[str]:
    """Every lexical search term of a query, lowercased and deduplicated.

    Keywords first, then for each concept its preferred name, synonyms and narrower
    terms (MeSH inverted names in reading order, since that is how text says them).
    The order matters to callers that cut the list short: the question's own words
    come before the expansions.
    """
    out: dict[str, None] = {}

    def add(term: str) -> None:
        term = " ".join(term.lower().split())
        if term:
            out.setdefault(term, None)

    for word in query.keywords:
        add(word)
    for concept in query.concepts:
        add(natural_order(concept.preferred))
        for term in concept.synonyms:
            add(natural_order(term))
        for term in concept.narrower:
            add(natural_order(term))
    return list(out)


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def split_terms(query: Query) -> tuple[list[str], list[str]]:
    """:func:`expand_terms` in two groups: the question's own words, and what expansion adds.

    The first group is the keywords with their British and American spellings
    ("leucopenia", "leukopenia"): a paper uses one spelling, so searching both
    never counts a word twice.  The second is every other concept term
    (preferred names, synonyms, narrower terms).  Retrieval searches the two
    separately and gives the second less weight, because ORing synonyms in with
    equal weight lets a concept with many names outvote the rest of the question.
    An expansion phrase that contains another expansion term is left out.
    """
    own: dict[str, None] = {}
    for word in query.keywords:
        for variant in (word, americanise(word), britishise(word)):
            own.setdefault(variant, None)
    added = [t for t in expand_terms(query) if t not in own]
    # In an OR query a phrase that contains another term ("febrile neutropenia" and
    # "neutropenia") finds nothing new and only counts the same words twice.
    padded = {t: f" {' '.join(_TOKEN.findall(t))} " for t in added}
    added = [
        t for t in added if not any(o != t and padded[o].strip() and padded[o] in padded[t] for o in added)
    ]
    return list(own), added


def fts_expression(terms: Sequence[str]) -> str | None:
    """Terms as an FTS5 ``MATCH`` expression of quoted phrases joined by ``OR``; ``None`` when none is left."""
    phrases = []
    for term in terms:
        cleaned = " ".join(_CONTROL.sub(" ", term).split())
        if cleaned:
            phrases.append('"' + cleaned.replace('"', '""') + '"')
    return " OR ".join(phrases) if phrases else None


def fts_query(query: Query) -> str:
    """An SQLite FTS5 ``MATCH`` expression: every :func:`expand_terms` term as a quoted phrase, ORed.

    Quoting makes every term a phrase (FTS5 operators such as AND, NEAR, ``*`` or
    ``^`` inside it are plain words) and doubled inner quotes keep it closed;
    control characters are removed because FTS5 stops reading at a NUL.
    """
    expression = fts_expression(expand_terms(query))
    if expression is None:
        raise QueryError(f"the query has no searchable words: {query.text!r}")
    return expression


# --------------------------------------------------------------------------------------
# Follow-up questions.

_REFERRING_NOUNS: Final = (
    "conditions?|diseases?|disorders?|illness(?:es)?|problems?|syndromes?|infections?|drugs?|medications?"
    "|medicines?|agents?|tumou?rs?|cancers?"
)
_DETERMINER_NOUNS: Final = _words(
    "dose dosage test result level finding patient case study approach regimen option procedure symptom sign "
    "complication risk age group population effect side treatment therapy one time"
)
_DUMMY_IT: Final = re.compile(
    r"\bit(?:['’]s|\s+is|\s+was)?\s+(?:(?:very|really|ever|still|also|always|ever)\s+)?"
    r"(?:safe|possible|true|necessary|worth|better|ok|okay|advisable|important|reasonable|appropriate|useful"
    r"|wise|normal|dangerous|likely|unlikely|common|rare|recommended|known)\s+(?:to|that|for\s+\w+\s+to)\b",
    re.IGNORECASE,
)
_PRONOUN: Final = re.compile(
    rf"\b(?P<det>this|that|these|those|the)\s+(?P<noun>{_REFERRING_NOUNS})\b"
    r"|\b(?P<poss>its|their)\b"
    r"|\b(?P<pron>it|they|them)\b"
    r"|\b(?P<bare>this|these|those)\b(?P<next>\s+[\w-]+)?",
    re.IGNORECASE,
)
_INTENT_NOUNS: Final = frozenset(
    _norm_token(w)
    for w in _words(
        "treatment management diagnosis prognosis cause causes symptoms complications dose dosing prevention "
        "screening risk effects mortality outcome outcomes therapy workup investigations tests options "
        "guidelines incidence prevalence pathophysiology"
    )
)
_FRAME_WORDS: Final = _STOP_WORDS | _words(
    "treated treat treatment treatments management managed manage diagnosed diagnosis diagnose prognosis "
    "caused symptoms signs dose dosing risk factors therapy effective safe first-line options role"
)
_OBJECT_VERBS: Final = _words(
    "stop start use give take continue prescribe switch add avoid treat test screen monitor repeat restart"
)
_CARRY_PREP: Final = re.compile(
    r"^(?P<lead>(?:(?:and|but|so|what|how)\s+)*(?:about\s+)?)"
    r"(?P<prep>in|with|for|during|after|before|among|without)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)


def _display(concept: Concept, question: str) -> str:
    """The concept as written, lowercased if it only has a capital because it opens the question."""
    text = concept.text
    if question.startswith(text) and text[:1].isupper() and text[1:2].islower():
        first = text.split()[0]
        eponym = any(s.startswith(first) and not s.isupper() for s in concept.synonyms)
        if not eponym:
            return text[0].lower() + text[1:]
    return text


def _subjects(question: str, vocab: Vocabulary) -> list[str]:
    """The main concepts of an earlier question, or failing that its longest run of content words."""
    main = [
        _display(c, question)
        for c in vocab.find(question)
        if _key(_term_tokens(c.text)) not in _SECONDARY_KEYS
    ]
    if main:
        return main
    best: list[str] = []
    run: list[str] = []
    for m in _KEYWORD.finditer(_POSSESSIVE.sub("", question)):
        if m.group().lower() in _FRAME_WORDS:
            run = []
            continue
        run.append(m.group())
        if len(run) > len(best):
            best = list(run)
    return [" ".join(best)] if best else []


def _capitalise_at_start(text: str, start: int, replacement: str) -> str:
    return replacement[:1].upper() + replacement[1:] if start == 0 else replacement


def _resolve_pronouns(text: str, subjects: list[str]) -> tuple[str, bool]:
    it, they = subjects[0], " and ".join(subjects[:3])
    dummy = {m.start() for m in _DUMMY_IT.finditer(text)}
    replaced = False

    def repl(m: re.Match[str]) -> str:
        nonlocal replaced
        plural = m.group().lower().startswith(("these", "those", "they", "them", "their"))
        subject = they if plural else it
        if m.group("det"):
            if m.group("det").lower() == "the" and m.group("noun").lower().startswith(
                ("drug", "medic", "agent")
            ):
                return m.group()  # "the drug" may introduce a new one
            out = subject
        elif m.group("poss"):
            out = subject + "'s"
        elif m.group("pron"):
            if m.start() in dummy:
                return m.group()
            out = subject
        else:
            following = (m.group("next") or "").strip().lower()
            if following in _DETERMINER_NOUNS:
                return m.group()  # "this dose": a determiner, not a pronoun
            out = subject + (m.group("next") or "")
        replaced = True
        return _capitalise_at_start(text, m.start(), out)

    return _PRONOUN.sub(repl, text), replaced


def _carry(text: str, subject: str) -> str:
    """Attach ``subject`` to a follow-up that has none, with a joining word chosen by its last word."""
    body = text.rstrip("?.! ")
    end = text[len(body) :].strip()
    m = _CARRY_PREP.match(body)
    if m:  # "And in children?" -> "And leukopenia in children?"
        joined = f"{m.group('lead')}{subject} {m.group('prep')} {m.group('rest')}"
        return joined[:1].upper() + joined[1:] + end
    words = _KEYWORD.findall(body)
    last = _norm_token(words[-1]) if words else ""
    if last in _SECONDARY_KEYS:
        joiner = " with "  # "What about children?" -> "... children with leukopenia?"
    elif last in _INTENT_NOUNS:
        joiner = " of "  # "And the treatment?" -> "... the treatment of leukopenia?"
    elif last in _OBJECT_VERBS:
        joiner = " "  # "Is it safe to stop?" -> "... to stop metformin?"
    elif last.endswith("ed"):
        joiner = " for "  # "Is surgery needed?" -> "... needed for appendicitis?"
    else:
        joiner = " in "
    return f"{body}{joiner}{subject}{end}"


def standalone_question(
    follow_up: str, history: Sequence[str], *, vocabulary: Vocabulary | None = None
) -> str:
    """Rewrite a follow-up question so it can be searched without the conversation.

    ``history`` holds the earlier questions, oldest first.  The subject is the main
    concepts (not populations such as "children") of the latest earlier question that
    has any.  Pronouns ("it", "they", "its", "this condition") become that subject;
    a follow-up with no concept of its own and no pronoun gets the first of them
    attached ("And in children?" -> "And leukopenia in children?"); one concept keeps
    the rewritten sentence readable ("to stop metformin", not "to stop metformin and CKD").  Without history, or when
    the follow-up names its own subject, it is returned with whitespace tidied.

    >>> standalone_question("How is it treated?", ["What are the causes of leukopenia?"])
    'How is leukopenia treated?'
    """
    text = " ".join(follow_up.split())
    if not text or not history:
        return text
    vocab = vocabulary if vocabulary is not None else Vocabulary.default()
    subjects: list[str] = []
    for turn in reversed(history):
        subjects = _subjects(" ".join(turn.split()), vocab)
        if subjects:
            break
    if not subjects:
        return text
    resolved, replaced = _resolve_pronouns(text, subjects)
    if replaced:
        return resolved
    own = [c for c in vocab.find(text) if _key(_term_tokens(c.text)) not in _SECONDARY_KEYS]
    return text if own else _carry(text, subjects[0])
