import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from .audit import current_audit_context
from .models import API_KEY_SCOPES, ApiKey, AuditLog


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


API_KEY_PREFIX_BYTES = 4  # 8 hex characters, shown in lists
API_KEY_SECRET_BYTES = 32  # 256 bits of secret
LAST_USED_WRITE_INTERVAL = 60  # seconds: last_used_at is precise to the minute, not written on every call


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    token: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, user, name: str, scopes: list[str], expires_at=None) -> IssuedApiKey:
    """A new key `tmcp_<prefix>_<secret>`: only the secret's SHA-256 is kept, the token is returned once."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name."})
    unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope(s): {', '.join(unknown)}."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    secret = secrets.token_urlsafe(API_KEY_SECRET_BYTES)
    while True:
        prefix = secrets.token_hex(API_KEY_PREFIX_BYTES)
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    user=user, name=name, prefix=prefix, key_hash=hash_secret(secret), scopes=sorted(set(scopes)),
                    expires_at=expires_at,
                )
            break
        except IntegrityError:  # a prefix already taken: draw another
            continue
    audit_log_record(action="api_key.create", obj=api_key, changes={"name": name, "scopes": api_key.scopes})
    return IssuedApiKey(api_key=api_key, token=f"tmcp_{prefix}_{secret}")


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, now=None) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = now or timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_log_record(action="api_key.revoke", obj=api_key)
    return api_key


def api_key_authenticate(token: str, *, now=None) -> ApiKey | None:
    """The usable key a token names, or None; the secret is compared in constant time."""
    parts = (token or "").split("_", 2)
    if len(parts) != 3 or parts[0] != "tmcp" or not parts[1] or not parts[2]:
        return None
    api_key = ApiKey.objects.select_related("user").filter(prefix=parts[1]).first()
    now = now or timezone.now()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_secret(parts[2])):
        return None
    if not api_key.is_usable(now=now) or not api_key.user.is_active:
        return None
    # One write a minute at most per key, whatever the traffic; the cache only spares writes.
    if cache.add(f"api-key-used:{api_key.pk}", 1, timeout=LAST_USED_WRITE_INTERVAL):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key
