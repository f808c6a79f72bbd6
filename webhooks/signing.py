"""Standard Webhooks: the secret's and the message id's format, and the headers that sign a delivery."""
import base64
import datetime
import json
import math
import secrets

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
MESSAGE_ID_PREFIX = "msg_"
USER_AGENT = "TwinMCP-Webhooks/1.0 (+https://www.standardwebhooks.com/)"


def secret_generate() -> str:
    """`whsec_` and the base64 of 24 random bytes (192 bits), as Standard Webhooks recommends."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def message_id_generate() -> str:
    return MESSAGE_ID_PREFIX + secrets.token_urlsafe(18)


def body_of(payload: dict) -> bytes:
    """The bytes POSTed and signed: the same payload gives the same body on every retry."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def signed_headers(*, secret: str, message_id: str, body: bytes, now: datetime.datetime) -> dict[str, str]:
    """`webhook-id` (the same on every retry), `webhook-timestamp` (this attempt's unix seconds) and
    `webhook-signature` `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, signed by the official package."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
