from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package: settings, URLs, the site's home and sign-in pages, and the demo. It is the
    only package that knows every app."""

    name = "config"
    verbose_name = "Site"
