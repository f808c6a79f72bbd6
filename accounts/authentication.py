from dataclasses import replace

from rest_framework import authentication, exceptions

from .audit import current_audit_context, set_audit_context
from .services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer tmcp_<prefix>_<secret>`; `request.auth` is the ApiKey."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, token = header.partition(" ")
        if keyword != self.keyword or not token.startswith("tmcp_"):
            return None  # another scheme: let the next authenticator try
        api_key = api_key_authenticate(token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        # The middleware saw an anonymous request: from here on, what this request changes is the key owner's doing.
        set_audit_context(replace(current_audit_context(), actor_id=api_key.user_id))
        return api_key.user, api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
