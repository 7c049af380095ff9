"""Configuration: the feeds file (YAML) over the packaged defaults in this folder, and the data directory."""

from newsflow.config.loader import (
    DEFAULT_FEEDS_FILE,
    FETCH_TASK_LIMIT_S,
    ConfigError,
    FeedConfig,
    FeedsFile,
    Settings,
    data_home,
    default_settings_dict,
    default_warehouse,
    feeds_file_from_env,
    load_feeds_file,
    parse_yaml,
)

__all__ = [
    "DEFAULT_FEEDS_FILE",
    "FETCH_TASK_LIMIT_S",
    "ConfigError",
    "FeedConfig",
    "FeedsFile",
    "Settings",
    "data_home",
    "default_settings_dict",
    "default_warehouse",
    "feeds_file_from_env",
    "load_feeds_file",
    "parse_yaml",
]
