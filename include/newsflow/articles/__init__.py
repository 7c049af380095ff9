"""Articles: the fetch stage (pages fetched politely, extracted in worker processes), extraction with
trafilatura, the raw HTML store, a fetch task's download journal, and re-extraction from the kept HTML."""

from newsflow.articles.extraction import (
    EXTRACTOR,
    choose_body,
    detect_language,
    extract_page,
    html_to_text,
    language_code,
    warm_up,
)
from newsflow.articles.journal import DownloadJournal
from newsflow.articles.rawstore import RawStore, write_gzip
from newsflow.articles.reextraction import reextract
from newsflow.articles.stage import build_outcome, extraction_pool, extraction_workers, fetch_articles

__all__ = [
    "EXTRACTOR",
    "DownloadJournal",
    "RawStore",
    "build_outcome",
    "choose_body",
    "detect_language",
    "extract_page",
    "extraction_pool",
    "extraction_workers",
    "fetch_articles",
    "html_to_text",
    "language_code",
    "reextract",
    "warm_up",
    "write_gzip",
]
