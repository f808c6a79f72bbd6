from django.contrib import admin
from django.db import models

from accounts.admin_mixins import ReadOnlyAdminMixin

from .models import DocumentationChunk, Library, LibraryVersion, UsageEventId, UsageLog

# A URL typed without a scheme means https, as it will by default from Django 6.
URLS_ASSUME_HTTPS = {models.URLField: {"assume_scheme": "https"}}


class LibraryVersionInline(admin.TabularInline):
    model = LibraryVersion
    fields = ("version", "is_latest", "released_at")
    extra = 0
    show_change_link = True


class DocumentationChunkInline(ReadOnlyAdminMixin, admin.TabularInline):
    """An index of the version's chunks; a chunk's text is edited on its own page."""

    model = DocumentationChunk
    fields = ("position", "title", "tokens", "source_url")
    show_change_link = True
    formfield_overrides = URLS_ASSUME_HTTPS


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "homepage_url", "repository_url", "created_at")
    search_fields = ("slug", "name")
    inlines = (LibraryVersionInline,)
    formfield_overrides = URLS_ASSUME_HTTPS
    date_hierarchy = "created_at"
    ordering = ("slug",)


@admin.register(LibraryVersion)
class LibraryVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "library", "version", "is_latest", "released_at")
    list_select_related = ("library",)
    list_filter = ("is_latest",)
    search_fields = ("library__slug", "library__name", "version")
    autocomplete_fields = ("library",)
    inlines = (DocumentationChunkInline,)
    date_hierarchy = "released_at"
    ordering = ("library__slug", "-released_at", "-id")


@admin.register(DocumentationChunk)
class DocumentationChunkAdmin(admin.ModelAdmin):
    list_display = ("title", "version", "position", "tokens", "source_url")
    list_select_related = ("version__library",)
    list_filter = ("version__library",)
    search_fields = ("title", "version__library__slug")
    autocomplete_fields = ("version",)
    formfield_overrides = URLS_ASSUME_HTTPS
    ordering = ("version", "position")


class OutcomeFilter(admin.SimpleListFilter):
    """Ranges of status codes: listing the distinct codes would scan the whole usage table."""

    title = "outcome"
    parameter_name = "outcome"
    RANGES = {"success": (100, 400), "client_error": (400, 500), "server_error": (500, 600)}

    def lookups(self, request, model_admin):
        return (("success", "Success"), ("client_error", "Client error (4xx)"), ("server_error", "Server error (5xx)"))

    def queryset(self, request, queryset):
        if self.value() not in self.RANGES:
            return queryset
        low, high = self.RANGES[self.value()]
        return queryset.filter(status_code__gte=low, status_code__lt=high)


@admin.register(UsageLog)
class UsageLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at", "user", "api_key_prefix", "library", "endpoint", "tokens", "status_code", "duration_ms",
    )
    list_select_related = ("user", "api_key", "library")
    list_filter = (OutcomeFilter, "library")
    # Exact matches only: substring search over the largest table would be a sequential scan.
    search_fields = ("=event_id", "=user__email", "=api_key__prefix")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False

    @admin.display(description="API key", ordering="api_key__prefix")
    def api_key_prefix(self, obj):
        return obj.api_key.prefix if obj.api_key else ""


@admin.register(UsageEventId)
class UsageEventIdAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The event ids already counted, kept by the database; looked up to answer "was this event billed?"."""

    list_display = ("event_id", "created_at")
    search_fields = ("=event_id",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
