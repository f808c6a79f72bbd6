from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoints, name="endpoints"),
    path("<int:pk>/rotate-secret/", views.endpoint_rotate, name="endpoint_rotate"),
    path("<int:pk>/toggle/", views.endpoint_toggle, name="endpoint_toggle"),
    path("<int:pk>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("<int:pk>/deliveries/<int:delivery_pk>/resend/", views.delivery_resend, name="delivery_resend"),
]
