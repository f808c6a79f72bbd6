from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        from prometheus_client import REGISTRY

        from .metrics import BillingCollector

        if not getattr(REGISTRY, "_twinmcp_billing", False):  # once, even if ready() runs again in tests
            REGISTRY.register(BillingCollector())
            REGISTRY._twinmcp_billing = True
