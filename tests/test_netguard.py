import pytest

from newsflow.net import BlockedURL, NetGuard, is_public_address


def fake_resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "240.0.0.1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x", "non-public address 127.0.0.1"),
        ("http://[::1]:8080/x", "non-public address ::1"),
        ("http://169.254.169.254/latest/meta-data/", "non-public"),
        ("http://10.0.0.5/", "non-public"),
        ("http://loopy.test/", "non-public address 127.0.0.2"),  # a name that resolves to loopback
        ("http://mixed.test/", "non-public address 10.0.0.1"),  # any bad address refuses the host
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://example.org/x", "scheme 'ftp'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("http://user:pw@example.org/", "credentials"),
        ("http://nowhere.test/", "cannot resolve"),
    ],
)
def test_refused(url: str, reason: str) -> None:
    guard = NetGuard(
        resolver=fake_resolver(
            {
                "loopy.test": ["127.0.0.2"],
                "mixed.test": ["93.184.216.34", "10.0.0.1"],
                "example.org": ["93.184.216.34"],
            }
        )
    )
    with pytest.raises(BlockedURL) as err:
        guard.check(url)
    assert reason in err.value.reason


def test_allow_list_by_host_and_port() -> None:
    guard = NetGuard(
        ["127.0.0.1:8765", "intranet.test", "[::1]:9000"],
        resolver=fake_resolver({"intranet.test": ["10.0.0.9"], "example.org": ["93.184.216.34"]}),
    )
    guard.check("http://127.0.0.1:8765/feeds/world.xml")
    guard.check("http://intranet.test:8080/x")
    guard.check("http://[::1]:9000/x")
    guard.check("https://example.org/")
    with pytest.raises(BlockedURL):
        guard.check("http://127.0.0.1:8766/other-port")
    with pytest.raises(BlockedURL):
        guard.check("http://[::1]:9001/x")
