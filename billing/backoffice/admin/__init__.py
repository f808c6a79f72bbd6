"""The finance back-office. Finance finds invoices, customers and subscriptions fast, reads every ledger, and
changes money only through actions that call one billing service per object; an issued invoice, a plan in use
and the ledgers cannot be edited. Who may do what is `billing.backoffice.roles`; pages without a model (dashboard,
exports) are `billing.backoffice.views`.

One module per aggregate; importing this package registers them all on the admin site.
"""
from billing.backoffice.admin import charges, coupons, customers, invoices, ledgers, providers, subscriptions

__all__ = ["charges", "coupons", "customers", "invoices", "ledgers", "providers", "subscriptions"]
