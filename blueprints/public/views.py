"""Public ranking pages (filled in by the publication work)."""
from blueprints.public import bp  # noqa: F401
