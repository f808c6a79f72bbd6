from django.urls import path, re_path

from . import apis

app_name = "accounts-api"

urlpatterns = [
    path("api-keys/", apis.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<int:pk>/", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("export/", apis.AccountExportApi.as_view(), name="export"),
    # Any other path here answers the API's JSON 404, not an HTML page.
    re_path(r"^.*/$", apis.api_not_found),
]
