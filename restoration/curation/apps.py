from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "restoration.curation"
    label = "curation"
    verbose_name = "Curation"

    def ready(self) -> None:
        # Published works' files are the only stored files the public may read.
        from frontend.media import register_public_media
        from restoration.curation.selectors import is_public_media

        register_public_media(is_public_media)
