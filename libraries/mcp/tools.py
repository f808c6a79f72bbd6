"""The MCP tools, named as assistants know them from Context7: `resolve-library-id`, then `query-docs` (and its
older name `get-library-docs`), over the docs API's own search and `docs_serve`.

`query-docs` serves exactly what `/api/libraries/<slug>/docs/` serves and is metered the same way: the docs API's
quota throttles first, then one UsageLog per successful call (`endpoint` `mcp:<tool>`). A call they refuse is not
an HTTP error but a tool result with `isError`, whose text an assistant can relay: what was reached, when it
resets and where to upgrade or pay.
"""
import datetime
import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions

from ..serializers import DocsInputSerializer
from ..services import DocsAnswer, docs_serve
from .protocol import invalid_params
from .selectors import LibraryMatch, library_matches

# The docs API's own bounds: the same budget and topic length as `/api/libraries/<slug>/docs/`.
_DOCS_FIELDS = DocsInputSerializer().fields
TOKENS_MIN = _DOCS_FIELDS["tokens"].min_value
TOKENS_MAX = _DOCS_FIELDS["tokens"].max_value
TOKENS_DEFAULT = _DOCS_FIELDS["tokens"].default
QUERY_MAX_LENGTH = _DOCS_FIELDS["topic"].max_length
LIBRARY_ID_MAX_LENGTH = 300
MATCHES_SHOWN = 10

# The argument names assistants send, first the tool's own.
LIBRARY_ID_NAMES = ("libraryId", "context7CompatibleLibraryID", "libraryName")
QUERY_NAMES = ("query", "topic", "userQuery", "question")


@dataclass(frozen=True)
class ToolCall:
    """One authenticated call: whose it is, the docs API's quota check, and the absolute URL of /billing/."""

    user: object
    api_key: object
    quota_refusal: Callable[[], Exception | None]
    billing_url: str


def text_result(text: str, *, structured: dict | None = None, is_error: bool = False) -> dict:
    result: dict = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if structured is not None:
        result["structuredContent"] = structured
    return result


# --- Refusals --------------------------------------------------------------------------------------------

REFUSAL_HEADLINES = {
    "throttled": gettext_lazy("Rate limit reached: this API key's requests per minute are used up."),
    "quota_exceeded": gettext_lazy("Quota reached."),
    "spend_cap_reached": gettext_lazy("Spend cap reached."),
    "payment_required": gettext_lazy("Access suspended for an unpaid invoice."),
    "subscription_required": gettext_lazy("No active subscription."),
}


def refusal_result(refusal: Exception, *, billing_url: str, now: datetime.datetime) -> dict:
    """A refused call as a tool result: what was reached (the API's own message), when it resets, where to go."""
    code = refusal.get_codes() if isinstance(refusal, exceptions.APIException) else "refused"
    code = code if isinstance(code, str) else "refused"
    parts = [str(REFUSAL_HEADLINES.get(code, gettext_lazy("Call refused.")))]
    if code != "throttled":
        parts.append(str(getattr(refusal, "detail", refusal)))
    wait = getattr(refusal, "wait", None)
    resets_at = None
    if wait:
        wait = int(wait)
        resets_at = (now + datetime.timedelta(seconds=wait)).astimezone(datetime.UTC)
        parts.append(_("It resets in %(seconds)s seconds (Retry-After), at %(moment)s.") % {
            "seconds": wait, "moment": f"{resets_at:%Y-%m-%d %H:%M} UTC",
        })
    parts.append(_("Upgrade your plan or pay on %(url)s.") % {"url": billing_url})
    text = " ".join(parts)
    return text_result(text, is_error=True, structured={"error": {
        "code": code, "message": text, "retryAfter": wait or None,
        "resetsAt": resets_at.isoformat() if resets_at else None, "billingUrl": billing_url,
    }})


# --- Arguments -------------------------------------------------------------------------------------------


def _argument(arguments: dict, names: tuple[str, ...]) -> tuple[str, object]:
    """The first of `names` the call sent, and its value; else the first name and None."""
    for name in names:
        if arguments.get(name) is not None:
            return name, arguments[name]
    return names[0], None


def _text(arguments: dict, names: tuple[str, ...], *, required: bool, max_length: int) -> str | None:
    name, value = _argument(arguments, names)
    if value is None:
        if required:
            raise invalid_params(name, _("required."))
        return None
    if not isinstance(value, str):
        raise invalid_params(name, _("must be a string."))
    if required and not value.strip():
        raise invalid_params(name, _("must not be empty."))
    if len(value) > max_length:
        raise invalid_params(name, _("at most %(count)s characters.") % {"count": max_length})
    return value


