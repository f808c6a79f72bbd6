"""Documents: an issued invoice or credit note as plain data, its PDF and Factur-X, stored and emailed."""
