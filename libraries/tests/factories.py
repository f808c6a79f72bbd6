import factory
from factory.django import DjangoModelFactory

from accounts.tests.factories import UserFactory
from libraries.models import DocumentationChunk, Library, LibraryVersion, UsageLog


class LibraryFactory(DjangoModelFactory):
    class Meta:
        model = Library

    slug = factory.Sequence(lambda n: f"acme/lib{n}")
    name = factory.Sequence(lambda n: f"Lib {n}")


class LibraryVersionFactory(DjangoModelFactory):
    class Meta:
        model = LibraryVersion

    library = factory.SubFactory(LibraryFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")


class DocumentationChunkFactory(DjangoModelFactory):
    class Meta:
        model = DocumentationChunk

    version = factory.SubFactory(LibraryVersionFactory)
    title = "Getting started"
    content = "Install the package, then import it."
    tokens = 9
    position = factory.Sequence(int)


class UsageLogFactory(DjangoModelFactory):
    class Meta:
        model = UsageLog

    user = factory.SubFactory(UserFactory)
    endpoint = "/api/libraries/acme/lib/docs/"
    tokens = 1000
