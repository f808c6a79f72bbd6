"""The webhooks API (`/api/account/webhooks/`), under `account:admin` like the rest of `/api/account/`."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ACCOUNT_ADMIN
from accounts.parsers import JSONParser
from accounts.serializers import error_responses

from .models import WebhookDelivery, WebhookEndpoint
from .selectors import deliveries_of, endpoints_of
from .serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateInputSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateInputSerializer,
)
from .services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)

TAG = "webhooks"


def _own_endpoint(request, pk: int) -> WebhookEndpoint:
    return get_object_or_404(endpoints_of(user=request.user), pk=pk)


class WebhookEndpointListApi(generics.ListCreateAPIView):
    required_scopes = {"GET": ACCOUNT_ADMIN, "POST": ACCOUNT_ADMIN}
    parser_classes = [JSONParser]
    serializer_class = WebhookEndpointSerializer
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a customer
            return WebhookEndpoint.objects.none()
        return endpoints_of(user=self.request.user)

    @extend_schema(tags=[TAG], summary="Your webhook endpoints", description="Newest first; never their secret.",
                   responses={200: WebhookEndpointSerializer(many=True), **error_responses(401, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=[TAG], summary="Register a webhook endpoint", request=WebhookEndpointCreateInputSerializer,
                   description="The answer holds the signing secret `whsec_…`: it is shown this once. The URL must "
                   "be https:// and resolve to public addresses only (400 naming `url` otherwise).",
                   responses={201: WebhookEndpointCreatedSerializer, **error_responses(400, 401, 403)})
    def post(self, request, *args, **kwargs):
        serializer = WebhookEndpointCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = webhook_endpoint_create(user=request.user, **serializer.validated_data)
        output = WebhookEndpointSerializer(issued.endpoint).data
        return Response({**output, "secret": issued.secret}, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(APIView):
    required_scopes = {"GET": ACCOUNT_ADMIN, "PATCH": ACCOUNT_ADMIN, "DELETE": ACCOUNT_ADMIN}
    parser_classes = [JSONParser]

    @extend_schema(tags=[TAG], summary="A webhook endpoint",
                   responses={200: WebhookEndpointSerializer, **error_responses(401, 403, 404)})
    def get(self, request, pk: int):
        return Response(WebhookEndpointSerializer(_own_endpoint(request, pk)).data)

    @extend_schema(tags=[TAG], summary="Change a webhook endpoint", request=WebhookEndpointUpdateInputSerializer,
                   description="Only the fields given change; `is_active: false` disables it.",
                   responses={200: WebhookEndpointSerializer, **error_responses(400, 401, 403, 404)})
    def patch(self, request, pk: int):
        endpoint = _own_endpoint(request, pk)
        serializer = WebhookEndpointUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(tags=[TAG], summary="Delete a webhook endpoint",
                   description="Nothing more is sent to it; the log of its deliveries goes with it.",
                   responses={204: OpenApiResponse(description="Deleted."), **error_responses(401, 403, 404)})
    def delete(self, request, pk: int):
        webhook_endpoint_delete(endpoint=_own_endpoint(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(generics.ListAPIView):
    required_scopes = {"GET": ACCOUNT_ADMIN}
    serializer_class = WebhookDeliverySerializer
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return deliveries_of(endpoint=_own_endpoint(self.request, self.kwargs["pk"])).prefetch_related("attempts_log")

    @extend_schema(tags=[TAG], summary="The deliveries of a webhook endpoint",
                   description="Newest first, paginated: each event's status, status code, attempts, next try and "
                   "the log of its attempts.",
                   responses={200: WebhookDeliverySerializer(many=True), **error_responses(401, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class WebhookDeliveryResendApi(APIView):
    required_scopes = {"POST": ACCOUNT_ADMIN}

    @extend_schema(tags=[TAG], summary="Send a delivery again", request=None,
                   description="A new attempt now, with the same `webhook-id`; 409 while an attempt is under way.",
                   responses={202: WebhookDeliverySerializer, **error_responses(401, 403, 404, 409)})
    def post(self, request, pk: int, delivery_pk: int):
        delivery = get_object_or_404(deliveries_of(endpoint=_own_endpoint(request, pk)), pk=delivery_pk)
        delivery = webhook_delivery_resend(delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
