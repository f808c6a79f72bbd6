from django.utils import translation

from .audit import AuditContext, reset_audit_context, set_audit_context
from .models import UserProfile


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


class ProfileLanguageMiddleware:
    """A logged-in customer reads the pages in their profile's language, whichever language the browser asks for;
    anyone else keeps what LocaleMiddleware chose (the switch's cookie, then Accept-Language, then English).

    Placed after AuthenticationMiddleware, which it needs, and answered in `Content-Language`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = self._profile_language(request)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers["Content-Language"] = translation.get_language()
        return response

    @staticmethod
    def _profile_language(request) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        try:
            return user.profile.language
        except UserProfile.DoesNotExist:  # a customer who never saved a profile: the browser decides
            return None
