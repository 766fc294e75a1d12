"""The built browser UI, with the single-page-app fallback to index.html.

The build sits in gateway/ui/dist, beside this module, in a checkout (scripts/setup-run.sh
builds it) and in an installed wheel (package data) alike; PGSAGE_GATEWAY_UI_DIR points
elsewhere."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from gateway.settings import GatewaySettings

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>pgsage</title>
<p style="font-family:sans-serif">The pgsage UI is not built. In a checkout, run
<code>make run</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>gateway/ui</code>);
a wheel built without it has none. The REST API is at
<a href="/openapi.json">/openapi.json</a>.</p>"""


async def page(request: Request) -> Response:
    """A file of the build when the path names one, else index.html (client-side routes)."""
    settings: GatewaySettings = request.app.state.settings
    root = Path(settings.ui_dir)  # resolved once, in the settings
    relative = request.path_params.get("path", "")
    if relative:
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            hashed = relative.startswith("assets/")
            cache = "public, max-age=31536000, immutable" if hashed else "no-cache"
            return FileResponse(candidate, headers={"Cache-Control": cache})
        if relative.startswith("assets/"):
            return Response("not found", status_code=404, media_type="text/plain")
    index = root / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT, status_code=503)
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
