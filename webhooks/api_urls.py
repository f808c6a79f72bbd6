from django.urls import path, re_path

from accounts.apis import api_not_found

from . import apis

app_name = "webhooks-api"

urlpatterns = [
    path("", apis.WebhookEndpointListApi.as_view(), name="endpoint-list"),
    path("<int:pk>/", apis.WebhookEndpointDetailApi.as_view(), name="endpoint-detail"),
    path("<int:pk>/deliveries/", apis.WebhookDeliveryListApi.as_view(), name="delivery-list"),
    path("<int:pk>/deliveries/<int:delivery_pk>/resend/", apis.WebhookDeliveryResendApi.as_view(),
         name="delivery-resend"),
    # Any other path here answers the API's JSON 404, not an HTML page.
    re_path(r"^.*/$", api_not_found),
]
