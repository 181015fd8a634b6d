from django.apps import AppConfig


class RestorationConfig(AppConfig):
    name = "restoration"
    verbose_name = "Restoration"

    def ready(self) -> None:
        # The live topics of clips, render jobs and film renders.
        from frontend.live.topics import register_topic
        from restoration import selectors

        register_topic("clip", can_watch=selectors.staff_may_watch, snapshot=selectors.clip_snapshot)
        register_topic("job", can_watch=selectors.staff_may_watch, snapshot=selectors.job_snapshot)
        register_topic("film", can_watch=selectors.staff_may_watch, snapshot=selectors.film_snapshot)
        # Register the default-queue tasks that services schedule by name (restoration.queue).
        from restoration import tasks  # noqa: F401