def _tokens(arguments: dict) -> int:
    value = arguments.get("tokens")
    if value is None:
        return TOKENS_DEFAULT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not TOKENS_MIN <= value <= TOKENS_MAX:
        raise invalid_params("tokens", _("must be an integer from %(min)s to %(max)s.") % {
            "min": TOKENS_MIN, "max": TOKENS_MAX,
        })
    return value


def library_id_candidates(library_id: str) -> list[tuple[str, str | None]]:
    """(slug, version) pairs a library id may mean, most likely first: `/vercel/next.js` is a slug;
    `/vercel/next.js/v14.3.0` a slug and a version, stored with or without its leading `v`."""
    path = library_id.strip().strip("/")
    candidates: list[tuple[str, str | None]] = [(path, None)]
    slug, _slash, version = path.rpartition("/")
    if slug and version:
        candidates.append((slug, version))
        candidates.append((slug, version[1:]) if version[:1] in "vV" else (slug, f"v{version}"))
    return [candidate for candidate in candidates if candidate[0] and candidate[1] != ""]


# --- resolve-library-id ----------------------------------------------------------------------------------


def _versions_text(match: LibraryMatch) -> str:
    return ", ".join(
        (_("%(version)s (latest, %(chunks)s chunks)") if version.is_latest else _("%(version)s (%(chunks)s chunks)"))
        % {"version": version.version, "chunks": version.chunks}
        for version in match.versions
    ) or _("none yet")


def resolve_library_id(arguments: dict, call: ToolCall) -> dict:
    name = _text(arguments, ("libraryName",), required=True, max_length=QUERY_MAX_LENGTH)
    query = _text(arguments, ("query",), required=False, max_length=1000)
    matches = library_matches(name=name, limit=MATCHES_SHOWN)
    if not matches and query:
        matches = library_matches(name=query[:QUERY_MAX_LENGTH], limit=MATCHES_SHOWN)
    if not matches:
        return text_result(
            _('No library matches "%(name)s". Try another name, such as the package name or its repository.')
            % {"name": name},
            structured={"libraries": []},
        )
    lines = [_('Libraries matching "%(name)s", best first. Pass the id of the one you mean to query-docs as '
               "libraryId (add /<version> for a version other than the latest).") % {"name": name}]
    for match in matches:
        library = match.library
        lines.append("")
        lines.append(f"- {library.name} — id: {match.id}")
        if library.description:
            lines.append(f"  {library.description}")
        lines.append("  " + _("Versions: %(versions)s") % {"versions": _versions_text(match)})
    structured = [
        {
            "id": match.id, "name": match.library.name, "description": match.library.description,
            "versions": [version.version for version in match.versions],
            "latestVersion": match.served.version if match.served else None,
            "chunks": match.served.chunks if match.served else 0,
        }
        for match in matches
    ]
    return text_result("\n".join(lines), structured={"libraries": structured})


# --- query-docs and get-library-docs ---------------------------------------------------------------------


def _docs_text(answer: DocsAnswer, *, library_id: str) -> str:
    library, version = answer.library, answer.version
    heading = _("%(name)s %(version)s (id /%(slug)s/%(version)s): %(tokens)s tokens") % {
        "name": library.name, "version": version.version, "slug": library.slug, "tokens": answer.tokens,
    }
    if not answer.chunks:
        return heading + "\n\n" + _(
            'No documentation of %(library)s matches "%(query)s". Try other words, or call query-docs without a '
            "version for the latest one."
        ) % {"library": library_id, "query": answer.topic}
    parts = [f"# {heading}"]
    for chunk in answer.chunks:
        section = f"## {chunk.title}\n\n{chunk.content}"
        if chunk.source_url:
            section += "\n\n" + _("Source: %(url)s") % {"url": chunk.source_url}
        parts.append(section)
    return "\n\n".join(parts)


def _docs_tool(tool_name: str, library_names: tuple[str, ...], query_names: tuple[str, ...], *, query_required: bool):
    def run(arguments: dict, call: ToolCall) -> dict:
        library_id = _text(arguments, library_names, required=True, max_length=LIBRARY_ID_MAX_LENGTH)
        query = _text(arguments, query_names, required=query_required, max_length=QUERY_MAX_LENGTH)
        token_budget = _tokens(arguments)
        refusal = call.quota_refusal()
        if refusal is not None:
            return refusal_result(refusal, billing_url=call.billing_url, now=timezone.now())
        for slug, version in library_id_candidates(library_id):
            try:
                answer = docs_serve(
                    user=call.user, api_key=call.api_key, slug=slug, topic=query, token_budget=token_budget,
                    version=version, endpoint=f"mcp:{tool_name}",
                )
            except Http404:
                continue
            return text_result(_docs_text(answer, library_id=library_id), structured={
                "libraryId": f"/{answer.library.slug}", "version": answer.version.version, "tokens": answer.tokens,
                "chunks": [
                    {"title": chunk.title, "tokens": chunk.tokens, "sourceUrl": chunk.source_url}
                    for chunk in answer.chunks
                ],
            })
        return text_result(
            _('No library or version "%(id)s" here. Call resolve-library-id with the library\'s name to find its '
              "id, then call %(tool)s with it.") % {"id": library_id, "tool": tool_name},
            is_error=True,
        )

    return run


