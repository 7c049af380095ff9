import pytest

from newsflow.urls import article_id, canonical_url, host_key, is_http_url, same_site


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a/b?utm_source=x&utm_medium=rss&b=2&a=1#frag", "http://example.com/a/b?a=1&b=2"),
        ("https://example.com:443/x#top", "https://example.com/x"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com/news/story.html?fbclid=abc", "https://example.com/news/story.html"),
        ("http://127.0.0.1:8765/articles/a.html?utm_source=feed", "http://127.0.0.1:8765/articles/a.html"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://x.org/a", "/relative", ""]
)
def test_canonical_url_refuses_non_http(url: str) -> None:
    assert not is_http_url(url)
    with pytest.raises(ValueError):
        canonical_url(url)


def test_article_id_is_stable_and_tracking_insensitive() -> None:
    a = article_id(canonical_url("https://news.example/x?utm_campaign=1"))
    b = article_id(canonical_url("https://NEWS.example/x#comments"))
    assert a == b and len(a) == 16
    assert a != article_id(canonical_url("https://news.example/y"))


def test_host_helpers() -> None:
    assert host_key("http://Example.org:80/x") == "example.org"
    assert host_key("http://127.0.0.1:8765/x") == "127.0.0.1:8765"
    assert same_site("https://www.example.org/a", "http://example.org/b")
    assert not same_site("https://example.org/a", "https://evil.example/b")
