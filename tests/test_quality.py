"""The data-quality gate: suites, routing, the gate threshold and the GX project, on crafted batches.

One GX project is set up per module (importing GX costs seconds); tests that change a project work on a
copy of it. Every batch is built from realistic ``Article`` records (ids from the real URL helpers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsflow import quality as q
from newsflow.models import Article, TopicRow
from newsflow.quality.expectations import suite_fingerprint
from newsflow.quality.frames import ALLOWED_VALUES, ARTICLE_COLUMNS, ARTICLE_REQUIRED
from newsflow.quality.gxexpectations import load_gx
from newsflow.quality.project import DOCS_SITE
from newsflow.urls import article_id, canonical_url, stable_id
from newsflow.warehouse import Warehouse

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TOPICS = ["border", "diplomacy", "aid"]

STORIES = [
    (
        "meridian-world",
        "https://www.meridian.example/world/2026/03/01/geneva-ceasefire-talks?utm_source=rss",
        "Ceasefire talks resume in Geneva",
        "Foreign ministers from both countries met in Geneva on Sunday to resume ceasefire talks. ",
    ),
    (
        "meridian-americas",
        "https://meridian.example/americas/border-crossings-fall",
        "Border crossings fall for a third month",
        "Border patrol figures released on Friday show crossings fell for a third consecutive month. ",
    ),
    (
        "relief-wire",
        "http://relief.example/news/2026/flood-aid-convoy.html",
        "Aid convoy reaches flooded villages",
        "A convoy carrying food and medicine reached villages cut off by floods, the agency said. ",
    ),
    (
        "meridian-briefs",
        "https://meridian.example/briefs/ecb-rates",
        "Central bank holds rates",
        "The central bank held its main rate at 2.5 percent and signalled patience on cuts. ",
    ),
    (
        "relief-wire",
        "https://relief.example/fr/actualites/aide-humanitaire",
        "L'aide humanitaire arrive",
        "Un convoi humanitaire est arrivé dans la région après trois jours de route. ",
    ),
    (
        "meridian-world",
        "https://meridian.example/world/summit-communique",
        "Summit ends with joint communique",
        "Leaders signed a joint communique on trade and security at the end of the summit. ",
    ),
]


def make_article(n: int, **changes: Any) -> Article:
    """A realistic article: canonical URL, ids and body hash made the way the pipeline makes them."""
    feed, link, title, lead = STORIES[n % len(STORIES)]
    if n >= len(STORIES):
        link = f"{link.split('?')[0]}-{n}"
    canonical = canonical_url(link)
    body = lead * 12 + f"(story {n})"
    fields: dict[str, Any] = dict(
        article_id=article_id(canonical),
        canonical_url=canonical,
        url=link.split("?")[0],
        feed=feed,
        item_id=stable_id(feed, link),
        title=title,
        author="Staff reporter",
        site_name="Meridian" if "meridian" in link else "Relief Wire",
        published_at=NOW - timedelta(hours=n + 2),
        language="fr" if "/fr/" in link else "en",
        language_source="page" if n % 2 else "detected",
        body=body,
        body_source="extracted" if n % 3 else "feed_content",
        word_count=len(body.split()),
        body_hash=hashlib.sha256(body.encode()).hexdigest()[:32],
        raw_path=f"raw/{n}.html.gz",
        http_status=200,
        fetched_at=NOW - timedelta(minutes=3),
        extractor="trafilatura-2.3.1",
        extraction_path="precision",
        date_source="feed",
    )
    fields.update(changes)
    return Article(**fields)


def failed_names(report: q.ValidationOutcome) -> dict[int, set[str]]:
    return {row: {r.split(":", 1)[0] for r in reasons} for row, reasons in report.failed_rows.items()}


def project_files(root: Path) -> dict[str, str]:
    """Hashes of the project's configuration (everything but results and Data Docs)."""
    gx_dir = root / "gx"
    return {
        str(p.relative_to(gx_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(gx_dir.rglob("*"))
        if p.is_file() and "uncommitted" not in p.relative_to(gx_dir).parts
    }


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("gx")
    q.GXProject(root).setup()
    yield root


@pytest.fixture
def project_copy(gx_root: Path, tmp_path: Path) -> Path:
    """A private copy of the set-up project, for tests that change or prune it."""
    copy = tmp_path / "gxcopy"
    shutil.copytree(gx_root / "gx", copy / "gx")
    return copy


# -- the module and the suite definitions -------------------------------------------------------------


def test_importing_the_module_does_not_import_gx_or_pandas() -> None:
    code = "import sys, newsflow.quality; print('great_expectations' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_article_columns_are_derived_from_the_article_record() -> None:
    fields = {f.name for f in dataclasses.fields(Article)}
    assert set(ARTICLE_COLUMNS) == fields | {"topics", "_row"}
    assert ARTICLE_COLUMNS["published_at"] == "Timestamp"
    assert ARTICLE_COLUMNS["word_count"] == ARTICLE_COLUMNS["http_status"] == "int64"
    assert ARTICLE_COLUMNS["topics"] == "list"
    assert set(ARTICLE_REQUIRED) >= {
        "article_id",
        "canonical_url",
        "url",
        "feed",
        "item_id",
        "body",
        "body_hash",
        "fetched_at",
    }
    assert set(ALLOWED_VALUES["body_source"]) == {"extracted", "feed_content", "feed_summary"}
    assert set(ALLOWED_VALUES["extraction_path"]) == {"precision", "default", "fallback"}
    assert set(ALLOWED_VALUES["date_source"]) == {"feed", "page", "feed_updated"}
    frame = q.articles_frame([make_article(0), make_article(1)], {make_article(0).article_id: ["aid"]})
    q.check_schema(frame, q.ARTICLES_SUITE)
    assert frame["topics"].tolist() == [["aid"], []]
    assert frame["_row"].tolist() == [0, 1]


def test_every_expectation_has_a_unique_name_and_a_one_line_reason(gx_root: Path) -> None:
    for suite, specs in q.SUITES.items():
        names = [s.name for s in specs]
        assert len(names) == len(set(names)), suite
        for spec in specs:
            assert spec.reason and "\n" not in spec.reason and len(spec.reason) < 200, spec.name
        stored = json.loads((gx_root / "gx" / "expectations" / f"{suite}.json").read_text())
        assert {e["meta"]["name"]: e["meta"]["reason"] for e in stored["expectations"]} == {
            s.name: s.reason for s in specs
        }
    assert q.ARTICLE_EXPECTATIONS["published_at_not_future"].startswith("a publication date after now")
    assert "score_in_unit_interval" in q.TOPIC_EXPECTATIONS


# -- validation and routing ---------------------------------------------------------------------------


def test_a_clean_batch_passes_quietly_and_builds_its_data_docs(
    gx_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    articles = [make_article(n) for n in range(6)]
    topics = {articles[0].article_id: ["diplomacy"], articles[2].article_id: ["aid", "border"]}
    report = q.GXProject(gx_root).validate(q.articles_frame(articles, topics), "articles", "clean-1", NOW)

    run = report.run
    assert run.success and run.rows_failed == 0 and report.failed_rows == {}
    assert (run.rows_evaluated, run.rows_passed) == (6, 6)
    assert set(run.per_expectation) == set(q.ARTICLE_EXPECTATIONS)
    assert not any(run.per_expectation.values())
    assert run.validated_at == NOW
    routed = q.route(articles, report, max_failed_share=0.2)
    assert routed.passed == articles and routed.quarantined == [] and not routed.over_threshold

    assert run.data_docs_path is not None and not Path(run.data_docs_path).is_absolute()
    page = gx_root / run.data_docs_path
    assert page.is_file() and gx_root in page.resolve().parents
    assert "clean-1" in run.data_docs_path
    assert (gx_root / "gx/uncommitted/data_docs/local_site/index.html").is_file()
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err  # progress bars stay out of task logs


def test_bad_rows_fail_with_the_expectations_they_broke_and_the_rest_pass(gx_root: Path) -> None:
    dup = make_article(3)
    batch = [
        make_article(0),  # 0 clean
        make_article(1, body=None, canonical_url=None),  # 1 missing required fields
        make_article(2, published_at=NOW + timedelta(days=2)),  # 2 published in the future
        make_article(4, published_at=NOW + timedelta(minutes=9)),  # 3 within the clock skew: passes
        dup,  # 4 and 5: the same article id twice (both copies are flagged)
        dataclasses.replace(dup, item_id=stable_id("other-feed", dup.url), feed="other-feed"),
        make_article(6, url="ftp://files.example/story"),  # 6 bad URL
        make_article(7),  # 7 unknown topic
        make_article(8, published_at=datetime(1970, 1, 1, tzinfo=UTC)),  # 8 epoch default
        make_article(9, language="English", http_status=404),  # 9 two defects
        make_article(10, language=None, language_source="page"),  # 10 source without a language
        make_article(11, word_count=0, fetched_at=NOW + timedelta(hours=1)),  # 11
        make_article(12, title=""),  # 12 empty title must be null
    ]
    frame = q.articles_frame(batch, {batch[7].article_id: ["aid", "sports"], batch[0].article_id: ["aid"]})
    report = q.GXProject(gx_root).validate(frame, "articles", "mixed-1", NOW)

    assert failed_names(report) == {
        1: {"body_not_null", "canonical_url_not_null"},
        2: {"published_at_not_future"},
        4: {"article_id_unique"},
        5: {"article_id_unique"},
        6: {"url_format"},
        7: {"topics_in_taxonomy"},
        8: {"published_at_not_ancient"},
        9: {"language_code", "http_status_2xx"},
        10: {"no_language_source_without_language"},
        11: {"word_count_bounds", "fetched_at_not_future"},
        12: {"title_length"},
    }
    run = report.run
    assert run.rows_failed == 11 and run.rows_passed == 2 and not run.success
    assert run.per_expectation["article_id_unique"] == 2
    assert run.per_expectation["published_at_not_future"] == 1
    assert report.failed_rows[2] == [
        f"published_at_not_future: {q.ARTICLE_EXPECTATIONS['published_at_not_future']}"
    ]

    routed = q.route(batch, report)
    assert routed.passed == [batch[0], batch[3]]
    by_row = {r.row: r for r in routed.quarantined}
    assert sorted(by_row) == sorted(report.failed_rows)
    dup_rows = [by_row[4], by_row[5]]
    assert [r.item_id for r in dup_rows] == [batch[4].item_id, batch[5].item_id]
    assert by_row[2].record["published_at"] == (NOW + timedelta(days=2)).isoformat()
    assert by_row[1].record["body"] is None and by_row[1].original is batch[1]
    assert len({r.quarantine_id for r in routed.quarantined}) == 11
    assert q.route(batch, report).quarantined[0].quarantine_id == routed.quarantined[0].quarantine_id


def test_routed_rows_and_the_run_fit_the_warehouse(gx_root: Path, tmp_path: Path) -> None:
    batch = [make_article(0), make_article(1, http_status=500)]
    report = q.GXProject(gx_root).validate(q.articles_frame(batch), "articles", "wh-1", NOW)
    routed = q.route(batch, report)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        for r in routed.quarantined:
            wh.con.execute(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    r.quarantine_id,
                    r.item_id,
                    r.article_id,
                    r.run_id,
                    list(r.reasons),
                    json.dumps(r.record),
                    NOW,
                ],
            )
        run = report.run
        row = {**dataclasses.asdict(run), "per_expectation": json.dumps(run.per_expectation, sort_keys=True)}
        wh.con.execute(
            f"INSERT INTO validation_runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        got = wh.con.execute("SELECT item_id, reasons[1], record->>'http_status' FROM quarantine").fetchall()
        runs = wh.con.execute(
            "SELECT run_id, suite, rows_evaluated, rows_failed, per_expectation->>'http_status_2xx', success "
            "FROM validation_runs"
        ).fetchall()
    assert got == [(batch[1].item_id, "http_status_2xx: " + q.ARTICLE_EXPECTATIONS["http_status_2xx"], "500")]
    assert runs == [("wh-1", "articles", 2, 1, "1", False)]


def test_routing_flags_a_batch_over_the_threshold_without_raising(gx_root: Path) -> None:
    batch = [make_article(n, http_status=503) for n in range(3)] + [make_article(3)]
    report = q.GXProject(gx_root).validate(q.articles_frame(batch), "articles", "gate-1", NOW)
    routed = q.route(batch, report, max_failed_share=0.5)  # routing never raises
    assert [r.row for r in routed.quarantined] == [0, 1, 2] and routed.passed == [batch[3]]
    assert routed.over_threshold and routed.failed_share == 0.75
    assert not q.route(batch, report, max_failed_share=0.75).over_threshold  # reaching it is not passing it


def test_an_erroring_expectation_is_a_pipeline_error(project_copy: Path) -> None:
    path = project_copy / "gx" / "expectations" / "articles.json"
    suite = json.loads(path.read_text())
    for expectation in suite["expectations"]:
        if expectation["meta"]["name"] == "word_count_bounds":
            expectation["kwargs"]["column"] = "body"  # comparing text with numbers raises inside GX
    path.write_text(json.dumps(suite))
    with pytest.raises(q.ValidationPipelineError, match="word_count_bounds.*errored"):
        q.GXProject(project_copy).validate(q.articles_frame([make_article(0)]), "articles", "err-1", NOW)


@pytest.mark.parametrize(
    ("change", "missing", "extra", "mistyped"),
    [
        (lambda f: f.assign(summary="x"), [], ["summary"], set()),
        (lambda f: f.drop(columns=["body_hash"]), ["body_hash"], [], set()),
        (lambda f: f.assign(word_count=f["word_count"].astype("float64")), [], [], {"word_count"}),
        (lambda f: f.assign(published_at=f["published_at"].dt.tz_localize(None)), [], [], {"published_at"}),
    ],
    ids=["extra", "missing", "float-count", "naive-timestamp"],
)
def test_a_drifted_schema_fails_loudly(
    gx_root: Path, change: Any, missing: list[str], extra: list[str], mistyped: set[str]
) -> None:
    frame = change(q.articles_frame([make_article(0), make_article(1)]))
    with pytest.raises(q.SchemaDriftError) as exc:
        q.GXProject(gx_root).validate(frame, "articles", "drift-1", NOW)
    assert (exc.value.missing, exc.value.extra, set(exc.value.mistyped)) == (missing, extra, mistyped)
    assert all(c in str(exc.value) for c in [*missing, *extra, *mistyped])


def test_topic_rows_have_their_own_suite(gx_root: Path) -> None:
    aid = make_article(0).article_id
    evidence = {"terms": {"ceasefire": {"weight": 2.0, "title": 1, "body": 3}}}
    rows = [
        TopicRow(aid, "diplomacy", "lex-1+0123456789", 0.82, True, evidence),
        TopicRow(aid, "border", "lex-1+0123456789", 0.05, False, {}),
        TopicRow(aid, "aid", "lex-1+0123456789", 1.2, True, {}),  # 2 score out of range
        TopicRow(aid, "sports", "lex-1+0123456789", 0.4, True, {}),  # 3 unknown topic
        TopicRow(aid, "diplomacy", "lex-1+0123456789", 0.8, True, {}),  # 4 repeats row 0's key
    ]
    frame = q.topics_frame(rows, classified_at=NOW)
    q.check_schema(frame, q.TOPICS_SUITE)
    report = q.GXProject(gx_root).validate(frame, q.TOPICS_SUITE, "topics-1", NOW, topic_names=TOPICS)
    assert failed_names(report) == {
        0: {"topic_row_unique"},
        2: {"score_in_unit_interval"},
        3: {"topic_in_taxonomy"},
        4: {"topic_row_unique"},
    }
    routed = q.route(rows, report)
    assert routed.passed == [rows[1]]
    frame_routed = q.route(frame, report)
    assert frame_routed.passed[0]["topic"] == "border" and "_row" not in frame_routed.passed[0]
    assert frame_routed.quarantined[0].record["evidence"] == json.dumps(evidence, sort_keys=True)


def test_validate_refuses_a_missing_project_and_bad_arguments(tmp_path: Path, gx_root: Path) -> None:
    frame = q.articles_frame([make_article(0)])
    with pytest.raises(q.ValidationPipelineError, match="run setup"):
        q.GXProject(tmp_path / "nowhere").validate(frame, "articles", "x", NOW)
    assert not (tmp_path / "nowhere").exists()  # validate never creates a project
    with pytest.raises(ValueError, match="path separators"):
        q.GXProject(gx_root).validate(frame, "articles", "../escape", NOW)
    with pytest.raises(ValueError, match="timezone"):
        q.GXProject(gx_root).validate(frame, "articles", "x", NOW.replace(tzinfo=None))


# -- the GX project -----------------------------------------------------------------------------------


def test_setup_is_idempotent_and_updates_a_stale_suite(project_copy: Path) -> None:
    before = project_files(project_copy)
    assert "great_expectations.yml" in before and "checkpoints/articles.json" in before
    q.GXProject(project_copy).setup()
    assert project_files(project_copy) == before  # a second set-up writes nothing

    path = project_copy / "gx" / "expectations" / "articles.json"
    stale = json.loads(path.read_text())
    stale["meta"]["newsflow_fingerprint"] = "0" * 16
    stale["expectations"] = stale["expectations"][:3]
    path.write_text(json.dumps(stale))
    frame = q.articles_frame([make_article(0)])
    with pytest.raises(q.ValidationPipelineError, match="differs from the code: run setup"):
        q.GXProject(project_copy).validate(frame, "articles", "stale-1", NOW)
    q.GXProject(project_copy).setup()
    assert q.GXProject(project_copy).validate(frame, "articles", "stale-2", NOW).run.success
    updated = json.loads(path.read_text())
    assert updated["meta"]["newsflow_fingerprint"] == suite_fingerprint("articles")
    assert len(updated["expectations"]) == len(q.SUITES["articles"])
    settled = project_files(project_copy)
    q.GXProject(project_copy).setup()
    assert project_files(project_copy) == settled


def test_the_project_names_no_config_variables_file(project_copy: Path) -> None:
    # GX re-reads and parses a named config variables file on every access to a context variable (about
    # 90 per validation); newsflow uses none, so set-up names none and validation never reads the file.
    config = project_copy / "gx" / "great_expectations.yml"
    assert re.search(r"^config_variables_file_path:\s*(null)?\s*$", config.read_text(), re.MULTILINE)
    frame = q.articles_frame([make_article(0)])
    garbage = project_copy / "gx" / "uncommitted" / "config_variables.yml"
    garbage.write_text("key: [unclosed\n")  # parsing this file would raise
    assert (
        q.GXProject(project_copy).validate(frame, "articles", "vars-1", NOW, topic_names=TOPICS).run.success
    )

    # A project set up by an older newsflow (GX's scaffold names the file) is updated by set-up.
    text = re.sub(
        r"^config_variables_file_path:.*$",
        "config_variables_file_path: uncommitted/config_variables.yml",
        config.read_text(),
        flags=re.MULTILINE,
    )
    config.write_text(text)
    with pytest.raises(Exception, match="unclosed|flow sequence|while parsing"):
        q.GXProject(project_copy).validate(frame, "articles", "vars-2", NOW, topic_names=TOPICS)
    garbage.write_text("{}\n")  # set-up opens the project as it is, so the file must parse for it
    q.GXProject(project_copy).setup()
    garbage.write_text("key: [unclosed\n")
    assert (
        q.GXProject(project_copy).validate(frame, "articles", "vars-3", NOW, topic_names=TOPICS).run.success
    )


def test_one_batch_validates_both_suites_and_builds_their_data_docs_once(project_copy: Path) -> None:
    articles = [make_article(n) for n in range(3)]
    rows = [TopicRow(a.article_id, "aid", "lex-1+0123456789", 0.5, True, {}) for a in articles]
    frames = [(q.articles_frame(articles), q.ARTICLES_SUITE), (q.topics_frame(rows, NOW), q.TOPICS_SUITE)]
    reports = [
        r.run for r in q.GXProject(project_copy).validate_all(frames, "batch-1", NOW, topic_names=TOPICS)
    ]
    assert [(r.suite, r.rows_evaluated, r.success) for r in reports] == [
        (q.ARTICLES_SUITE, 3, True),
        (q.TOPICS_SUITE, 3, True),
    ]
    index = (project_copy / "gx/uncommitted/data_docs/local_site/index.html").read_text()
    for report in reports:
        assert report.data_docs_path and (project_copy / report.data_docs_path).is_file()
        site_path = Path(report.data_docs_path).relative_to("gx/uncommitted/data_docs/local_site")
        assert site_path.as_posix() in index  # the index lists the run of each suite

    # A project set up by an older newsflow (the checkpoint built Data Docs itself) must be set up again.
    path = project_copy / "gx" / "checkpoints" / "articles.json"
    old = json.loads(path.read_text())
    old["actions"] = [{"name": "update_data_docs", "site_names": ["local_site"], "type": "update_data_docs"}]
    path.write_text(json.dumps(old))
    with pytest.raises(q.ValidationPipelineError, match="run setup"):
        q.GXProject(project_copy).validate_all(frames[:1], "batch-2", NOW, topic_names=TOPICS)
    q.GXProject(project_copy).setup()
    assert (
        q.GXProject(project_copy).validate_all(frames[:1], "batch-3", NOW, topic_names=TOPICS)[0].run.success
    )


def test_data_docs_reuse_compiled_templates_and_render_a_suite_page_once_per_version(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2

    project = q.GXProject(project_copy)
    frames = [(q.articles_frame([make_article(n) for n in range(3)]), q.ARTICLES_SUITE)]
    suite_page = project.data_docs_dir / "expectations" / f"{q.ARTICLES_SUITE}.html"
    first = project.validate_all(frames, "docs-1", NOW, topic_names=TOPICS)[0].run
    rendered = suite_page.stat().st_mtime_ns

    compiled: list[str | None] = []
    compile_template = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: str | None = None, *a: Any, **k: Any) -> Any:
        compiled.append(name)
        return compile_template(self, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    second = project.validate_all(frames, "docs-2", NOW + timedelta(minutes=1), topic_names=TOPICS)[0].run
    assert second.data_docs_path and (project_copy / second.data_docs_path).is_file()
    assert first.data_docs_path and (project_copy / first.data_docs_path).is_file()
    assert compiled == []  # every template came from the bytecode cache of the first build
    assert suite_page.stat().st_mtime_ns == rendered  # the unchanged suite's page was not rendered again

    # setup changes the suite: its page goes, and the next validation renders it from the new suite
    path = project_copy / "gx" / "expectations" / f"{q.ARTICLES_SUITE}.json"
    stale = json.loads(path.read_text())
    stale["meta"]["newsflow_fingerprint"] = "0" * 16
    stale["expectations"] = stale["expectations"][:3]
    path.write_text(json.dumps(stale))
    q.GXProject(project_copy).setup()
    assert not suite_page.exists()
    project.validate_all(frames, "docs-3", NOW + timedelta(minutes=2), topic_names=TOPICS)
    assert suite_page.is_file() and suite_page.stat().st_mtime_ns != rendered
    assert "feed_summary" in suite_page.read_text()  # from an expectation the stale suite had lost


def _index_built_by(project: q.GXProject, builder: dict[str, Any]) -> str:
    """The Data Docs index as ``builder`` (a site_index_builder config) renders it from the stored results."""
    gx = load_gx()
    ctx = gx.get_context(mode="file", project_root_dir=str(project.root))
    sites = dict(ctx.variables.data_docs_sites)
    sites[DOCS_SITE] = {**sites[DOCS_SITE], "site_index_builder": builder}
    ctx.variables.data_docs_sites = sites  # in memory only
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    # one suite page and the index (the index lists every stored result that has a page)
    suite_page = ExpectationSuiteIdentifier(q.TOPICS_SUITE)
    ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[suite_page])
    html = (project.data_docs_dir / "index.html").read_text()
    return re.sub(r"\?d=\d{8}T\d{6}\.\d+Z", "?d=BUILD-TIME", html)  # the logo URL carries the build time


def test_the_index_reads_result_summaries_and_lists_what_gx_lists(project_copy: Path) -> None:
    """The index builder reads only success and asset name from each stored result, and its index is the one
    GX's own builder renders: runs that passed and failed, both suites, an unreadable result skipped."""
    from newsflow.quality.gxviews import SITE_VIEWS

    project = q.GXProject(project_copy)
    topics = [TopicRow(make_article(0).article_id, "aid", "lex-1+0123456789", 0.5, True, {})]
    for n in range(3):
        articles = [make_article(k) for k in range(3)] + [make_article(3, http_status=404)] * (n == 1)
        frames = [
            (q.articles_frame(articles), q.ARTICLES_SUITE),
            (q.topics_frame(topics, NOW), q.TOPICS_SUITE),
        ]
        project.validate_all(frames, f"index-{n}", NOW + timedelta(minutes=n), topic_names=TOPICS)
    ours = dict(SITE_VIEWS["site_index_builder"])
    gx_own = {**ours, "class_name": "DefaultSiteIndexBuilder"}
    gx_own.pop("module_name")
    index = _index_built_by(project, ours)
    assert index == _index_built_by(project, gx_own)
    assert all(f"index-{n}" in index for n in range(3)) and "fa-times" in index and "fa-check-circle" in index

    # a batch's Data Docs build deserialises its own results (to render their pages), not the history
    from great_expectations.data_context.store.validation_results_store import ValidationResultsStore

    loaded: list[Any] = []
    deserialize = ValidationResultsStore.deserialize

    def counting(self: Any, value: Any) -> Any:
        loaded.append(value)
        return deserialize(self, value)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ValidationResultsStore, "deserialize", counting)
        project.validate_all(frames, "index-3", NOW + timedelta(minutes=3), topic_names=TOPICS)
    assert len(loaded) == 2, len(loaded)
    assert "index-3" in (project.data_docs_dir / "index.html").read_text()

    broken = next((project.gx_dir / "uncommitted/validations/articles/index-2").rglob("*.json"))
    broken.write_text("{not json")
    index = _index_built_by(project, ours)
    assert index == _index_built_by(project, gx_own)
    assert index.count("index-2") < index.count("index-1")  # only the topics run of index-2 is listed


def _validate_in_a_process(root: str, worker: int, barrier: Any, runs: int) -> list[tuple[str, int]]:
    barrier.wait()
    out = []
    for n in range(runs):
        batch = [make_article(k) for k in range(8)] + [make_article(8, http_status=404)]
        report = q.GXProject(root).validate(
            q.articles_frame(batch), "articles", f"par-{worker}-{n}", NOW + timedelta(seconds=n)
        )
        out.append((report.run.run_id, report.run.rows_failed))
    return out


def _process_main(root: str, worker: int, barrier: Any, runs: int, results: Any) -> None:
    try:
        results.put((worker, _validate_in_a_process(root, worker, barrier, runs)))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put((worker, f"{type(exc).__name__}: {exc}"))


def test_parallel_validations_in_two_processes_do_not_corrupt_the_project(gx_root: Path) -> None:
    before = project_files(gx_root)
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, like separate Airflow task processes
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_process_main, args=(str(gx_root), w, barrier, 3, results)) for w in (1, 2)]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert outcomes == {w: [(f"par-{w}-{n}", 1) for n in range(3)] for w in (1, 2)}, outcomes

    assert project_files(gx_root) == before  # parallel runs only read the configuration
    for result in (gx_root / "gx/uncommitted/validations/articles").rglob("*.json"):
        json.loads(result.read_text())  # every stored result is whole
    index = (gx_root / "gx/uncommitted/data_docs/local_site/index.html").read_text()
    assert index.rstrip().endswith("</html>")
    # the project still works for the next run
    report = q.GXProject(gx_root).validate(q.articles_frame([make_article(0)]), "articles", "after-par", NOW)
    assert report.run.success


