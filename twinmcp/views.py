from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import check_services, services_down


@never_cache
@require_GET
def health(request):
    results = check_services()
    down = services_down(results)
    body = {"status": "down" if down else "up", "down": down, "services": results}
    return JsonResponse(body, status=503 if down else 200)
