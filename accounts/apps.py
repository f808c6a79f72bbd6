from django.apps import AppConfig
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.contrib.admin.models import LogEntry

        from . import schema  # noqa: F401  registers the API key scheme with drf-spectacular
        from .admin_audit import audit_admin_log_entry

        post_save.connect(audit_admin_log_entry, sender=LogEntry, dispatch_uid="accounts.audit_admin_log_entry")
