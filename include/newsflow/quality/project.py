"""The newsflow Great Expectations file project: set up once, then validate batches and prune old results.

:meth:`GXProject.setup` creates the project at deploy time; tasks only ``get`` and ``run`` it. Every GX call
that touches the project holds an exclusive ``flock`` on ``<root>/.newsflow-gx.lock``: GX writes results and
Data Docs pages in place (no temp file + rename) and each run rebuilds the Data Docs index from all stored
results, so two unserialised writers could leave or read half-written files. GX is imported only to run it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from newsflow.quality.errors import ValidationPipelineError
from newsflow.quality.expectations import (
    DEFAULT_CLOCK_SKEW,
    FINGERPRINT_KEY,
    SUITES,
    ExpectationSpec,
    suite_fingerprint,
    suite_parameters,
)
from newsflow.quality.frames import ROW, check_schema
from newsflow.quality.gxexpectations import build_expectation, load_gx
from newsflow.quality.results import ValidationOutcome, read_suite_result

if TYPE_CHECKING:
    import pandas as pd

LOGGER = logging.getLogger(__name__)

DATASOURCE = "newsflow"
BATCH_DEFINITION = "whole_frame"
DOCS_SITE = "local_site"
LOCK_FILE = ".newsflow-gx.lock"
RESULT_FORMAT: dict[str, Any] = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]}
_RUN_ID_RE = re.compile(r"^[^/\\\x00]{1,200}$")


class GXProject:
    """The newsflow GX file project under ``root`` (``root/gx/...``): set up once, then only run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    @property
    def gx_dir(self) -> Path:
        return self.root / "gx"

    @property
    def data_docs_dir(self) -> Path:
        """The local Data Docs site (static HTML)."""
        return self.gx_dir / "uncommitted" / "data_docs" / DOCS_SITE

    def is_set_up(self) -> bool:
        return (self.gx_dir / "great_expectations.yml").is_file()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise every process that reads or writes the project (an exclusive flock)."""
        with open(self.root / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _require_setup(self) -> None:
        # get_context(mode="file") would scaffold a new project here: a write that only setup may do.
        if not self.is_set_up():
            raise ValidationPipelineError(f"no GX project under {self.root}: run setup first")

    def _context(self, gx: Any) -> Any:
        return gx.get_context(mode="file", project_root_dir=str(self.root))

    # -- set-up (deploy time, one process) -------------------------------------------------------------
    def setup(self) -> None:
        """Create or update the project: datasource, assets, batch definitions, suites, validation
        definitions and checkpoints (``validate_all`` builds the Data Docs). Idempotent: a second call changes
        no file."""
        gx = load_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        from newsflow.quality.gxviews import SITE_VIEWS

        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            ctx = self._context(gx)
            variables = ctx.variables
            quiet = {"globally": False, "metric_calculations": False}
            sites = dict(variables.data_docs_sites or {})
            site = dict(sites.get(DOCS_SITE) or {})
            if (
                dict(variables.progress_bars or {}) != quiet
                or variables.analytics_enabled is not False
                or variables.config_variables_file_path is not None
                or site.get("show_how_to_buttons") is not False
                or any(site.get(key) != value for key, value in SITE_VIEWS.items())
            ):
                variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
                variables.analytics_enabled = False
                # newsflow uses no config variables; with a file named, GX reads and parses it again on
                # every access to a context variable, dozens of times per validation.
                variables.config_variables_file_path = None
                site["show_how_to_buttons"] = False  # they link to docs.greatexpectations.io
                site.update(SITE_VIEWS)  # cached-template views and the summary index builder (gxviews)
                sites[DOCS_SITE] = site
                variables.data_docs_sites = sites
                variables.save()
                ctx = self._context(gx)
            try:
                source = ctx.data_sources.get(DATASOURCE)
            except KeyError:
                source = ctx.data_sources.add_pandas(DATASOURCE)
            for name, specs in SUITES.items():
                try:
                    asset = source.get_asset(name)
                except LookupError:
                    asset = source.add_dataframe_asset(name)
                try:
                    batch = asset.get_batch_definition(BATCH_DEFINITION)
                except KeyError:
                    batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
                suite, changed = self._ensure_suite(gx, ctx, name, specs)
                if changed:  # the next validation renders the suite's page again
                    self._suite_page(name).unlink(missing_ok=True)
                try:
                    definition = ctx.validation_definitions.get(name)
                except gx.exceptions.DataContextError:
                    definition = ctx.validation_definitions.add(
                        gx.ValidationDefinition(name=name, data=batch, suite=suite)
                    )
                try:
                    checkpoint = ctx.checkpoints.get(name)
                except gx.exceptions.DataContextError:
                    checkpoint = None
                # No actions: validate_all builds the Data Docs of a batch's results once, after all runs.
                if checkpoint is None or checkpoint.result_format != RESULT_FORMAT or checkpoint.actions:
                    ctx.checkpoints.add_or_update(
                        gx.Checkpoint(
                            name=name,
                            validation_definitions=[definition],
                            actions=[],
                            result_format=RESULT_FORMAT,
                        )
                    )
        LOGGER.info("GX project ready under %s", self.gx_dir)

    def _suite_page(self, suite: str) -> Path:
        """The suite's Data Docs page (GX's layout)."""
        return self.data_docs_dir / "expectations" / f"{suite}.html"

    @staticmethod
    def _ensure_suite(gx: Any, ctx: Any, name: str, specs: Sequence[ExpectationSpec]) -> tuple[Any, bool]:
        """The stored suite, created or updated from the code when its fingerprint differs; and whether it
        was written."""
        fingerprint = suite_fingerprint(name)
        try:
            existing = ctx.suites.get(name)
        except gx.exceptions.DataContextError:
            existing = None
        if existing is not None and (existing.meta or {}).get(FINGERPRINT_KEY) == fingerprint:
            return existing, False
        suite = gx.ExpectationSuite(
            name=name,
            expectations=[build_expectation(gx, s) for s in specs],
            meta={FINGERPRINT_KEY: fingerprint, "defined_in": ExpectationSpec.__module__},
        )
        LOGGER.info("GX suite %s: %s", name, "updated" if existing is not None else "created")
        return ctx.suites.add_or_update(suite), True

    # -- validation (any task, any number of processes) -----------------------------------------------
    def validate(
        self,
        frame: pd.DataFrame,
        suite: str,
        run_id: str,
        now: datetime,
        *,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        topic_names: Sequence[str] | None = None,
    ) -> ValidationOutcome:
        """Validate one batch frame with the stored checkpoint of ``suite`` (see :meth:`validate_all`)."""
        (outcome,) = self.validate_all(
            [(frame, suite)], run_id, now, clock_skew=clock_skew, topic_names=topic_names
        )
        return outcome

    def validate_all(
        self,
        frames: Sequence[tuple[pd.DataFrame, str]],
        run_id: str,
        now: datetime,
        *,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        topic_names: Sequence[str] | None = None,
    ) -> list[ValidationOutcome]:
        """Validate each ``(frame, suite)`` of one batch with the suite's stored checkpoint (only ``get`` and
        ``run``), then build the Data Docs of all the results at once (one index build per batch; a suite's
        own page only when it is missing: setup removes it when it changes the suite).

        ``now`` is the reference time (dates after ``now + clock_skew`` are in the future) and the GX run
        time; ``topic_names`` defaults to the packaged taxonomy's. Raises :class:`SchemaDriftError` for a
        drifted frame and :class:`ValidationPipelineError` when an expectation errors.
        """
        for frame, suite in frames:
            if suite not in SUITES:
                raise ValueError(f"unknown suite {suite!r} (known: {', '.join(SUITES)})")
            check_schema(frame, suite)
        if not _RUN_ID_RE.match(run_id) or run_id.startswith("."):
            raise ValueError(f"run_id {run_id!r}: 1-200 characters, no path separators, not starting '.'")
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._require_setup()
        if topic_names is None:
            from newsflow.topics import load_taxonomy

            topic_names = load_taxonomy().names
        parameters = suite_parameters(now, clock_skew, topic_names)
        gx = load_gx()
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        with self._locked():
            ctx = self._context(gx)
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # in memory only
            results: list[tuple[str, Any, Any]] = []
            for frame, suite in frames:
                try:
                    checkpoint = ctx.checkpoints.get(suite)
                    stored = ctx.suites.get(suite)
                except gx.exceptions.DataContextError as exc:
                    raise ValidationPipelineError(f"GX project {self.root}: {exc} (run setup)") from exc
                stale = (stored.meta or {}).get(FINGERPRINT_KEY) != suite_fingerprint(suite)
                if stale or checkpoint.actions:  # actions: set up by an older newsflow (Data Docs per suite)
                    raise ValidationPipelineError(
                        f"GX suite {suite!r} under {self.root} differs from the code: run setup to update it"
                    )
                try:
                    result = checkpoint.run(
                        batch_parameters={"dataframe": frame},
                        expectation_parameters=parameters,
                        run_id=RunIdentifier(run_name=run_id, run_time=now),
                    )
                except Exception as exc:
                    raise ValidationPipelineError(f"GX checkpoint {suite!r} failed: {exc}") from exc
                if len(result.run_results) != 1:
                    raise ValidationPipelineError(f"checkpoint {suite!r}: {len(result.run_results)} results")
                key, suite_result = next(iter(result.run_results.items()))
                results.append((suite, key, suite_result))
            identifiers: list[Any] = []
            for suite, key, _ in results:
                identifiers.append(key)
                if not self._suite_page(suite).is_file():  # rendered once per suite version (see setup)
                    identifiers.append(ExpectationSuiteIdentifier(name=suite))
            try:
                ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)
            except Exception as exc:
                raise ValidationPipelineError(f"GX Data Docs for run {run_id!r} failed: {exc}") from exc
            docs = [self._docs_path(ctx, key) for _, key, _ in results]
        return [
            read_suite_result(suite, run_id, now, len(frame), suite_result, path)
            for (frame, _), (suite, _, suite_result), path in zip(frames, results, docs, strict=True)
        ]

    def _docs_path(self, ctx: Any, key: Any) -> str | None:
        for site in ctx.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE):
            url = site.get("site_url")
            if url and url.startswith("file://"):
                path = Path(unquote(urlsplit(url).path))
                if path.is_file():
                    with contextlib.suppress(ValueError):
                        return path.resolve().relative_to(self.root).as_posix()
        return None

    # -- retention ----------------------------------------------------------------------------------
    def prune_results(self, keep: int) -> int:
        """Keep the newest ``keep`` validation results per suite, drop the rest and their Data Docs pages,
        and rebuild the Data Docs (GX has no retention of its own). Returns the number removed."""
        if keep < 0:
            raise ValueError("keep must be >= 0")
        self._require_setup()
        gx = load_gx()
        with self._locked():
            ctx = self._context(gx)
            store = ctx.validation_results_store
            by_suite: dict[str, list[Any]] = {}
            for key in store.list_keys():
                by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
            doomed = []
            for keys in by_suite.values():
                keys.sort(key=lambda k: (k.run_id.run_time, k.run_id.run_name or ""), reverse=True)
                doomed += keys[keep:]
            for key in doomed:
                page = self._docs_path(ctx, key)
                store.remove_key(key)
                if page is not None:
                    (self.root / page).unlink(missing_ok=True)
                    _remove_empty_parents((self.root / page).parent, self.data_docs_dir / "validations")
                _remove_empty_parents(
                    self.gx_dir.joinpath("uncommitted", "validations", *key.to_tuple()[:-1]),
                    self.gx_dir / "uncommitted" / "validations",
                )
            if doomed or not (self.data_docs_dir / "index.html").exists():
                ctx.build_data_docs(site_names=[DOCS_SITE])
        LOGGER.info("GX results pruned under %s: %d removed, %d kept per suite", self.root, len(doomed), keep)
        return len(doomed)


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents up to (not including) ``stop`` while they are empty."""
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
