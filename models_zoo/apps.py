from django.apps import AppConfig


class ModelsZooConfig(AppConfig):
    name = "models_zoo"
    verbose_name = "Models"
