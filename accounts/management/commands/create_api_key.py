from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import API_KEY_SCOPES, User
from accounts.services import api_key_create


class Command(BaseCommand):
    help = (
        "Issues an API key for an account and prints its token once, e.g. the documentation server's "
        "`usage:write` key: staff hand out scopes that customers cannot give their own keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The account the key belongs to.")
        parser.add_argument("--name", required=True, help="What the key is for, shown in lists.")
        parser.add_argument("--scope", action="append", dest="scopes", choices=sorted(API_KEY_SCOPES),
                            required=True, help="A scope of the key; repeat for several.")

    def handle(self, *args, email: str, name: str, scopes: list[str], **options):
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user is None:
            raise CommandError(f"No account with the email {email}.")
        try:
            issued = api_key_create(user=user, name=name, scopes=scopes)
        except ValidationError as error:
            raise CommandError("; ".join(f"{field}: {' '.join(messages)}"
                                         for field, messages in error.message_dict.items())) from error
        self.stdout.write(f"{issued.token}\n")
        self.stderr.write(f"Key {issued.api_key.prefix} ({', '.join(issued.api_key.scopes)}) for {user.email}: "
                          "the token above is shown this once.")
