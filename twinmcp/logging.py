"""A request id on every request, its answer (`X-Request-ID`) and every log line written while serving it."""
import contextvars
import logging
import re
import uuid

from django.core.signals import request_finished
from django.dispatch import receiver

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "HTTP_X_REQUEST_ID"
# An id coming from a proxy is kept when it is a plain token, so that logs join up across services.
ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
_request_id = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get(REQUEST_ID_META, "")  # `request.headers` would copy every header first
        request_id = incoming if ACCEPTED_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Kept until the request is finished (see below): Django logs 4xx/5xx answers after the middleware.
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs):
    _request_id.set("-")


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = current_request_id()
        return True
