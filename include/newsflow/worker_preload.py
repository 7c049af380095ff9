"""Imported by the forkserver that starts worker processes (``newsflow.workers``): importing it warms the
extraction code up once, so every worker forked afterwards starts warm instead of paying for lazy imports
and model loading on its first page."""

from __future__ import annotations

from newsflow.extraction import warm_up

warm_up()
