"""The customer's account API (`/api/account/`): API keys and the GDPR export, all under `account:admin`."""
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ApiKey
from .parsers import JSONParser
from .permissions import scopes_held
from .selectors import api_keys_of
from .serializers import (
    AccountExportSerializer,
    ApiKeyCreatedSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeySerializer,
    error_responses,
)
from .services import api_key_create, api_key_revoke, user_data_export

TAG = "account"
ACCOUNT_ADMIN = "account:admin"


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
def api_not_found(request, *args, **kwargs):
    """Any path under an API prefix that names no endpoint: the API's JSON 404, not an HTML page."""
    raise NotFound()


class ApiKeyListApi(generics.ListCreateAPIView):
    required_scopes = {"GET": ACCOUNT_ADMIN, "POST": ACCOUNT_ADMIN}
    parser_classes = [JSONParser]
    serializer_class = ApiKeySerializer
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a customer
            return ApiKey.objects.none()
        return api_keys_of(user=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(tags=[TAG], summary="Your API keys",
                   description="Newest first, usable or not: each shows its prefix, never its secret or hash.",
                   responses={200: ApiKeySerializer(many=True), **error_responses(401, 403, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=[TAG], summary="Create an API key", request=ApiKeyCreateInputSerializer,
                   description="The answer holds the token `tmcp_<prefix>_<secret>`: it is shown this once. The "
                   "new key holds the `scopes` asked for (`docs:read` by default), never one the calling key lacks.",
                   responses={201: ApiKeyCreatedSerializer, **error_responses(400, 401, 403)})
    def post(self, request, *args, **kwargs):
        serializer = ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = api_key_create(user=request.user, grantable=scopes_held(request), **serializer.validated_data)
        output = ApiKeySerializer(issued.api_key, context={"now": timezone.now()}).data
        return Response({**output, "token": issued.token}, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    required_scopes = {"DELETE": ACCOUNT_ADMIN}

    @extend_schema(tags=[TAG], summary="Revoke an API key",
                   description="The key stops working at once; revoking it again changes nothing.",
                   responses={204: OpenApiResponse(description="Revoked."), **error_responses(401, 403, 404)})
    def delete(self, request, pk: int):
        api_key_revoke(api_key=get_object_or_404(api_keys_of(user=request.user), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountExportApi(APIView):
    required_scopes = {"GET": ACCOUNT_ADMIN}

    @extend_schema(tags=[TAG], summary="Export your personal data (GDPR)",
                   description="Everything held about you, and nobody else: profile, API keys (metadata), "
                   "consents, subscriptions, invoices, payments, credits, alerts, usage per month and the audit "
                   "entries about you. Never cached; the export itself is audited.",
                   responses={200: AccountExportSerializer, **error_responses(401, 403)})
    def get(self, request):
        return Response(user_data_export(user=request.user))
