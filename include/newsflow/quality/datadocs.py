"""Great Expectations Data Docs, served offline: local copies of the CDN assets, safe file lookup, retention.

GX 1.24 Data Docs pages load jQuery, Bootstrap, bootstrap-table, Vega and Font Awesome from public CDNs and a
logo (with the data context id in its query string) from GX's S3 bucket: offline the index page is empty
(its rows are drawn by JavaScript) and every page is unstyled. :func:`rewrite` maps each of those URLs to the
copy vendored in ``static/vendor/`` (see its README: versions, licences) and drops links to GX's website, so a
served page references no external host. The generated files are left as GX wrote them (GX rebuilds the
index on every run); the rewrite happens when a page is served.

:func:`resolve_under` is the one place that turns a request path into a file: it refuses anything that
resolves outside the given directory (``..``, absolute paths, symlinks pointing out).
"""

from __future__ import annotations

import logging
import mimetypes
import re
from pathlib import Path

from newsflow.quality.gate import quality_root
from newsflow.quality.project import GXProject

LOGGER = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).resolve().parents[1] / "ui" / "static" / "vendor"

CDN_ASSETS: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js@1.12.9/dist/umd/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap@4.3.1/dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap@4.3.1/dist/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table@1.19.1/dist/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table@1.19.1/dist/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0/dist/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0/dist/js/bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free@6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega@5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite@5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed@6.29.0/vega-embed.min.js",
}
"""Every external asset URL GX 1.24.1 Data Docs use -> the vendored file (relative to :data:`VENDOR_DIR`)."""

_CDN_RE = re.compile("|".join(re.escape(u) for u in sorted(CDN_ASSETS, key=len, reverse=True)) + r"(?=[\"'])")
_GX_LOGO_RE = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
    r"(?:logo-long\.png|full_logo_dark\.png)[^\"')\s]*"
)
"""GX's S3 logos; ``logo-long.png`` carries a timestamp and the data context id in its query string."""
LOCAL_LOGO = "static/images/logo-long.png"
"""The same logo, copied into every site by GX itself (relative to the site root)."""
_FAVICON_RE = re.compile(r"""href=(["'])(?:\.\./|\./)*static/images/favicon\.ico\1""")
"""GX links validation pages' favicon one level too shallow (a 404): point it at the site root's."""
_EXTERNAL_HREF_RE = re.compile(r"""\shref=(["'])https?://(?!(?:127\.0\.0\.1|localhost)[:/"'])[^"']*\1""")
_EXTERNAL_SRC_RE = re.compile(r"""\ssrc=(["'])https?://(?!(?:127\.0\.0\.1|localhost)[:/"'])[^"']*\1""")
_EXTERNAL_CSS_URL_RE = re.compile(r"""url\(\s*(["']?)https?://(?!(?:127\.0\.0\.1|localhost)[:/])[^)]*\)""")
TEXT_SUFFIXES = frozenset({".html", ".css"})
DOCS_CSP = (
    "sandbox allow-scripts; default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'none'; "
    "object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'self'"
)
"""Content-Security-Policy for served Data Docs pages.

GX renders data values (unexpected values of failing rows, which come from the feeds) into its pages without
HTML-escaping them, and its pages need inline scripts (and Vega compiles expressions with ``Function``), so a
hostile article title could carry a script. ``sandbox allow-scripts`` runs the page in an opaque origin: its
scripts run, but they cannot read or use the Airflow session (no cookies are sent from an opaque origin,
responses from the api-server are unreadable), submit forms, open windows or navigate the top frame. The
assets such a page loads are therefore served without a session (:func:`is_public_asset`)."""

PUBLIC_SUFFIXES = frozenset(
    {".css", ".png", ".gif", ".svg", ".ico", ".otf", ".ttf", ".woff", ".woff2", ".js"}
)


