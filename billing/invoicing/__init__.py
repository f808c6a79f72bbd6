"""Invoicing: drafts priced into invoices, numbered and issued; the monthly run; the daily sweeps."""
