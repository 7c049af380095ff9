"""Article extraction with trafilatura: main text without boilerplate or comments, plus metadata.

One HTML parse per page; the declared language (``<html lang>``, ``content-language``) is read before
trafilatura prunes the tree, and detected with py3langid when the page declares none. When the page gives
too little text, the feed's own content or summary is used and ``body_source`` says so.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import trafilatura
from lxml import html as lxml_html
from trafilatura.settings import Document
from trafilatura.utils import load_html

LOGGER = logging.getLogger(__name__)
RULES_VERSION = 3
"""The version of newsflow's own extraction rules (which passes run, when one replaces another, the fallback
to the feed's text, the date search): bumped whenever a change to them can change what a page gives.
3: the truncation check, the feed's longer content, the page-text date search."""
EXTRACTOR = f"trafilatura-{trafilatura.__version__}+rules-{RULES_VERSION}"
"""Recorded per article (``articles.extractor``): ``newsflow reextract`` updates the articles it changes."""
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_WS_RE = re.compile(r"[ \t\r\f\v]+")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
RESCUE_WORDS = 50
TRUNCATED_SHARE = 0.3  # a precision result under 30 % of the words of the page's paragraphs may be truncated
LONGER_BY = 2.0  # ... and the default pass's text replaces it when at least this many times as long
BodySource = Literal["extracted", "feed_content", "feed_summary"]
ExtractionPath = Literal["precision", "default", "fallback"]
"""Which extraction pass gave the page's text: the precision pass; trafilatura's default pass, which replaced
a precision result much shorter than the page's paragraphs (truncated); ``extract()`` with every fallback,
when the precision pass kept almost nothing."""


@dataclass(frozen=True)
class Extracted:
    """What a page gave: text and metadata (any may be missing)."""

    text: str | None
    title: str | None
    author: str | None
    site_name: str | None
    canonical_url: str | None
    page_date: datetime | None
    declared_language: str | None
    path: ExtractionPath | None = None


@dataclass(frozen=True)
class Body:
    """The chosen article body and where it came from."""

    text: str
    source: BodySource
    word_count: int
    body_hash: str


def word_count(text: str | None) -> int:
    return len(_WORD_RE.findall(text)) if text else 0


def normalise_text(text: str) -> str:
    """Collapse runs of blanks inside lines and blank lines between paragraphs."""
    lines = [_WS_RE.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def language_code(value: str | None) -> str | None:
    """``en`` from ``en-GB``, ``EN_us`` or ``en, fr``; None for anything that is not a language code."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0].split(",")[0].strip()
    return code if _LANG_RE.match(code) else None


def _declared_language(tree: lxml_html.HtmlElement) -> str | None:
    root = tree.getroottree().getroot()
    code = language_code(root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang"))
    if code:
        return code
    for meta in root.iterfind(".//meta"):
        if (meta.get("http-equiv") or "").lower() == "content-language":
            return language_code(meta.get("content"))
    return None


def _page_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


def _page_metadata(tree: lxml_html.HtmlElement, url: str, need_date: bool) -> dict[str, str | None]:
    """Title, author, site name, canonical URL and (only when asked) date, from meta tags and JSON-LD.

    trafilatura's own metadata pass also runs an XPath author search, which costs more than the text
    extraction itself; news pages give their author in meta tags or JSON-LD. The date is searched only when
    the feed entry gives no publication date (see :func:`_page_date_text`; ``bench/bench_dates.py`` measures
    it on the annotated corpora).
    """
    from trafilatura.metadata import (
        examine_meta,
        extract_meta_json,
        extract_sitename,
        extract_title,
        extract_url,
    )

    meta = examine_meta(tree)
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # malformed JSON-LD: keep what the meta tags gave
        LOGGER.debug("JSON-LD metadata unreadable on %s", url)
    canonical = meta.url or extract_url(tree, url)
    author = meta.author if meta.author and " " in meta.author else None  # one word is rarely a byline
    return {
        "title": meta.title or extract_title(tree),
        "author": author,
        "site_name": (meta.sitename or extract_sitename(tree) or "").lstrip("@") or None,
        "canonical_url": canonical,
        "date": _page_date_text(tree, canonical) if need_date else None,
    }


def _page_date_text(tree: lxml_html.HtmlElement, url: str | None) -> str | None:
    """The page's original publication date (``YYYY-MM-DD``): from its metadata and markup (htmldate's quick
    search), else from a search of its whole text, whose bare-year guess (``YYYY-01-01``, read off a
    copyright line) is not taken."""
    from htmldate import find_date

    found = find_date(tree, extensive_search=False, original_date=True, url=url)
    if found is None:
        guess = find_date(tree, extensive_search=True, original_date=True, url=url)
        found = None if guess is None or guess.endswith("-01-01") else guess
    return found


def _paragraph_words(tree: lxml_html.HtmlElement) -> int:
    """Words in the page's ``<p>`` elements: a cheap upper estimate of its visible article text."""
    return word_count(" ".join(tree.xpath("//p//text()")))


