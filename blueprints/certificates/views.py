"""Certificate pages (filled in by the certificates work)."""
from blueprints.certificates import bp  # noqa: F401
