from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        from django.db.models.signals import post_save
        from prometheus_client import REGISTRY

        from accounts.models import UserProfile

        # The finance back-office on the admin site; the rooms' Celery tasks under their stable names.
        from billing.backoffice import admin  # noqa: F401
        from billing.backoffice.metrics import BillingCollector
        from billing.documents import tasks as document_tasks  # noqa: F401
        from billing.invoicing import tasks as invoicing_tasks  # noqa: F401
        from billing.invoicing.buyer_snapshots import profile_saved
        from billing.notifications import tasks as notification_tasks  # noqa: F401
        from billing.payments import tasks as payment_tasks  # noqa: F401

        post_save.connect(profile_saved, sender=UserProfile, dispatch_uid="billing.buyer_snapshot_on_profile_saved")
        if not getattr(REGISTRY, "_twinmcp_billing", False):  # once, even if ready() runs again in tests
            REGISTRY.register(BillingCollector())
            REGISTRY._twinmcp_billing = True
