"""The Flet app grid workers and supervisors hold in their hands (`python -m mobile.app`)."""

VERSION = "0.1.0"
