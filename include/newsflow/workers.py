"""Worker processes for the CPU-bound stages: extraction and classification.

Workers start from a forkserver, never as a fork of a process with fetch threads running. The server has
imported and warmed up the extraction and classification code (``newsflow.worker_preload``), so a worker
starts in milliseconds and its first item runs at full speed.
"""

from __future__ import annotations

import os
from multiprocessing import get_context
from multiprocessing.context import BaseContext

from newsflow.config import Settings

PRELOAD = ["newsflow.articles", "newsflow.topics", "newsflow.worker_preload"]


def cpu_workers(settings: Settings) -> int:
    """``extract_workers`` processes, or one per CPU core when it is 0."""
    return settings.extract_workers or os.cpu_count() or 1


def worker_count(settings: Settings, items: int, min_items: int) -> int:
    """Processes for ``items`` work items: :func:`cpu_workers`, or 1 (in-process) below ``min_items``,
    where starting processes would cost more than it saves."""
    wanted = cpu_workers(settings)
    return wanted if wanted > 1 and items >= min_items else 1


def worker_context() -> BaseContext:
    """The forkserver context, with the preloaded modules set."""
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx
