"""The DuckDB warehouse: numbered migrations, feed state, the item ledger and idempotent, atomic loads, the
published snapshot and feed state that readers open instead of the live file, the named read queries of the
UI and CLI (``queries``), and the invariant checks."""

from newsflow.warehouse import queries
from newsflow.warehouse.checks import Check, CheckReport, check_warehouse
from newsflow.warehouse.db import WarehouseError, migrations, snapshot_path, state_path
from newsflow.warehouse.load import LoadStats
from newsflow.warehouse.planning import Plan, active_pauses, defer_paused
from newsflow.warehouse.store import Warehouse, open_feed_state, open_for_reading

__all__ = [
    "Check",
    "CheckReport",
    "LoadStats",
    "Plan",
    "Warehouse",
    "WarehouseError",
    "active_pauses",
    "check_warehouse",
    "defer_paused",
    "migrations",
    "open_feed_state",
    "open_for_reading",
    "queries",
    "snapshot_path",
    "state_path",
]
