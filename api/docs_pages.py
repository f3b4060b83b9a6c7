"""The API's documentation pages, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served from the copies
vendored in ``api/static/vendor`` (bin/vendor-api-docs): the service runs with no internet, and the pages
hold no inline script, so they work under the Content-Security-Policy (see api/security_headers.py)."""
from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from .security_headers import content_security_policy

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} · API</title>
  <link rel="icon" type="image/png" href="/static/vendor/swagger-ui/favicon-32x32.png">
  <link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  <script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} · API</title>
  <link rel="icon" href="data:,">
</head>
<body>
  <redoc spec-url="{openapi_url}" disable-telemetry="true"></redoc>
  <script type="module" src="/static/vendor/redoc/redoc.standalone.js"></script>
</body>
</html>
"""


def add_docs_pages(app: FastAPI, media_origins: Iterable[str] = ()) -> None:
    """Create the app with ``docs_url=None, redoc_url=None``; this adds the offline pages in their place."""
    headers = {"Content-Security-Policy": content_security_policy(media_origins, docs=True),
               "Cache-Control": "no-cache"}
    fields = {"title": app.title, "openapi_url": app.openapi_url or "/openapi.json"}

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE.format(**fields), headers=headers)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_PAGE.format(**fields), headers=headers)
