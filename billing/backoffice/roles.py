"""Staff roles. Finance runs the business from the admin: it reads every billing record, the customers and
their usage, and changes money only through the actions that call services. It deletes nothing.

Migration `billing.0004_finance_group` created the group with these permissions (it keeps its own copy of the
list: a change here needs a new migration). Superusers keep every permission; staff outside the group see no
billing data at all.
"""
from django.apps import apps as global_apps
from django.db.models import Q

FINANCE_GROUP = "Finance"

# app label → model name → actions ("view", "add", "change"), each one a Django model permission.
FINANCE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "billing": {
        # Plans are edited until a subscription uses them, then copied as a new version.
        "plan": ("view", "add", "change"),
        # Change is what the subscription actions (pause, resume, cancel, change plan) require.
        "subscription": ("view", "change"),
        "subscriptionplanchange": ("view",),
        "subscriptionpause": ("view",),
        # Change: a draft's amounts and lines, and the invoice actions (finalise, resend, cancel).
        "invoice": ("view", "change"),
        "invoiceline": ("view", "add", "change"),
        "creditnote": ("view",),
        "creditnoteline": ("view",),  # granted by migration 0025
        "buyersnapshot": ("view",),  # granted by migration 0026
        "numbersequence": ("view",),
        # Add: the "record a payment" and "grant a credit" actions; the ledgers themselves stay read-only.
        "payment": ("view", "add"),
        "credit": ("view", "add"),
        "creditapplication": ("view",),
        "billingalert": ("view",),
        "emailnotification": ("view",),
        "webhookevent": ("view",),  # granted by migration 0007
        # Add: the "lift the suspension" action; a lift is never changed or deleted. Granted by migration 0013.
        "accesssuspensionlift": ("view", "add"),
        # Customers at the payment provider and their card on file, written by services only. Migration 0014.
        "paymentprovidercustomer": ("view",),
        # Add: "Move subscribers to a newer version" on a plan; a move is never changed or deleted. Migration 0023.
        "planversionmove": ("view", "add"),
        # Coupons: created and edited; granted to customers (a redemption the grant service adds). Migration 0020.
        "coupon": ("view", "add", "change"),
        "couponredemption": ("view", "add"),
        # Add: the customer's "Add a one-off charge" action; change: cancelling a pending one. Migration 0021.
        "oneoffcharge": ("view", "add", "change"),
    },
    "accounts": {
        # The billing identity of customers; staff accounts and permissions stay with superusers.
        "user": ("view", "change"),
        "userprofile": ("view", "change"),
        # Change: the "revoke" action.
        "apikey": ("view", "change"),
        "auditlog": ("view",),
    },
    "libraries": {
        "usagelog": ("view",),
    },
    # Webhooks to customers, read-only; change: the "send again" action. Granted by migration webhooks.0002.
    "webhooks": {
        "webhookendpoint": ("view",),
        "webhookmessage": ("view",),
        "webhookdelivery": ("view", "change"),
        "webhookattempt": ("view",),
    },
}


def finance_permission_names() -> set[str]:
    """`app_label.codename` of every Finance permission, as `User.has_perm` takes them."""
    return {
        f"{app_label}.{action}_{model}"
        for app_label, models in FINANCE_PERMISSIONS.items()
        for model, actions in models.items()
        for action in actions
    }


def finance_group_ensure(*, apps=global_apps):
    """The Finance group holding exactly `FINANCE_PERMISSIONS`, created when missing: for a database emptied
    after its migrations ran (a flushed test database), whose permissions post_migrate made again."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = Q(pk__in=[])
    for name in finance_permission_names():
        app_label, codename = name.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.filter(wanted).select_related("content_type"))
    missing = finance_permission_names() - {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
    if missing:
        raise LookupError(f"Permissions missing, run migrate first: {', '.join(sorted(missing))}.")
    group, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    group.permissions.set(permissions)
    return group
