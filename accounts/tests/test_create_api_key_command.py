"""`manage.py create_api_key`: staff issue the keys customers cannot make, such as the documentation server's."""
import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from accounts.tests.factories import UserFactory


def create_api_key(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


@pytest.mark.django_db
class TestCreateApiKey:
    def test_issues_a_usage_write_key_whose_token_is_printed_once(self):
        user = UserFactory(email="docs-server@twinmcp.dev")

        token, note = create_api_key("Docs-Server@twinmcp.dev", "--name", "Documentation server",
                                     "--scope", "usage:write")

        api_key = api_key_authenticate(token)
        assert api_key is not None and api_key.user == user
        assert api_key.scopes == ["usage:write"] and api_key.name == "Documentation server"
        assert api_key.prefix in note and "shown this once" in note

    def test_an_unknown_account_is_refused_and_nothing_is_created(self):
        with pytest.raises(CommandError, match="No account with the email nobody@example.com"):
            create_api_key("nobody@example.com", "--name", "x", "--scope", "usage:write")

        assert not ApiKey.objects.exists()

    def test_a_blank_name_is_refused_naming_the_field(self):
        UserFactory(email="docs-server@twinmcp.dev")

        with pytest.raises(CommandError, match="name: Give the key a name."):
            create_api_key("docs-server@twinmcp.dev", "--name", " ", "--scope", "docs:read")

        assert not ApiKey.objects.exists()

    def test_an_unknown_scope_is_refused(self):
        UserFactory(email="docs-server@twinmcp.dev")

        with pytest.raises(CommandError, match="invalid choice: 'billing:everything'"):
            create_api_key("docs-server@twinmcp.dev", "--name", "x", "--scope", "billing:everything")
