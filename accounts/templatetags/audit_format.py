"""How the admin shows an audit row's changes: one readable line per change instead of the stored JSON."""
from django import template
from django.utils.html import format_html, format_html_join

from accounts.admin_audit import audit_change_lines

register = template.Library()


@register.filter
def audit_changes(changes) -> str:
    """`{"fields": {"email": {"old": a, "new": b}}}` → a list with the line `email: a → b`."""
    lines = audit_change_lines(changes)
    if not lines:
        return ""
    items = format_html_join("", "<li>{}</li>", ((line,) for line in lines))
    return format_html('<ul class="tmcp-audit-changes">{}</ul>', items)
