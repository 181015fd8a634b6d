from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "restoration.curation"
    label = "curation"
    verbose_name = "Curation"
