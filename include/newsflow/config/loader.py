"""Configuration: the feeds file (YAML) layered over packaged defaults, and the data directory.

A feeds file holds ``feeds: [{name, url, ...}]``, an optional ``allow_hosts: [...]`` exempt from the SSRF
guard and an optional ``settings:`` block overriding ``config/settings.yaml``. Unknown keys and invalid
values are rejected with a message that names the key.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FEEDS_FILE = PACKAGE_ROOT / "config" / "feeds.yaml"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
FETCH_TASK_LIMIT_S = 1200
"""The fetch task's time limit (the DAGs' ``execution_timeout``, 20 min): ``fetch_budget_s`` plus one
request's ``total_timeout_s`` must leave a minute of it for extracting the last pages and staging them."""


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Strict):
    """Fetching, politeness and scheduling settings (defaults in ``config/settings.yaml``)."""

    user_agent: str = Field(min_length=3)
    contact_url: str = ""
    connect_timeout_s: float = Field(gt=0, le=120)
    read_timeout_s: float = Field(gt=0, le=300)
    total_timeout_s: float = Field(gt=0, le=600)
    max_response_bytes: int = Field(gt=1024)
    max_redirects: int = Field(ge=0, le=20)
    per_host_min_delay_s: float = Field(ge=0, le=600)
    per_host_concurrency: int = Field(ge=1, le=32)
    max_retry_after_s: float = Field(ge=0)
    max_crawl_delay_s: float = Field(ge=0)
    respect_robots: bool
    concurrency: int = Field(ge=1, le=64)
    extract_workers: int = Field(ge=0, le=64)
    extract_timeout_s: float = Field(gt=0, le=900)
    poll_interval_default_min: float = Field(gt=0)
    poll_interval_min_min: float = Field(gt=0)
    poll_interval_max_min: float = Field(gt=0)
    failure_backoff_max_min: float = Field(gt=0)
    max_items_per_feed: int = Field(ge=1)
    max_item_attempts: int = Field(ge=1, le=20)
    fetch_budget_s: float = Field(gt=0)
    min_body_words: int = Field(ge=0)
    raw_html_retention_days: int = Field(ge=0)
    max_quarantine_share: float = Field(ge=0, le=1)
    data_docs_keep: int = Field(ge=1)
    snapshot_max_age_min: float = Field(ge=0)
    poll_group_size: int = Field(ge=1)
    max_poll_groups: int = Field(ge=1, le=1024)
    max_fetch_batches: int = Field(ge=1, le=1024)
    story_min_containment: float = Field(gt=0, le=1)
    story_min_jaccard: float = Field(ge=0, le=1)
    story_window_days: float = Field(gt=0)
    story_min_lead_jaccard: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _bounds(self) -> Settings:
        if not self.poll_interval_min_min <= self.poll_interval_default_min <= self.poll_interval_max_min:
            raise ValueError(
                "poll_interval_default_min must lie between poll_interval_min_min and poll_interval_max_min"
            )
        if self.fetch_budget_s + self.total_timeout_s > FETCH_TASK_LIMIT_S - 60:
            raise ValueError(
                f"fetch_budget_s + total_timeout_s must be at most {FETCH_TASK_LIMIT_S - 60:g} s: a fetch "
                f"task has {FETCH_TASK_LIMIT_S // 60} min, and the requests under way when the budget runs "
                "out still finish"
            )
        return self

    @property
    def full_user_agent(self) -> str:
        """The User-Agent sent on every request: product token plus contact URL."""
        if self.contact_url and self.contact_url not in self.user_agent:
            return f"{self.user_agent} contact: {self.contact_url}"
        return self.user_agent


class FeedConfig(_Strict):
    """One feed of the feeds file."""

    name: str
    url: str
    enabled: bool = True
    min_interval_min: float | None = Field(default=None, gt=0)
    max_interval_min: float | None = Field(default=None, gt=0)
    max_items: int | None = Field(default=None, ge=1)
    tags: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("must be 1-80 characters of a-z, 0-9, '.', '_' or '-', starting alphanumeric")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v, re.IGNORECASE):
            raise ValueError("must be an absolute http:// or https:// URL")
        return v


class FeedsFile(_Strict):
    """A validated feeds file."""

    feeds: tuple[FeedConfig, ...] = Field(min_length=1)
    allow_hosts: tuple[str, ...] = ()
    taxonomy: Path | None = None  # topic taxonomy YAML, relative to the feeds file; None: packaged default
    settings: Settings

    @model_validator(mode="after")
    def _unique(self) -> FeedsFile:
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.name in seen:
                raise ValueError(f"feeds: duplicate feed name {feed.name!r}")
            seen.add(feed.name)
        return self

    def selected(self, names: list[str] | None = None) -> list[FeedConfig]:
        """The enabled feeds, optionally only those named (unknown names are an error)."""
        if names:
            known = {f.name: f for f in self.feeds}
            missing = [n for n in names if n not in known]
            if missing:
                raise ConfigError(f"unknown feed name(s): {', '.join(missing)}")
            return [known[n] for n in names]
        return [f for f in self.feeds if f.enabled]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: the same safe subset


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's parser when PyYAML has it (the packaged taxonomy loads in 0.02 s
    instead of 0.07-0.1 s); raises ``yaml.YAMLError`` on bad YAML."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def default_settings_dict() -> dict[str, Any]:
    """The packaged defaults of ``config/settings.yaml``."""
    text = resources.files("newsflow").joinpath("config/settings.yaml").read_text(encoding="utf-8")
    data = parse_yaml(text)
    assert isinstance(data, dict)
    return data


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {key}: {msg}")
    return f"{path}: invalid configuration\n" + "\n".join(lines)


def load_feeds_file(path: str | Path | None = None) -> FeedsFile:
    """Load and validate a feeds file (``None``: the packaged embedded default)."""
    p = Path(path) if path is not None else DEFAULT_FEEDS_FILE
    raw = _read_yaml(p)
    user_settings = raw.get("settings") or {}
    if not isinstance(user_settings, dict):
        raise ConfigError(f"{p}: invalid configuration\n  settings: must be a mapping")
    merged = {**raw, "settings": {**default_settings_dict(), **user_settings}}
    if isinstance(raw.get("taxonomy"), str):
        merged["taxonomy"] = (p.parent / raw["taxonomy"]).resolve()
    unknown = sorted(set(user_settings) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(
            f"{p}: invalid configuration\n" + "\n".join(f"  settings.{k}: unknown key" for k in unknown)
        )
    try:
        return FeedsFile.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_errors(p, exc)) from exc


def feeds_file_from_env() -> Path:
    """The feeds file the DAGs use: ``$NEWSFLOW_FEEDS`` or the packaged embedded default."""
    env = os.environ.get("NEWSFLOW_FEEDS")
    return Path(env) if env else DEFAULT_FEEDS_FILE


def data_home() -> Path:
    """The data directory: ``$NEWSFLOW_HOME`` or ``data/`` in the project."""
    env = os.environ.get("NEWSFLOW_HOME")
    home = Path(env) if env else PACKAGE_ROOT.parents[1] / "data"
    return home.resolve()


def default_warehouse() -> Path:
    """The warehouse file inside the data directory."""
    return data_home() / "warehouse.duckdb"
