"""The field simulator: many virtual phones driving the real device core against a real server."""
