"""`/mcp`: the MCP server, one DRF view, so that it authenticates, checks the `docs:read` scope, rate limits and
labels its answers (`RateLimit-*`) exactly as the REST docs API does.

- Only API keys (`Authorization: Bearer tmcp_…`): no browser session, so no CSRF. A missing, invalid, revoked or
  expired key, or one without `docs:read`, answers 401 with `WWW-Authenticate: Bearer` (and
  `error="insufficient_scope", scope="docs:read"` for the scope), the body a JSON-RPC error.
- POST only: GET (no server-sent event stream here) and DELETE (no session to end) answer 405, before any
  authentication, as the transport asks.
- Limits are decided per JSON-RPC message rather than per HTTP request: every request counts against the key's
  requests per minute; a docs tool call also runs the docs API's quota throttles (quota, spend cap, suspension,
  subscription). A tool call they refuse is answered with a tool result saying so (see `tools.refusal_result`);
  another request over the rate with 429 and `Retry-After`.
"""
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from mcp_types.jsonrpc import INVALID_REQUEST
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from accounts.models import ApiKey

from ..throttling import docs_api_throttle_classes
from . import tools
from .protocol import (
    PROTOCOL_VERSION_HEADER,
    THROTTLED,
    UNAUTHORIZED,
    Answer,
    JsonRpcError,
    answer,
    error_answer,
    message_read,
    protocol_header_check,
)
from .tools import ToolCall

DOCS_READ = "docs:read"
REALM = 'Bearer realm="TwinMCP"'


class McpView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    required_scopes = {"POST": DOCS_READ}
    parser_classes = []  # the body is read once, as JSON-RPC, by `message_read`
    renderer_classes = [JSONRenderer]
    http_method_names = ["post"]
    schema = None  # JSON-RPC, not a REST resource: left out of the OpenAPI schema (README documents it)
    metered = True  # for the quota throttles, which run only for a docs tool call (`quota_refusal`)

    def initial(self, request, *args, **kwargs):
        if request.method.lower() not in self.http_method_names:
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        # Always JSON: a client accepts `application/json, text/event-stream`, and the answer is never a stream.
        return self.renderer_classes[0](), "application/json"

    def check_throttles(self, request):
        """Nothing yet: which limits apply depends on the JSON-RPC message (`rate_refusal`, `quota_refusal`)."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.MethodNotAllowed):
            error = JsonRpcError(INVALID_REQUEST, _("Method not allowed: send JSON-RPC messages with POST."),
                                 status=405)
            return self._send(error_answer(error))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed | exceptions.PermissionDenied):
            return self._send(self._unauthorized(exc))
        return super().handle_exception(exc)

    def _unauthorized(self, exc) -> Answer:
        if isinstance(exc, exceptions.PermissionDenied):
            header = f'{REALM}, error="insufficient_scope", scope="{DOCS_READ}"'
            message = _("This API key lacks the %(scope)s scope.") % {"scope": DOCS_READ}
        elif isinstance(exc, exceptions.AuthenticationFailed):
            header = f'{REALM}, error="invalid_token"'
            message = _("Invalid, revoked or expired API key.")
        else:
            header = REALM
            message = _("Authentication required: send Authorization: Bearer tmcp_… with an API key holding "
                        "%(scope)s.") % {"scope": DOCS_READ}
        return error_answer(JsonRpcError(UNAUTHORIZED, message, status=401), headers={"WWW-Authenticate": header})

    def post(self, request):
        try:
            unsupported = protocol_header_check(request.META.get(PROTOCOL_VERSION_HEADER))
            if unsupported is not None:
                raise unsupported
            message = message_read(request.body)
        except JsonRpcError as error:
            return self._send(error_answer(error))
        return self._send(answer(message, self))

    @staticmethod
    def _send(reply: Answer) -> HttpResponse:
        response = HttpResponse(reply.body(), status=reply.status, content_type="application/json")
        if reply.message is None:  # 202: no body, so no type
            del response["Content-Type"]
        for header, value in reply.headers.items():
            response[header] = value
        return response

    # --- What `protocol.answer` asks of the view (`protocol.Caller`) ---------------------------------------

    def _refusal(self, throttle_classes) -> exceptions.APIException | None:
        """The first refusal of these throttles, as the exception the REST API would answer with."""
        for throttle in (throttle_class() for throttle_class in throttle_classes):
            try:
                if not throttle.allow_request(self.request, self):
                    return exceptions.Throttled(throttle.wait())
            except exceptions.APIException as refusal:
                return refusal
        return None

    def rate_refusal(self):
        return self._refusal(self.throttle_classes)

    def quota_refusal(self):
        return self._refusal(docs_api_throttle_classes())

    def rate_refused_answer(self, request_id, refusal) -> Answer:
        wait = int(refusal.wait or 1)
        error = JsonRpcError(
            THROTTLED,
            _("Rate limit reached: this API key's requests per minute are used up. Retry in %(seconds)s seconds.")
            % {"seconds": wait},
            data={"retryAfter": wait}, status=429, request_id=request_id,
        )
        return error_answer(error, headers={"Retry-After": str(wait)})

    def tools_list(self) -> dict:
        return tools.tools_list()

    def instructions(self) -> str:
        return tools.instructions()

    def tool_call(self, name: str, arguments: dict, *, refusal) -> dict:
        request = self.request
        call = ToolCall(
            user=request.user, api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            quota_refusal=self.quota_refusal, billing_url=request.build_absolute_uri(reverse("billing:dashboard")),
        )
        return tools.tool_call(name, arguments, call=call, refusal=refusal)
