"""Tests for voting.integrity's request context: the client address behind trusted proxies."""

from __future__ import annotations

import pytest

from voting.integrity import client_address, network_of

PROXIES = ["10.0.0.0/8", "fd00::/8"]


def test_without_trusted_proxies_the_forwarded_header_is_ignored():
    assert client_address("198.51.100.9", "1.2.3.4", []) == "198.51.100.9"


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored():
    assert client_address("198.51.100.9", "1.2.3.4", PROXIES) == "198.51.100.9"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client():
    assert client_address("10.1.2.3", "203.0.113.5", PROXIES) == "203.0.113.5"
    # The client wrote "1.2.3.4" itself; the proxy appended what it saw.
    assert client_address("10.1.2.3", "1.2.3.4, 203.0.113.5", PROXIES) == "203.0.113.5"
    # Two trusted hops.
    assert client_address("10.1.2.3", "1.2.3.4, 203.0.113.5, 10.9.9.9", PROXIES) == "203.0.113.5"
    assert client_address("fd00::1", "2001:db8:5::1", PROXIES) == "2001:db8:5::1"


@pytest.mark.parametrize("header", [None, "", "garbage", "10.2.2.2"])
def test_missing_malformed_or_all_trusted_headers_fall_back_to_the_last_good_hop(header):
    expected = "10.2.2.2" if header == "10.2.2.2" else "10.1.2.3"
    assert client_address("10.1.2.3", header, PROXIES) == expected


def test_ports_and_mapped_addresses():
    assert client_address("10.1.2.3", "203.0.113.5:4711", PROXIES) == "203.0.113.5"
    assert client_address("10.1.2.3", "[2001:db8::1]:443", PROXIES) == "2001:db8::1"
    assert client_address("::ffff:198.51.100.9", None, PROXIES) == "198.51.100.9"


def test_clusters_are_24_for_ipv4_and_48_for_ipv6():
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::1") == "2001:db8:1::/48"
