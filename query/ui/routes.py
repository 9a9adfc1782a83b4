"""``/ui/…``: server-rendered pages over the same query functions as the API.

Every page needs ``read`` (a login form sets the cookie, see session.py); verdicts need
``ingest`` and a CSRF token, and go to Kafka as ``incident.attributed`` like any event.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from provenance_ledger.ledger import origin
from provenance_ledger.ledger.store import ReadPosition
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.query.durations import parse_duration
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK
from provenance_ledger.query.readmodels.incidents import incident_opening
from provenance_ledger.query.readmodels.provenance import commit_provenance
from provenance_ledger.query.ui import session, views
from provenance_ledger.query.ui.session import COOKIE, IDENTITY, Viewer

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
SOURCE = "ui/provledger"
_ID = re.compile(r"^[\w.:\-/]{1,200}$")
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
# Pages never load anything from elsewhere; the SVG is inline, scripts and styles are ours.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LOOKBACKS = ("1h", "6h", "24h", "3d", "7d")


def _ago(at: datetime | None) -> str:
    if at is None:
        return ""
    minutes = int((datetime.now(UTC) - at).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} d ago"


def _utc(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
env.filters.update(ago=_ago, utc=_utc, pct=lambda rate: f"{rate:.0%}")


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    who = context.pop("who", None) or session.viewer(request)
    forge = request.app.state.provledger.settings.api.forge_url
    body = env.get_template(name).render(who=who, path=request.url.path, forge=forge, **context)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _guard(request: Request) -> Viewer | Response:
    """The viewer if they may read; else the login page (or a refusal)."""
    who = session.viewer(request)
    if who.can_read:
        return who
    if not who.signed_in:
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/ui/login?next={target}", status_code=303)
    return render(request, "error.html", 403, who=who, message="This token cannot read.")


def _cursor(request: Request):
    """A cursor of the ledger for this request; used as a context manager, it closes itself."""
    return request.app.state.provledger.ledger.cursor()


def _position(request: Request) -> ReadPosition:
    """The ledger's read position, as the suspects call takes it (saves it two queries)."""
    return request.app.state.provledger.ledger.read_position()


@router.get("/ui", response_class=HTMLResponse)
@router.get("/ui/", response_class=HTMLResponse)
def incident_list(request: Request) -> Response:
    who = _guard(request)
    if isinstance(who, Response):
        return who
    with _cursor(request) as cur:
        rows = views.incident_list(cur, position=_position(request))
    return render(request, "list.html", who=who, incidents=rows)


def _lookback(raw: str) -> timedelta | None:
    try:
        return parse_duration(raw) if len(raw) <= 20 else None
    except ValueError:
        return None


@router.get("/ui/incidents/{incident}/suspects", response_class=HTMLResponse)
def suspects_fragment(
    request: Request, incident: str, lookback: str = DEFAULT_LOOKBACK, wait: str | None = None
) -> Response:
    """The suspects list alone; with ``wait``, 202 until that verdict is in the ledger."""
    who = _guard(request)
    if isinstance(who, Response):
        return who
    window = _lookback(lookback)
    if not _ID.match(incident) or window is None or (wait is not None and not _ID.match(wait)):
        return render(request, "error.html", 400, who=who, message="Bad incident or lookback.")
    with _cursor(request) as cur:
        if (
            wait is not None
            and not cur.execute(
                "SELECT count(*) FROM attributions WHERE incident = ? AND event_id = ?",
                [incident, wait],
            ).fetchone()[0]
        ):
            return Response(status_code=202, headers=HEADERS)
        page = views.incident_page(cur, incident, window, _position(request))
    if page is None:
        return render(request, "error.html", 404, who=who, message="Unknown incident.")
    return render(request, "_suspects.html", who=who, lookback=lookback, **page)


@router.get("/ui/incidents/{incident}/top", response_class=HTMLResponse)
def top_suspect_fragment(request: Request, incident: str) -> Response:
    """The list page's "top suspect" cell for one incident (the page fetches it per row)."""
    who = _guard(request)
    if isinstance(who, Response):
        return who
    if not _ID.match(incident):
        return render(request, "error.html", 400, who=who, message="Bad incident.")
    with _cursor(request) as cur:
        if incident_opening(cur, incident) is None:
            return render(request, "error.html", 404, who=who, message="Unknown incident.")
        top = views.top_suspect(cur, incident, _position(request))
    return render(request, "_top.html", who=who, top=top)


