"""The docs API (`/api/libraries/…`) and usage ingestion (`/api/usage/events/`): thin views over one
selector or service each. Limits come from the throttles named in settings (see `libraries.throttling`); the
scopes each view declares are checked by the API's default permission (see `accounts.permissions`)."""
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.parsers import JSONParser
from accounts.serializers import ErrorSerializer

from .selectors import library_get, library_search
from .serializers import (
    DocsInputSerializer,
    DocsOutputSerializer,
    LibraryDetailOutputSerializer,
    LibraryOutputSerializer,
    LibrarySearchInputSerializer,
    UsageEventBatchInputSerializer,
    UsageEventBatchOutputSerializer,
)
from .services import DocsAnswer, docs_serve, usage_events_ingest
from .throttling import DocsApiThrottling

# A browser session holds `docs:read`; `usage:write` is only ever held by a key staff issued.
DOCS_READ = {"GET": "docs:read"}
USAGE_WRITE = {"POST": "usage:write"}


def _api_key(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class StrictPageNumberPagination(PageNumberPagination):
    """`?page=` must be a page number as the schema says: an empty or word value is 404, not page 1."""

    last_page_strings = ()

    def get_page_number(self, request, paginator):
        return request.query_params.get(self.page_query_param, 1)


def _errors(*codes: int) -> dict:
    descriptions = {
        400: "Bad input: `error.fields` names each field in error. Nothing was written.",
        401: "No credentials, or an invalid, revoked or expired API key.",
        402: "spend_cap_reached: this period's overage reached the customer's monthly spend cap.",
        403: "insufficient_scope: the key lacks the scope the message names (docs:read; usage:write to report "
             "usage), or subscription_required: metered calls need an active subscription.",
        404: "No such library or version.",
        429: "throttled (requests per minute of the plan) or quota_exceeded (hard cap); see Retry-After.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in codes}


RATE_LIMIT_NOTE = (
    "Every answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds); a 429 carries "
    "Retry-After."
)
SLUG_PARAMETER = OpenApiParameter(
    "slug", {"type": "string", "minLength": 1}, OpenApiParameter.PATH,
    description="Library slug, like vercel/next.js; its slash may be sent as is or as %2F.",
    examples=[OpenApiExample("A library", value="vercel/next.js")],
)


def docs_output(answer: DocsAnswer) -> dict:
    """What `DocsOutputSerializer(answer).data` writes (the schema documents that serializer), built directly: its
    fields are plain text and integers read as such, and every docs call writes one."""
    return {
        "library": answer.library.slug,
        "version": answer.version.version,
        "topic": answer.topic,
        "tokens": answer.tokens,
        "chunks": [
            {"title": chunk.title, "content": chunk.content, "tokens": chunk.tokens, "source_url": chunk.source_url}
            for chunk in answer.chunks
        ],
    }


class LibraryListApi(DocsApiThrottling, APIView):
    required_scopes = DOCS_READ
    pagination_class = StrictPageNumberPagination

    @extend_schema(
        operation_id="libraries_list",
        summary="Search the catalogue",
        description=(
            "With `q`: PostgreSQL full-text search over library names, descriptions and documentation chunks, "
            "best first (results cached 15 minutes). Without: every library by slug. " + RATE_LIMIT_NOTE
        ),
        parameters=[LibrarySearchInputSerializer],
        responses={200: LibraryOutputSerializer(many=True), **_errors(400, 401, 403, 404, 429)},
    )
    def get(self, request):
        params = LibrarySearchInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        libraries = library_search(query=params.validated_data.get("q"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(libraries, request, view=self)
        return paginator.get_paginated_response(LibraryOutputSerializer(page, many=True).data)


class LibraryDetailApi(DocsApiThrottling, APIView):
    required_scopes = DOCS_READ

    @extend_schema(
        operation_id="libraries_retrieve",
        summary="One library and its versions",
        description=RATE_LIMIT_NOTE,
        parameters=[SLUG_PARAMETER],
        responses={200: LibraryDetailOutputSerializer, **_errors(401, 403, 404, 429)},
    )
    def get(self, request, slug: str):
        return Response(LibraryDetailOutputSerializer(library_get(slug=slug)).data)


class LibraryDocsApi(DocsApiThrottling, APIView):
    required_scopes = DOCS_READ
    metered = True

    @extend_schema(
        operation_id="libraries_docs_retrieve",
        summary="Documentation for a topic, within a token budget (metered)",
        description=(
            "The best chunks of the library's latest version (or `version`) for `topic`, adding up to at most "
            "`tokens`. Each call is metered: one usage record with the tokens returned. Refused with 429 "
            "quota_exceeded once a hard-capped plan's tokens are used up, with 402 spend_cap_reached once this "
            "period's overage reaches the customer's spend cap. " + RATE_LIMIT_NOTE
        ),
        parameters=[SLUG_PARAMETER, DocsInputSerializer],
        responses={200: DocsOutputSerializer, **_errors(400, 401, 402, 403, 404, 429)},
    )
    def get(self, request, slug: str):
        params = DocsInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        answer = docs_serve(
            user=request.user,
            api_key=_api_key(request),
            slug=slug,
            topic=params.validated_data.get("topic"),
            token_budget=params.validated_data["tokens"],
            version=params.validated_data.get("version") or None,
            endpoint=request.path,
        )
        return Response(docs_output(answer))


class UsageEventsApi(DocsApiThrottling, APIView):
    required_scopes = USAGE_WRITE
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="usage_events_create",
        summary="Report a batch of usage events (documentation server)",
        description=(
            "Up to 1,000 events per call, idempotent by `event_id`. Needs an API key with the usage:write scope. "
            "Answers 200 whenever the batch could be read, even if some events were rejected: `accepted` were "
            "recorded now, `duplicates` had been recorded before (or appear twice in the batch), `rejected` "
            "lists the bad events by index with their errors; resend only those, corrected. A body that is not "
            "an object with a list of at most 1,000 `events` is refused whole with 400, and nothing is "
            "recorded. " + RATE_LIMIT_NOTE
        ),
        request=UsageEventBatchInputSerializer,
        responses={200: UsageEventBatchOutputSerializer, **_errors(400, 401, 403, 429)},
    )
    def post(self, request):
        data = request.data
        result = usage_events_ingest(events=data.get("events") if isinstance(data, dict) else None)
        return Response(UsageEventBatchOutputSerializer(result).data)
