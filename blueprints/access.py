"""Role checks shared by every blueprint: one place decides who may do what."""
from __future__ import annotations

from functools import wraps

from flask import abort, request
from flask_login import current_user

from models import Role


def require_roles(*roles: Role, read_roles: tuple[Role, ...] = ()):
    """Allow `roles` everything and `read_roles` only safe methods (GET/HEAD).
    Anonymous users are sent to the login page; others get 403."""
    def check():
        if not current_user.is_authenticated:
            from extensions import login_manager
            return login_manager.unauthorized()
        if current_user.role in roles:
            return None
        if current_user.role in read_roles and request.method in ("GET", "HEAD"):
            return None
        abort(403)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            resp = check()
            if resp is not None:
                return resp
            return view(*args, **kwargs)
        return wrapped

    decorator.check = check
    return decorator
