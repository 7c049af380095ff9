"""Stories: copies of one text share a story, other texts do not; the load assigns them in its transaction,
idempotently; a corrected article may move; ``recluster`` rebuilds them; the views analysts query."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from factories import NOW, feed_item, loaded
from newsflow.cli import main
from newsflow.config import load_feeds_file
from newsflow.models import Batch, PollResult
from newsflow.run import recluster, run_cycle
from newsflow.sample import StaticSite
from newsflow.stories import StoryParams, overlap, signature
from newsflow.warehouse import Warehouse

STORY = [
    "Negotiators from the two countries met in the capital on Tuesday to discuss a new agreement on "
    "migration and the management of the shared border, officials said.",
    "The talks, the first in almost a year, focused on asylum processing, work visas and the return of "
    "people who had crossed without permission, according to a statement from the foreign ministry.",
    "Aid groups working near the crossing points urged both governments to fund shelters and medical care, "
    "saying that thousands of families were waiting in makeshift camps as temperatures fell.",
    "A senior diplomat said the delegations had agreed to meet again next month and to publish a joint "
    "plan on seasonal work permits before the end of the year.",
    "Critics in the legislature said the plan did too little to address the causes of migration and "
    "called for a broader regional summit with neighbouring states.",
    "The ministry said further details would be released after consultations with local authorities in "
    "the border provinces and with the United Nations refugee agency.",
]
OTHER_REPORT = [  # the same event, reported independently in other words
    "Officials of both governments sat down on Tuesday for their first round of migration negotiations in "
    "nearly twelve months, a ministry spokesperson confirmed.",
    "Delegates discussed how quickly asylum claims are heard, how many temporary work visas could be "
    "issued, and what happens to those who enter the country irregularly.",
    "Humanitarian organisations asked for money for shelters and clinics, describing cold, crowded camps "
    "where families wait for weeks near the frontier.",
    "Another meeting is planned for next month, and a joint document on seasonal employment is expected "
    "before December, one participant told reporters.",
    "Opposition lawmakers dismissed the talks as cosmetic and demanded a summit of the whole region.",
]


def text(paras: list[str]) -> str:
    return "\n".join(paras)


@pytest.mark.parametrize(
    ("copy", "same"),
    [
        (STORY, True),  # a retitled or re-templated copy: the same body
        (["WASHINGTON (Wire) - " + STORY[0], *STORY[1:], "Originally published by The Daily."], True),
        (STORY[:3], True),  # truncated to its first half
        (STORY[:2], True),  # ... to its first third: the lead matches
        (
            [
                *STORY[:3],
                "Update: the talks were postponed to Thursday, a spokesperson said later.",
                *STORY[4:],
            ],
            True,
        ),
        ([p.replace("said", "stated") for p in STORY], True),  # small edits
        (OTHER_REPORT, False),
    ],
)
def test_copies_of_one_text_match_and_another_report_does_not(copy: list[str], same: bool) -> None:
    params = StoryParams()
    a, b = signature(text(STORY)), signature(text(copy))
    o = overlap(a, b)
    assert params.matches(o, min(a.shingles, b.shingles)) is same, o
    assert bool(set(a.keys()) & set(b.keys())) or not same  # LSH makes it a candidate


def test_different_articles_of_one_site_sharing_a_line_do_not_match() -> None:
    footer = "Sign up for our newsletter to get the day's top stories in your inbox every morning."
    a, b = signature(text([*STORY, footer])), signature(text([*OTHER_REPORT, footer]))
    assert not StoryParams().matches(overlap(a, b), min(a.shingles, b.shingles))


def batch_of(articles: list[tuple[str, list[str]]], n: int = 0) -> Batch:
    outcomes = [
        loaded(feed_item(guid, f"https://site{k}.example.org/{guid}"), text(paras))
        for k, (guid, paras) in enumerate(articles)
    ]
    poll = PollResult(
        poll_id=f"poll-{n}",
        feed="f",
        url="https://site0.example.org/feed",
        started_at=NOW + timedelta(minutes=n),
        duration_s=0.1,
        status="ok",
        items=tuple(o.item for o in outcomes),
    )
    return Batch(polls=[poll], outcomes=outcomes)


STORIES = "SELECT article_id, story_id FROM articles ORDER BY article_id"


def test_the_load_assigns_stories_idempotently_and_a_correction_may_move(tmp_path: Path) -> None:
    batch = batch_of([("a", STORY), ("b", STORY[:3]), ("c", OTHER_REPORT)])
    ids = [o.article_id for o in batch.outcomes]
    with Warehouse(tmp_path / "w.duckdb") as wh:
        stats = wh.load_batch(batch, now=NOW)
        assert stats.stories_assigned == 3
        story = dict(wh.query(STORIES)[1])
        first = min(ids[:2])  # one batch: the story's first article is the lower id (same load time)
        assert story[ids[0]] == story[ids[1]] == first and story[ids[2]] == ids[2]
        evidence = wh.query(
            "SELECT matched_article_id, containment, jaccard, lead_jaccard FROM article_stories "
            "WHERE article_id = ?",
            [max(ids[:2])],
        )[1]
        assert evidence[0][0] == first and evidence[0][1] >= 0.9 and evidence[0][3] >= 0.9
        assert wh.load_batch(batch, now=NOW + timedelta(hours=1)).stories_assigned == 0  # idempotent
        assert dict(wh.query(STORIES)[1]) == story
        # a later copy of the other report joins its story; a correction of "b" to the other report moves it
        later = batch_of([("d", OTHER_REPORT[:3])], n=1)
        wh.load_batch(later, now=NOW + timedelta(hours=2))
        d = later.outcomes[0].article_id
        assert dict(wh.query(STORIES)[1])[d] == ids[2]
        fixed = batch_of([("a", STORY), ("b", OTHER_REPORT), ("c", OTHER_REPORT)], n=2)
        fixed = dataclasses.replace(fixed, outcomes=[fixed.outcomes[1]])
        assert wh.load_batch(fixed, now=NOW + timedelta(hours=3)).stories_assigned == 1
        moved = dict(wh.query(STORIES)[1])
        assert moved[ids[1]] == moved[ids[2]] == ids[2] and moved[ids[0]] == first
        stories = wh.query("SELECT story_id, articles, outlets FROM v_stories ORDER BY story_id")[1]
        assert sorted(stories) == sorted([(first, 1, 1), (ids[2], 3, 3)])
        assert wh.query("SELECT count(*) FROM v_articles WHERE story_id IS NULL")[1] == [(0,)]


def test_recluster_rebuilds_the_same_stories_and_follows_a_threshold_change(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    batch = batch_of([("a", STORY), ("b", STORY[:2]), ("c", OTHER_REPORT), ("d", OTHER_REPORT)])
    ids = [o.article_id for o in batch.outcomes]
    with Warehouse(warehouse) as wh:
        wh.load_batch(batch, now=NOW)
        before = dict(wh.query(STORIES)[1])
    assert len(set(before.values())) == 2
    settings = load_feeds_file().settings
    summary = recluster(warehouse, settings)
    assert (summary.articles, summary.stories, summary.copies) == (4, 2, 2)
    with Warehouse(warehouse, read_only=True) as wh:
        assert dict(wh.query(STORIES)[1]) == before
    # only near-identical bodies are one story now: the truncated copy begins a story of its own
    strict = settings.model_copy(update={"story_min_jaccard": 0.9, "story_min_lead_jaccard": 1.0})
    assert recluster(warehouse, strict).stories == 3
    with Warehouse(warehouse, read_only=True) as wh:
        after = dict(wh.query(STORIES)[1])
        assert wh.query("SELECT sum(articles) FROM v_stories")[1] == [(4,)]
    assert after[ids[1]] == ids[1] and after[ids[2]] == after[ids[3]]
    assert main(["recluster", "--warehouse", str(warehouse)]) == 0  # the packaged thresholds again
    with Warehouse(warehouse, read_only=True) as wh:
        assert dict(wh.query(STORIES)[1]) == before


def test_a_cycle_gives_every_article_its_story(tmp_path: Path, home: Path) -> None:
    with StaticSite(port=0) as site:
        path = tmp_path / "feeds.yaml"
        path.write_text(
            f"allow_hosts: ['127.0.0.1:{site.port}']\nfeeds:\n"
            f"  - {{name: world, url: '{site.base_url}/feeds/world.xml'}}\n"
            f"  - {{name: americas, url: '{site.base_url}/feeds/americas.atom'}}\n"
            "settings: {per_host_min_delay_s: 0}\n"
        )
        summary = run_cycle(load_feeds_file(path), home / "warehouse.duckdb", home=home, force=True)
    assert summary.load.stories_assigned == summary.load.articles_inserted > 0
    with Warehouse(home / "warehouse.published.duckdb", read_only=True) as wh:
        assert wh.query("SELECT count(*) FROM v_articles WHERE story_id IS NULL")[1] == [(0,)]
        assert wh.query("SELECT sum(articles) FROM v_stories")[1] == [(summary.load.articles_inserted,)]


def test_a_story_copied_thousands_of_times_costs_a_few_comparisons_per_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wire story in 2,000 copies of one batch: each copy is compared with at most ``PER_STORY`` members of
    the story (not with every earlier copy), and all of them join it."""
    import newsflow.stories.matching as matching

    calls = 0
    real = matching.overlap

    def counted(a, b):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(a, b)

    monkeypatch.setattr(matching, "overlap", counted)
    copies = [(f"copy-{n:04d}", signature(f"Dateline {n}. " + text(STORY))) for n in range(2000)]
    assigned = matching.assign(copies, {}, {}, StoryParams())
    assert {a.story_id for a in assigned} == {"copy-0000"}
    assert calls <= matching.PER_STORY * len(copies)
