"""A customer's webhooks in their GDPR export, and gone when their account is erased (named in the settings'
PERSONAL_DATA_PROVIDERS and PERSONAL_DATA_ERASERS, so that accounts never imports this app)."""
from accounts.personal_data import PersonalData

from .models import WebhookEndpoint, WebhookMessage
from .selectors import endpoints_of
from .services import webhook_endpoints_erase


def _endpoint(endpoint: WebhookEndpoint) -> dict:
    """Where events went and which; never the signing secret."""
    return {
        "id": endpoint.pk, "url": endpoint.url, "description": endpoint.description, "events": endpoint.events,
        "is_active": endpoint.is_active, "created_at": endpoint.created_at.isoformat(),
        "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
    }


def webhooks_personal_data(*, user) -> PersonalData:
    endpoints = list(endpoints_of(user=user))
    messages = WebhookMessage.objects.filter(user=user).order_by("created_at", "id")
    return PersonalData(
        sections={
            "webhook_endpoints": [_endpoint(endpoint) for endpoint in endpoints],
            "webhook_events": [
                {"id": message.public_id, "type": message.type, "created_at": message.created_at.isoformat(),
                 "payload": message.payload}
                for message in messages
            ],
        },
        objects={WebhookEndpoint._meta.label: [endpoint.pk for endpoint in endpoints]},
    )


def webhooks_personal_data_erase(*, user, now) -> None:
    webhook_endpoints_erase(user=user)
