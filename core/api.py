"""One error shape for the whole API: {"error": {"code", "message", "fields"}}, every error naming a nested
field by the same dotted path (`data.amount`, `events.3`)."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from core.exceptions import ApplicationError, Conflict


def _message(detail, fields) -> str:
    if fields:
        return first_error(fields)
    if isinstance(detail, list) and detail:
        return str(detail[0])
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, Conflict):
        return Response({"error": {"code": "conflict", "message": str(exc), "fields": {}}}, status.HTTP_409_CONFLICT)
    if isinstance(exc, ApplicationError):
        return Response({"error": {"code": "invalid", "message": str(exc), "fields": {}}}, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    fields = error_fields(detail) if isinstance(exc, exceptions.ValidationError) else {}
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "invalid"
    response.data = {"error": {"code": code, "message": _message(detail, fields), "fields": fields}}
    return response


def error_fields(detail) -> dict[str, list[str]]:
    """A DRF error detail as messages by field, a nested field named by its dotted path."""
    return _flatten("", detail) if isinstance(detail, dict) else {}


def first_error(fields: dict[str, list[str]]) -> str:
    """The message an error body leads with: its first field's first message, naming the field."""
    field, messages = next(iter(fields.items()))
    return messages[0] if field == api_settings.NON_FIELD_ERRORS_KEY else f"{field}: {messages[0]}"


def _flatten(name: str, detail) -> dict[str, list[str]]:
    if isinstance(detail, list) and all(isinstance(message, str) for message in detail):
        return {name: [str(message) for message in detail]}
    if isinstance(detail, dict | list):
        items = detail.items() if isinstance(detail, dict) else enumerate(detail)
        fields = {}
        for key, value in items:
            fields.update(_flatten(f"{name}.{key}" if name else str(key), value))
        return fields
    return {name: [str(detail)]}
