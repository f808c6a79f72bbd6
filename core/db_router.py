"""Reads marked read-only go to a replica when DATABASE_REPLICA_URL is set; everything else to the primary.

Only code that tolerates a replica's lag opts in (`with replica_reads():` or `@replica_reads()`), so a
service never reads a row it has just written from a replica that has not seen it yet.
"""
import contextvars
from contextlib import ContextDecorator

from django.conf import settings

REPLICA = "replica"
_replica_reads = contextvars.ContextVar("replica_reads", default=False)


class replica_reads(ContextDecorator):
    def __enter__(self):
        self._token = _replica_reads.set(True)
        return self

    def __exit__(self, *exc):
        _replica_reads.reset(self._token)
        return False


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if _replica_reads.get() and settings.DATABASE_REPLICA_READS and REPLICA in settings.DATABASES:
            return REPLICA
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, **hints):
        return db == "default"
