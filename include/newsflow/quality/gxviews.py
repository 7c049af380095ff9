"""GX Data Docs site pieces that keep a batch's Data Docs build cheap: views that keep their compiled Jinja
templates, and an index builder that reads only what the index shows of each stored result.

GX builds new views, each with a new Jinja environment, for every Data Docs build, so every build compiled the
same templates again. These views are GX's own with a Jinja bytecode cache: the compiled templates are kept
per user in the system temp directory (Jinja's ``FileSystemBytecodeCache`` default, which refuses a directory
it does not own), so a new process loads them instead of compiling. GX's index builder also deserialises
every stored validation result on every build only to read its success flag and asset name:
:class:`SummaryIndexBuilder` reads those fields from the stored JSON instead. The GX project names these
classes in its Data Docs site (see :data:`SITE_VIEWS`); GX imports this module only when it builds Data Docs.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

from great_expectations.render.renderer.site_builder import FALSEY_YAML_STRINGS, DefaultSiteIndexBuilder
from great_expectations.render.util import resource_key_passes_run_name_filter
from great_expectations.render.view.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache, FileSystemBytecodeCache
from jinja2.bccache import Bucket

LOGGER = logging.getLogger(__name__)
_CACHE: list[BytecodeCache | None] = []


class _BestEffortCache(FileSystemBytecodeCache):
    """A cache that can only save time: a file it cannot read or write (a full or read-only temp directory)
    means compiling as GX does, never a failed Data Docs build."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError as exc:
            LOGGER.debug("Data Docs template cache unreadable: %s", exc)
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            LOGGER.debug("Data Docs template cache not written: %s", exc)


def template_cache() -> BytecodeCache | None:
    """The process's bytecode cache (created once); None when no safe directory exists."""
    if not _CACHE:
        try:
            _CACHE.append(_BestEffortCache())
        except (OSError, RuntimeError) as exc:  # no private temp directory: compile as GX does
            LOGGER.warning("Data Docs templates are compiled on every build: %s", exc)
            _CACHE.append(None)
    return _CACHE[0]


class CachedPageView(DefaultJinjaPageView):
    """GX's page view (suite and validation pages) with compiled templates cached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = template_cache()


class CachedIndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view with compiled templates cached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = template_cache()


def result_summary(raw: str | bytes) -> dict[str, Any]:
    """What the index shows of one stored validation result (its JSON): success, asset name and batch
    kwargs/spec, as GX's index builder reads them from the deserialised result."""
    doc = json.loads(raw)
    meta = doc.get("meta") or {}
    batch_kwargs = meta.get("batch_kwargs", {})
    batch_spec = meta.get("batch_spec", {})
    asset = (
        batch_kwargs.get("data_asset_name")
        or batch_spec.get("data_asset_name")
        or (meta.get("active_batch_definition") or {}).get("data_asset_name")
    )
    return {
        "validation_success": doc.get("success"),
        "asset_name": asset,
        "batch_kwargs": batch_kwargs,
        "batch_spec": batch_spec,
    }


class SummaryIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder, reading each listed result's summary from its stored JSON (no deserialisation of
    the whole result); the same index otherwise (same filter, order, limit, skipping of missing results)."""

    def _add_validations_to_index_links(
        self, index_links_dict: OrderedDict[str, Any], site_keys: list[Any]
    ) -> None:
        sections = self.site_section_builders_config
        validations = sections.get("validations", "None")
        if not validations or validations in FALSEY_YAML_STRINGS:
            return
        run_name_filter = sections["validations"].get("run_name_filter")
        keys = sorted(
            (k for k in site_keys if resource_key_passes_run_name_filter(k, run_name_filter)),  # type: ignore[no-untyped-call]
            key=lambda k: k.run_id.run_time,
            reverse=True,
        )
        if self.validation_results_limit:
            keys = keys[: self.validation_results_limit]
        store = self.data_context.stores[self.source_stores.get("validations")]
        for key in keys:
            try:
                raw = store.store_backend.get(store.key_to_tuple(key))
                summary = result_summary(raw)
            except Exception as exc:  # GX too skips a result it cannot read
                LOGGER.warning("Validation result not found or unreadable: %s - skipping (%s)", key, exc)
                continue
            self.add_resource_info_to_index_links_dict(  # type: ignore[no-untyped-call]
                index_links_dict=index_links_dict,
                expectation_suite_name=key.expectation_suite_identifier.name,
                section_name="validations",
                batch_identifier=key.batch_identifier,
                run_id=key.run_id,
                run_time=key.run_id.run_time,
                run_name=key.run_id.run_name,
                **summary,
            )


_PAGE_VIEW = {"module_name": __name__, "class_name": CachedPageView.__name__}
SITE_VIEWS: dict[str, Any] = {
    "site_index_builder": {
        "module_name": __name__,
        "class_name": SummaryIndexBuilder.__name__,
        "view": {"module_name": __name__, "class_name": CachedIndexPageView.__name__},
    },
    "site_section_builders": {
        section: {"view": dict(_PAGE_VIEW)} for section in ("expectations", "validations", "profiling")
    },
}
"""The Data Docs site settings that select these views (merged into the site's config by GX)."""
