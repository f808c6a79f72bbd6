from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from . import views

admin.site.site_header = "TwinMCP Billing back-office"
admin.site.site_title = "TwinMCP Billing"
admin.site.index_title = "Finance back-office"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