def is_public_asset(relative: str) -> bool:
    """Whether a Data Docs file is one of GX's own static assets (styles, images, fonts), not a data page.

    These come from the GX package, hold no data, and a sandboxed Data Docs page loads them without the
    session cookie, so they are served without login, like the vendored libraries.
    """
    parts = relative.replace("\\", "/").split("/")
    if parts[0] != "static" or any(p in ("", ".", "..") for p in parts):
        return False
    return Path(relative).suffix.lower() in PUBLIC_SUFFIXES


def rewrite(text: str, *, vendor_base: str, site_base: str) -> str:
    """Point a Data Docs page's (or stylesheet's) external references at local copies.

    ``vendor_base``: the URL path where :data:`VENDOR_DIR` is served; ``site_base``: the URL path of the Data
    Docs site root. CDN assets and GX's logos become local URLs; any other external link or source left is
    removed (a link to GX's website becomes ``#``), so nothing on the page can reach another host.
    """
    vendor_base = vendor_base.rstrip("/")
    text = _CDN_RE.sub(lambda m: f"{vendor_base}/{CDN_ASSETS[m.group(0)]}", text)
    site_base = site_base.rstrip("/")
    text = _GX_LOGO_RE.sub(f"{site_base}/{LOCAL_LOGO}", text)
    text = _FAVICON_RE.sub(f'href="{site_base}/static/images/favicon.ico"', text)
    text = _EXTERNAL_HREF_RE.sub(' href="#"', text)
    text = _EXTERNAL_SRC_RE.sub("", text)
    return _EXTERNAL_CSS_URL_RE.sub("none", text)


def resolve_under(root: Path, relative: str) -> Path | None:
    """The existing file ``relative`` names inside ``root``; None when it is missing or lies outside."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
        return None
    base = root.resolve()
    try:
        target = (base / relative).resolve()
    except (OSError, RuntimeError):  # symlink loops
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def vendor_file(relative: str) -> Path | None:
    """A vendored asset by its path below :data:`VENDOR_DIR` (None if missing or outside)."""
    return resolve_under(VENDOR_DIR, relative)


def docs_dir(home: Path) -> Path:
    """The Data Docs site of the GX project in the data directory ``home``."""
    return GXProject(quality_root(home)).data_docs_dir


def docs_url_path(home: Path, data_docs_path: str | None) -> str | None:
    """``validation_runs.data_docs_path`` (relative to the GX root) as a path below the Data Docs site.

    None when the run has no page, it lies outside the site, or it was pruned since.
    """
    if not data_docs_path:
        return None
    site = docs_dir(home)
    page = resolve_under(quality_root(home), data_docs_path)
    if page is None or not page.is_relative_to(site.resolve()):
        return None
    return page.relative_to(site.resolve()).as_posix()


def read_docs_file(
    home: Path, relative: str, *, vendor_base: str, site_base: str
) -> tuple[bytes, str] | None:
    """(content, media type) of a Data Docs file, HTML and CSS rewritten for offline use; None if refused."""
    path = resolve_under(docs_dir(home), relative)
    if path is None:
        return None
    media = media_type(path)
    if path.suffix.lower() in TEXT_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="replace")
        return rewrite(text, vendor_base=vendor_base, site_base=site_base).encode("utf-8"), media
    return path.read_bytes(), media


def media_type(path: Path) -> str:
    """The Content-Type to serve ``path`` with (UTF-8 for text)."""
    extra = {".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf", ".js": "text/javascript"}
    media = extra.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/") or media.endswith(("javascript", "json", "svg+xml")):
        media += "; charset=utf-8"
    return media


def prune_data_docs(home: Path, keep: int) -> int:
    """Bound GX results and Data Docs pages: keep the newest ``keep`` per suite (0 if there is no project).

    Call it from the daily maintenance DAG; it takes the GX project's lock, so it is safe next to a running
    validation. Returns the number of results removed.
    """
    project = GXProject(quality_root(home))
    if not project.is_set_up():
        return 0
    removed = project.prune_results(keep)
    LOGGER.info("Data Docs pruned: %d validation results removed, %d kept per suite", removed, keep)
    return removed
