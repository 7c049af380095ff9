"""What a fetch task has downloaded so far, kept on disk as it happens, so that its retry refetches nothing.

One file per item under the batch's journal folder: the page (status, final URL, headers, body), or the
failure that used up an attempt (a 404, a refused robots.txt, a timeout). Items never requested (the run's
fetch budget ran out, the host asked for a pause) are not journaled: the retry may still fetch them. Each
file is written to a temporary name and renamed, so a task killed mid-write leaves no half a file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from newsflow.articles.rawstore import write_gzip
from newsflow.models import FeedItem, ItemOutcome
from newsflow.net import Response


class DownloadJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, item: FeedItem) -> Path:
        return self.folder / f"{hashlib.sha256(item.item_id.encode()).hexdigest()[:32]}.gz"

    def get(self, item: FeedItem, attempts: int) -> Response | ItemOutcome | None:
        """The kept download of ``item``, or None if it was not made (or not kept) yet."""
        path = self._path(item)
        try:
            with gzip.open(path, "rb") as fh:
                header, _, body = fh.read().partition(b"\n")
        except (FileNotFoundError, OSError, EOFError):
            return None
        meta = json.loads(header)
        if meta["kind"] == "failed":
            return ItemOutcome(
                item=item,
                status="failed",
                reason=meta["reason"],
                retryable=meta["retryable"],
                attempts=attempts,
            )
        return Response(
            url=meta["url"],
            status=meta["status"],
            headers=meta["headers"],
            body=body,
            wire_bytes=meta["wire_bytes"],
            elapsed_s=meta["elapsed_s"],
            redirects=tuple(meta["redirects"]),
        )

    def put(self, item: FeedItem, got: Response | ItemOutcome) -> None:
        meta: dict[str, Any]
        if isinstance(got, ItemOutcome):
            meta = {"kind": "failed", "reason": got.reason, "retryable": got.retryable}
            body = b""
        else:
            meta = {
                "kind": "page",
                "url": got.url,
                "status": got.status,
                "headers": dict(got.headers),
                "wire_bytes": got.wire_bytes,
                "elapsed_s": got.elapsed_s,
                "redirects": list(got.redirects),
            }
            body = got.body
        write_gzip(self._path(item), json.dumps(meta).encode() + b"\n" + body)

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.gz"))) if self.folder.is_dir() else 0

    def clear(self) -> None:
        """Drop the journal (once the batch's outcomes are staged, the raw store keeps the pages)."""
        shutil.rmtree(self.folder, ignore_errors=True)
