from django.urls import path

from . import apis

app_name = "usage-api"

urlpatterns = [
    path("events/", apis.UsageEventsApi.as_view(), name="usage-events"),
]