# --- The tool list ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    input_schema: dict
    run: Callable[[dict, ToolCall], dict]

    def definition(self) -> dict:
        return {
            "name": self.name, "title": str(self.title), "description": str(self.description),
            "inputSchema": self.input_schema,
            "annotations": {"readOnlyHint": True, "openWorldHint": False},
        }


TOKENS_SCHEMA = {
    "type": "integer", "minimum": TOKENS_MIN, "maximum": TOKENS_MAX, "default": TOKENS_DEFAULT,
    "description": "Token budget of the answer: the chunks returned never add up to more. Metered.",
}
LIBRARY_ID_DESCRIPTION = (
    "The id resolve-library-id gave, like /vercel/next.js, or /vercel/next.js/v14.3.0 for a version."
)

TOOLS = {
    tool.name: tool
    for tool in (
        Tool(
            name="resolve-library-id",
            title=gettext_lazy("Find a library's id"),
            description=gettext_lazy(
                "Finds the TwinMCP id of a library (like /vercel/next.js) from its name. Call it first, before "
                "query-docs, unless the user gave an id of the form /owner/name. Answers the best matches with their "
                "id, description, versions and number of documentation chunks. Not metered."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "libraryName": {"type": "string", "description": "The library's name, e.g. next.js or react."},
                    "query": {"type": "string", "description": "Optional: the user's question, to rank matches."},
                },
                "required": ["libraryName"],
                "additionalProperties": True,
            },
            run=resolve_library_id,
        ),
        Tool(
            name="query-docs",
            title=gettext_lazy("Query a library's documentation"),
            description=gettext_lazy(
                "Answers up-to-date documentation and code examples of a library for a question: the best chunks of "
                "its latest version (or the version in the id), within a token budget. Needs the library id from "
                "resolve-library-id. Metered: the tokens returned count against the plan's quota."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "libraryId": {"type": "string", "description": LIBRARY_ID_DESCRIPTION},
                    "query": {"type": "string", "maxLength": QUERY_MAX_LENGTH,
                              "description": "What the documentation should answer, e.g. routing middleware."},
                    "tokens": TOKENS_SCHEMA,
                },
                "required": ["libraryId", "query"],
                "additionalProperties": True,
            },
            run=_docs_tool("query-docs", LIBRARY_ID_NAMES, QUERY_NAMES, query_required=True),
        ),
        Tool(
            name="get-library-docs",
            title=gettext_lazy("Get a library's documentation (older name of query-docs)"),
            description=gettext_lazy(
                "The older name of query-docs, kept for clients configured with it: documentation of a library for "
                "a topic within a token budget. Prefer query-docs. Metered like it."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "context7CompatibleLibraryID": {"type": "string", "description": LIBRARY_ID_DESCRIPTION},
                    "topic": {"type": "string", "maxLength": QUERY_MAX_LENGTH,
                              "description": "Optional: what the documentation should be about."},
                    "tokens": TOKENS_SCHEMA,
                },
                "required": ["context7CompatibleLibraryID"],
                "additionalProperties": True,
            },
            run=_docs_tool(
                "get-library-docs", ("context7CompatibleLibraryID", "libraryId", "libraryName"),
                ("topic", "query", "userQuery", "question"), query_required=False,
            ),
        ),
    )
}


@functools.lru_cache(maxsize=8)
def _tools_list(language: str) -> dict:
    return {"tools": [tool.definition() for tool in TOOLS.values()]}


def tools_list() -> dict:
    """The `tools/list` result in the request's language, built once per language."""
    return _tools_list(translation.get_language() or "en")


def instructions() -> str:
    return _(
        "TwinMCP serves up-to-date documentation of software libraries. To answer a question about a library, "
        "first call resolve-library-id with its name to get its id (like /vercel/next.js), then call query-docs "
        "with that id and the question. Calls of query-docs are metered in tokens; when one is refused (quota, "
        "spend cap, unpaid invoice), tell the user what the result says."
    )


def tool_call(name: str, arguments: dict, *, call: ToolCall, refusal: Exception | None) -> dict:
    """The result of `tools/call`: an unknown tool or a bad argument is -32602; a refusal a result with isError."""
    tool = TOOLS.get(name)
    if tool is None:
        raise invalid_params("name", _("unknown tool %(name)s; the tools are %(tools)s.") % {
            "name": name, "tools": ", ".join(TOOLS),
        })
    if refusal is not None:
        return refusal_result(refusal, billing_url=call.billing_url, now=timezone.now())
    return tool.run(arguments, call)
