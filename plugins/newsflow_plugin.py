"""newsflow in the Airflow UI: Data Quality and Warehouse pages, GX Data Docs served offline, run reports.

Thin on purpose (Airflow does not reload plugins): the pages come from ``newsflow.ui`` and
``newsflow.quality``, the DAG ids and which staging runs a DAG run covers from ``newsflow.run``; this file
only mounts them on the api-server at ``/newsflow``, checks who asks, and
reads the two things only Airflow knows (a DAG's runs, and which staging runs a ``news_curate`` run
validated, from its ``validate`` task's XCom).

Auth: plugin FastAPI apps are not behind Airflow's authentication by default. Every page depends on
Airflow's own ``get_user`` (the ``_token`` cookie the UI sets at login, or ``Authorization: Bearer <JWT>``
from ``POST /auth/token``): no credentials -> 401, an invalid token -> 403. Then the auth manager must allow
reading the DAG the data comes from (``news_curate`` for the quality, warehouse and Data Docs pages; the DAG
in the URL for run reports). Only static assets are public: the vendored open-source libraries and GX's own
styles, images and fonts (no data), because Data Docs pages run sandboxed (see
``newsflow.quality.DOCS_CSP``) and a sandboxed page sends no session cookie. File routes resolve the
requested path and refuse anything outside their folder (404).
Every page carries a Content-Security-Policy that allows no other host.

Routes (below ``/newsflow``): ``/quality``, ``/warehouse``, ``/runs/{dag_id}/{run_id}``, ``/dags/{dag_id}``,
``/docs/{path}`` (the GX Data Docs site; ``/docs/static/...``: its styles, images, fonts),
``/static/vendor/{path}`` (the libraries Data Docs need).
Plugin changes need an api-server restart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

LOGGER = logging.getLogger(__name__)

URL_PREFIX = "/newsflow"
RECENT_DAG_RUNS = 25
_bearer = HTTPBearer(auto_error=False)


# -- who is asking ---------------------------------------------------------------------------------------


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """Airflow's own user resolution: Bearer header first, else the ``_token`` cookie; 401 without."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


User = Annotated[Any, Depends(current_user)]


def _require_dag_read(user: Any, dag_id: str) -> None:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    allowed = get_auth_manager().is_authorized_dag(
        method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")


# -- what only Airflow knows -------------------------------------------------------------------------------


def _validate_results(dag_id: str, run_ids: list[str]) -> dict[str, Any]:
    """The ``validate`` task's return value per run id (``news_curate`` only)."""
    from newsflow.run import CURATE_DAG, VALIDATE_TASK

    if dag_id != CURATE_DAG or not run_ids:
        return {}
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.task_id == VALIDATE_TASK,
                XComModel.key == "return_value",
                XComModel.map_index == -1,
                XComModel.run_id.in_(run_ids),
            )
        ).all()
        return {row.run_id: XComModel.deserialize_value(row) for row in rows}


def _recent_runs(dag_id: str) -> list[tuple[str, str | None, Any]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(DagRun.run_id, DagRun.state, DagRun.start_date)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc())
            .limit(RECENT_DAG_RUNS)
        ).all()
    return [(r[0], None if r[1] is None else str(r[1]), r[2]) for r in rows]


# -- the app -----------------------------------------------------------------------------------------------


