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

    On PostgreSQL the table is partitioned by billing month (libraries.partitions) and the uniqueness of
    `event_id` is kept by UsageEventId; elsewhere by the unique index itself.

    `user` is detached (null) when a customer is erased; the tokens stay for the books.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_logs",
        db_index=False,  # the (user, created_at) index serves lookups by user
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
        # Covering: the invoice run sums a customer's tokens over a window from the index alone.
        indexes = [models.Index(fields=["user", "created_at"], name="usage_user_created_idx", include=["tokens"])]

    def __str__(self):
        return f"{self.tokens} tokens on {self.endpoint} at {self.created_at:%Y-%m-%d %H:%M}"


class UsageEventId(models.Model):
    """Every event id ever stored in UsageLog, so that an event is counted once across monthly partitions.

    On PostgreSQL, UsageLog is partitioned by month and a partitioned table cannot hold a unique index
    that leaves out its partition key: a statement trigger on UsageLog inserts each INSERT's event ids here
    (migration 0005), and a second copy of an event fails on this primary key as on a unique `event_id`. Purged with the
    usage logs past their retention.
    """

    event_id = models.CharField(max_length=100, primary_key=True)
    created_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.event_id
