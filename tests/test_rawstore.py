from datetime import UTC, datetime
from pathlib import Path

from newsflow.rawstore import RawStore


def test_put_get_and_retention(tmp_path: Path) -> None:
    store = RawStore(tmp_path)
    old = store.put("a1", "h" * 32, b"<html>old</html>", datetime(2026, 10, 1, tzinfo=UTC))
    new = store.put("a2", "k" * 32, b"<html>new</html>", datetime(2026, 11, 26, tzinfo=UTC))
    assert old == "raw/2026-10-01/a1-hhhhhhhhhhhh.html.gz"
    assert store.get(new) == b"<html>new</html>"
    assert (tmp_path / new).read_bytes()[:2] == b"\x1f\x8b"  # gzip on disk
    assert store.put("a2", "k" * 32, b"<html>new</html>", datetime(2026, 11, 26, tzinfo=UTC)) == new
    assert store.prune(30, now=datetime(2026, 11, 27, tzinfo=UTC)) == 1
    assert not (tmp_path / old).exists() and (tmp_path / new).exists()
    assert store.prune(30, now=datetime(2026, 11, 27, tzinfo=UTC)) == 0
