"""Flet views: they draw what the state classes hold and wire taps to their methods."""
