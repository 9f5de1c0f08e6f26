"""Question typing, vocabulary lookup, keywords, FTS5 expressions and follow-up rewriting."""

from __future__ import annotations

import csv
import gzip
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curbside.errors import ConfigError, InputError, QueryError, SourceError, SourceFormatError
from curbside.retrieval.questions import (
    MAX_QUERY_CHARS,
    Vocabulary,
    americanise,
    analyse,
    asks_yes_no,
    britishise,
    classify,
    expand_terms,
    fts_expression,
    fts_query,
    natural_order,
    split_terms,
    standalone_question,
)
from curbside.retrieval.vocabulary import MESH_CSV_ENV
from curbside.types import Concept, Query

FIXTURES = Path(__file__).parent / "fixtures"
TINY_MESH = FIXTURES / "mesh" / "mesh_descriptors_tiny.csv"
TINY_MESH_XML = FIXTURES / "mesh" / "desc_tiny.xml"


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    """The built-in vocabulary only, so results do not depend on the shared MeSH file."""
    return Vocabulary.builtin()


@pytest.fixture
def fts() -> Iterator[sqlite3.Connection]:
    """An in-memory FTS5 table with the tokenizer the SQLite store uses."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')")
    yield conn
    conn.close()


# -- classify --------------------------------------------------------------------------

CLASSIFIED = [
    ("What is leukopenia?", "definition"),
    ("Define agranulocytosis", "definition"),
    ("What is the definition of febrile neutropenia?", "definition"),
    ("Classification of lupus nephritis", "definition"),
    ("What are the causes of leukopenia?", "causes"),
    ("What causes a low white cell count in adults?", "causes"),
    ("Why does metformin lead to lactic acidosis?", "causes"),
    ("Risk factors for venous thromboembolism after hip surgery", "causes"),
    ("Etiology of acute pancreatitis in children", "causes"),
    ("How to diagnose pulmonary embolism in pregnancy?", "diagnosis"),
    ("Workup of a patient with unexplained anaemia", "diagnosis"),
    ("How should I evaluate a thyroid nodule?", "diagnosis"),
    ("Diagnostic criteria for Kawasaki disease", "diagnosis"),
    ("How is leukopenia treated?", "treatment"),
    ("What is the first-line therapy for community-acquired pneumonia?", "treatment"),
    ("Management of hyperkalaemia in the emergency department", "treatment"),
    ("How do you manage gout flares in CKD?", "treatment"),
    ("What is the dose of amoxicillin for otitis media?", "dosing"),
    ("Amoxicillin dosing in renal impairment", "dosing"),
    ("How much paracetamol can a child take per day?", "dosing"),
    ("Enoxaparin 1 mg/kg twice daily for DVT: when to reduce?", "dosing"),
    ("What is the prognosis of amyotrophic lateral sclerosis?", "prognosis"),
    ("Five-year survival after resection of pancreatic cancer", "prognosis"),
    ("Long-term outcome of Kawasaki disease with coronary aneurysms", "prognosis"),
    ("Mortality of septic shock treated with steroids", "prognosis"),
    ("Apixaban vs warfarin in atrial fibrillation", "comparison"),
    ("Apixaban versus rivaroxaban for VTE", "comparison"),
    ("What is the difference between type 1 and type 2 diabetes?", "comparison"),
    ("Is laparoscopic appendectomy better than open appendectomy?", "comparison"),
    ("Metformin compared with sulfonylureas as second drug", "comparison"),
    ("Is leukopenia dangerous?", "yesno"),
    ("Does vitamin D prevent falls in older adults?", "yesno"),
    ("Can statins cause myopathy?", "yesno"),
    ("Should aspirin be stopped before dental extraction?", "yesno"),
    ("Are SGLT2 inhibitors safe in type 1 diabetes?", "yesno"),
    ("Did the campaign change antibiotic use?", "yesno"),
    ("Aspirin after stroke: does it prevent recurrence?", "yesno"),
    ("In adults with sepsis, do steroids reduce mortality?", "yesno"),
    ("Aripiprazole: a new risk factor for pathological gambling?", "yesno"),
    ("Actinobaculum schaalii, a cause of urinary tract infections in children?", "yesno"),
    ("Leukopenia: causes?", "causes"),
    ("Sepsis: what is the first-line antibiotic?", "treatment"),
    ("Tell me about gout", "general"),
    ("Metformin in pregnancy", "general"),
    ("How common is coeliac disease in Europe?", "general"),
]


@pytest.mark.parametrize(("question", "expected"), CLASSIFIED)
def test_classify(question: str, expected: str) -> None:
    assert classify(question) == expected


def test_classification_table_covers_every_type() -> None:
    assert {t for _, t in CLASSIFIED} == {
        "definition",
        "causes",
        "diagnosis",
        "treatment",
        "dosing",
        "prognosis",
        "comparison",
        "yesno",
        "general",
    }


@pytest.mark.shared_data
def test_pubmedqa_questions_are_mostly_yesno(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "pubmedqa" / "pubmedqa_dev.json"
    if not path.exists():
        pytest.skip(f"{path} not found")
    questions = [item["QUESTION"] for item in json.loads(path.read_text(encoding="utf-8")).values()]
    share = sum(classify(q) == "yesno" for q in questions) / len(questions)
    with capsys.disabled():
        print(f"\nPubMedQA: {share:.1%} of {len(questions)} questions classified yesno")
    # Measured 97.6%: the rest are comparisons ("Is A superior to B?", still yes/no: see asks_yes_no)
    # and verbless titles without a colon ("Uniformity of evidence-based treatments in practice?").
    assert share >= 0.95


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Is laparoscopic appendectomy better than open appendectomy?", True),
        ("Cold knife conization vs. LEEP. Are they the same procedure?", True),
        ("Metformin in pregnancy: safe?", True),
        ("Apixaban vs warfarin in atrial fibrillation", False),
        ("What are the causes of leukopenia?", False),
        ("Causes of leukopenia?", False),
        ("Leukopenia: causes?", False),
    ],
)
def test_asks_yes_no(question: str, expected: bool) -> None:
    assert asks_yes_no(question) is expected


# -- spelling ---------------------------------------------------------------------------

SPELLINGS = [
    ("leucopenia", "leukopenia"),
    ("leucocyte", "leukocyte"),
    ("anaemia", "anemia"),
    ("leukaemia", "leukemia"),
    ("haemorrhage", "hemorrhage"),
    ("haematoma", "hematoma"),
    ("oedema", "edema"),
    ("lymphoedema", "lymphedema"),
    ("oesophageal", "esophageal"),
    ("oestrogen", "estrogen"),
    ("paediatric", "pediatric"),
    ("orthopaedic", "orthopedic"),
    ("tumour", "tumor"),
    ("behavioural", "behavioral"),
    ("ischaemic", "ischemic"),
    ("hypoglycaemia", "hypoglycemia"),
    ("septicaemia", "septicemia"),
    ("diarrhoea", "diarrhea"),
    ("dyspnoea", "dyspnea"),
    ("coeliac", "celiac"),
    ("caesarean", "cesarean"),
    ("anaesthesia", "anesthesia"),
    ("gynaecology", "gynecology"),
    ("aetiology", "etiology"),
    ("foetal", "fetal"),
    ("faecal", "fecal"),
    ("randomised", "randomized"),
    ("hospitalisation", "hospitalization"),
    ("analysed", "analyzed"),
    ("fibre", "fiber"),
    ("centre", "center"),
    ("sulphonylurea", "sulfonylurea"),
    ("ageing", "aging"),
]


@pytest.mark.parametrize(("british", "american"), SPELLINGS)
def test_spelling_variants_go_both_ways(british: str, american: str) -> None:
    assert americanise(british) == american
    assert britishise(american) == british
    assert americanise(american) == american
    assert britishise(british) == british


@pytest.mark.parametrize(
    "word",
    ["aerobic", "aeruginosa", "exercise", "advised", "leucine", "leucovorin", "hemisphere", "academia", "systemic",
     "endemic", "colorectal", "humoral", "disease", "analyses"],
)  # fmt: skip
def test_spelling_rules_leave_other_words_alone(word: str) -> None:
    assert americanise(word) == word
    assert britishise(word) == word


def test_spelling_keeps_punctuation_and_lowercases() -> None:
    assert americanise("Iron-Deficiency Anaemia, severe") == "iron-deficiency anemia, severe"
    assert britishise("Gastroesophageal Reflux") == "gastro-oesophageal reflux"


def test_natural_order() -> None:
    assert natural_order("Anemia, Iron-Deficiency") == "Iron-Deficiency Anemia"
    assert natural_order("Anemia, Hemolytic, Autoimmune") == "Autoimmune Hemolytic Anemia"
    assert natural_order("Leukopenia") == "Leukopenia"


# -- vocabulary -------------------------------------------------------------------------


def test_british_spelling_finds_mesh_concept_with_narrower_terms(vocab: Vocabulary) -> None:
    concept = vocab.lookup("leucopenia")
    assert concept is not None
    assert concept.preferred == "Leukopenia"
    assert concept.text == "leucopenia"
    assert concept.mesh_ui == "D007970"
    assert {"Neutropenia", "Lymphopenia", "Agranulocytosis"} <= set(concept.narrower)


def test_spelling_rules_apply_to_terms_not_written_in_the_data(vocab: Vocabulary) -> None:
    # "leucopaenia" is in no list; rules map "leuc" and plural forms onto the entry.
    for variant in ("Leukopenias", "leucopenias", "LEUKOPENIA"):
        concept = vocab.lookup(variant)
        assert concept is not None and concept.preferred == "Leukopenia", variant
    anaemia = vocab.lookup("haemolytic anaemia")
    assert anaemia is not None and anaemia.preferred == "Anemia, Hemolytic"


def test_concept_synonyms_include_spelling_variants_and_reading_order(vocab: Vocabulary) -> None:
    concept = vocab.lookup("anemia")
    assert concept is not None and concept.preferred == "Anemia"
    assert "anaemia" in concept.synonyms
    assert "Anemia, Iron-Deficiency" in concept.narrower
    iron = vocab.lookup("iron deficiency anemia")
    assert iron is not None
    assert "Iron-Deficiency Anemia" in iron.synonyms
    assert "iron-deficiency anaemia" in iron.synonyms
    assert iron.preferred not in iron.synonyms


def test_abbreviation_expands(vocab: Vocabulary) -> None:
    concept = vocab.lookup("WBC")
    assert concept is not None
    assert concept.preferred == "Leukocyte Count"
    assert "white blood cell count" in concept.synonyms
    for abbrev, preferred in [
        ("MI", "Myocardial Infarction"),
        ("CHF", "Heart Failure"),
        ("COPD", "Pulmonary Disease, Chronic Obstructive"),
        ("DVT", "Venous Thrombosis"),
        ("PE", "Pulmonary Embolism"),
        ("HIV", "HIV Infections"),
        ("SLE", "Lupus Erythematosus, Systemic"),
        ("RA", "Arthritis, Rheumatoid"),
        ("AKI", "Acute Kidney Injury"),
        ("CKD", "Renal Insufficiency, Chronic"),
        ("T2DM", "Diabetes Mellitus, Type 2"),
        ("HTN", "Hypertension"),
        ("AF", "Atrial Fibrillation"),
        ("ANC", "Absolute Neutrophil Count"),
        ("CBC", "Blood Cell Count"),
        ("G-CSF", "Granulocyte Colony-Stimulating Factor"),
    ]:
        found = vocab.lookup(abbrev)
        assert found is not None and found.preferred == preferred, abbrev


def test_short_abbreviations_need_their_written_case(vocab: Vocabulary) -> None:
    assert vocab.lookup("ALL") is not None
    assert vocab.lookup("all") is None
    assert vocab.lookup("pe") is None
    assert vocab.lookup("aids") is None  # the English word; AIDS is matched in capitals
    assert vocab.lookup("AIDS") is not None
    copd = vocab.lookup("copd")  # four letters and not a word: any case
    assert copd is not None and copd.preferred == "Pulmonary Disease, Chronic Obstructive"
    assert [c.preferred for c in vocab.find("Is it all in the mind?")] == []


def test_find_prefers_longest_terms_without_overlap(vocab: Vocabulary) -> None:
    found = vocab.find("Is iron deficiency anaemia in chronic kidney disease treated with IV iron?")
    assert [c.preferred for c in found] == ["Anemia, Iron-Deficiency", "Renal Insufficiency, Chronic", "Iron"]
    assert [c.text for c in found] == ["iron deficiency anaemia", "chronic kidney disease", "iron"]


def test_find_reports_each_concept_once_in_reading_order(vocab: Vocabulary) -> None:
    found = vocab.find("Crohn's disease or ulcerative colitis: is Crohn disease worse than UC?")
    assert [c.preferred for c in found] == ["Crohn Disease", "Colitis, Ulcerative"]
    assert found[0].text == "Crohn's disease"


def test_vocabulary_add_merges_by_preferred_name() -> None:
    v = Vocabulary()
    v.add("Leukopenia", synonyms=["low white count"])
    v.add("leukopenia", synonyms=["leucopenia"], narrower=["Neutropenia"], mesh_ui="D007970")
    assert len(v) == 1
    concept = v.lookup("low white count")
    assert concept is not None
    assert concept.mesh_ui == "D007970"
    assert concept.narrower == ("Neutropenia",)
    assert "Neutropenia" not in v  # narrower terms are search terms, not lookup keys
    with pytest.raises(InputError, match="preferred name"):
        v.add("  ")


def test_generic_terms_are_not_concepts() -> None:
    v = Vocabulary()
    v.load_mesh_csv(TINY_MESH)
    assert v.lookup("patients") is None  # MeSH "Patients" names a study population, not a subject
    assert v.lookup("syndrome") is None
    assert v.lookup("Wounds and Injuries") is not None


def test_builtin_vocabulary_file_is_small_and_valid() -> None:
    path = Path(__file__).parents[1] / "src" / "curbside" / "data" / "vocabulary.json"
    assert path.stat().st_size < 60_000
    v = Vocabulary.builtin()
    assert 150 <= len(v) <= 500
    assert v.sources == [f"built-in ({len(v)} concepts)"]


# -- MeSH CSV ---------------------------------------------------------------------------


def test_load_mesh_csv_fixture() -> None:
    v = Vocabulary()
    rows = v.load_mesh_csv(TINY_MESH)
    assert rows == 11  # 13 data rows less one of another scheme and one empty
    assert v.sources == [f"{TINY_MESH} (11 descriptors)"]
    ph = v.lookup("pulmonary hypertension")  # inverted name found in reading order
    assert ph is not None and (ph.preferred, ph.mesh_ui) == ("Hypertension, Pulmonary", "D006976")
    bleed = v.lookup("haemorrhage")  # spelling rules apply to MeSH names too
    assert bleed is not None and (bleed.preferred, bleed.mesh_ui) == ("Hemorrhage", "D006470")
    wounds = v.lookup("wounds and injuries")
    assert wounds is not None and wounds.mesh_ui == "D014947"  # bare UI in the id column
    assert v.lookup("zebra disease") is None  # another scheme
    covid = v.find("Does COVID-19 cause leucopenia?")
    assert [c.preferred for c in covid] == ["COVID-19", "Leukopenia"]


def test_mesh_csv_fills_ui_but_builtin_entries_win() -> None:
    v = Vocabulary()
    v.add("Leukopenia", synonyms=["leucopenia"], narrower=["Neutropenia"])
    v.load_mesh_csv(TINY_MESH)
    concept = v.lookup("leucopenia")
    assert concept is not None
    assert concept.mesh_ui == "D007970"
    assert concept.narrower == ("Neutropenia",)


def test_load_mesh_csv_reads_gzip(tmp_path: Path) -> None:
    gz = tmp_path / "mesh.csv.gz"
    gz.write_bytes(gzip.compress(TINY_MESH.read_bytes()))
    assert Vocabulary().load_mesh_csv(gz) == 11


def test_load_mesh_csv_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ui,name\nD1,Thing\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"bad\.csv.*lacks 'id' and 'subject'"):
        Vocabulary().load_mesh_csv(bad)
    with pytest.raises(SourceError, match=r"missing\.csv: cannot read"):
        Vocabulary().load_mesh_csv(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,scheme,subject\nD1,MeSH,Sj\xf6gren\n")
    with pytest.raises(SourceFormatError, match=r"latin\.csv"):
        Vocabulary().load_mesh_csv(latin)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(TINY_MESH.read_bytes())[:60])
    with pytest.raises(SourceFormatError, match=r"broken\.csv\.gz"):
        Vocabulary().load_mesh_csv(broken)


def test_load_json_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "extra.json"
    good.write_text(json.dumps({"concepts": [{"preferred": "Foobaritis", "synonyms": ["foo fever"]}]}))
    v = Vocabulary()
    assert v.load_json(good) == 1
    found = v.lookup("foo fever")
    assert found is not None and found.preferred == "Foobaritis"
    cases = {
        "notjson.json": ("{", "not a JSON vocabulary file"),
        "nolist.json": ('{"concepts": 3}', "'concepts' list"),
        "nopref.json": (
            '{"concepts": [{"synonyms": []}]}',
            "concept 1: expected an object with a 'preferred'",
        ),
        "badsyn.json": ('{"concepts": [{"preferred": "X", "synonyms": "x"}]}', "concept 1 'synonyms'"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=message) as info:
            Vocabulary().load_json(path)
        assert name in str(info.value)
    with pytest.raises(InputError, match="cannot read"):
        Vocabulary().load_json(tmp_path / "absent.json")


def test_default_vocabulary_uses_env_csv_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MESH_CSV_ENV, str(TINY_MESH))
    first = Vocabulary.default()
    assert first is Vocabulary.default()
    assert any(str(TINY_MESH) in s for s in first.sources)
    assert first.lookup("wounds and injuries") is not None  # only in the fixture
    assert first.lookup("leucopenia") is not None  # built-in


def test_default_vocabulary_rejects_missing_env_csv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MESH_CSV_ENV, str(tmp_path / "nope.csv"))
    with pytest.raises(ConfigError, match=r"CURBSIDE_MESH_CSV points to .*nope\.csv"):
        Vocabulary.default()


@pytest.mark.shared_data
def test_shared_mesh_csv(shared_data: Path) -> None:
    path = shared_data / "mesh" / "mesh_descriptors_2026_invenio_lite.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    v = Vocabulary.builtin()
    assert v.load_mesh_csv(path) == 30_532
    neutropenia = v.lookup("neutropenia")
    assert neutropenia is not None and neutropenia.mesh_ui == "D009503"
    found = v.find("Does cycloplegic autorefraction help in young adults with keratoconus?")
    assert "Keratoconus" in [c.preferred for c in found]
    # Every UI written by hand in the built-in file belongs to the descriptor of that name.
    with path.open(encoding="utf-8", newline="") as fh:
        ui_by_name = {row["subject"]: row["id"].rsplit("/", 1)[-1] for row in csv.DictReader(fh)}
    builtin = json.loads((Path(__file__).parents[1] / "src/curbside/data/vocabulary.json").read_text())
    wrong = [
        c["preferred"]
        for c in builtin["concepts"]
        if c.get("mesh_ui") and ui_by_name.get(c["preferred"]) != c["mesh_ui"]
    ]
    assert wrong == []


# -- analyse ----------------------------------------------------------------------------


def test_analyse_builds_query(vocab: Vocabulary) -> None:
    q = analyse(
        "  What are the causes of leucopenia in  children? ",
        vocabulary=vocab,
        year_from=2010,
        year_to=2024,
        publication_types=("Review",),
        kinds=("review", "guideline"),
    )
    assert q.text == "What are the causes of leucopenia in children?"
    assert q.qtype == "causes"
    assert q.keywords == ("leucopenia", "children")
    assert [c.preferred for c in q.concepts] == ["Leukopenia"]
    assert (q.year_from, q.year_to, q.publication_types, q.kinds) == (
        2010,
        2024,
        ("Review",),
        ("review", "guideline"),
    )
    assert q.exclude_retracted


def test_keywords_keep_numbers_hyphens_and_medical_words(vocab: Vocabulary) -> None:
    q = analyse("Is 5-FU at 2.5 mg/kg safe in COVID-19 with an ANC of 800?", vocabulary=vocab)
    assert q.keywords == ("5-fu", "2.5", "mg", "kg", "safe", "covid-19", "anc", "800")
    q = analyse("What's the role of vitamin D in Crohn's disease?", vocabulary=vocab)
    assert q.keywords == ("role", "vitamin", "crohn", "disease")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_query_is_rejected(text: str, vocab: Vocabulary) -> None:
    with pytest.raises(QueryError, match="the query is empty"):
        analyse(text, vocabulary=vocab)


@pytest.mark.parametrize("text", ["What is the?", "?!...", "and or but if", "Is it?", "— * ( ) \" '"])
def test_stop_words_only_query_is_rejected(text: str, vocab: Vocabulary) -> None:
    with pytest.raises(QueryError, match="the query has no searchable words"):
        analyse(text, vocabulary=vocab)


def test_overlong_query_is_rejected_with_length_and_limit(vocab: Vocabulary) -> None:
    with pytest.raises(QueryError) as info:
        analyse("leukopenia " * 909 + "x", vocabulary=vocab)  # 10,000 characters
    assert "10,000 characters" in str(info.value)
    assert f"{MAX_QUERY_CHARS:,}" in str(info.value)
    analyse("a" * MAX_QUERY_CHARS, vocabulary=vocab)  # exactly the limit is fine


def test_bad_filters_are_rejected(vocab: Vocabulary) -> None:
    with pytest.raises(QueryError, match="from 2020 is after to 2010"):
        analyse("leukopenia", vocabulary=vocab, year_from=2020, year_to=2010)
    with pytest.raises(QueryError, match="unknown document kind 'blog'"):
        analyse("leukopenia", vocabulary=vocab, kinds=("blog",))


# -- expand_terms and fts_query ---------------------------------------------------------


def test_expand_terms(vocab: Vocabulary) -> None:
    terms = expand_terms(analyse("How is anaemia treated?", vocabulary=vocab))
    assert terms[:3] == ["anaemia", "treated", "anemia"]  # keywords first, then the concept
    assert "iron-deficiency anemia" in terms  # narrower, in reading order
    assert "sickle cell anemia" in terms
    assert len(terms) == len(set(terms))
    assert all(t == t.lower() for t in terms)


def test_fts_query_quotes_every_term(vocab: Vocabulary) -> None:
    q = analyse("Causes of leucopenia?", vocabulary=vocab)
    expr = fts_query(q)
    assert expr.startswith('"leucopenia" OR "leukopenia" OR ')
    assert '"febrile neutropenia"' in expr
    tricky = Query(
        text="x", qtype="general", concepts=(), keywords=('say "hi"', "a\x00b", "NEAR", "x*", "  ")
    )
    assert fts_query(tricky) == '"say ""hi""" OR "a b" OR "near" OR "x*"'
    with pytest.raises(QueryError, match="no searchable words"):
        fts_query(Query(text="", qtype="general", concepts=(), keywords=()))


