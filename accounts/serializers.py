"""Serializers of the account API, and the one error shape every API answer shares (see twinmcp.api)."""
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .models import ApiKey


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`invalid`, `not_authenticated`, `not_found`, `conflict`, …")
    message = serializers.CharField(help_text="For a person to read; names the first field in error.")

    def get_fields(self):
        fields = super().get_fields()
        # `fields` is also the name of a Serializer property: declared here rather than as an attribute.
        fields["fields"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages per input field (400 on bad input); empty otherwise.",
        )
        return fields


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_DESCRIPTIONS = {
    400: "Bad input: `error.fields` names each field in error. Nothing was written.",
    401: "No API key, or an invalid, revoked or expired one.",
    404: "Not found: no such object among the customer's own (another customer's id answers 404 too), or a "
         "page past the last.",
    409: "A status move the object's state machine refuses; the message says why. Nothing was written.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation, for `extend_schema(responses=...)`."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]) for status in statuses}


# Scopes a customer may give their own keys; `usage:write` (the documentation server's) is issued by staff.
CUSTOMER_API_KEY_SCOPES = ("docs:read",)


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as listed: its prefix identifies it, the secret is never shown again (its hash never)."""

    is_usable = serializers.SerializerMethodField(help_text="Neither revoked nor expired.")

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at",
                  "is_usable"]
        read_only_fields = fields

    def get_is_usable(self, api_key: ApiKey) -> bool:
        return api_key.is_usable(now=self.context["now"])


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=CUSTOMER_API_KEY_SCOPES),
        default=list(CUSTOMER_API_KEY_SCOPES),
        allow_empty=False,
        max_length=len(CUSTOMER_API_KEY_SCOPES),
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                           help_text="In the future; none for a key that never expires.")


class ApiKeyCreatedSerializer(ApiKeySerializer):
    token = serializers.CharField(help_text="`tmcp_<prefix>_<secret>`: shown this once, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "token"]
        read_only_fields = fields


class AccountExportSerializer(serializers.Serializer):
    """The GDPR export: every section is the customer's own data, in plain JSON values."""

    exported_at = serializers.DateTimeField()
    user = serializers.DictField()
    profile = serializers.DictField(allow_null=True)
    api_keys = serializers.ListField(child=serializers.DictField())
    consents = serializers.ListField(child=serializers.DictField())
    subscriptions = serializers.ListField(child=serializers.DictField())
    invoices = serializers.ListField(child=serializers.DictField())
    payments = serializers.ListField(child=serializers.DictField())
    credits = serializers.ListField(child=serializers.DictField())
    billing_alerts = serializers.ListField(child=serializers.DictField())
    usage_by_month = serializers.ListField(child=serializers.DictField())
    audit_log = serializers.ListField(child=serializers.DictField())
