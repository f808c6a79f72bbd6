from collections.abc import Iterable

from django.db import models

from .audit import current_audit_context
from .models import AuditLog


def audit_entry(*, action: str, obj: models.Model, changes: dict | None = None, actor=None) -> AuditLog:
    """An unsaved audit row for `obj`, with the actor, IP and user agent of the current request."""
    context = current_audit_context()
    return AuditLog(
        actor_id=actor.pk if actor is not None else context.actor_id,
        action=action,
        object_type=obj._meta.label,
        object_id=str(obj.pk),
        changes=changes or {},
        ip_address=context.ip_address,
        user_agent=context.user_agent,
    )


def audit_log_record(*, action: str, obj: models.Model, changes: dict | None = None, actor=None) -> AuditLog:
    entry = audit_entry(action=action, obj=obj, changes=changes, actor=actor)
    entry.save()
    return entry


def audit_log_record_many(entries: Iterable[AuditLog]) -> None:
    AuditLog.objects.bulk_create(list(entries))
