"""Voting: contests, ballots, ratings and pair selection."""
