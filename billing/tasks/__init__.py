"""Celery tasks of billing: thin, keyword-only, ids in, one service call each."""
