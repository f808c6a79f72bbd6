"""Celery tasks of billing: thin, keyword-only, ids in, one service call each."""
from . import emails, invoicing, sweeps

__all__ = ["emails", "invoicing", "sweeps"]
