"""Personal data held by the apps above `accounts`, for the GDPR export.

`accounts` never imports the apps that build on it (DESIGN, "Layering"): the settings name each app's
provider (`PERSONAL_DATA_PROVIDERS`, as they name the docs API's throttles), and the export asks each.
"""
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class PersonalData:
    """What one app holds about a person: JSON-ready sections, and the objects that are theirs.

    `objects` maps a model label (`billing.Invoice`) to the primary keys of the person's rows, so that
    the audit entries about those rows are exported with the rest.
    """

    sections: dict[str, Any]
    objects: dict[str, list[Any]] = field(default_factory=dict)


def personal_data_collect(*, user) -> list[PersonalData]:
    """Each provider named in the settings, called as `provider(user=user)`."""
    return [import_string(path)(user=user) for path in getattr(settings, "PERSONAL_DATA_PROVIDERS", [])]
