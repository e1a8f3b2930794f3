"""The PostgreSQL store's schema: its own numbered migrations (`migrations.py`)."""