def test_prune_results_keeps_only_the_newest_n_per_suite(project_copy: Path) -> None:
    project = q.GXProject(project_copy)
    frame = q.articles_frame([make_article(0)])
    runs = [project.validate(frame, "articles", f"prune-{n}", NOW + timedelta(days=n)).run for n in range(4)]
    project.validate(q.topics_frame([], NOW), q.TOPICS_SUITE, "prune-topics", NOW, topic_names=TOPICS)
    results = project.gx_dir / "uncommitted" / "validations"

    def stored(suite: str) -> list[Path]:
        return sorted((results / suite).rglob("*.json"))

    counts = {suite: len(stored(suite)) for suite in q.SUITES}  # the copy holds earlier tests' runs too
    assert counts["articles"] >= 4 and counts["article_topics"] >= 1
    removed = q.GXProject(project_copy).prune_results(keep=2)
    assert {suite: len(stored(suite)) for suite in q.SUITES} == {s: min(2, n) for s, n in counts.items()}
    assert removed == sum(max(0, n - 2) for n in counts.values())
    kept = {p.relative_to(results / "articles").parts[0] for p in stored("articles")}
    assert kept == {"prune-2", "prune-3"}
    assert all((project_copy / r.data_docs_path).is_file() for r in runs[2:] if r.data_docs_path)
    assert not any((project_copy / r.data_docs_path).exists() for r in runs[:2] if r.data_docs_path)
    index = (project.data_docs_dir / "index.html").read_text()
    assert "prune-3" in index and "prune-0" not in index
    assert q.GXProject(project_copy).prune_results(keep=2) == 0


def test_the_data_docs_template_cache_can_only_save_time(tmp_path: Path) -> None:
    """A cache directory that cannot be written (here: missing) means compiling, not a failed build."""
    import jinja2

    from newsflow.quality.gxviews import _BestEffortCache

    templates = jinja2.DictLoader({"page.j2": "{{ 1 + x }}"})
    for directory, kept in ((tmp_path / "cache", 1), (tmp_path / "missing", 0)):
        if kept:
            directory.mkdir()
        for x in (1, 2):  # the second environment loads what the first one compiled, if it could be kept
            env = jinja2.Environment(loader=templates, bytecode_cache=_BestEffortCache(str(directory)))
            assert env.get_template("page.j2").render(x=x) == str(1 + x)
        assert len(list(directory.glob("*.cache"))) == kept
