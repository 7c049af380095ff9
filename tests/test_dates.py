"""Publication dates: the feed entry's publication date, else the page's own, else the entry's update date;
``date_source`` says which."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from factories import NOW, feed_item
from newsflow.articles import build_outcome
from newsflow.feeds.poll import parse_feed

STORY = "<p>" + "The ministers met on Tuesday to discuss the border and the aid. " * 12 + "</p>"


def page(head: str = "", byline: str = "") -> bytes:
    body = f"<body><article>{byline}{STORY}</article></body>"
    return f"<html><head><title>T</title>{head}</head>{body}</html>".encode()


DATED_PAGE = page('<meta property="article:published_time" content="2026-11-20T08:00:00Z">')
COPYRIGHT_ONLY = page(byline="<footer>Copyright 2019 The Paper. All rights reserved.</footer>")


def test_an_atom_entry_with_only_an_update_date_says_so() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>
      <entry><id>a</id><title>A</title><link href="http://example.org/a"/>
        <updated>2026-11-25T10:00:00Z</updated></entry>
      <entry><id>b</id><title>B</title><link href="http://example.org/b"/>
        <published>2026-11-01T10:00:00Z</published><updated>2026-11-25T10:00:00Z</updated></entry>
    </feed>"""
    a, b = sorted(parse_feed("f", atom, "http://example.org/feed").items, key=lambda i: i.guid or "")
    assert (a.published_at, a.dated_by_update) == (datetime(2026, 11, 25, 10, tzinfo=UTC), True)
    assert (b.published_at, b.dated_by_update) == (datetime(2026, 11, 1, 10, tzinfo=UTC), False)


@pytest.mark.parametrize(
    ("published", "by_update", "html", "expected", "source"),
    [
        (NOW, False, DATED_PAGE, NOW, "feed"),  # the entry's publication date wins over the page's
        (NOW, True, DATED_PAGE, datetime(2026, 11, 20, tzinfo=UTC), "page"),  # an update date does not
        (NOW, True, page(), NOW, "feed_updated"),  # ... unless the page has no date either
        (None, False, DATED_PAGE, datetime(2026, 11, 20, tzinfo=UTC), "page"),
        (None, False, page(), None, None),
        (None, False, COPYRIGHT_ONLY, None, None),  # a copyright year is not a publication date
    ],
)
def test_the_publication_date_and_where_it_came_from(
    published: datetime | None, by_update: bool, html: bytes, expected: datetime | None, source: str | None
) -> None:
    item = dataclasses.replace(
        feed_item("g", "http://example.org/story"), published_at=published, dated_by_update=by_update
    )
    outcome = build_outcome(item, "http://example.org/story", 200, html, min_body_words=40)
    assert outcome.article is not None
    assert (outcome.article.published_at, outcome.article.date_source) == (expected, source)
    assert outcome.article.extraction_path == "precision"
