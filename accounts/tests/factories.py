import factory
from factory.django import DjangoModelFactory

from accounts.models import ApiKey, User, UserProfile


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct-horse-battery")


class UserProfileFactory(DjangoModelFactory):
    class Meta:
        model = UserProfile

    user = factory.SubFactory(UserFactory)
    full_name = factory.Faker("name")
    company_name = factory.Faker("company")
    address_line1 = "10 rue de Rivoli"
    postal_code = "75001"
    city = "Paris"
    country = "FR"
    phone = "+33 1 23 45 67 89"


class ApiKeyFactory(DjangoModelFactory):
    class Meta:
        model = ApiKey

    user = factory.SubFactory(UserFactory)
    name = "CI key"
    prefix = factory.Sequence(lambda n: f"k{n:07d}")
    key_hash = factory.Faker("sha256")
    scopes = factory.LazyFunction(lambda: ["docs:read"])


def make_customer(**profile) -> User:
    """A customer: a user with a billing profile (a French one unless `profile` says otherwise). `profile` sets
    the profile's fields, `user__…` the user's: make_customer(user__email="ada@example.com", language="fr")."""
    return UserProfileFactory(**profile).user