@router.get("/ui/incidents/{incident}", response_class=HTMLResponse)
def incident_page(request: Request, incident: str, lookback: str = DEFAULT_LOOKBACK) -> Response:
    who = _guard(request)
    if isinstance(who, Response):
        return who
    window = _lookback(lookback)
    if not _ID.match(incident) or window is None:
        return render(request, "error.html", 400, who=who, message="Bad incident or lookback.")
    with _cursor(request) as cur:
        page = views.incident_page(cur, incident, window, _position(request))
    if page is None:
        return render(request, "error.html", 404, who=who, message=f"No incident {incident}.")
    return render(request, "incident.html", who=who, lookback=lookback, lookbacks=LOOKBACKS, **page)


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}


@router.post("/ui/incidents/{incident}/verdicts")
async def post_verdict(request: Request, incident: str) -> Response:
    form = await _form(request)
    who = session.viewer(request)
    sent = request.headers.get("x-csrf-token") or form.get("csrf")
    if not session.csrf_ok(request, sent, who):
        return JSONResponse(_error(403, "missing or wrong CSRF token"), 403, headers=HEADERS)
    if not who.can_vote:
        return JSONResponse(_error(403, "verdicts need a token with the ingest scope"), 403)
    verdict, kind, target = form.get("verdict"), form.get("kind"), form.get("event_id", "")
    if (
        verdict not in ("confirmed", "rejected")
        or kind not in ("deployment", "agent_action")
        or not _ID.match(incident)
        or not _ID.match(target)
    ):
        return JSONResponse(_error(400, "verdict, kind or event_id is invalid"), 400)
    field = "deployment" if kind == "deployment" else "action"
    data = {"incident": incident, "verdict": verdict, "by": {"id": who.identity}, field: target}
    source = f"{SOURCE}/token/{who.token_name}" if who.token_name else SOURCE
    decoded = build_event("incident.attributed", data, source)
    try:
        vouched = origin.api_token(who.token_name) if who.token_name else None
        await run_in_threadpool(request.app.state.provledger.publish, [decoded], vouched)
    except Exception as exc:
        return JSONResponse(_error(503, f"could not produce to Kafka: {exc}"), 503)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"accepted": decoded.event.id}, 202, headers=HEADERS)
    return RedirectResponse(f"/ui/incidents/{quote(incident)}", status_code=303)


def _error(status: int, message: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "status": status}


@router.get("/ui/commits/{sha}", response_class=HTMLResponse)
def commit_page(request: Request, sha: str, repo: str | None = None) -> Response:
    who = _guard(request)
    if isinstance(who, Response):
        return who
    if not _SHA.match(sha) or (repo is not None and len(repo) > 300):
        return render(request, "error.html", 400, who=who, message="Not a commit sha.")
    with _cursor(request) as cur:
        found = commit_provenance(cur, sha, repo)
    if found is None:
        return render(request, "error.html", 404, who=who, message=f"No event names {sha}.")
    return render(request, "commit.html", who=who, p=found)


def _day(raw: str | None) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(raw), time(), UTC) if raw else None
    except ValueError:
        return None


@router.get("/ui/metrics", response_class=HTMLResponse)
def metrics_page(request: Request, since: str | None = None, until: str | None = None) -> Response:
    who = _guard(request)
    if isinstance(who, Response):
        return who
    start, end = _day(since), _day(until)
    if (since and start is None) or (until and end is None) or (start and end and start >= end):
        return render(request, "error.html", 400, who=who, message="Dates are YYYY-MM-DD.")
    with _cursor(request) as cur:
        page = views.metrics_page(cur, start, end)
    return render(request, "metrics.html", who=who, **page)


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/") -> Response:
    return render(request, "login.html", next=_safe_next(next), failed=False)


def _safe_next(target: str) -> str:
    """Only our own pages: never an open redirect."""
    return target if target.startswith("/ui/") and "//" not in target else "/ui/"


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    if not session.same_origin(request):
        return render(request, "error.html", 403, message="Cross-site login refused.")
    tokens = [form.get(k, "").strip() for k in ("token", "ingest_token") if form.get(k)]
    identity = form.get("identity", "").strip()
    if identity and not IDENTITY.fullmatch(identity):
        identity = ""
    value = session.cookie_value(tokens, identity)
    target = _safe_next(form.get("next", "/ui/"))
    probe = session.viewer_of(request, value)
    if not probe.open and not probe.can_read:
        return render(request, "login.html", 401, next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/ui", max_age=43200
    )
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    if not session.csrf_ok(request, form.get("csrf"), session.viewer(request)):
        return render(request, "error.html", 403, message="Missing or wrong CSRF token.")
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response
