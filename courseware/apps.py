from django.apps import AppConfig


class CoursewareConfig(AppConfig):
    name = "courseware"
    verbose_name = "Courseware"

    def ready(self) -> None:
        from courseware import signals  # noqa: F401  (registers the receivers)