def test_fts_query_finds_narrower_terms(fts: sqlite3.Connection, vocab: Vocabulary) -> None:
    fts.executemany(
        "INSERT INTO t(text) VALUES (?)",
        [("Neutropenia after chemotherapy",), ("Iron-deficiency anaemia in pregnancy",), ("Gout flares",)],
    )
    hits = fts.execute(
        "SELECT text FROM t WHERE t MATCH ? ORDER BY rank",
        (fts_query(analyse("leucopenia", vocabulary=vocab)),),
    ).fetchall()
    assert hits == [("Neutropenia after chemotherapy",)]
    hits = fts.execute(
        "SELECT text FROM t WHERE t MATCH ?",
        (fts_query(analyse("iron deficiency anemia", vocabulary=vocab)),),
    ).fetchall()
    assert hits == [("Iron-deficiency anaemia in pregnancy",)]


NASTY = [
    'What about "quoted" AND NOT OR NEAR(a b) terms*?',
    "col:umn ^start -minus +plus (paren",
    "ünïcödé naïve café — “smart quotes” ‘x’",
    "中文 問題 ひらがな",
    "emoji 🩸💊 and \u200b zero width",
    '"" """ "\'" leukopenia',
    "AND leukopenia",
    "NEAR/3",
]


@pytest.mark.parametrize("text", NASTY)
def test_fts_query_accepts_nasty_input(text: str, fts: sqlite3.Connection, vocab: Vocabulary) -> None:
    fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (fts_query(analyse(text, vocabulary=vocab)),))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_fts_query_is_valid_fts5_for_any_text(text: str, fts: sqlite3.Connection, vocab: Vocabulary) -> None:
    try:
        query = analyse(text, vocabulary=vocab)
    except QueryError:
        return
    fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (fts_query(query),)).fetchone()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keywords=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5),
    synonyms=st.lists(st.text(max_size=20), max_size=3),
)
def test_fts_query_is_valid_fts5_for_any_terms(
    keywords: list[str], synonyms: list[str], fts: sqlite3.Connection
) -> None:
    concept = Concept(text="x", preferred="Leukopenia", synonyms=tuple(synonyms))
    query = Query(text="x", qtype="general", concepts=(concept,), keywords=tuple(keywords))
    fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (fts_query(query),)).fetchone()


