"""The app's state: plain classes over the device core, with no Flet in sight.

Views read these and call their methods; everything here can be driven by a test without a screen.
"""
