"""The per-customer cache of billing reads: an entry is served only under the version it was computed under."""
import pytest

from billing.cache import customer_cache_invalidate, customer_cached


def cached(compute, *, user_id=7, key="/api/billing/invoices/"):
    return customer_cached(user_id=user_id, name="invoices", key=key, timeout=60, compute=compute)


def not_computed():
    pytest.fail("computed again instead of read from the cache")


@pytest.mark.django_db
class TestCustomerCached:
    def test_computes_once_then_reads_the_cache(self):
        assert cached(lambda: {"count": 1}) == {"count": 1}

        assert cached(not_computed) == {"count": 1}

    def test_a_change_of_the_customer_computes_it_again(self):
        cached(lambda: "before")

        customer_cache_invalidate(7)

        assert cached(lambda: "after") == "after"
        assert cached(not_computed) == "after"

    def test_what_a_read_computed_while_the_customer_changed_is_not_served_afterwards(self):
        def read_racing_a_change():
            customer_cache_invalidate(7)  # the change lands while the read computes from the old rows
            return "before the change"

        assert cached(read_racing_a_change) == "before the change"  # that read answers what it saw

        assert cached(lambda: "after the change") == "after the change"

    def test_keys_and_customers_are_apart(self):
        cached(lambda: "page 1")
        cached(lambda: "someone else's", user_id=8)

        assert cached(lambda: "page 2", key="/api/billing/invoices/?page=2") == "page 2"
        customer_cache_invalidate(8)
        assert cached(not_computed) == "page 1"
