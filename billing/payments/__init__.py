"""Payments: money received, refunded, overpaid into credit; the payment provider's webhook."""
