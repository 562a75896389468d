"""PDF documents: WeasyPrint from a sandboxed Jinja environment that sees plain values only.

After Indico's receipts (`indico/modules/receipts/util.py`): templates under `templates/pdf/`
are rendered by an immutable sandboxed Jinja environment, separate from Flask's, that gets
only plain values (dicts, lists, strings, numbers, booleans, dates) — never a model object, so
a template cannot lazy-load, walk relationships or change the database. `render_pdf` checks
the context before rendering and raises `TypeError` on anything else.

WeasyPrint never touches the network or the file system: `LocalFetcher` serves `data:` URLs
and `file:` URLs inside the application's `static/fonts/` only, and refuses everything else.
Text uses the system's Noto CJK fonts through fontconfig (font-family "Noto Sans CJK SC" /
"Noto Serif CJK SC"; Debian's fonts-noto-cjk) and every document declares
``<html lang="zh-CN">`` so that the Simplified Chinese glyph forms are chosen, not the
Japanese ones the same code points have in the shared CJK fonts.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import unquote, urlparse

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "templates" / "pdf"
FONT_DIR = ROOT / "static" / "fonts"

_PLAIN = (str, int, float, bool, type(None), dt.date, dt.datetime)


def check_plain(value, path: str = "context") -> None:
    """Raise TypeError unless `value` is made of plain values only."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{path}: key {k!r} is not a string or an integer")
            check_plain(v, f"{path}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{path}[{i}]")
        return
    raise TypeError(f"{path}: {type(value).__name__} is not a plain value; documents get plain values only")


def _gettext(message: str) -> str:
    from flask import has_request_context
    if not has_request_context():     # the locale comes from the request (default: Chinese)
        return message
    from flask_babel import get_translations
    return get_translations().gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    from flask import has_request_context
    if not has_request_context():     # the locale comes from the request (default: Chinese)
        return singular if n == 1 else plural
    from flask_babel import get_translations
    return get_translations().ngettext(singular, plural, n)


_ENV: ImmutableSandboxedEnvironment | None = None


def environment() -> ImmutableSandboxedEnvironment:
    """The documents' Jinja environment (one per process): sandboxed, autoescaping, strict
    about undefined names, with `_()` translating through the request's catalogue."""
    global _ENV
    if _ENV is None:
        env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                                            undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                                            trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
        _ENV = env
    return _ENV


def _fetcher_class():
    from weasyprint.urls import URLFetcher

    class LocalFetcher(URLFetcher):
        """Serves `data:` URLs and files under `allowed_dir`; refuses the network and every
        other file."""

        def __init__(self, allowed_dir: Path = FONT_DIR):
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
            self.allowed_dir = Path(allowed_dir).resolve()

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "file":
                path = Path(unquote(urlparse(url).path)).resolve()
                if not (path.is_relative_to(self.allowed_dir) and path.is_file()):
                    raise ValueError(f"documents may not read {url}")
            elif scheme != "data":
                raise ValueError(f"documents may not fetch {url}")
            return super().fetch(url, headers)

    return LocalFetcher


def url_fetcher(allowed_dir: Path = FONT_DIR):
    """A WeasyPrint URL fetcher that allows `data:` and the app's fonts, nothing else."""
    return _fetcher_class()(allowed_dir)


def render_html(template: str, context: dict) -> str:
    check_plain(context)
    return environment().get_template(template).render(**context)


def render_pdf(template: str, context: dict, *, stylesheet: str = "base.css") -> bytes:
    """Render `templates/pdf/<template>` with `context` (plain values) to PDF bytes (A4,
    styles from `templates/pdf/<stylesheet>`)."""
    from weasyprint import CSS, HTML

    html = render_html(template, context)
    fetcher = url_fetcher()
    css = CSS(string=(TEMPLATE_DIR / stylesheet).read_text(encoding="utf-8"), url_fetcher=fetcher)
    doc = HTML(string=html, base_url=FONT_DIR.as_uri() + "/", url_fetcher=fetcher)
    return doc.write_pdf(stylesheets=[css])
