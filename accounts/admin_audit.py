"""Every change made through the admin also lands in the audit log, with the request's IP and user agent."""
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry

from .audit import current_audit_context
from .models import AuditLog
from .services import audit_log_record_many

ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


def audit_admin_log_entry(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    model = instance.content_type.model_class() if instance.content_type_id else None
    context = current_audit_context()
    audit_log_record_many([
        AuditLog(
            actor_id=instance.user_id,
            action=ACTIONS.get(instance.action_flag, "admin.other"),
            object_type=model._meta.label if model else "unknown",
            object_id=str(instance.object_id or ""),
            # The change message names fields, never their values (some are personal data).
            changes={"message": instance.get_change_message()},
            ip_address=context.ip_address,
            user_agent=context.user_agent,
        )
    ])
