"""The embedded site's supervisor: what it refuses before starting anything."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from restoration.management.commands import run_embedded
from restoration.management.commands.run_embedded import is_loopback


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("arena.example.org", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_refuses_a_reachable_host_with_debug_on(settings, monkeypatch):
    started = []
    monkeypatch.setattr(run_embedded, "call_command", lambda *a, **k: started.append(a))
    settings.DEBUG = True
    with pytest.raises(CommandError, match="refusing to listen on 0.0.0.0"):
        call_command("run_embedded", "--host", "0.0.0.0", "--no-demo")
    assert started == []  # nothing ran: no migration, no children
