"""The transcoded REST API: one handler for every route derived from the annotations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import errors, identity, routes, transcoding
from gateway.client import JobServiceClient
from gateway.settings import GatewaySettings


async def dispatch(request: Request) -> JSONResponse:
    """Finds the route, builds the request message, calls the RPC with a deadline."""
    route, values = routes.find(request.method, request.url.path)
    if route is None:
        if values:
            raise errors.MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}",
                metadata={"method": request.method},
            )
        raise errors.RouteNotFound(
            f"no route {request.method} {request.url.path}", metadata={"path": request.url.path}
        )
    assert isinstance(values, dict)
    message = transcoding.build_request(
        route, values, request.query_params.multi_items(), await request.body()
    )
    client: JobServiceClient = request.app.state.client
    settings: GatewaySettings = request.app.state.settings
    call = getattr(client.stub(route.service), route.rpc)
    response = await call(
        message, timeout=settings.call_timeout, metadata=identity.call_metadata(request)
    )
    return JSONResponse(transcoding.to_json(response))
