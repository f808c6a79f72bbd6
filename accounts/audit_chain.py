"""The audit log's chain: how a row is signed, shared by the writer, the migrations and the verifier.

Each row's `hash` is an HMAC-SHA256, under a key of `AUDIT_LOG_KEYS`, of its content, the hash of the row
before it and the id of the key (`key_id`, kept on the row). Whoever can write to the database but lacks the
key cannot edit a row and recompute the hashes after it: the verifier, which holds the keys, sees it.
"""
import datetime
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GENESIS_HASH = "0" * 64
KEY_ID_LENGTH = 16  # hex characters: 64 bits, enough to tell keys apart, nothing to learn the key from


def row_content(row) -> str:
    return json.dumps(
        {
            "actor_id": row.actor_id,
            "action": row.action,
            "object_type": row.object_type,
            "object_id": row.object_id,
            "changes": row.changes,
            "ip_address": row.ip_address,
            "user_agent": row.user_agent,
            "created_at": row.created_at.astimezone(datetime.UTC).isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


def unkeyed_hash(row, *, previous_hash: str) -> str:
    """The plain SHA-256 link of the chain before it was keyed: migration 0004 wrote it, 0006 checks it before
    re-signing, and the verifier recognises a chain recomputed this way by someone without the key."""
    return hashlib.sha256(f"{previous_hash}:{row_content(row)}".encode()).hexdigest()


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    secret: bytes

    def sign(self, row, *, previous_hash: str) -> str:
        message = f"{previous_hash}:{self.key_id}:{row_content(row)}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def key_id_of(secret: bytes) -> str:
    # An HMAC under the key itself: the id names the key and reveals nothing of it.
    return hmac.new(secret, b"twinmcp audit log key id", hashlib.sha256).hexdigest()[:KEY_ID_LENGTH]


@functools.lru_cache(maxsize=8)
def _keyring(secrets: tuple[str, ...]) -> dict[str, AuditKey]:
    keys = [AuditKey(key_id=key_id_of(secret.encode()), secret=secret.encode()) for secret in secrets]
    return {key.key_id: key for key in keys}


def audit_keys() -> dict[str, AuditKey]:
    """Every key of `AUDIT_LOG_KEYS` by key id, newest first."""
    secrets = tuple(settings.AUDIT_LOG_KEYS)
    if not secrets:
        raise ImproperlyConfigured(
            "AUDIT_LOG_KEYS is not set: the audit log is signed with it (comma-separated keys, newest first)."
        )
    return _keyring(secrets)


def signing_key() -> AuditKey:
    """The newest key, which signs new rows; the older ones only verify the rows they signed."""
    return next(iter(audit_keys().values()))
