"""For end-to-end tests: a multi-host loopback news site, and the real Airflow deployment to ingest it
(:class:`LiveAirflow`, from ``scripts/airflow_live.py``, which ``make run`` uses too). Nothing here runs a
task in-process."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsflow.sample import StaticSite

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from airflow_live import LiveAirflow  # noqa: E402

__all__ = ["LiveAirflow", "LiveSite", "news_site"]


@dataclass
class LiveSite:
    """Feeds spread over several loopback hosts (127.0.0.2, 127.0.0.3, ...), each a real HTTP server."""

    sites: list[StaticSite]
    roots: list[Path]  # the folder each site serves
    feeds: list[tuple[str, str]]  # (name, url)
    pages: dict[str, str]  # article URL -> the page file it serves

    @property
    def allow_hosts(self) -> list[str]:
        return [s.base_url.removeprefix("http://") for s in self.sites]

    def add_feed(self, name: str, host: int, entries: Sequence[tuple[str, str]]) -> str:
        """Serve a new RSS feed on host ``host`` of ``(page file already served there, pubDate)`` entries;
        returns its URL (add it to the feeds file to poll it)."""
        site = self.sites[host]
        items = "".join(
            f"<item><title>{name} {i}</title><link>{site.base_url}/p/{page}?{name}={i}</link>"
            f"<guid>{name}-{i}</guid><pubDate>{date}</pubDate></item>"
            for i, (page, date) in enumerate(entries)
        )
        (self.roots[host] / "feeds" / f"{name}.xml").write_text(
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>{name}</title>{items}</channel></rss>"
        )
        self.feeds.append((name, f"{site.base_url}/feeds/{name}.xml"))
        return self.feeds[-1][1]

    def feeds_file(self, path: Path, **settings: Any) -> Path:
        lines = ["allow_hosts: " + json.dumps(self.allow_hosts), "feeds:"]
        lines += [f"  - {{name: {name}, url: '{url}'}}" for name, url in self.feeds]
        lines.append("settings: " + json.dumps(settings))
        path.write_text("\n".join(lines) + "\n")
        return path


@contextlib.contextmanager
def news_site(
    root: Path, pages: Sequence[Path], *, feeds: int, per_feed: int, hosts: int
) -> Iterator[LiveSite]:
    """``feeds`` RSS feeds of ``per_feed`` articles each, feed ``n`` on host ``n % hosts``. The articles are
    real pages, each served under as many URLs (``?copy=N``) as it takes: a copy is an article of its own."""
    folders = [root / f"host{h}" for h in range(hosts)]
    for folder in folders:
        (folder / "p").mkdir(parents=True, exist_ok=True)
        (folder / "feeds").mkdir(exist_ok=True)
    wanted = feeds * per_feed
    links = [(pages[i % len(pages)], i // len(pages)) for i in range(wanted)]
    with contextlib.ExitStack() as stack:
        sites = [
            stack.enter_context(StaticSite(folder, port=0, host=f"127.0.0.{h + 2}"))
            for h, folder in enumerate(folders)
        ]
        feed_list, served = [], {}
        for n in range(feeds):
            site, folder = sites[n % hosts], folders[n % hosts]
            entries = ""
            for i, (page, copy) in enumerate(links[n * per_feed : (n + 1) * per_feed]):
                shutil.copy(page, folder / "p" / page.name)
                link = f"{site.base_url}/p/{page.name}?copy={copy}"
                served[link] = page.name
                entries += (
                    f"<item><title>Story {n}-{i}</title><link>{link}</link><guid>{link}</guid>"
                    f"<pubDate>Wed, 25 Nov 2026 10:{i % 60:02d}:00 GMT</pubDate></item>"
                )
            (folder / "feeds" / f"f{n}.xml").write_text(
                "<?xml version='1.0'?><rss version='2.0'><channel>"
                f"<title>Feed {n}</title>{entries}</channel></rss>"
            )
            feed_list.append((f"f{n}", f"{site.base_url}/feeds/f{n}.xml"))
        yield LiveSite(sites=sites, roots=folders, feeds=feed_list, pages=served)
