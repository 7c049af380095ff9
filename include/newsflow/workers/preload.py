"""Imported by the forkserver that starts newsflow's worker processes (``newsflow.workers``), and only there.

It makes the server's workers leave the parent's ``__main__`` alone, then warms the extraction code up once,
so every worker forked afterwards starts warm instead of paying for lazy imports on its first page.

Why ``__main__`` is left alone: multiprocessing re-imports the parent's main module in every worker so that
functions defined there can be unpickled. newsflow's workers only run functions of ``newsflow`` modules
(pickled by module name), and under Airflow the main module is the ``airflow`` command, whose import
initialises Airflow and fails inside a task process (its metadata database is out of bounds there).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from multiprocessing import spawn
from typing import Any

_MAIN_KEYS = ("init_main_from_name", "init_main_from_path")
_prepare = spawn.prepare


def _prepare_without_main(data: Mapping[str, Any]) -> None:
    _prepare({k: v for k, v in data.items() if k not in _MAIN_KEYS})


spawn.prepare = _prepare_without_main  # this server process only: the workers it forks inherit it

from newsflow.articles import warm_up  # noqa: E402 (after the hook, so nothing below can need __main__

try:
    warm_up()
except Exception:  # a cold worker is slower, not wrong: never let the warm-up stop the server
    logging.getLogger(__name__).warning("extraction warm-up failed; workers start cold", exc_info=True)
