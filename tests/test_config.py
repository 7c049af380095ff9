from pathlib import Path

import pytest

from newsflow.config import ConfigError, default_warehouse, load_feeds_file


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "feeds.yaml"
    p.write_text(text)
    return p


def test_packaged_default_loads() -> None:
    cfg = load_feeds_file()
    assert [f.name for f in cfg.feeds] == ["meridian-world", "meridian-americas", "meridian-briefs"]
    assert cfg.allow_hosts == ("127.0.0.1:8765",)  # the sample site only: other loopback stays refused
    assert cfg.settings.per_host_min_delay_s == 0.05  # the file's override beats the packaged default
    assert cfg.settings.max_redirects == 5  # packaged default kept


def test_minimal_file_and_user_agent_has_contact(tmp_path: Path) -> None:
    cfg = load_feeds_file(write(tmp_path, "feeds:\n  - {name: a, url: 'https://example.org/rss'}\n"))
    assert cfg.allow_hosts == ()
    assert cfg.settings.full_user_agent.endswith(f" contact: {cfg.settings.contact_url}")
    own = load_feeds_file(
        write(
            tmp_path,
            "feeds:\n  - {name: a, url: 'https://example.org/rss'}\n"
            "settings: {contact_url: 'mailto:data-team@example.org'}\n",
        )
    )
    assert own.settings.full_user_agent == (
        f"{own.settings.user_agent} contact: mailto:data-team@example.org"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("feeds:\n  - {name: a, url: 'https://x.org/'}\nbogus: 1\n", "bogus"),
        ("feeds:\n  - {name: a, url: 'https://x.org/', colour: red}\n", "feeds.0.colour"),
        ("feeds:\n  - {name: a, url: 'ftp://x.org/'}\n", "feeds.0.url"),
        ("feeds:\n  - {name: 'Bad Name', url: 'https://x.org/'}\n", "feeds.0.name"),
        (
            "feeds:\n  - {name: a, url: 'https://x.org/'}\nsettings: {max_redirects: -1}\n",
            "settings.max_redirects",
        ),
        ("feeds:\n  - {name: a, url: 'https://x.org/'}\nsettings: {user_agnet: x}\n", "settings.user_agnet"),
        ("feeds: []\n", "feeds"),
    ],
)
def test_invalid_values_are_rejected_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_feeds_file(write(tmp_path, text))
    assert key in str(err.value)


def test_duplicate_feed_names_rejected(tmp_path: Path) -> None:
    text = "feeds:\n  - {name: a, url: 'https://x.org/1'}\n  - {name: a, url: 'https://x.org/2'}\n"
    with pytest.raises(ConfigError, match="duplicate feed name 'a'"):
        load_feeds_file(write(tmp_path, text))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_feeds_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_feeds_file(write(tmp_path, "feeds: [\n"))


def test_selected_feeds(tmp_path: Path) -> None:
    text = (
        "feeds:\n  - {name: a, url: 'https://x.org/1'}\n"
        "  - {name: b, url: 'https://x.org/2', enabled: false}\n"
    )
    cfg = load_feeds_file(write(tmp_path, text))
    assert [f.name for f in cfg.selected()] == ["a"]
    assert [f.name for f in cfg.selected(["b"])] == ["b"]
    with pytest.raises(ConfigError, match="unknown feed"):
        cfg.selected(["zzz"])


def test_newsflow_home_overrides_data_dir(home: Path) -> None:
    assert default_warehouse() == (home / "warehouse.duckdb").resolve()
