"""API key scopes on every `/api/` view: the default permission of the API (`REST_FRAMEWORK` settings).

A view declares what each HTTP method needs, e.g. `required_scopes = {"GET": "billing:read", "POST":
"billing:write"}` (HEAD goes with GET). An API key holds the scopes it was given, a browser session every
customer scope. Fail-closed: a method the view declares no scope for is refused, so an endpoint added without
thinking of scopes is shut rather than open to every key.
"""
from rest_framework import permissions

from .models import CUSTOMER_API_KEY_SCOPES, ApiKey

INSUFFICIENT_SCOPE = "insufficient_scope"


def scopes_held(request) -> frozenset[str]:
    """The scopes of the request's credential. The key is already on `request.auth`: no query."""
    if isinstance(request.auth, ApiKey):
        return frozenset(request.auth.scopes or ())
    if request.auth is None:  # a browser session
        return frozenset(CUSTOMER_API_KEY_SCOPES)
    return frozenset()


class HasRequiredScope(permissions.BasePermission):
    """An authenticated request whose credential holds the scope the view declares for its method."""

    code = INSUFFICIENT_SCOPE

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 to a request that did not authenticate
        method = "GET" if request.method == "HEAD" else request.method
        scope = getattr(view, "required_scopes", {}).get(method)
        if scope is None:
            self.message = f"No API key scope opens {request.method} on this endpoint."
            return False
        if scope not in scopes_held(request):
            self.message = (
                f"This API key lacks the {scope} scope." if isinstance(request.auth, ApiKey)
                else f"A browser session lacks the {scope} scope: only an API key issued by staff holds it."
            )
            return False
        return True