# -- standalone_question ----------------------------------------------------------------

FOLLOW_UPS = [
    (["What are the causes of leukopenia?"], "How is it treated?", "How is leukopenia treated?"),
    (
        ["What are the causes of leukopenia?"],
        "Is it dangerous in children?",
        "Is leukopenia dangerous in children?",
    ),
    (["Leukopenia: what causes it?"], "How is this condition diagnosed?", "How is leukopenia diagnosed?"),
    (["What are the causes of leukopenia?"], "And in children?", "And leukopenia in children?"),
    (["What are the causes of leukopenia?"], "What about children?", "What about children with leukopenia?"),
    (["What are the causes of leukopenia?"], "And the treatment?", "And the treatment of leukopenia?"),
    (["Is metformin useful in CKD?"], "What are its side effects?", "What are metformin's side effects?"),
    (["Is metformin useful in CKD?"], "Is it safe to stop?", "Is it safe to stop metformin?"),
    (
        ["Compare rivaroxaban and warfarin"],
        "Do they cause bleeding?",
        "Do rivaroxaban and warfarin cause bleeding?",
    ),
    (["What is gout?", "How is it diagnosed?"], "How is it treated?", "How is gout treated?"),
    (["What are the causes of leukopenia?"], "What about neutropenia?", "What about neutropenia?"),
    (["What are the causes of leukopenia?"], "Is this dose safe?", "Is this dose safe in leukopenia?"),
    (
        ["What causes frobnicated glimmeritis?"],
        "How is it treated?",
        "How is frobnicated glimmeritis treated?",
    ),
    ([], "How is it treated?", "How is it treated?"),
    (["???"], "  How is it   treated? ", "How is it treated?"),
]