def extract_page(html: bytes | str, url: str, *, need_date: bool = True) -> Extracted:
    """Extract main text and metadata from one page (comments and boilerplate excluded).

    ``need_date=False`` skips the page-date search (the feed entry has a date).
    """
    tree = load_html(html)
    if tree is None:
        return Extracted(None, None, None, None, None, None, None)
    declared = _declared_language(tree)
    meta = _page_metadata(tree, url, need_date)
    paragraph_words = _paragraph_words(tree)  # before extraction, which may prune the tree
    # Precision mode drops more boilerplate; ``fast`` skips the readability/jusText comparison, which
    # costs a third of the extraction time and on the 181 annotated pages gains little (mean token F1
    # 0.968 fast against 0.970 with it, 0.948 for a bare extract()). When the precision pass keeps almost
    # nothing, a default pass with every fallback rescues the page; when it keeps much less than the
    # page's paragraphs hold, the default pass checks it for truncation.
    result = trafilatura.bare_extraction(
        tree, url=url, with_metadata=False, include_comments=False, favor_precision=True, fast=True
    )
    text = result.text if isinstance(result, Document) else None
    path: ExtractionPath | None = "precision" if text else None
    words = word_count(text)
    if words < RESCUE_WORDS:
        rescue = trafilatura.extract(html, url=url, include_comments=False)
        if rescue and word_count(rescue) > words:
            text, path = rescue, "fallback"
    elif words < TRUNCATED_SHARE * paragraph_words:
        # Precision mode sometimes keeps one fragment of a long article (on a real page: 117 words of
        # 1,965). On a page whose paragraphs hold far more words than that, trafilatura's default pass runs
        # on a fresh parse of the page, and its text is taken when it finds much more.
        second = trafilatura.bare_extraction(
            load_html(html), url=url, with_metadata=False, include_comments=False, fast=True
        )
        more = second.text if isinstance(second, Document) else None
        if more and word_count(more) > LONGER_BY * words:
            text, path = more, "default"
    return Extracted(
        text=normalise_text(text) if text else None,
        title=meta["title"] or None,
        author=meta["author"] or None,
        site_name=meta["site_name"],
        canonical_url=meta["canonical_url"] or None,
        page_date=_page_date(meta["date"]),
        declared_language=declared,
        path=path if text else None,
    )


def detect_language(text: str) -> str | None:
    """ISO 639 code detected from text (py3langid), or None for too little text.

    Paragraphs vote, weighted by their word count, so an English story quoting long passages in
    another language stays English.
    """
    import py3langid

    votes: dict[str, int] = {}
    for paragraph in text.splitlines()[:60]:
        words = word_count(paragraph)
        if words >= 5:
            code, _score = py3langid.classify(paragraph)
            votes[str(code)] = votes.get(str(code), 0) + words
    return max(votes, key=lambda c: votes[c]) if votes else None


def html_to_text(fragment: str | None) -> str | None:
    """Plain text of a feed's HTML summary/content."""
    if not fragment:
        return None
    try:
        doc = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (ValueError, lxml_html.etree.ParserError):
        return normalise_text(fragment)
    for br in doc.iter("br", "p", "div", "li", "h1", "h2", "h3", "h4"):
        br.tail = "\n" + (br.tail or "")
    text = normalise_text(doc.text_content())
    return text or None


def choose_body(
    extracted: str | None, feed_content: str | None, feed_summary: str | None, min_words: int
) -> Body | None:
    """The extracted text if long enough, else the longest of feed content, feed summary or short text.

    The feed's own text also replaces an extracted text that is long enough when it holds more than
    ``LONGER_BY`` times as many words: a publisher that puts the whole article in its feed shows what a page
    extraction that kept a fragment lost.
    """
    extracted_words = word_count(extracted)
    candidates: list[tuple[str, BodySource, int]] = []
    feed_content_text, feed_summary_text = html_to_text(feed_content), html_to_text(feed_summary)
    feed: list[tuple[str | None, BodySource, int]] = [
        (feed_content_text, "feed_content", word_count(feed_content_text)),
        (feed_summary_text, "feed_summary", word_count(feed_summary_text)),
    ]
    if extracted and extracted_words >= min_words:
        longer = [(t, s, n) for t, s, n in feed if t and n > LONGER_BY * extracted_words]
        candidates = longer[:1] or [(extracted, "extracted", extracted_words)]
    else:
        counted = [(extracted, "extracted", extracted_words), *feed]
        candidates = [(text, source, n) for text, source, n in counted if text and n > 0]
        candidates.sort(key=lambda c: c[2], reverse=True)
    if not candidates:
        return None
    text, source, words = candidates[0]
    return Body(
        text=text,
        source=source,
        word_count=words,
        body_hash=hashlib.sha256(text.encode("utf-8")).hexdigest()[:32],
    )


_WARM_UP_PAGE = (
    '<html><head><title>Warm-up</title><meta name="author" content="A Writer">'
    '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Warm-up"}</script>'
    "</head><body><nav><a href='/'>Home</a></nav><article><h1>Warm-up</h1>{paragraphs}</article>"
    "<footer>Copyright</footer></body></html>"
)


def warm_up() -> None:
    """Run every path of :func:`extract_page` and :func:`detect_language` once on built-in pages.

    The first page a process extracts pays for lazy imports, the language model and trafilatura's caches
    (measured: 0.7 s); a process that forks extraction workers calls this first so each worker starts warm.
    """
    sentence = "The ministers met on Tuesday to discuss the border, the talks and the aid that was promised. "
    for paragraphs in (f"<p>{sentence * 3}</p>" * 6, "<p>Too short to keep.</p>"):
        page = extract_page(_WARM_UP_PAGE.replace("{paragraphs}", paragraphs), "http://localhost/warm-up")
        detect_language(page.text or sentence)
    from newsflow.stories import story_signature

    story_signature(sentence * 3, "warm-up")  # loads datasketch (and scipy) once per worker
