"""The customer's side: pages, the REST API, its serializers, forms, filters and charts, and GDPR data."""
