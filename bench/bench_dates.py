"""Publication dates: how often a feed entry gives none (or only an update date), and how well newsflow's page
date search does on the annotated pages, against the date their URL carries where it carries one.

Compares, on the same pages in the same run: htmldate's quick search (metadata and markup; newsflow's rule
before rules 3), its extensive search (the page's whole text), and newsflow's rule (quick, else extensive
without its bare-year guess). On the Global Voices mini-site, the feed's dates are compared with the pages'.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import SHARED, write_result

ARTICLES = SHARED / "corpus" / "articles"
FEEDS = SHARED / "corpus" / "feeds" / "news"
URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](\d\d)[/-](\d\d)(?:/|[^0-9]|$)")


def feed_entry_dates() -> dict[str, int]:
    """Entries of the 53 real feeds by what dates they give."""
    import feedparser

    counts: Counter[str] = Counter()
    for path in sorted(FEEDS.iterdir()):
        for entry in feedparser.parse(path.read_bytes()).entries:
            if dict.get(entry, "published_parsed"):
                counts["published"] += 1
            elif dict.get(entry, "updated_parsed"):
                counts["updated_only"] += 1
            else:
                counts["no_date"] += 1
    return {"entries": sum(counts.values()), **counts}


def page_dates() -> tuple[list[dict[str, Any]], dict[str, float]]:
    from htmldate import find_date
    from trafilatura.utils import load_html

    from newsflow.articles import extract_page

    rows, seconds = [], Counter[str]()
    with (ARTICLES / "manifest.csv").open(encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    for r in manifest:
        html = (ARTICLES / f"{r['id']}.html").read_bytes()
        url = r["url"] or None
        found = URL_DATE.search(url or "")
        got: dict[str, Any] = {"page": r["id"], "corpus": r["source"]}
        got["reference"] = "-".join(found.groups()) if found else None
        for name, extensive in (("quick", False), ("extensive", True)):
            t = time.perf_counter()
            got[name] = find_date(load_html(html), extensive_search=extensive, original_date=True, url=url)
            seconds[name] += time.perf_counter() - t
        t = time.perf_counter()
        date = extract_page(html, url or "http://example.org/", need_date=True).page_date
        seconds["newsflow (whole extraction)"] += time.perf_counter() - t
        got["newsflow"] = date.date().isoformat() if date else None
        rows.append(got)
    return rows, dict(seconds)


def main() -> int:
    entries = feed_entry_dates()
    print(
        f"feed entries: {entries['entries']}; with a publication date {entries.get('published', 0)}, "
        f"only an update date {entries.get('updated_only', 0)}, none {entries.get('no_date', 0)}"
    )
    rows, seconds = page_dates()
    out: list[list[Any]] = []
    result: dict[str, Any] = {"feed_entries": entries, "pages": len(rows), "seconds": seconds, "rules": {}}
    for rule in ("quick", "extensive", "newsflow"):
        dated = [r for r in rows if r[rule]]
        referenced = [r for r in rows if r["reference"] and r[rule]]
        wrong = [r for r in referenced if r[rule] != r["reference"]]
        year_guesses = [r for r in dated if r[rule].endswith("-01-01") and r["reference"] != r[rule]]
        result["rules"][rule] = {
            "missing": len(rows) - len(dated),
            "with_url_date": len(referenced),
            "differs_from_url_date": len(wrong),
            "bare_year_guesses": len(year_guesses),
        }
        out.append([rule, len(rows) - len(dated), len(referenced), len(wrong), len(year_guesses)])
    print(f"\n{len(rows)} annotated pages (aeb, readability, globalvoices): the page's own date")
    header = ("rule", "no date", "with a URL date", "differs from it", "YYYY-01-01 guesses")
    for line in [header, *out]:
        print("  ".join(str(c).ljust(18) for c in line))
    print("seconds in all: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    result["globalvoices_feed_vs_page"] = globalvoices()
    write_result("dates", result)
    return 0


def globalvoices() -> dict[str, int]:
    """The Global Voices feed's dates against its pages' own (newsflow's page-date rule)."""
    from newsflow.articles import extract_page
    from newsflow.feeds.poll import parse_feed

    feed = FEEDS / "mcbackend__globalvoices_test.rss"
    same = differs = 0
    for item in parse_feed("gv", feed.read_bytes(), "http://127.0.0.1/").items:
        assert item.link and item.published_at
        page = ARTICLES / "globalvoices" / Path(item.link).name
        date = extract_page(page.read_bytes(), item.link, need_date=True).page_date
        if date is not None and date.date() == item.published_at.date():
            same += 1
        else:
            differs += 1
    print(f"globalvoices: feed date and page date the same day on {same} items, different on {differs}")
    return {"same_day": same, "differs": differs}


if __name__ == "__main__":
    raise SystemExit(main())
