"""Entry point for `flet build` and `flet run`: the app lives in mobile/app (see build/README.md)."""

import flet as ft

from mobile.app.main import main

ft.run(main)
