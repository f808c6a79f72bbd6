"""The project's URLs plus `/bench/bare/`, a bare DRF endpoint: the ceiling of the `api` benchmark.

Only the benchmark settings (`bench._settings`) use this URLconf; the product's URLs are unchanged.
"""
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from twinmcp.urls import urlpatterns as project_urlpatterns


class BareApi(APIView):
    """No authentication, permission or throttle: the middleware and DRF's own cost, nothing else."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/bare/", BareApi.as_view(), name="bench-bare"), *project_urlpatterns]
