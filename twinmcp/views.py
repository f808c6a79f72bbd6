import hmac

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import bad_request as page_bad_request
from django_prometheus.exports import ExportToDjangoView

from .health import check_services, services_down


@never_cache
@require_GET
def health(request):
    results = check_services()
    down = services_down(results)
    body = {"status": "down" if down else "up", "down": down, "services": results}
    return JsonResponse(body, status=503 if down else 200)


def _bearer_token_matches(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    # Constant-time: the comparison tells nothing about how much of a guess was right.
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


@never_cache
@require_GET
def metrics(request):
    """Prometheus figures (amounts invoiced by status among them): for the scraper's token or a staff user."""
    if _bearer_token_matches(request) or (request.user.is_authenticated and request.user.is_staff):
        return ExportToDjangoView(request)
    status = 403 if request.user.is_authenticated else 401
    response = JsonResponse(
        {"error": {"code": "not_authenticated" if status == 401 else "permission_denied",
                   "message": "Metrics need the METRICS_TOKEN as a Bearer token, or a staff login.", "fields": {}}},
        status=status,
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def bad_request(request, exception):
    """A request Django refuses before any view (a Host header not allowed, a suspicious operation): the API's error
    shape on /api/ and /mcp, which clients parse as JSON, and Django's page elsewhere."""
    if request.path.startswith(("/api/", "/mcp")):
        return JsonResponse(
            {"error": {"code": "bad_request", "message": "The request was refused (its Host header or its form is not "
                       "allowed).", "fields": {}}},
            status=400,
        )
    return page_bad_request(request, exception)
