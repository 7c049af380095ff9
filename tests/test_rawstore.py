from datetime import UTC, datetime
from pathlib import Path

from newsflow.articles import RawStore


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


def test_threads_storing_the_same_page_at_once_all_succeed(tmp_path: Path) -> None:
    """Two items of a batch can bring the same page; their fetch threads store it at the same moment."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    store = RawStore(tmp_path)
    html = b"<html>" + b"same page " * 20_000 + b"</html>"
    when = datetime(2026, 11, 27, tzinfo=UTC)
    for round_ in range(5):
        start = threading.Barrier(16)

        def put(_: int, article: str = f"a{round_}", start: threading.Barrier = start) -> str:
            start.wait()
            return store.put(article, "h" * 32, html, when)

        with ThreadPoolExecutor(16) as pool:
            paths = set(pool.map(put, range(16)))
        (path,) = paths
        assert store.get(path) == html
    assert sorted(p.name for p in (tmp_path / "raw" / "2026-11-27").iterdir()) == [
        f"a{n}-hhhhhhhhhhhh.html.gz" for n in range(5)
    ]  # no temporary file left behind
