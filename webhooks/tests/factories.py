import factory
from django.core.cache import cache
from factory.django import DjangoModelFactory

from accounts.tests.factories import UserFactory
from webhooks.models import WebhookEndpoint, WebhookEventType
from webhooks.selectors import subscribed_cache_key
from webhooks.signing import secret_generate


class WebhookEndpointFactory(DjangoModelFactory):
    """Written straight to the database, past the service's URL check: for endpoints a test points anywhere."""

    class Meta:
        model = WebhookEndpoint

    user = factory.SubFactory(UserFactory)
    url = "https://93.184.215.14/hooks/twinmcp"
    description = "Accounting sync"
    events = factory.LazyFunction(lambda: list(WebhookEventType.values))
    secret = factory.LazyFunction(secret_generate)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        endpoint = super()._create(model_class, *args, **kwargs)
        cache.delete(subscribed_cache_key(endpoint.user_id))  # as the services do: publishing sees it at once
        return endpoint
