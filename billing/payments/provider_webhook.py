"""The payment provider's webhook, our own protocol: HMAC-SHA256 over `<timestamp>.<body>`, at most 5 minutes old.

The answer tells the provider whether to deliver the event again:
- 2xx: processed. Final.
- 4xx: refused, final: the provider must not retry it. A bad signature or an unreadable body is refused without
  being recorded; an event refused for its content (or that cannot apply, e.g. an unknown invoice) is recorded as
  REJECTED with the refusal, visible to finance, and a redelivery of its id gets the same answer. 409
  `duplicate_event`: the id was processed already. A corrected event is sent under a new id.
- 5xx or no answer (timeout): nothing was recorded; the provider retries with backoff.
"""
import hashlib
import hmac
import time

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ParseError, ValidationError

from accounts.parsers import json_loads
from billing.payments.provider_events import DuplicateEvent, EventRefused, payment_webhook_process
from core.api import error_fields, first_error

SIGNATURE_HEADER = "TwinMCP-Signature"
TOLERANCE_SECONDS = 300


def sign(*, body: bytes, timestamp: int, secret: str) -> str:
    """The header value a provider sends: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def _verified(header: str, body: bytes, *, now: float) -> JsonResponse | None:
    """None when the signature is good and fresh, else the answer that refuses the request."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        signature = parts["v1"]
    except (KeyError, ValueError):
        return _error(400, "invalid_signature", f"The {SIGNATURE_HEADER} header is missing or malformed.")
    expected = sign(body=body, timestamp=timestamp, secret=settings.PAYMENT_WEBHOOK_SECRET).split("v1=")[1]
    if not hmac.compare_digest(expected, signature):
        return _error(400, "invalid_signature", "The signature does not match the body.")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return _error(400, "stale_timestamp", "The event is older than 5 minutes: refused as a possible replay.")
    return None


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class PaymentWebhookView(View):
    http_method_names = ["post"]

    def post(self, request):
        if not settings.PAYMENT_WEBHOOK_SECRET:
            return _error(503, "not_configured", "PAYMENT_WEBHOOK_SECRET is not set.")
        refusal = _verified(request.headers.get(SIGNATURE_HEADER, ""), request.body, now=time.time())
        if refusal is not None:
            return refusal
        try:
            event = json_loads(request.body)
        except ParseError as error:
            return _error(400, "invalid", str(error.detail))
        except ValidationError as error:
            fields = error_fields(error.detail)
            return _error(400, "invalid", first_error(fields), fields)
        if not isinstance(event, dict):
            return _error(400, "invalid", "The body must be a JSON object.")
        try:
            record = payment_webhook_process(event=event)
        except DuplicateEvent as error:
            return _error(409, "duplicate_event", str(error))
        except EventRefused as error:
            refusal = error.refusal
            return _error(refusal["status"], refusal["code"], refusal["message"], refusal["fields"])
        return JsonResponse({"event": record.event_id, "payment": record.payment_id, "status": "processed"})
