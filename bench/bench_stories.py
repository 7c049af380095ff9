"""Stories: B-cubed precision, recall and F1 of newsflow's story clustering on copies made as syndication
makes them, through the real pipeline (pages served on loopback, ``newsflow run``'s cycle, the DuckDB file),
against a title-hash baseline (Media Cloud's dedupe: a hash of the normalised title) on the same articles.

From the 181 reference texts of ``../shared/corpus/articles/aeb`` (each one story), it builds an original page
per text on its publisher's site, and for a share of them copies on other sites with other page templates:
a syndicated copy with a new headline, a dateline, a byline and an "originally published" line; a copy
truncated to its first half (or third); an updated version (a paragraph rewritten, an update note added); a
copy with small edits. Hard negatives: every original shares one site's template; and the 15 real Global
Voices article pages of June 2009 are served as they are, one site's real template, with several stories on
one subject (three on Obama's Cairo speech, two on the clashes in the Peruvian Amazon).
Targets (issue 14): F1 >= 0.95, precision >= 0.97.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import shutil
import tempfile
import time
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from common import SHARED, write_result

ARTICLES = SHARED / "corpus" / "articles"
TEMPLATES = {
    "daily": (
        "<html lang='en'><head><title>{title} | The Daily</title></head><body><header><nav>"
        "<a href='/'>Home</a> <a href='/world'>World</a> <a href='/business'>Business</a></nav></header>"
        "<main><article>"
        "<h1>{title}</h1><p class='byline'>{byline}</p>{body}</article><aside><h2>Most read</h2><ul>"
        "<li><a href='/a'>Council approves the harbour plan</a></li><li><a href='/b'>Weekend weather</a></li>"
        "</ul></aside></main><footer>Copyright The Daily. All rights reserved. Sign up for our newsletter."
        "</footer></body></html>"
    ),
    "wire": (
        "<html lang='en'><head><title>{title}</title></head><body><div id='top'>Wire Service</div>"
        "<div class='story'><h1 class='headline'>{title}</h1><div class='dateline'>{byline}</div>"
        "<div class='story-body'>{body}</div></div><div class='more'>More from the wire: markets, sport, "
        "weather.</div><div class='legal'>(c) Wire Service. Terms of use.</div></body></html>"
    ),
    "regional": (
        "<html lang='en'><head><title>{title} - Valley Courier</title></head><body><table><tr>"
        "<td class='side'><a href='/'>Front page</a><br><a href='/obits'>Obituaries</a></td>"
        "<td class='main'><h2>{title}</h2>"
        "<p><em>{byline}</em></p>{body}</td></tr></table><p class='foot'>Valley Courier, serving the valley "
        "since 1901. Subscribe today.</p></body></html>"
    ),
}
SITES = ["daily", "wire", "regional", "voices"]
"""``voices`` serves the 15 real Global Voices article pages (June 2009) as they are: one site's template,
several stories on one subject (three on Obama's Cairo speech, two on the clashes in the Peruvian Amazon)."""


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.splitlines() if p.strip()]


def html_body(paras: list[str]) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in paras)