@pytest.mark.parametrize(("history", "follow_up", "expected"), FOLLOW_UPS)
def test_standalone_question(history: list[str], follow_up: str, expected: str, vocab: Vocabulary) -> None:
    assert standalone_question(follow_up, history, vocabulary=vocab) == expected


def test_standalone_question_result_analyses_to_the_carried_concept(vocab: Vocabulary) -> None:
    rewritten = standalone_question("Is it common in children?", ["Leucopenia: serious?"], vocabulary=vocab)
    assert rewritten == "Is leucopenia common in children?"
    assert [c.preferred for c in analyse(rewritten, vocabulary=vocab).concepts] == ["Leukopenia"]


# -- the full MeSH descriptor XML -----------------------------------------------------------------


def test_load_mesh_xml_adds_entry_terms_and_narrower_descriptors() -> None:
    v = Vocabulary()
    assert v.load_mesh_xml(TINY_MESH_XML) == 5
    assert v.sources == [f"{TINY_MESH_XML} (5 descriptors with entry terms)"]
    granulo = v.lookup("granulocytopenia")  # an entry term: the names-only CSV cannot find it
    assert granulo is not None and (granulo.preferred, granulo.mesh_ui) == ("Agranulocytosis", "D000380")
    leuko = v.lookup("leucopenia")
    assert leuko is not None and leuko.mesh_ui == "D007970"
    assert set(leuko.narrower) == {"Agranulocytosis", "Neutropenia"}  # children only, not grandchildren
    assert "Leukocytopenia" in leuko.synonyms
    neutro = v.lookup("low neutrophil count")  # "Neutrophil Count, Low" in reading order
    assert neutro is not None and neutro.preferred == "Neutropenia"
    assert neutro.narrower == ("Febrile Neutropenia",)


