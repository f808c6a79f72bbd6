"""Granting a group model permissions from data migrations, so that a new model's rights reach the roles that
need them on `migrate` (and leave them when migrated back)."""
from django.contrib.auth.management import create_permissions
from django.db import migrations


def app_permissions_create(apps, app_label: str) -> None:
    """Create `app_label`'s permissions now: Django creates them only after migrate (post_migrate)."""
    app_config = apps.get_app_config(app_label)
    app_config.models_module = True  # create_permissions skips an app config of the migration state without it
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None


def group_permissions_grant(apps, *, group: str, app_label: str, codenames: list[str]) -> None:
    app_permissions_create(apps, app_label)
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    missing = set(codenames) - {permission.codename for permission in permissions}
    assert not missing, f"permissions missing: {sorted(missing)}"
    for found in apps.get_model("auth", "Group").objects.filter(name=group):
        found.permissions.add(*permissions)


def group_permissions_revoke(apps, *, group: str, app_label: str, codenames: list[str]) -> None:
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    for found in apps.get_model("auth", "Group").objects.filter(name=group):
        found.permissions.remove(*permissions)


def group_permissions_operation(*, group: str, app_label: str, codenames: list[str]) -> migrations.RunPython:
    """The migration operation that grants `codenames` of `app_label` to `group` (revoked when migrated back)."""
    rights = {"group": group, "app_label": app_label, "codenames": codenames}
    return migrations.RunPython(
        lambda apps, schema_editor: group_permissions_grant(apps, **rights),
        lambda apps, schema_editor: group_permissions_revoke(apps, **rights),
    )
