"""Benchmarks run as `python -m bench <name> [options]` (see bench/README.md).

Each benchmark is a module `bench/<name>.py` with a docstring (its help), `add_arguments(parser)` and
`run(args) -> dict`. It prints its progress with `progress()` and returns its figures; `python -m bench`
prints them as one JSON object on the last line of the output, with "bench" and "peak_rss_mb" added.
"""
import os
import resource
import time


def peak_rss_mb() -> float:
    """The most memory this process has held so far (Linux reports ru_maxrss in kibibytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def progress(message: str) -> None:
    """One line of progress, flushed at once so that a slow benchmark shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def django_setup(settings_module: str = "twinmcp.settings.local") -> None:
    """For benchmarks that need the database: configure Django (DJANGO_SETTINGS_MODULE wins if set)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    django.setup()


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


__all__ = ["django_setup", "peak_rss_mb", "progress", "rate"]