def test_load_mesh_xml_reads_gzip_and_names_bad_files(tmp_path: Path) -> None:
    gz = tmp_path / "desc.xml.gz"
    gz.write_bytes(gzip.compress(TINY_MESH_XML.read_bytes()))
    assert Vocabulary().load_mesh_xml(gz) == 5
    not_xml = tmp_path / "desc.xml"
    not_xml.write_text("id,scheme,subject\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"desc\.xml: not a MeSH descriptor XML"):
        Vocabulary().load_mesh_xml(not_xml)
    empty = tmp_path / "empty.xml"
    empty.write_text("<DescriptorRecordSet/>", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="no DescriptorRecord"):
        Vocabulary().load_mesh_xml(empty)
    with pytest.raises(SourceError, match="cannot read"):
        Vocabulary().load_mesh_xml(tmp_path / "missing.xml")


def test_default_vocabulary_reads_xml_named_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MESH_CSV_ENV, str(TINY_MESH_XML))
    vocab = Vocabulary.default()
    assert any("with entry terms" in s for s in vocab.sources)
    assert vocab.lookup("granulocytopenia") is not None


# -- split_terms and fts_expression ---------------------------------------------------------------


def test_split_terms_keeps_own_words_apart_from_expansions(vocab: Vocabulary) -> None:
    own, added = split_terms(analyse("causes of leucopenia", vocabulary=vocab))
    assert own == ["leucopenia", "leukopenia"]
    assert "neutropenia" in added and "leukopenia" not in added
    # "febrile neutropenia" contains "neutropenia": in an OR query it would only count twice.
    assert "febrile neutropenia" not in added


def test_fts_expression_quotes_and_skips_empty_terms() -> None:
    assert fts_expression(['say "hi"', "\x00", "a  b"]) == '"say ""hi""" OR "a b"'
    assert fts_expression([]) is None and fts_expression([" ", "\x01"]) is None
