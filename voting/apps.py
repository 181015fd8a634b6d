from django.apps import AppConfig


class VotingConfig(AppConfig):
    name = "voting"
    verbose_name = "Public A/B voting"

    def ready(self) -> None:
        # Registers the public live topic "contest-<id>" with the websocket consumer.
        from voting import selectors  # noqa: F401
