import functools

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation

from .audit import AuditContext, reset_audit_context, set_audit_context
from .models import UserProfile

# What a view sets on its answer to change the policy of that answer only (django-csp's decorators, or by hand).
_CSP_PER_ANSWER = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro",
                   "_csp_replace_ro", "_csp_exempt", "_csp_exempt_ro")


@functools.cache
def _site_policies() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The site's policy headers as django-csp builds them from settings, each with the path prefixes it skips."""
    policies = []
    for header, setting, report_only in ((HEADER, "CONTENT_SECURITY_POLICY", False),
                                         (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True)):
        policy = build_policy(report_only=report_only)
        if policy:
            excluded = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            policies.append((header, policy, tuple(excluded)))
    return tuple(policies)


@receiver(setting_changed)
def _forget_site_policies(*, setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _site_policies.cache_clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, the site's policy built once: django-csp builds the same header anew for every
    answer, which cost more than any other middleware of an API call. An answer whose view changed its policy, or
    whose page used a nonce, goes through django-csp as before."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or (settings.DEBUG and response.status_code in (404, 500)) \
                or any(getattr(response, name, None) is not None for name in _CSP_PER_ANSWER):
            return super().process_response(request, response)
        for header, policy, excluded in _site_policies():
            if header not in response and not request.path_info.startswith(excluded):
                response[header] = policy
        # As django-csp does: a nonce asked for once the header is written could not be in it.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


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
