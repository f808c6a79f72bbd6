from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from libraries.mcp.views import McpView

from . import views

admin.site.site_header = "TwinMCP Billing back-office"
admin.site.site_title = "TwinMCP Billing"
admin.site.index_title = "Finance back-office"

handler400 = views.bad_request

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="billing:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    path("account/webhooks/", include("webhooks.urls")),
    path("account/", include("accounts.urls")),
    path("billing/", include("billing.customer.urls")),
    path("api/account/webhooks/", include("webhooks.api_urls")),
    path("api/account/", include("accounts.api_urls")),
    path("api/billing/", include("billing.customer.api_urls")),
    path("api/libraries/", include("libraries.api_urls")),
    path("api/usage/", include("libraries.usage_api_urls")),
    # The MCP server for AI assistants: exactly /mcp, as clients are configured, and /mcp/ too.
    re_path(r"^mcp/?$", McpView.as_view(), name="mcp"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the page needs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
