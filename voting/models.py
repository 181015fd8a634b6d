"""Contests, pairings and ballots (see voting.ranking for the statistics)."""
