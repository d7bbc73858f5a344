"""The OpenAPI document describes exactly the routes the daemon serves."""

from __future__ import annotations

import re

from journeyctl.daemon.api import ApiOptions, build_app
from journeyctl.daemon.metrics import Metrics
from journeyctl.daemon.openapi import document


def test_every_route_is_documented_and_nothing_else() -> None:
    app = build_app(None, Metrics(), ApiOptions(token="t"), lambda: None)  # type: ignore[arg-type]
    served = {(re.sub(r":\w+}", "}", route.path), method.lower())
              for route in app.routes for method in route.methods - {"HEAD"}}
    described = {(path, method) for path, item in document()["paths"].items()
                 for method in item}
    assert served == described
    open_routes = {(path, method) for path, item in document()["paths"].items()
                   for method, op in item.items() if op.get("security") == []}
    # the unsubscribe links' signed token is their authorization (docs/daemon.md)
    assert open_routes == {("/healthz", "get"), ("/v1/openapi.json", "get"),
                           ("/v1/unsubscribe/{token}", "get"),
                           ("/v1/unsubscribe/{token}", "post")}
