"""One error shape for the whole API: {"error": {"code", "message", "fields"}}."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accounts.parsers import error_fields, first_error
from billing.exceptions import BillingError, IdempotencyConflict, InvalidTransition


def _message(detail, fields) -> str:
    if fields:
        return first_error(fields)
    if isinstance(detail, list) and detail:
        return str(detail[0])
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, InvalidTransition | IdempotencyConflict):
        return Response({"error": {"code": "conflict", "message": str(exc), "fields": {}}}, status.HTTP_409_CONFLICT)
    if isinstance(exc, BillingError):
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
