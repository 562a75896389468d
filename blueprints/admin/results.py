"""Organiser results pages (filled in by the results work)."""
from blueprints.admin import bp  # noqa: F401
