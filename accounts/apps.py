from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.contrib.admin.models import LogEntry

        from . import schema  # noqa: F401  registers the API key scheme with drf-spectacular
        from .admin_audit import audit_admin_log_entry
        from .models import ApiKey, User
        from .receivers import api_key_changed, user_changed

        post_save.connect(audit_admin_log_entry, sender=LogEntry, dispatch_uid="accounts.audit_admin_log_entry")
        # A key revoked, edited or deleted, or its user deactivated, is refused on the very next call.
        post_save.connect(api_key_changed, sender=ApiKey, dispatch_uid="accounts.api_key_saved")
        post_delete.connect(api_key_changed, sender=ApiKey, dispatch_uid="accounts.api_key_deleted")
        post_save.connect(user_changed, sender=User, dispatch_uid="accounts.user_saved")
