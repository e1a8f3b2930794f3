"""The gridsync sync server: an HTTP API over a reconcile service over a store."""

__version__ = "0.1.0"
