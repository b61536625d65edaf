"""The latent explorer: a local FastAPI app over one or two runs.

Security model (each point is tested): the server binds 127.0.0.1 unless told otherwise; every
``/api`` call needs the per-launch token, a foreign Host header gets 403, bodies over ``MAX_BODY``
get 413 before they are read, and every response says ``Referrer-Policy: no-referrer``
(:mod:`.guard`); no CORS header is ever sent; only the packaged static files (a fixed list) and run
artefacts addressed by number are served, anything else is 404. Bodies, paths and queries are
parsed with declared types and bounds (:mod:`.requests`): a bad value gets 422 and one line naming
the field and what is allowed, never a 500. A run whose files do not fit together is refused when
it is loaded (:func:`load_state`); an error that still escapes a request is one line: 409 for a
broken run, 422 for bad input, a bare 500 (the traceback goes to the server's log only).

Decoding is the hot path (a slider move is one decode): concurrent decode requests are gathered
into one batch per model call by :class:`DecodeBatcher`, so 16 clients cost about one decode each.

A run whose model has no decoder (imported vectors; an imported encoder alone) is explored through
its real items: where a trained model would decode, the answer lists the items nearest the point
(the map click in map space; sliders, paths, attribute edits and prior draws in latent space), and
``/api/runs`` says so (``has_decoder``, ``note``). What an item looks like (an image, a text, a
data row, its metadata) comes from :class:`latentspace.runfolder.items.RunItems`, which the report
uses too.

The modules: :mod:`.state` (a loaded run, the decode batcher), :mod:`.model_routes` (what asks the
model), :mod:`.data_routes` (rows: the map, columns, items, the CSV export), :mod:`.columns` (per-row
columns and how they travel), :mod:`.requests` (bodies), :mod:`.guard` (the outer layer). The page
(``static/``) colours, filters and searches every row itself from the columns it is sent.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from .data_routes import add_data_routes
from .guard import MAX_BODY, Guard
from .layers import add_layer_routes
from .model_routes import add_model_routes
from .requests import MAX_SPAN, Invalid, query_error, shown
from .state import DecodeBatcher, RunState, load_state
from .view3d import add_routes as add_view3d_routes

__all__ = ["LOCAL_HOSTS", "MAX_BODY", "MAX_SPAN", "RunState", "create_app", "load_state"]
# the packaged page: served by name from this fixed list, nothing else
STATIC_FILES = (
    "explorer.html",
    "explorer.css",
    "explorer.js",
    "explorer_model.js",
    "explorer_map.js",
    "explorer_url.js",
    "scatter.js",
    "scatter_splat.js",
    "scatter3d.js",
    "scatter3d_screen.js",
    "columns.js",
    "panels.js",
    "urlstate.js",
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
NO_STORE = {"Cache-Control": "no-store"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


def create_app(
    states: list[RunState], token: str, host: str = "127.0.0.1", max_body: int = MAX_BODY, warm: bool = False
):
    """The ASGI app (FastAPI inside the guard) for already loaded runs. ``warm``: run each map's
    transform once in the background at start-up (UMAP's compiles on first use), so the first
    prior draw answers at once."""
    api = FastAPI(title="latentspace explorer", docs_url=None, redoc_url=None, openapi_url=None)
    package = resources.files("latentspace.web").joinpath("static")
    static = {name: package.joinpath(name).read_bytes() for name in STATIC_FILES}
    _answer_errors(api)

    def state(rid: int) -> RunState:
        if not 0 <= rid < len(states):
            raise HTTPException(404, f"no run {shown(rid)}")
        return states[rid]

    @api.get("/")
    async def index():
        return Response(static["explorer.html"], media_type=TYPES[".html"], headers=NO_STORE)

    @api.get("/static/{name}")
    async def static_file(name: str):
        if name not in static:
            raise HTTPException(404, "not found")
        return Response(static[name], media_type=TYPES[Path(name).suffix], headers=NO_STORE)

    for s in states:  # the columns are read and checked now: the page's first request answers at once
        s.describe()
    add_data_routes(api, states, state)
    add_model_routes(api, state, [DecodeBatcher(s) for s in states])
    add_view3d_routes(api, state)  # GET /api/runs/{rid}/map3d
    add_layer_routes(api, state)  # GET /api/runs/{rid}/layers, /layers/{name}, /overlay
    if warm:
        import threading

        threading.Thread(target=lambda: [s.warm() for s in states], daemon=True).start()
    hosts = {h.lower() for h in (*LOCAL_HOSTS, host)}
    return Guard(api, token, hosts, max_body)


def _answer_errors(api: FastAPI) -> None:
    """Every refusal is one line of JSON: 422 for a bad value (a body, path or query value, or an
    InputError from below), 409 for a run whose files turn out not to fit together, and, for anything
    unexpected, a bare 500 whose details go to the server's log only (never into the response)."""
    from ..errors import LatentspaceError, RunIntegrityError

    def one_line(status: int, text: str) -> JSONResponse:
        return JSONResponse({"detail": " ".join(text.split()) or "error"}, status_code=status)

    @api.exception_handler(Invalid)
    async def _invalid(request, exc: Invalid):
        return one_line(422, str(exc))

    @api.exception_handler(RequestValidationError)
    async def _bad_path_or_query(request, exc: RequestValidationError):
        return one_line(422, query_error(list(exc.errors())))

    @api.exception_handler(LatentspaceError)
    async def _ours(request, exc: LatentspaceError):
        return one_line(409 if isinstance(exc, RunIntegrityError) else 422, str(exc))

    @api.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        # Starlette re-raises it after this answer: the server logs the traceback
        return one_line(500, "internal error: the explorer's log has the details")
