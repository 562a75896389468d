"""Organiser publication pages (filled in by the publication work)."""
from blueprints.admin import bp  # noqa: F401
