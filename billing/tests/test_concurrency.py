"""Races on real PostgreSQL: several connections (threads or processes) doing the same billing work at once.

Each test commits its rows (`transaction=True`) so that the other connections see them. Where a race
must really overlap, the test holds the contended rows locked from its own connection, starts the
workers, waits until every one of them is blocked on a lock, then lets them all go at once.
"""

import datetime
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction

from accounts.models import AuditLog
from accounts.tests.factories import UserProfileFactory
from billing import clock
from billing.models import (
    Credit,
    CreditApplication,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    NumberSequence,
    Payment,
    Subscription,
)
from billing.services import invoice_finalize, invoice_run, numbers_reserve, payment_record
from billing.tests.factories import CreditFactory, InvoiceFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

UTC = datetime.UTC
OCTOBER_START, NOVEMBER_START, DECEMBER_START = (
    datetime.date(2026, 10, 1),
    datetime.date(2026, 11, 1),
    datetime.date(2026, 12, 1),
)
RUN_AT = datetime.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 07:00 in Paris on 1 November
WORKER_TIMEOUT = 60

# Pro: 19.00 a month, 5,000,000 tokens included, 2.00 per million above. French buyers pay 20 % VAT.
FEE_ONLY_TOTAL = Decimal("22.80")  # 19.00 + 3.80
# Subscription index → October tokens and the invoice total they lead to.
USAGE_IN_OCTOBER = {
    3: (6_500_000, Decimal("26.40")),  # 1.5 M over → 3.00; 22.00 + 4.40
    11: (7_345_678, Decimal("28.43")),  # 2,345,678 over → 4.691356 → 4.69; 23.69 + 4.738 → 4.74
    19: (5_000_001, FEE_ONLY_TOTAL),  # 1 token over → 0.000002 → 0.00: no usage line
    27: (15_000_000, Decimal("46.80")),  # 10 M over → 20.00; 39.00 + 7.80
}
SUBSCRIPTION_COUNT = 30


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def lock_waiters() -> int:
    """Other connections to this database currently blocked on a lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the activity view is cached per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def wait_for_lock_waiters(count: int, *, timeout: float = WORKER_TIMEOUT, alive=lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while lock_waiters() < count:
        if time.monotonic() > deadline or not alive():
            raise AssertionError(f"Expected {count} connections blocked on a lock; found {lock_waiters()}.")
        time.sleep(0.02)


def start_behind_lock(queryset, *, start, workers: int) -> None:
    """Lock `queryset`'s rows from the test's connection, call `start()` (it launches the workers and
    returns a check that they are all still running), and release the rows once `workers` other
    connections are blocked on a lock: the workers then meet inside the database, not one after another."""
    with transaction.atomic():
        list(queryset.select_for_update().order_by("pk"))
        alive = start()
        wait_for_lock_waiters(workers, alive=alive)


def run_in_threads(*calls, hold=None):
    """Run each call on its own thread and connection, all released together; return their results.

    With `hold` (a queryset), its rows stay locked until every thread is blocked on a lock.
    """
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def work(index, call):
        try:
            barrier.wait(timeout=WORKER_TIMEOUT)
            results[index] = call()
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(index, call), daemon=True) for index, call in enumerate(calls)]

    def start():
        for thread in threads:
            thread.start()
        return lambda: all(thread.is_alive() for thread in threads) and not errors

    if hold is None:
        start()
    else:
        start_behind_lock(hold, start=start, workers=len(calls))
    for thread in threads:
        thread.join(WORKER_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a worker never finished (deadlock?)"
    if errors:
        raise errors[0]
    return results


def invoice_number(year: int, sequence: int) -> str:
    return f"TMCP-{year}-{sequence:06d}"


def pro_customers_with_october_usage() -> list[Subscription]:
    """SUBSCRIPTION_COUNT French customers on Pro since September, a few of them above the quota in October."""
    plan = PlanFactory()
    subscriptions = []
    for index in range(SUBSCRIPTION_COUNT):
        profile = UserProfileFactory(country="FR")
        subscriptions.append(
            SubscriptionFactory(
                user=profile.user,
                plan=plan,
                current_period_start=OCTOBER_START,
                current_period_end=NOVEMBER_START,
                started_at=datetime.datetime(2026, 9, 14, 9, 30, tzinfo=UTC),
            )
        )
        if index in USAGE_IN_OCTOBER:
            tokens, _ = USAGE_IN_OCTOBER[index]
            # Two calls in October (one on its last evening, Paris time) add up to the month's tokens.
            UsageLogFactory(
                user=profile.user, tokens=tokens // 2, created_at=datetime.datetime(2026, 10, 5, 12, tzinfo=UTC)
            )
            UsageLogFactory(
                user=profile.user,
                tokens=tokens - tokens // 2,
                created_at=datetime.datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
            )
            # 23:30 UTC on 31 October is already November in Paris: not October's usage.
            UsageLogFactory(
                user=profile.user, tokens=9_000_000, created_at=datetime.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
            )
    return subscriptions


def assert_october_billed_exactly_once(subscriptions: list[Subscription], *, year: int) -> None:
    live = Invoice.objects.exclude(status=InvoiceStatus.CANCELLED)
    by_subscription = {}
    for invoice in live.order_by("pk"):
        by_subscription.setdefault((invoice.subscription_id, invoice.period_start), []).append(invoice)

    # One invoice per subscription and period, no more, no less.
    assert sorted(by_subscription) == sorted((s.pk, OCTOBER_START) for s in subscriptions)
    assert all(len(invoices) == 1 for invoices in by_subscription.values())
    assert Invoice.objects.count() == SUBSCRIPTION_COUNT

    # Each one priced once: the fee, plus the overage of those above the quota.
    for index, subscription in enumerate(subscriptions):
        [invoice] = by_subscription[(subscription.pk, OCTOBER_START)]
        expected_total = USAGE_IN_OCTOBER.get(index, (0, FEE_ONLY_TOTAL))[1]
        assert (invoice.period_end, invoice.status, invoice.total) == (
            NOVEMBER_START,
            InvoiceStatus.SENT,
            expected_total,
        )
        assert sum(line.amount for line in invoice.lines.all()) == invoice.subtotal

    # Numbers 1…N of the year: no gap, no duplicate, ascending with the primary key.
    numbers = list(live.order_by("pk").values_list("number", flat=True))
    assert numbers == [invoice_number(year, n) for n in range(1, SUBSCRIPTION_COUNT + 1)]
    assert NumberSequence.objects.get(kind=DocumentKind.INVOICE, year=year).last_number == SUBSCRIPTION_COUNT

    # Every subscription rolled once, to November.
    periods = set(Subscription.objects.values_list("current_period_start", "current_period_end"))
    assert periods == {(NOVEMBER_START, DECEMBER_START)}
    assert AuditLog.objects.filter(action="subscription.renew").count() == SUBSCRIPTION_COUNT


# ---------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestTwoInvoiceRunsAtOnce:
    def test_two_threads_bill_each_period_once_with_gapless_numbers(self):
        subscriptions = pro_customers_with_october_usage()
        first = Subscription.objects.filter(pk=subscriptions[0].pk)

        def run():
            return invoice_run(period_end=NOVEMBER_START, now=RUN_AT, chunk_size=7)

        summaries = run_in_threads(run, run, hold=first)

        assert sum(summary.created for summary in summaries) == SUBSCRIPTION_COUNT
        assert sorted(pk for summary in summaries for pk in summary.invoice_ids) == sorted(
            Invoice.objects.values_list("pk", flat=True)
        )
        assert_october_billed_exactly_once(subscriptions, year=2026)

    def test_a_second_run_afterwards_bills_nothing(self):
        subscriptions = pro_customers_with_october_usage()
        invoice_run(period_end=NOVEMBER_START, now=RUN_AT, chunk_size=7)

        again = invoice_run(period_end=NOVEMBER_START, now=RUN_AT, chunk_size=7)

        assert again.created == 0
        assert_october_billed_exactly_once(subscriptions, year=2026)

    @pytest.mark.slow
    def test_two_processes_bill_each_period_once_with_gapless_numbers(self):
        subscriptions = pro_customers_with_october_usage()
        env = {
            **os.environ,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
            "DJANGO_SETTINGS_MODULE": "twinmcp.settings.test",
        }
        command = [sys.executable, "manage.py", "generate_invoices", "--period", "2026-10"]

        processes = []

        def start():
            processes.extend(
                subprocess.Popen(
                    command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for _ in range(2)
            )
            return lambda: all(process.poll() is None for process in processes)

        start_behind_lock(Subscription.objects.filter(pk=subscriptions[0].pk), start=start, workers=2)
        outputs = [process.communicate(timeout=120) for process in processes]

        assert [process.returncode for process in processes] == [0, 0], outputs
        # The command runs on the real clock: the invoices are issued today, numbered in today's year.
        assert_october_billed_exactly_once(subscriptions, year=clock.today().year)


@pytest.mark.django_db(transaction=True)
class TestFinalisingAtOnce:
    def test_workers_finalising_together_take_consecutive_numbers(self):
        drafts = [InvoiceFactory(subscription=SubscriptionFactory(user=UserProfileFactory().user)) for _ in range(6)]
        counter = NumberSequence.objects.create(kind=DocumentKind.INVOICE, year=2026, last_number=41)

        numbers = run_in_threads(
            *[lambda draft=draft: invoice_finalize(invoice=draft, now=RUN_AT).number for draft in drafts],
            hold=NumberSequence.objects.filter(pk=counter.pk),
        )

        assert sorted(numbers) == [invoice_number(2026, n) for n in range(42, 48)]
        assert sorted(Invoice.objects.values_list("number", flat=True)) == sorted(numbers)
        counter.refresh_from_db()
        assert counter.last_number == 47


@pytest.mark.django_db(transaction=True)
class TestNumbersAreNotBurntByRollbacks:
    def test_a_rolled_back_reservation_gives_its_number_back(self):
        invoice = InvoiceFactory(subscription=SubscriptionFactory(user=UserProfileFactory().user))  # DRAFT, 19.00

        with pytest.raises(RuntimeError, match="failed after reserving"):
            with transaction.atomic():
                reserved = numbers_reserve(kind=DocumentKind.INVOICE, year=2026, count=3)
                raise RuntimeError("the caller failed after reserving numbers")
        finalised = invoice_finalize(invoice=invoice, now=RUN_AT)

        assert reserved == [invoice_number(2026, 1), invoice_number(2026, 2), invoice_number(2026, 3)]
        assert finalised.number == invoice_number(2026, 1)
        invoice.refresh_from_db()
        assert invoice.number == invoice_number(2026, 1)

    def test_a_worker_waiting_on_the_counter_gets_the_number_given_back(self):
        invoice = InvoiceFactory(subscription=SubscriptionFactory(user=UserProfileFactory().user))  # DRAFT, 19.00
        reserved, finalising_waits = threading.Event(), threading.Event()

        def reserve_then_fail():
            with transaction.atomic():
                numbers_reserve(kind=DocumentKind.INVOICE, year=2026, count=1)
                reserved.set()
                assert finalising_waits.wait(WORKER_TIMEOUT)
                raise RuntimeError("the worker crashed after reserving a number")

        def finalise():
            assert reserved.wait(WORKER_TIMEOUT)
            return invoice_finalize(invoice=invoice, now=RUN_AT)

        def signal_when_blocked():
            wait_for_lock_waiters(1)
            finalising_waits.set()

        with pytest.raises(RuntimeError, match="crashed after reserving"):
            run_in_threads(reserve_then_fail, finalise, signal_when_blocked)

        invoice.refresh_from_db()
        assert (invoice.status, invoice.number) == (InvoiceStatus.SENT, invoice_number(2026, 1))
        assert NumberSequence.objects.get(kind=DocumentKind.INVOICE, year=2026).last_number == 1


@pytest.mark.django_db(transaction=True)
class TestTheSamePaymentTwiceAtOnce:
    def test_one_payment_is_recorded_and_counted_once(self):
        invoice = InvoiceFactory(
            subscription=SubscriptionFactory(user=UserProfileFactory().user),
            status=InvoiceStatus.SENT,
            number=invoice_number(2026, 1),
            issue_date=NOVEMBER_START,
            due_date=datetime.date(2026, 12, 1),
        )

        def pay():
            return payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="same-key", now=RUN_AT).pk

        payment_ids = run_in_threads(pay, pay, hold=Invoice.objects.filter(pk=invoice.pk))

        assert Payment.objects.count() == 1
        assert payment_ids == [Payment.objects.get().pk] * 2
        invoice.refresh_from_db()
        assert (invoice.amount_paid, invoice.amount_due, invoice.status) == (
            Decimal("22.80"),
            Decimal("0.00"),
            InvoiceStatus.PAID,
        )
        assert not Credit.objects.exists()  # no overpayment


@pytest.mark.django_db(transaction=True)
class TestOneCreditSpentOnTwoInvoicesAtOnce:
    def test_the_credit_is_spent_once_and_never_below_zero(self):
        subscription = SubscriptionFactory(user=UserProfileFactory(country="FR").user)
        # Two DRAFTs of one 19.00 fee line each: 22.80 with VAT once finalised.
        september = InvoiceFactory(
            subscription=subscription, period_start=datetime.date(2026, 9, 1), period_end=OCTOBER_START
        )
        october = InvoiceFactory(subscription=subscription, period_start=OCTOBER_START, period_end=NOVEMBER_START)
        credit = CreditFactory(user=subscription.user, amount=Decimal("30.00"))

        run_in_threads(
            lambda: invoice_finalize(invoice=september, now=RUN_AT),
            lambda: invoice_finalize(invoice=october, now=RUN_AT),
            hold=Credit.objects.filter(pk=credit.pk),
        )

        invoices = list(Invoice.objects.order_by("pk"))
        # The promotional credit is a price reduction: one invoice was covered (19.00 off, 22.80 VAT included) and
        # paid at once; the other got what was left, 7.20 VAT included (6.00 off: 13.00 + 2.60 VAT = 15.60).
        assert sorted((invoice.total, invoice.amount_due, invoice.status) for invoice in invoices) == [
            (Decimal("0.00"), Decimal("0.00"), InvoiceStatus.PAID),
            (Decimal("15.60"), Decimal("15.60"), InvoiceStatus.SENT),
        ]
        credit.refresh_from_db()
        assert credit.remaining_amount == Decimal("0.00")
        assert sum(a.amount for a in CreditApplication.objects.filter(credit=credit)) == Decimal("30.00")
        assert sorted(invoice.number for invoice in invoices) == [invoice_number(2026, 1), invoice_number(2026, 2)]
