import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Library(models.Model):
    slug = models.CharField(max_length=200, unique=True, help_text="Like vercel/next.js.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    homepage_url = models.URLField(blank=True)
    repository_url = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "libraries"
        ordering = ["slug"]

    def __str__(self):
        return self.name


class LibraryVersion(models.Model):
    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    is_latest = models.BooleanField(default=False)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["library", "-released_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["library", "version"], name="library_version_unique"),
            models.UniqueConstraint(
                fields=["library"], condition=models.Q(is_latest=True), name="library_one_latest_version"
            ),
        ]

    def __str__(self):
        return f"{self.library.slug}@{self.version}"


class DocumentationChunk(models.Model):
    version = models.ForeignKey(LibraryVersion, on_delete=models.CASCADE, related_name="chunks")
    title = models.CharField(max_length=300)
    content = models.TextField()
    tokens = models.PositiveIntegerField()
    source_url = models.URLField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="chunk_version_position_unique"),
        ]

    def __str__(self):
        return self.title


def new_event_id() -> str:
    return uuid.uuid4().hex


class UsageLog(models.Model):
    """One metered call. `event_id` makes ingestion idempotent: the same event is never counted twice.

    `user` is detached (null) when a customer is erased; the tokens stay for the books.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs"
    )
    library = models.ForeignKey(Library, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    library_version = models.ForeignKey(
        LibraryVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint = models.CharField(max_length=200)
    tokens = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(default=200)
    duration_ms = models.PositiveIntegerField(default=0)
    event_id = models.CharField(max_length=100, unique=True, default=new_event_id)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="usage_user_created_idx")]

    def __str__(self):
        return f"{self.tokens} tokens on {self.endpoint} at {self.created_at:%Y-%m-%d %H:%M}"
