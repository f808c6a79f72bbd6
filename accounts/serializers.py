"""Serializers of the account API, and the one error shape every API answer shares (see core.api)."""
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .models import API_KEY_SCOPES, CUSTOMER_API_KEY_SCOPES, ApiKey


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="`invalid`, `not_authenticated`, `insufficient_scope`, `not_found`, `conflict`, …"
    )
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
    403: "insufficient_scope: the API key lacks the scope this operation needs, and the message names it "
         "(`billing:read` to read under /api/billing/, `billing:write` to change anything there, `account:admin` "
         "under /api/account/). A browser session holds every customer scope.",
    404: "Not found: no such object among the customer's own (another customer's id answers 404 too), or a "
         "page past the last.",
    409: "A status move the object's state machine refuses; the message says why. Nothing was written.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation, for `extend_schema(responses=...)`."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]) for status in statuses}


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
    scopes = serializers.MultipleChoiceField(
        choices=[(scope, API_KEY_SCOPES[scope]) for scope in CUSTOMER_API_KEY_SCOPES],
        default=["docs:read"],
        allow_empty=False,
        error_messages={"invalid_choice": "“{input}” is not a scope a customer may give a key."},
        help_text=" ".join(f"`{scope}`: {API_KEY_SCOPES[scope]}" for scope in CUSTOMER_API_KEY_SCOPES)
        + " Never a scope the key making this call lacks; `usage:write` is issued by staff only.",
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
