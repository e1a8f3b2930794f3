"""The HTTP API: routes parse, call a service, serialise. No SQL here."""
