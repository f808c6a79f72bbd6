"""Notifications: alerts on the dashboard and the emails billing sends, on events and on schedule."""
