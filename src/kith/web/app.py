"""Mounts the web app on the ASGI app: static files and every page router.

Page modules are listed in ``PAGES``; a module named in ``OPTIONAL_PAGES`` is included when it
exists (pages built by other slices, e.g. ``kith.web.board``), each exposing ``router``."""

from __future__ import annotations

import importlib
import importlib.util

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from kith.http.routing import include
from kith.web import auth, dashboard, lists, pickers, records
from kith.web.render import HERE

PAGES: tuple[APIRouter, ...] = (auth.router, dashboard.router, lists.router, records.router, pickers.router)
OPTIONAL_PAGES = ("kith.web.board", "kith.web.admin", "kith.tickets.web")


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in PAGES:
        include(app, router)
    for name in OPTIONAL_PAGES:
        if importlib.util.find_spec(name) is not None:
            include(app, importlib.import_module(name).router)
