"""Input and output shapes of the docs API and of usage ingestion; also what the OpenAPI schema shows."""
from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from .services import MAX_EVENTS_PER_BATCH


class QueryTextField(serializers.CharField):
    """A query-string text: NUL characters are left to the selectors (they match nothing), not refused."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class QueryIntegerField(serializers.IntegerField):
    """A query-string integer: `?tokens=` is an invalid integer, not a missing one."""

    def get_value(self, dictionary):
        return dictionary.get(self.field_name, empty) if self.field_name in dictionary else empty


# --- Libraries -----------------------------------------------------------------------------------------


class LibrarySearchInputSerializer(serializers.Serializer):
    q = QueryTextField(
        required=False, allow_blank=True, max_length=200,
        help_text="Words to find in library names, descriptions and documentation; best matches first.",
    )


class LibraryOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    homepage_url = serializers.CharField()
    repository_url = serializers.CharField()
    latest_version = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_latest_version(self, library) -> str | None:
        latest = getattr(library, "latest_versions", None)
        if latest is None:
            latest = [version for version in library.versions.all() if version.is_latest]
        return latest[0].version if latest else None


class LibraryVersionOutputSerializer(serializers.Serializer):
    version = serializers.CharField()
    is_latest = serializers.BooleanField()
    released_at = serializers.DateTimeField(allow_null=True)


class LibraryDetailOutputSerializer(LibraryOutputSerializer):
    versions = LibraryVersionOutputSerializer(many=True, source="versions.all")


class DocsInputSerializer(serializers.Serializer):
    topic = QueryTextField(
        required=False, allow_blank=True, max_length=200,
        help_text="What the documentation should be about; without one, chunks come in their order.",
    )
    tokens = QueryIntegerField(
        required=False, default=5000, min_value=1000, max_value=50_000,
        help_text="Token budget of the answer: the chunks returned never add up to more.",
    )
    version = QueryTextField(
        required=False, allow_blank=True, max_length=50, help_text="A version of the library; the latest without."
    )


class DocsChunkOutputSerializer(serializers.Serializer):
    title = serializers.CharField()
    content = serializers.CharField()
    tokens = QueryIntegerField()
    source_url = serializers.CharField()


class DocsOutputSerializer(serializers.Serializer):
    library = serializers.CharField(source="library.slug")
    version = serializers.CharField(source="version.version")
    topic = serializers.CharField()
    tokens = QueryIntegerField(help_text="Tokens returned, and metered.")
    chunks = DocsChunkOutputSerializer(many=True)


# --- Usage ingestion -----------------------------------------------------------------------------------

USAGE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event_id", "customer", "endpoint", "tokens", "timestamp"],
    "properties": {
        "event_id": {
            "type": "string", "minLength": 1, "maxLength": 100,
            "description": "Unique per event: an event_id already recorded is counted as a duplicate, never twice.",
        },
        "customer": {
            "type": "string", "minLength": 1, "maxLength": 254,
            "description": "The customer's email address (the login), compared case-insensitively.",
        },
        "library": {"type": "string", "nullable": True, "maxLength": 200, "description": "Library slug."},
        "version": {"type": "string", "nullable": True, "maxLength": 50, "description": "Needs `library`."},
        "endpoint": {"type": "string", "minLength": 1, "maxLength": 200},
        "tokens": {"type": "integer", "minimum": 0, "maximum": 2147483647},
        "timestamp": {
            "type": "string", "format": "date-time",
            "description": "ISO 8601 with an offset; at most 5 minutes in the future.",
        },
        "status_code": {"type": "integer", "minimum": 100, "maximum": 599, "default": 200},
        "duration_ms": {"type": "integer", "minimum": 0, "maximum": 2147483647, "default": 0},
    },
}


@extend_schema_field(
    {
        "anyOf": [USAGE_EVENT_SCHEMA, {}],
        "description": (
            "A usage event. Each event is checked on its own: one that does not have this shape, or names an "
            "unknown customer, library or version, is reported in `rejected` by its index and the others are "
            "recorded."
        ),
    }
)
class UsageEventField(serializers.JSONField):
    pass


class UsageEventBatchInputSerializer(serializers.Serializer):
    """A batch of up to 1,000 usage events."""

    # Documents the body only: the service validates it, set-based, for speed.
    events = serializers.ListField(child=UsageEventField(), max_length=MAX_EVENTS_PER_BATCH)


class RejectedEventSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch, from 0.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class UsageEventBatchOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events recorded by this call.")
    duplicates = serializers.IntegerField(help_text="Valid events whose event_id was already recorded.")
    rejected = RejectedEventSerializer(many=True)
