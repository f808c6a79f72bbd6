from .audit import AuditContext, reset_audit_context, set_audit_context


class AuditContextMiddleware:
    """Makes the request's user, IP address and user agent the actor of every audit row it causes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        context = AuditContext(
            actor_id=user.pk if user is not None and user.is_authenticated else None,
            ip_address=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        )
        token = set_audit_context(context)
        try:
            return self.get_response(request)
        finally:
            reset_audit_context(token)
