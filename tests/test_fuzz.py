"""Property-based tests (hypothesis) of the three parsers that see hostile input first: feed parsing, URL
normalisation and the SSRF guard. Generated input, no network: the guard gets a fake resolver.

Two bugs these found have regression tests below: feedparser exceptions escaping ``parse_feed``, and courlan
HTML-unescaping query strings (``&sect=1`` became ``§=1``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import CORPUS
from newsflow.feeds import FeedParseError, parse_feed
from newsflow.net import BlockedURL, NetGuard, is_public_address
from newsflow.urls import canonical_url

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
HEX = re.compile(r"^[0-9a-f]+$")

# -- feed parsing -------------------------------------------------------------------------------------

TAGS = [
    "rss", "channel", "item", "title", "link", "guid", "description", "pubDate", "feed", "entry", "id",
    "updated", "published", "summary", "content", "author", "name", "rdf:RDF", "content:encoded", "ttl",
]  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "http://news.example/a?utm_source=x#frag",
            "https://news.example/b",
            "/relative/path",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://news.example/x",
            "http://[::1",
            "http://999.999.999.999:99999/",
            "&amp;",
            "&lt;b&gt;",
            "&nbsp;",
            "&undefined;",
            "&#0;",
            "&#x110000;",
            "<![CDATA[ <b>x</b> ]]>",
            "]]>",
            "Wed, 25 Nov 2026 10:00:00 GMT",
            "2026-13-45T99:99:99Z",
            "\x00\x0b\ufffe",
        ]
    ),
)
ATTRS = st.sampled_from(
    [
        "",
        ' version="2.0"',
        ' xmlns="http://www.w3.org/2005/Atom"',
        ' href="http://news.example/a"',
        ' href="javascript:x"',
        ' rel="alternate"',
        ' isPermaLink="false"',
        ' xml:lang="en"',
        ' xml:base="http://other.example/"',
        ' type="html"',
    ]
)
PROLOG = st.sampled_from(
    [
        "",
        '<?xml version="1.0"?>',
        '<?xml version="1.0" encoding="utf-8"?>',
        '<?xml version="1.0" encoding="iso-8859-1"?>',
        '<?xml version="1.0" encoding="utf-16"?>',
        '<?xml version="1.0" encoding="no-such-charset"?>',
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://x.invalid/">',
        '<!DOCTYPE rss [<!ENTITY e "entity text">]>',
        '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        "\ufeff",
    ]
)


def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda tag, attrs, body, closed: f"<{tag}{attrs}>{body}" + (f"</{tag}>" if closed else ""),
        st.sampled_from(TAGS),
        ATTRS,
        st.lists(children, max_size=4).map("".join),
        st.sampled_from([True, True, True, False]),  # mostly closed: mostly well-formed
    )


XMLISH = st.builds(
    lambda prolog, body: prolog + body,
    PROLOG,
    st.recursive(TEXT, element, max_leaves=25),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"])


def assert_items_sound(body: bytes) -> None:
    """The properties every parse must have, whatever the input."""
    try:
        parsed = parse_feed("fuzz", body, "http://feeds.example/feed.xml")
    except FeedParseError:
        return  # the only exception it may raise
    ids = [i.item_id for i in parsed.items]
    assert len(ids) == len(set(ids))
    for item in parsed.items:
        assert len(item.item_id) == 16 and HEX.match(item.item_id)
        assert len(item.entry_hash) == 32 and HEX.match(item.entry_hash)
        assert item.feed == "fuzz"
        if item.canonical_url is not None:
            assert urlsplit(item.canonical_url).scheme in ("http", "https")
            assert "#" not in item.canonical_url


@FAST
@given(XMLISH, ENCODINGS)
@example('<rss version="2.0"><channel><item><link>javascript:alert(1)</link></item></channel></rss>', "utf-8")
@example("<feed><entry><id>a</id><id>a</id></entry><entry><id>a</id></entry></feed>", "utf-8")
def test_parse_feed_on_generated_xml(doc: str, encoding: str) -> None:
    assert_items_sound(doc.encode(encoding, errors="replace"))


@FAST
@given(st.binary(max_size=2000))
def test_parse_feed_on_arbitrary_bytes(body: bytes) -> None:
    assert_items_sound(body)


def _real_feeds() -> list[Path]:
    news = CORPUS / "feeds" / "news"
    names = ["feedreader__Rss20FinanzenNet.xml", "feedjira__google_alerts_atom.xml"]
    return [news / n for n in names if (news / n).exists()]


SNIPPETS = st.sampled_from(
    [
        b"<",
        b">",
        b"&",
        b"]]>",
        b"<![CDATA[",
        b"<item>",
        b"</item>",
        b"<entry>",
        b"<link>javascript:alert(1)</link>",
        b"<link>file:///etc/passwd</link>",
        b"<guid></guid>",
        b"&undefined;",
        b"&#xD800;",
        b"\x00",
        b"\xff\xfe",
        b"\xc3\x28",
        b'<!DOCTYPE rss [<!ENTITY a "aaaa">]>',
        b"&a;&a;&a;",
    ]
)


@pytest.mark.parametrize("path", _real_feeds(), ids=lambda p: p.name)
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_feed_on_mutated_real_feeds(path: Path, data: st.DataObject) -> None:
    body = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        at = data.draw(st.integers(0, len(body)), label="at")
        kind = data.draw(st.sampled_from(["insert", "delete", "flip", "truncate", "repeat"]), label="kind")
        if kind == "insert":
            body[at:at] = data.draw(SNIPPETS, label="snippet")
        elif kind == "delete":
            del body[at : at + data.draw(st.integers(1, 200), label="length")]
        elif kind == "flip" and at < len(body):
            body[at] = data.draw(st.integers(0, 255), label="byte")
        elif kind == "truncate":
            del body[at:]
        elif kind == "repeat":
            body[at:at] = body[at : at + data.draw(st.integers(1, 500), label="length")]
    assert_items_sound(bytes(body))


def test_real_feeds_for_mutation_exist() -> None:
    if not _real_feeds():
        pytest.skip(f"shared test material not found: {CORPUS / 'feeds' / 'news'}")
    for path in _real_feeds():
        assert parse_feed("real", path.read_bytes(), "http://feeds.example/").items


FEEDPARSER_CRASHERS = {
    "charref-out-of-range": b'<rss version="2.0"><channel><title>&#2000000;</title></channel></rss>',
    "surrogate-charref": b'<rss version="2.0"><channel><title>&#xD800;</title></channel></rss>',
    "non-utf8-encoding-name": b'<?xml version="1.0" encoding="\x80"?><rss version="2.0"><channel/></rss>',
    "nul-in-encoding-name": b'<?xml version="1.0" encoding="utf\x008"?><rss version="2.0"><channel/></rss>',
}


@pytest.mark.parametrize("body", FEEDPARSER_CRASHERS.values(), ids=FEEDPARSER_CRASHERS.keys())
def test_feedparser_errors_become_feed_parse_errors(body: bytes) -> None:
    with pytest.raises(FeedParseError, match="^feedparser failed: "):
        parse_feed("crash", body, "http://feeds.example/feed.xml")


# -- URL normalisation --------------------------------------------------------------------------------

LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True)
HOSTS = st.one_of(
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
    st.lists(LABEL, min_size=1, max_size=3).map(lambda ls: ".".join(ls) + "."),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.sampled_from(["xn--bcher-kva.example", "bücher.example", "EXAMPLE.COM", "a_b.example", "[::1"]),
)
PORTS = st.one_of(st.just(""), st.sampled_from([":80", ":443", ":8080", ":0", ":65535", ":99999", ":"]))
SEGMENT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8),
    st.sampled_from(["..", ".", "%2F", "%20", "%41", "%zz", "a;b", "~user", "index.html", "%E2%82%AC", "€"]),
)
PARAM = st.tuples(
    st.one_of(
        st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "UTM_Term", "utm_content", "fbclid"]),
        st.sampled_from(["id", "page", "q", "a", "b", "ref", "amp"]),
        st.text(max_size=6),
    ),
    st.text(max_size=8),
)
SCHEMES = st.sampled_from(["http", "https", "HTTP", "HtTpS", "ftp", "file", "javascript", "data", ""])


@st.composite
def urls(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=40))  # anything at all
    scheme = draw(SCHEMES)
    auth = draw(st.sampled_from(["", "", "user@", "user:pw@"]))
    path = "/".join(draw(st.lists(SEGMENT, max_size=4)))
    query = "&".join(f"{k}={v}" for k, v in draw(st.lists(PARAM, max_size=5)))
    fragment = draw(st.one_of(st.just(""), st.text(max_size=8)))
    url = f"{scheme}://{auth}{draw(HOSTS)}{draw(PORTS)}/{path}"
    if query or draw(st.booleans()):
        url += f"?{query}"
    if fragment or draw(st.booleans()):
        url += f"#{fragment}"
    return draw(st.sampled_from(["", " ", "\t"])) + url


@settings(max_examples=500, deadline=None, database=None)
@given(urls())
@example("http://Example.COM:80/a/../b?utm_source=x&b=2&a=1#top")
@example("https://news.example/?utm_medium=rss")
def test_canonical_url_properties(url: str) -> None:
    try:
        once = canonical_url(url)
    except ValueError:
        return  # the only exception it may raise
    parts = urlsplit(once)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert parts.fragment == "" and "#" not in once
    assert not [k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if k.lower().startswith("utm_")]
    assert canonical_url(once) == once  # idempotent


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example/list?page=2&sect=world", "https://news.example/list?page=2&sect=world"),
        ("https://news.example/a?id=1&copy=2", "https://news.example/a?copy=2&id=1"),
        ("https://news.example/a?b=1&amp=1", "https://news.example/a?amp=1&b=1"),
        ("https://news.example/a?x=1&not=2&reg=uk", "https://news.example/a?not=2&reg=uk&x=1"),
    ],
)
def test_query_names_like_html_entities_survive(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected


def test_double_escaped_ampersands_from_feeds_are_repaired() -> None:
    assert canonical_url("https://news.example/a?a=1&amp;b=2") == "https://news.example/a?a=1&b=2"


# -- the SSRF guard -----------------------------------------------------------------------------------

NON_PUBLIC_NETS = [
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::1/128",
        "::/128",
        "fe80::/10",
        "fc00::/7",
        "ff00::/8",
        "::ffff:127.0.0.0/104",
        "::ffff:10.0.0.0/104",
        "::ffff:169.254.0.0/112",
    )
]


@st.composite
def non_public(draw: st.DrawFn) -> str:
    net = draw(st.sampled_from(NON_PUBLIC_NETS))
    return str(net[draw(st.integers(0, min(net.num_addresses - 1, 2**32)))])


ADDRESSES = st.one_of(st.ip_addresses().map(str), non_public())
NAMES = st.one_of(
    st.lists(LABEL, min_size=1, max_size=3).map(".".join),
    st.sampled_from(["localhost", "LOCALHOST", "localhost.", "metadata.google.internal", "0x7f000001"]),
)


def resolver_for(table: dict[str, list[str] | None]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        found = table.get(host)
        if found is None:
            raise OSError(f"no such host: {host}")
        return found

    return resolve


@FAST
@given(
    name=NAMES,
    addresses=st.one_of(st.none(), st.lists(ADDRESSES, max_size=4)),
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", "file", "gopher"]),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    path=st.text(max_size=10),
)
def test_guard_refuses_any_non_public_resolution(
    name: str, addresses: list[str] | None, scheme: str, port: int | None, path: str
) -> None:
    guard = NetGuard(["allowed.test:8443"], resolver=resolver_for({name: addresses}))
    url = f"{scheme}://{name}{f':{port}' if port else ''}/{path}"
    try:
        guard.check(url)
    except BlockedURL:
        return  # the only exception it may raise
    # it passed: an http(s) URL whose host resolved, every address of it public
    assert scheme.lower() in ("http", "https")
    assert addresses and all(is_public_address(a) for a in addresses)
    assert not any(ipaddress.ip_address(a) in net for a in addresses for net in NON_PUBLIC_NETS)


@FAST
@given(address=ADDRESSES, port=st.one_of(st.none(), st.integers(1, 65535)))
def test_guard_on_ip_literals(address: str, port: int | None) -> None:
    host = f"[{address}]" if ":" in address else address
    guard = NetGuard(resolver=resolver_for({}))  # an IP literal needs no lookup
    url = f"http://{host}{f':{port}' if port else ''}/x"
    in_bad_net = any(ipaddress.ip_address(address) in net for net in NON_PUBLIC_NETS)
    try:
        guard.check(url)
    except BlockedURL as exc:
        assert not is_public_address(address), exc.reason
        return
    assert is_public_address(address) and not in_bad_net


@FAST
@given(
    host=st.one_of(NAMES, st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda ip: f"[{ip}]")),
    port=st.integers(1, 65535),
    addresses=st.one_of(st.none(), st.lists(ADDRESSES, max_size=3)),
    path=st.text(max_size=10),
)
def test_allow_listed_host_and_port_always_pass(
    host: str, port: int, addresses: list[str] | None, path: str
) -> None:
    guard = NetGuard([f"{host}:{port}"], resolver=resolver_for({host: addresses}))
    guard.check(f"http://{host}:{port}/{path}")  # whatever it resolves to, even nothing
    guard.check(f"https://{host.upper()}:{port}/{path}")
    other = port + 1 if port < 65535 else port - 1
    literal = host.strip("[]") if host.strip("[]").replace(".", "").replace(":", "").isalnum() else ""
    try:
        resolved = [str(ipaddress.ip_address(literal))]
    except ValueError:
        resolved = addresses or []
    if not resolved or not all(is_public_address(a) for a in resolved):
        with pytest.raises(BlockedURL):  # the allow-list is per port
            guard.check(f"http://{host}:{other}/{path}")
