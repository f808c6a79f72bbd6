from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks to customers"

    def ready(self):
        # The delivery tasks under their stable names (the beat schedule and the services name them).
        from webhooks import tasks  # noqa: F401
