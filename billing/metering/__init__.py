"""Metering: the docs API's quota, spend cap and rate limits, counted in Redis against the plan."""
