"""JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it, for a stateless server that answers in JSON.

One message per POST (JSON-RPC batches are gone since protocol 2025-06-18). A request is answered with its
response (200, or 400 for a body that is not a request at all); a notification, or a client's response, with 202
and no body. No session: nothing issues `Mcp-Session-Id`, one sent is ignored, and every request stands alone.

The protocol versions are the official SDK's (`mcp_types`) that use the `initialize` handshake, from 2025-06-18 on:
`initialize` answers the client's version when it is one of them, else the latest; a later request naming an
unsupported version in its `MCP-Protocol-Version` header is refused with 400.
"""
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.translation import gettext as _
from mcp_types.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, is_version_at_least

OLDEST_SUPPORTED_VERSION = "2025-06-18"
SUPPORTED_VERSIONS = tuple(
    version for version in HANDSHAKE_PROTOCOL_VERSIONS if is_version_at_least(version, OLDEST_SUPPORTED_VERSION)
)
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
PROTOCOL_VERSION_HEADER = "HTTP_MCP_PROTOCOL_VERSION"

# Implementation-defined codes (JSON-RPC's server-error range; the SDK keeps -32000 and -32001 for itself).
UNAUTHORIZED = -32010
THROTTLED = -32011

SERVER_NAME = "TwinMCP"
SERVER_VERSION = "1.0.0"


class JsonRpcError(Exception):
    """An error answer: its JSON-RPC code and message, and the HTTP status that carries it."""

    def __init__(self, code: int, message: str, *, data: dict | None = None, status: int = 200, request_id=None):
        super().__init__(message)
        self.code, self.message, self.data, self.status, self.request_id = code, message, data, status, request_id


def invalid_params(name: str, message: str) -> JsonRpcError:
    """-32602 naming the parameter or argument in error, as the API's 400 names its field."""
    return JsonRpcError(INVALID_PARAMS, f"{name}: {message}", data={"fields": {name: [message]}})


@dataclass(frozen=True)
class Answer:
    """What the view sends: a status, a JSON-RPC message (None: no body) and extra headers."""

    status: int
    message: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        if self.message is None:
            return b""
        return json.dumps(self.message, ensure_ascii=False, separators=(",", ":")).encode()


def error_answer(error: JsonRpcError, *, headers: dict[str, str] | None = None) -> Answer:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return Answer(error.status, {"jsonrpc": "2.0", "id": error.request_id, "error": body}, headers or {})


def result_answer(request_id, result: dict) -> Answer:
    return Answer(200, {"jsonrpc": "2.0", "id": request_id, "result": result})


ACCEPTED = Answer(202)


class Caller(Protocol):
    """What the view provides for one authenticated request."""

    def rate_refusal(self) -> Exception | None:
        """Count this request against the caller's rate; the refusal when it is over it."""

    def rate_refused_answer(self, request_id, refusal: Exception) -> Answer:
        """The answer to a request other than a tool call, over the rate."""

    def tools_list(self) -> dict:
        """The result of `tools/list`."""

    def tool_call(self, name: str, arguments: dict, *, refusal: Exception | None) -> dict:
        """The result of `tools/call` (a refusal becomes a tool result with `isError`)."""

    def instructions(self) -> str:
        """What `initialize` tells an assistant about how to use the tools."""


def protocol_header_check(value: str | None) -> JsonRpcError | None:
    """A request naming a protocol version this server does not speak is refused (none named: any is fine)."""
    if value is None or value in SUPPORTED_VERSIONS:
        return None
    return JsonRpcError(
        UNSUPPORTED_PROTOCOL_VERSION,
        _("Unsupported MCP-Protocol-Version %(version)s: this server speaks %(supported)s.")
        % {"version": value, "supported": ", ".join(SUPPORTED_VERSIONS)},
        data={"supported": list(SUPPORTED_VERSIONS), "requested": value},
        status=400,
    )


def _valid_id(value) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def message_read(body: bytes) -> dict:
    """The one JSON-RPC message of a POST body; a JsonRpcError (400) when it is not one."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, or nested deeper than the parser goes
        raise JsonRpcError(PARSE_ERROR, _("Parse error: the body is not JSON."), status=400) from None
    if isinstance(message, list):
        raise JsonRpcError(
            INVALID_REQUEST, _("Invalid request: batches are not supported; send one message per request."),
            status=400,
        )
    if not isinstance(message, dict):
        raise JsonRpcError(INVALID_REQUEST, _("Invalid request: a message is a JSON object."), status=400)
    request_id = message.get("id")
    if message.get("jsonrpc") != "2.0":
        raise JsonRpcError(
            INVALID_REQUEST, _('Invalid request: "jsonrpc" must be "2.0".'), status=400,
            request_id=request_id if _valid_id(request_id) else None,
        )
    if "id" in message and not _valid_id(request_id):
        raise JsonRpcError(INVALID_REQUEST, _('Invalid request: "id" must be a string or an integer.'), status=400)
    if "method" in message:
        if not isinstance(message["method"], str):
            raise JsonRpcError(
                INVALID_REQUEST, _('Invalid request: "method" must be a string.'), status=400, request_id=request_id
            )
    elif "id" not in message or ("result" not in message and "error" not in message):
        raise JsonRpcError(INVALID_REQUEST, _('Invalid request: "method" is required.'), status=400,
                           request_id=request_id)
    return message


def _params(message: dict) -> dict:
    params = message.get("params", {})
    if not isinstance(params, dict):
        raise invalid_params("params", _("must be an object."))
    return params


def _initialize(params: dict, caller: Caller) -> dict:
    requested = params.get("protocolVersion")
    if not isinstance(requested, str):
        raise invalid_params("protocolVersion", _("required: the protocol version the client speaks."))
    return {
        "protocolVersion": requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": SERVER_NAME, "title": "TwinMCP", "version": SERVER_VERSION},
        "instructions": caller.instructions(),
    }


def _tool_call(params: dict, caller: Caller, refusal: Exception | None) -> dict:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_params("name", _("required: the name of the tool to call."))
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise invalid_params("arguments", _("must be an object."))
    return caller.tool_call(name, arguments, refusal=refusal)


METHODS: dict[str, Callable[[dict, Caller], dict]] = {
    "initialize": _initialize,
    "ping": lambda params, caller: {},
    "tools/list": lambda params, caller: caller.tools_list(),
}


def answer(message: dict, caller: Caller) -> Answer:
    """The answer to one JSON-RPC message read by `message_read`.

    Every request counts against the caller's rate; a notification or a response is only acknowledged, and
    counts nothing. A tool call over the rate is answered with a tool result saying so, any other request with 429.
    """
    if "id" not in message or "method" not in message:
        return ACCEPTED
    request_id, method = message["id"], message["method"]
    refusal = caller.rate_refusal()
    try:
        params = _params(message)
        if method == "tools/call":
            return result_answer(request_id, _tool_call(params, caller, refusal))
        handler = METHODS.get(method)
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, _("Method not found: %(method)s.") % {"method": method})
        if refusal is not None:
            return caller.rate_refused_answer(request_id, refusal)
        return result_answer(request_id, handler(params, caller))
    except JsonRpcError as error:
        error.request_id = request_id
        return error_answer(error)
