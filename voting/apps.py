from django.apps import AppConfig


class VotingConfig(AppConfig):
    name = "voting"
    verbose_name = "Public A/B voting"

    def ready(self) -> None:
        # The public live topic "contest-<id>": the tally, with blind labels only.
        from frontend.live.topics import register_topic
        from voting import blind, selectors  # noqa: F401  (blind: removes stored copies with their rows)

        register_topic("contest", can_watch=selectors.anyone_with_the_link_may_watch,
                       snapshot=selectors.contest_snapshot)