def _base(request: Request) -> str:
    """The path the app is mounted at (``/newsflow`` unless the api-server itself has a prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(html: str, code: int = 200) -> HTMLResponse:
    from newsflow.ui import CSP

    return HTMLResponse(html, code, headers={"Content-Security-Policy": CSP, **_COMMON_HEADERS})


_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Static assets: a sandboxed Data Docs page has an opaque origin, so its font and `crossorigin` script loads
# are CORS requests from origin "null".
_ASSET_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=86400",
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
}

app = FastAPI(title="newsflow reports", docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    from newsflow.ui import render_message

    messages = {
        401: "Not logged in: log in to Airflow first, then open this page again.",
        403: "Your Airflow user may not read these reports.",
        404: "Not found.",
    }
    html = render_message(
        f"{exc.status_code}", messages.get(exc.status_code, str(exc.detail)), base=_base(request)
    )
    response = _page(html, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


@app.get("/")
def index(request: Request, user: User) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}/quality", status.HTTP_302_FOUND)


@app.get("/quality", response_class=HTMLResponse)
def quality(request: Request, user: User) -> HTMLResponse:
    from newsflow import ui
    from newsflow.config import data_home, default_warehouse
    from newsflow.run import CURATE_DAG

    _require_dag_read(user, CURATE_DAG)
    report = ui.quality_report(default_warehouse(), data_home())
    return _page(ui.render_quality(report, base=_base(request)))


@app.get("/warehouse", response_class=HTMLResponse)
def warehouse(request: Request, user: User) -> HTMLResponse:
    from newsflow import ui
    from newsflow.config import default_warehouse
    from newsflow.run import CURATE_DAG

    _require_dag_read(user, CURATE_DAG)
    return _page(ui.render_warehouse(ui.warehouse_report(default_warehouse()), base=_base(request)))


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
def run_report(request: Request, user: User, dag_id: str, run_id: str) -> HTMLResponse:
    from newsflow import ui
    from newsflow.config import data_home, default_warehouse
    from newsflow.run import awaits_validation, staging_names

    _require_dag_read(user, dag_id)
    home = data_home()
    result = _validate_results(dag_id, [run_id]).get(run_id)
    names = staging_names(dag_id, run_id, home, result)
    report = ui.run_report(default_warehouse(), home, dag_id, run_id, names)
    return _page(ui.render_run(report, base=_base(request), awaiting=awaits_validation(dag_id, result)))


@app.get("/dags/{dag_id}", response_class=HTMLResponse)
def dag_tab(request: Request, user: User, dag_id: str) -> HTMLResponse:
    from newsflow import ui
    from newsflow.config import data_home, default_warehouse
    from newsflow.run import staging_names, validates

    _require_dag_read(user, dag_id)
    home = data_home()
    runs = _recent_runs(dag_id) if validates(dag_id) else []
    results = _validate_results(dag_id, [r for r, _, _ in runs])
    entries = []
    for run_id, state, started in runs:
        names = staging_names(dag_id, run_id, home, results.get(run_id))
        entries.append(
            (run_id, state, started, ui.run_report(default_warehouse(), home, dag_id, run_id, names))
        )
    return _page(ui.render_dag(dag_id, entries, base=_base(request), validates=validates(dag_id)))


@app.get("/docs/static/{path:path}")
def data_docs_asset(request: Request, path: str) -> Response:
    """GX's own styles, images and fonts of the Data Docs site (public: no data in them)."""
    from newsflow.config import data_home
    from newsflow.quality import is_public_asset, read_docs_file

    relative = f"static/{path}"
    base = _base(request)
    found = None
    if is_public_asset(relative):
        found = read_docs_file(
            data_home(), relative, vendor_base=f"{base}/static/vendor", site_base=f"{base}/docs"
        )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not found")
    content, media = found
    return Response(content, media_type=media, headers=_ASSET_HEADERS)


@app.get("/docs/{path:path}")
def data_docs(request: Request, user: User, path: str) -> Response:
    """A page of the GX Data Docs site, rewritten to use local assets, served sandboxed."""
    from newsflow.config import data_home
    from newsflow.quality import DOCS_CSP, read_docs_file
    from newsflow.run import CURATE_DAG

    _require_dag_read(user, CURATE_DAG)
    base = _base(request)
    found = read_docs_file(data_home(), path, vendor_base=f"{base}/static/vendor", site_base=f"{base}/docs")
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not found")
    content, media = found
    headers = {"Content-Security-Policy": DOCS_CSP, **_COMMON_HEADERS}
    return Response(content, media_type=media, headers=headers)


@app.get("/static/vendor/{path:path}")
def vendor(path: str) -> Response:
    """The open-source libraries Data Docs pages load (public: a sandboxed page sends no session)."""
    from newsflow.quality import media_type, vendor_file

    found: Path | None = vendor_file(path)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not found")
    return Response(found.read_bytes(), media_type=media_type(found), headers=_ASSET_HEADERS)


# -- UI wiring ---------------------------------------------------------------------------------------------


class QualityReportLink(BaseOperatorLink):
    """On ``news_curate.validate``: this DAG run's quality report (other tasks get no link)."""

    name = "Quality report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from newsflow.run import CURATE_DAG, VALIDATE_TASK

        if ti_key.dag_id != CURATE_DAG or ti_key.task_id != VALIDATE_TASK:
            return ""
        return f"{URL_PREFIX}/runs/{quote(ti_key.dag_id, safe='')}/{quote(ti_key.run_id, safe='')}"


class NewsflowPlugin(AirflowPlugin):
    name = "newsflow"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "newsflow reports"}]
    external_views = [
        {
            "name": "Data Quality",
            "href": f"{URL_PREFIX}/quality",
            "destination": "nav",
            "url_route": "newsflow-quality",
            "nav_top_level": True,
        },
        {
            "name": "Warehouse",
            "href": f"{URL_PREFIX}/warehouse",
            "destination": "nav",
            "url_route": "newsflow-warehouse",
            "nav_top_level": True,
        },
        {
            "name": "Quality",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "newsflow-dag-quality",
        },
        {
            "name": "Quality report",
            "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "newsflow-run-quality",
        },
    ]
    global_operator_extra_links = [QualityReportLink()]
