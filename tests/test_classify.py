"""Topic classifier: guideline hard cases, the seed story, scores, evidence, versions, taxonomy validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import need_shared
from newsflow.topics import (
    DEFAULT_TAXONOMY_FILE,
    METHOD_VERSION,
    Classifier,
    Taxonomy,
    TaxonomyError,
    TopicScore,
    load_taxonomy,
    taxonomy_from_dict,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEV = SHARED / "labels" / "dev.jsonl"
TOPICS = ["border", "diplomacy", "aid"]


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier()


def assigned(clf: Classifier, title: str | None, body: str | None) -> set[str]:
    return {s.topic for s in clf.classify(title, body) if s.assigned}


def default_dict() -> dict:
    return yaml.safe_load(DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8"))


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- hard cases named in the guidelines: trigger words in other senses are no topic ---------------

NEGATIVES = {
    "border collie": (
        "Border collie from the valleys wins national sheepdog trials",
        "A seven-year-old border collie guided five ewes into the pen in under eight minutes to win the "
        "national sheepdog trials on Saturday. Her owner, a hill farmer, said the dog would be back at work "
        "on the farm next week. More than 120 handlers entered the three-day event.",
    ),
    "hearing aid": (
        "Hearing aid prices fall as over-the-counter devices spread",
        "Sales of over-the-counter hearing aids rose by a third last year as pharmacies added shelf space, "
        "an industry survey found. Audiologists said buyers with severe hearing loss should still see a "
        "doctor. The average price of a pair fell below $600.",
    ),
    "presidential aides": (
        "Former presidential aides subpoenaed in records inquiry",
        "A congressional committee issued subpoenas to three former presidential aides on Thursday in an "
        "inquiry into deleted messages. A lawyer for one of the aides called the move politically motivated. "
        "The committee set deposition dates for next month.",
    ),
    "merger talks": (
        "Two regional banks confirm merger talks",
        "Two regional lenders said on Monday they were in early merger talks that would create the country's "
        "fifth-largest bank. Negotiations were at an early stage and there was no certainty of a deal, the "
        "companies said in a joint statement. Shares of the smaller bank jumped 12%.",
    ),
    "brand ambassador": (
        "Sprinter signs on as brand ambassador for sportswear label",
        "The Olympic sprinter will serve as a global brand ambassador for the sportswear company in a "
        "multi-year deal. She joins a roster of ambassadors that includes a basketball star. The company "
        "plans a signature shoe for the autumn.",
    ),
    "cloud migration": (
        "Insurer completes cloud migration ahead of schedule",
        "The insurer said it had finished moving its policy systems to a public cloud provider, a migration "
        "that took two years. Executives said the cloud migration would cut data-centre costs by a fifth. "
        "Customers should see faster claims processing.",
    ),
    "bird migration": (
        "Cranes start their southern migration late after a warm autumn",
        "Tens of thousands of cranes began their migration south two weeks later than usual, ornithologists "
        "said. Counts recorded about 20,000 birds still feeding in the fields. A sudden cold snap could "
        "leave weaker birds stranded, researchers warned.",
    ),
    "mountain summit": (
        "Climbers crowd the summit of K2 in a record season",
        "More than 60 climbers reached the summit over two days of calm weather. Rescue teams searched for a "
        "climber who lost radio contact on the descent. A helicopter flew two reconnaissance sorties.",
    ),
    "red cross blood drive": (
        "Red Cross holds blood drive at city hall",
        "The Red Cross held a blood drive at city hall on Monday as hospitals reported low supplies. Donors "
        "received a free T-shirt, and the Red Cross said it needed 500 more donations this month.",
    ),
    "cross-border payments": (
        "Fintech raises $80 million to speed cross-border payments",
        "A London startup that settles cross-border payments for small firms raised $80 million in a Series "
        "C round. The company said the money would fund a licence application in Singapore and new "
        "engineers.",
    ),
}


@pytest.mark.parametrize("case", sorted(NEGATIVES))
def test_trigger_words_in_other_senses_are_no_topic(clf: Classifier, case: str) -> None:
    title, body = NEGATIVES[case]
    assert assigned(clf, title, body) == set()


def test_excluded_phrases_are_reported_in_the_evidence(clf: Classifier) -> None:
    scores = {s.topic: s for s in clf.classify(*NEGATIVES["border collie"])}
    assert scores["border"].evidence["excluded"] == {"border collie*": 2}
    scores = {s.topic: s for s in clf.classify(*NEGATIVES["hearing aid"])}
    assert "hearing aid*" in scores["aid"].evidence["excluded"]


# --- on topic without the obvious word ------------------------------------------------------------


def test_maritime_interdiction_is_border_without_the_word(clf: Classifier) -> None:
    title = "Coast guard intercepts boat carrying 40 Haitians"
    body = (
        "The coast guard intercepted a boat carrying 40 Haitians about 25 miles off the coast on Sunday. "
        "A patrol aircraft spotted the overloaded vessel before dawn and crews took everyone aboard a "
        "cutter. The group will be repatriated, the service said."
    )
    assert "border" not in (title + body).lower()
    assert assigned(clf, title, body) == {"border"}


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        (
            "Foreign minister flies to Beijing for first talks in three years",
            "The foreign minister arrived in Beijing on Tuesday to meet her Chinese counterpart, the first "
            "visit at that level in three years, as the two countries try to repair ties after trade "
            "restrictions. China's foreign ministry said it hoped both sides would meet each other halfway.",
            {"diplomacy"},
        ),
        (
            "Food convoy reaches besieged town after five months",
            "A convoy of 14 trucks loaded with wheat flour, lentils and oil reached the town on Sunday, the "
            "World Food Programme said, the first delivery in five months. Health workers reported rising "
            "numbers of malnourished children, and the agency sought guarantees for further shipments.",
            {"aid"},
        ),
        (
            "Thousands flee fighting into neighbouring Chad",
            "More than 15,000 Sudanese crossed into eastern Chad in a week, officials said. Families "
            "arrived on donkey carts with few belongings, and local authorities set up makeshift camps near "
            "the frontier.",
            {"border"},
        ),
        (
            "Envoy summoned as migrants are pushed toward frontier fence",
            "The foreign ministry summoned the neighbouring country's envoy on Tuesday, accusing it of "
            "flying in migrants and pushing them toward the frontier fence. The government said it would "
            "add 5,000 troops to patrols along the border.",
            {"border", "diplomacy"},
        ),
    ],
)
def test_on_topic_stories(clf: Classifier, title: str, body: str, expected: set[str]) -> None:
    assert assigned(clf, title, body) == expected


def test_passing_mention_in_one_sentence_is_not_a_topic(clf: Classifier) -> None:
    title = "Japan and South Korea pledge closer security ties at summit"
    body = (
        "The leaders of Japan and South Korea agreed on Saturday to resume regular visits and to share "
        "intelligence on missile launches, at a summit both described as a turning point in relations. "
        "A joint statement also included a single sentence pledging cooperation on disaster relief."
    )
    scores = {s.topic: s for s in clf.classify(title, body)}
    assert scores["diplomacy"].assigned
    assert not scores["aid"].assigned
    assert scores["aid"].evidence["narrow"] is True


# --- the seed story -------------------------------------------------------------------------------


def test_seed_story_gets_all_three_topics(clf: Classifier) -> None:
    text = need_shared(SHARED / "seed" / "article.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    title = next(line for line in lines if len(line) > 20)
    body = text.split(title, 1)[1]
    scores = clf.classify(title, body)
    assert [s.topic for s in scores if s.assigned] == TOPICS


# --- scores and evidence --------------------------------------------------------------------------


def test_one_score_per_topic_in_taxonomy_order_within_bounds(clf: Classifier) -> None:
    assert clf.topics == TOPICS
    rows = [json.loads(line) for line in need_shared(DEV).read_text().splitlines() if line]
    for row in rows:
        scores = clf.classify(row["title"], row["text"])
        assert [s.topic for s in scores] == TOPICS
        for s in scores:
            assert isinstance(s, TopicScore)
            assert 0.0 <= s.score <= 1.0
            assert s.assigned == (s.score >= s.evidence["threshold"])
            json.dumps(s.evidence)  # JSON-serialisable
            if s.assigned:
                assert s.evidence["terms"], s
                assert s.evidence["title_hits"] + s.evidence["body_hits"] > 0


def test_evidence_tells_title_from_body(clf: Classifier) -> None:
    scores = {
        s.topic: s
        for s in clf.classify(
            "Deportation flights resume",
            "Immigration officials said deportation flights would resume weekly.",
        )
    }
    terms = {t["term"]: t for t in scores["border"].evidence["terms"]}
    assert terms["deport*"]["title"] == 1
    assert terms["deport*"]["body"] == 1
    assert terms["immigration"]["title"] == 0
    assert scores["border"].assigned


def test_empty_input_scores_zero(clf: Classifier) -> None:
    for title, body in [(None, None), ("", ""), ("   ", "\n\n")]:
        scores = clf.classify(title, body)
        assert [s.score for s in scores] == [0.0, 0.0, 0.0]
        assert not any(s.assigned for s in scores)


def test_capitalised_phrase_is_case_sensitive(clf: Classifier) -> None:
    ice = {
        s.topic: s for s in clf.classify("ICE agents detain 30 in raid", "ICE agents detained 30 migrants.")
    }
    assert any(t["term"] == "ICE agents" for t in ice["border"].evidence["terms"])
    hockey = {s.topic: s for s in clf.classify("Ice agents", "The ice agents of the hockey club met.")}
    assert not any(t["term"].startswith("ICE") for t in hockey["border"].evidence["terms"])


def test_accents_are_folded(clf: Classifier) -> None:
    scores = {s.topic: s for s in clf.classify("Médecins Sans Frontières", "Médecins Sans Frontières said.")}
    assert any(t["term"] == "medecins sans frontieres" for t in scores["aid"].evidence["terms"])


# --- versions -------------------------------------------------------------------------------------


def test_version_is_stable_and_changes_with_the_taxonomy(tmp_path: Path) -> None:
    v1 = Classifier().version
    assert v1 == Classifier(load_taxonomy()).version
    assert v1.startswith(f"{METHOD_VERSION}+")
    data = default_dict()
    data["topics"]["aid"]["terms"]["soup kitchen"] = 1.0
    v2 = Classifier(load_taxonomy(write_yaml(tmp_path / "t.yaml", data))).version
    data["topics"]["aid"]["threshold"] = 0.55
    v3 = Classifier(load_taxonomy(write_yaml(tmp_path / "t.yaml", data))).version
    assert len({v1, v2, v3}) == 3


# --- the taxonomy is configuration ----------------------------------------------------------------


def test_pattern_anchors_only_save_time(clf: Classifier) -> None:
    data = default_dict()
    for topic in data["topics"].values():
        for rule in topic.get("patterns", []):
            rule.pop("anchors", None)
    unanchored = Classifier(taxonomy_from_dict(data))
    articles = [(r["title"], r["text"]) for r in map(json.loads, need_shared(DEV).read_text().splitlines())]
    for path in sorted((SHARED / "corpus" / "articles" / "aeb").glob("*.gold.txt"))[:60]:
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        articles.append((title, body))
    for title, body in articles:
        assert clf.classify(title, body) == unanchored.classify(title, body)


def test_users_can_add_and_remove_topics_in_yaml(tmp_path: Path) -> None:
    data = default_dict()
    del data["topics"]["diplomacy"]
    data["topics"]["elections"] = {
        "description": "Elections: voting, campaigns, results.",
        "threshold": 0.5,
        "terms": {"election*": 3, "ballot*": 2, "voter*": 2, "polling station*": 2},
        "exclude": ["voter fatigue"],
    }
    clf = Classifier(load_taxonomy(write_yaml(tmp_path / "mine.yaml", data)))
    assert clf.topics == ["border", "aid", "elections"]
    got = assigned(
        clf, "Voters queue at polling stations", "Turnout in the election was high as voters cast ballots."
    )
    assert got == {"elections"}


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d["topics"]["border"].update(treshold=0.5), "treshold"),
        (lambda d: d["scoring"].update(title_boost=3), "title_boost"),
        (lambda d: d.update(topicz={}), "topicz"),
        (lambda d: d["topics"]["aid"].update(threshold=1.5), "topics.aid.threshold"),
        (lambda d: d["topics"]["aid"]["terms"].update({"relief": -1}), "topics.aid.terms"),
        (
            lambda d: d["topics"]["border"]["patterns"].append(
                {"name": "x", "regex": "{nolist} a", "weight": 1}
            ),
            "nolist",
        ),
        (
            lambda d: d["topics"]["border"]["patterns"].append(
                {"name": "y", "regex": "(unclosed", "weight": 1}
            ),
            "invalid regex",
        ),
        (lambda d: d["topics"].update({"Bad Name": d["topics"]["aid"]}), "Bad Name"),
    ],
)
def test_invalid_taxonomy_is_rejected_naming_the_key(tmp_path: Path, mutate, key: str) -> None:
    data = default_dict()
    mutate(data)
    path = write_yaml(tmp_path / "bad.yaml", data)
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    assert key in str(err.value)
    assert str(path) in str(err.value)


def test_unreadable_or_non_mapping_taxonomy(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="mapping"):
        load_taxonomy(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("topics: [\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(tmp_path / "broken.yaml")


def test_default_taxonomy_is_valid_and_described() -> None:
    tax = load_taxonomy()
    assert isinstance(tax, Taxonomy)
    assert tax.names == TOPICS
    for cfg in tax.topics.values():
        assert cfg.description and 0 < cfg.threshold <= 1


def test_worker_processes_score_exactly_like_one_process(clf: Classifier) -> None:
    """The labelled dev stories (five times) scored in two worker processes give the same rows, in order."""
    from newsflow.topics.stage import MIN_TEXTS_FOR_PROCESSES, classify_texts

    stories = [json.loads(line) for line in need_shared(DEV).read_text(encoding="utf-8").splitlines()]
    texts = [(f"{i:016x}", s.get("title"), s.get("text")) for i, s in enumerate(stories * 5)]
    assert len(texts) >= MIN_TEXTS_FOR_PROCESSES
    clf.classify("warm", "the token cache is filled")  # a used classifier pickles without its cache
    alone = classify_texts(texts, clf)
    assert classify_texts(texts, clf, workers=2) == alone
    assert sum(r.assigned for r in alone) > 10 and len(alone) == 3 * len(texts)


def test_a_shared_pool_scores_like_one_process_and_refuses_another_classifier(clf: Classifier) -> None:
    """``newsflow run`` extracts and then classifies on one set of workers, which hold the classifier."""
    from newsflow.topics.stage import MIN_TEXTS_FOR_POOL, classifier_pool, classify_texts
    from newsflow.workers import WorkerCrashed

    stories = [json.loads(line) for line in need_shared(DEV).read_text(encoding="utf-8").splitlines()]
    texts = [(f"{i:016x}", s.get("title"), s.get("text")) for i, s in enumerate(stories * 2)]
    assert len(texts) >= MIN_TEXTS_FOR_POOL
    alone = classify_texts(texts, clf)
    data = default_dict()
    next(iter(data["topics"].values()))["threshold"] = 0.99
    other = Classifier(taxonomy_from_dict(data))
    assert other.version != clf.version
    with classifier_pool(clf, 2) as pool:
        assert classify_texts(texts, clf, workers=2, pool=pool) == alone
        assert (
            classify_texts(texts[:MIN_TEXTS_FOR_POOL], clf, workers=2, pool=pool)
            == alone[: 3 * MIN_TEXTS_FOR_POOL]
        )
        with pytest.raises(RuntimeError, match="does not hold classifier"):
            classify_texts(texts, other, workers=2, pool=pool)
        # A call that kills its worker every time fails (after one retry on a fresh pool); the pool goes on.
        with pytest.raises(WorkerCrashed):
            pool.call(os._exit, 1)
        assert classify_texts(texts, clf, workers=2, pool=pool) == alone
