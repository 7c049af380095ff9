"""Shared fixtures. The network is blocked for every test except connections to loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"

# Airflow reads its configuration when first imported: point it at a throw-away home and SQLite DB first.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="newsflow-airflow-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "NEWSFLOW_RETRY_DELAY_S": "0.1",
    }
)

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ip = ipaddress.ip_address(str(host).split("%")[0])
        except ValueError:
            ip = None
        if ip is None or not ip.is_loopback:
            raise OSError(f"network blocked in tests: connection to {address!r} refused")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh NEWSFLOW_HOME."""
    monkeypatch.setenv("NEWSFLOW_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test material not found: {path}")
    return path


@pytest.fixture
def corpus() -> Iterator[Path]:
    yield need_shared(CORPUS)
