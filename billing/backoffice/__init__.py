"""Finance's side: the Django admin, the dashboard, exports, roles and the Prometheus figures."""
