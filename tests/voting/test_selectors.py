"""The public live topic contest-<id>: snapshot on connect, new tallies pushed."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from frontend.live import topics
from tests.voting.factories import ready_rater
from tests.voting.voting_factories import make_contest, vote
from voting import selectors, services


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_anyone_may_watch_an_existing_contest_and_gets_tallies(settings, monkeypatch):
    settings.VOTING_BOOTSTRAP = 30
    monkeypatch.setenv("REEL_ARENA_PROCESS", "web")  # publisher shares the web process's layer
    contest = await sync_to_async(make_contest)(2, golden_rate=0)
    assert await sync_to_async(topics.can_watch_topic)(None, f"contest-{contest.pk}")
    assert not await sync_to_async(topics.can_watch_topic)(None, "contest-999999")
    communicator = WebsocketCommunicator(application, f"/ws/live/contest-{contest.pk}/",
                                         headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])
    connected, _ = await communicator.connect(timeout=10)
    assert connected  # anonymous: the tally is public
    snapshot = await communicator.receive_json_from(timeout=10)
    assert snapshot["snapshot"] and snapshot["type"] == "contest.tally" and snapshot["n_ballots"] == 0

    def one_vote():
        vote(contest, ready_rater())
        services.after_ballot(contest)

    await sync_to_async(one_vote)()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        message = await communicator.receive_json_from(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        if message.get("type") == "contest.tally" and message["n_ballots"] == 1:
            break
    assert [i["label"] for i in message["items"]] and {"lower", "upper", "p_best"} <= set(message["items"][0])
    await communicator.disconnect()


def test_public_tally_hides_technician_figures():
    payload = {"n_ballots": 3, "n_excluded": 1, "compute_ms": 4.2, "items": []}
    assert selectors.public_tally(payload) == {"n_ballots": 3, "items": []}