def variants(story: str, title: str, paras: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """The original and the copies of one story (each: site, title, byline, paragraphs, kind)."""
    out = [
        {"kind": "original", "site": "daily", "title": title, "byline": "By a staff reporter", "paras": paras}
    ]
    if rng.random() < 0.6 and len(paras) >= 3:
        out.append(
            {
                "kind": "syndicated",
                "site": "wire",
                "title": "WIRE: " + title.upper() if rng.random() < 0.5 else f"What to know: {title}",
                "byline": "NEW YORK (Wire) -",
                "paras": [f"NEW YORK (Wire) - {paras[0]}", *paras[1:], "Originally published by The Daily."],
            }
        )
    if rng.random() < 0.4 and len(paras) >= 4:
        share = rng.choice([0.5, 0.34])
        out.append(
            {
                "kind": "truncated",
                "site": "regional",
                "title": title,
                "byline": "From wire reports",
                "paras": paras[: max(2, int(len(paras) * share))],
            }
        )
    if rng.random() < 0.3 and len(paras) >= 5:
        k = rng.randrange(1, len(paras))
        updated = list(paras)
        updated[k] = (
            "Officials said on Wednesday that the figures would be revised, and a spokesperson declined to "
            "comment further on the timing of the decision or on who had been consulted."
        )
        out.append(
            {
                "kind": "updated",
                "site": "daily",
                "title": f"{title} (updated)",
                "byline": "By a staff reporter. This article has been updated.",
                "paras": ["Update: this story has been updated with new information.", *updated],
            }
        )
    if rng.random() < 0.3 and len(paras) >= 3:
        edited = [re.sub(r"\b(said|says)\b", "stated", p) for p in paras]
        edited = [p.replace(",", "", 1) if i % 3 == 0 else p for i, p in enumerate(edited)]
        out.append(
            {"kind": "edited", "site": "regional", "title": title + "!", "byline": "Staff", "paras": edited}
        )
    for n, v in enumerate(out):
        v["story"], v["slug"] = story, f"{story}-{n}"
    return out


def build(root: Path, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    with (ARTICLES / "manifest.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "aeb" and r["gold_status"] == "ok"]
    pages = []
    for r in rows:
        pid = r["id"].split("/")[1]
        paras = paragraphs((ARTICLES / f"{r['id']}.gold.txt").read_text(encoding="utf-8"))
        if sum(len(p.split()) for p in paras) < 60:  # too short to be published as an article
            continue
        pages += variants(pid, r["title"] or "Untitled", paras, rng)
    for site in SITES:
        (root / site / "p").mkdir(parents=True, exist_ok=True)
    for v in pages:
        html = TEMPLATES[v["site"]].format(
            title=escape(v["title"]), byline=escape(v["byline"]), body=html_body(v["paras"])
        )
        (root / v["site"] / "p" / f"{v['slug']}.html").write_text(html, encoding="utf-8")
    with (ARTICLES / "manifest.csv").open(encoding="utf-8") as fh:
        voices = [r for r in csv.DictReader(fh) if r["id"].startswith("globalvoices/index_")]
    for r in voices:  # the real pages, each its own story
        slug = "gv-" + r["id"].split("_")[1]
        shutil.copy(ARTICLES / f"{r['id']}.html", root / "voices" / "p" / f"{slug}.html")
        pages.append({"kind": "original", "site": "voices", "title": r["title"], "story": slug, "slug": slug})
    for site in SITES:
        entries = "".join(
            f"<item><title>{escape(v['title'])}</title><link>{{{{BASE_URL}}}}/p/{v['slug']}.html</link>"
            f"<guid>{v['slug']}</guid><pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate></item>"
            for v in pages
            if v["site"] == site
        )
        (root / site / "feed.xml").write_text(
            "<?xml version='1.0'?><rss version='2.0'><channel>"
            f"<title>{site}</title>{entries}</channel></rss>",
            encoding="utf-8",
        )
    return pages


def bcubed(truth: dict[str, str], predicted: dict[str, str]) -> dict[str, float]:
    """B-cubed precision, recall and F1 of ``predicted`` clusters against ``truth`` (item -> cluster)."""
    by_truth, by_pred = defaultdict(set), defaultdict(set)
    for item, cluster in truth.items():
        by_truth[cluster].add(item)
    for item, cluster in predicted.items():
        by_pred[cluster].add(item)
    precision = recall = 0.0
    for item in truth:
        mine, real = by_pred[predicted[item]], by_truth[truth[item]]
        both = len(mine & real)
        precision += both / len(mine)
        recall += both / len(real)
    precision, recall = precision / len(truth), recall / len(truth)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def title_key(title: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (title or "").lower()).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from newsflow.config import load_feeds_file
    from newsflow.run import run_cycle
    from newsflow.sample import StaticSite
    from newsflow.warehouse import Warehouse

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pages = build(root / "sites", args.seed)
        sites = {
            s: StaticSite(root / "sites" / s, port=0, host=f"127.0.0.{n + 2}") for n, s in enumerate(SITES)
        }
        for site in sites.values():
            site.start()
        try:
            feeds = root / "feeds.yaml"
            hosts = [f"127.0.0.{n + 2}:{sites[s].port}" for n, s in enumerate(SITES)]
            feeds.write_text(
                f"allow_hosts: {hosts}\nfeeds:\n"
                + "".join(f"  - {{name: {s}, url: '{sites[s].base_url}/feed.xml'}}\n" for s in SITES)
                + "settings: {per_host_min_delay_s: 0, max_items_per_feed: 1000}\n"
            )
            t0 = time.perf_counter()
            summary = run_cycle(
                load_feeds_file(feeds), root / "home" / "warehouse.duckdb", home=root / "home", force=True
            )
            seconds = time.perf_counter() - t0
        finally:
            for site in sites.values():
                site.stop()
        with Warehouse(root / "home" / "warehouse.duckdb", read_only=True) as wh:
            rows = wh.query("SELECT url, story_id, title FROM articles")[1]
            timing = wh.query("SELECT count(*) FROM story_index")[1][0][0]
    truth_of = {re.sub(r"^.*/p/|\.html$", "", p["slug"] + ".html"): p["story"] for p in pages}
    truth, ours, titles = {}, {}, {}
    for url, story_id, title in rows:
        slug = re.sub(r"\.html$", "", url.rsplit("/", 1)[-1])
        truth[slug], ours[slug], titles[slug] = truth_of[slug], story_id, title_key(title)
    kinds: dict[str, int] = defaultdict(int)
    joined: dict[str, int] = defaultdict(int)  # copies put in their original's story, per kind
    original = {p["story"]: p["slug"] for p in pages if p["kind"] == "original"}
    for p in pages:
        kinds[p["kind"]] += 1
        if (
            p["kind"] != "original"
            and p["slug"] in ours
            and ours[p["slug"]] == ours.get(original[p["story"]])
        ):
            joined[p["kind"]] += 1
    result = {
        "pages": len(pages),
        "loaded": len(rows),
        "stories": len(set(truth.values())),
        "kinds": dict(kinds),
        "copies_joined": dict(joined),
        "cycle_s": round(seconds, 1),
        "index_rows": timing,
        "newsflow": bcubed(truth, ours),
        "title_hash": bcubed(truth, titles),
        "failed": summary.load.failed,
    }
    print(f"{len(pages)} pages ({dict(kinds)}), {len(rows)} loaded, {result['stories']} stories")
    for name in ("newsflow", "title_hash"):
        r = result[name]
        print(f"{name:10s} B-cubed precision {r['precision']:.4f} recall {r['recall']:.4f} F1 {r['f1']:.4f}")
    print(
        "copies in their original's story: "
        + ", ".join(f"{k} {joined[k]}/{kinds[k]}" for k in kinds if k != "original")
    )
    print("targets: F1 >= 0.95, precision >= 0.97")
    write_result("stories", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
