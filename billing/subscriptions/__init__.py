"""Subscriptions: a customer on a plan (create, change, pause, resume, cancel, expire) and plan versions."""
