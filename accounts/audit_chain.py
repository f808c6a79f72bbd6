"""The audit log's hash chain: how a row is hashed, shared by the writer, the migration and the verifier."""
import datetime
import hashlib
import json

GENESIS_HASH = "0" * 64


def audit_row_hash(
    *,
    previous_hash: str,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    changes: dict,
    ip_address: str | None,
    user_agent: str,
    created_at: datetime.datetime,
) -> str:
    content = json.dumps(
        {
            "actor_id": actor_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "changes": changes,
            "ip_address": ip_address,
            "user_agent": user_agent,
            "created_at": created_at.astimezone(datetime.UTC).isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"{previous_hash}:{content}".encode()).hexdigest()


def hash_of(row, *, previous_hash: str) -> str:
    return audit_row_hash(
        previous_hash=previous_hash,
        actor_id=row.actor_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        changes=row.changes,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        created_at=row.created_at,
    )
