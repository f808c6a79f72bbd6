"""The admin site of the back-office: Django's, plus the finance pages that belong to no single model.

`INSTALLED_APPS` names `AdminConfig` below instead of `django.contrib.admin`, which makes `TwinMCPAdminSite` the
default `admin.site` every app registers with.
"""
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.urls import path


class TwinMCPAdminSite(admin.AdminSite):
    def get_urls(self):
        from billing.backoffice.views import DashboardView, ExportsView  # models are loaded by the time URLs are

        dashboard = DashboardView.as_view(admin_site=self)
        exports = ExportsView.as_view(admin_site=self)
        return [
            path("billing/dashboard/", self.admin_view(dashboard), name="billing_dashboard"),
            path("billing/exports/", self.admin_view(exports), name="billing_exports"),
            *super().get_urls(),
        ]


class AdminConfig(DjangoAdminConfig):
    default_site = "twinmcp.admin_site.TwinMCPAdminSite"
