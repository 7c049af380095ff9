"""Imported by the forkserver that starts worker processes (``newsflow.workers``): importing it warms the
extraction code up once, so every worker forked afterwards starts warm instead of paying for lazy imports
and model loading on its first page."""

from __future__ import annotations

import logging

from newsflow.extraction import warm_up

try:
    warm_up()
except Exception:  # a cold worker is slower, not wrong: never let the warm-up stop the server
    logging.getLogger(__name__).warning("extraction warm-up failed; workers start cold", exc_info=True)
