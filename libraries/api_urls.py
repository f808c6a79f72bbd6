from django.urls import path, register_converter

from . import apis


class LibrarySlugConverter:
    """A library slug holds a slash (vercel/next.js); any text is taken, an unknown slug answers 404."""

    regex = r"[\s\S]*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(LibrarySlugConverter, "library_slug")

app_name = "libraries-api"

urlpatterns = [
    path("", apis.LibraryListApi.as_view(), name="library-list"),
    # Before the detail route: `vercel/next.js/docs/` is the docs of vercel/next.js.
    path("<library_slug:slug>/docs/", apis.LibraryDocsApi.as_view(), name="library-docs"),
    path("<library_slug:slug>/", apis.LibraryDetailApi.as_view(), name="library-detail"),
]
