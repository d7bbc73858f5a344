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
    open_routes = {path for path, item in document()["paths"].items()
                   for operation in item.values() if operation.get("security") == []}
    assert open_routes == {"/healthz", "/v1/openapi.json"}
