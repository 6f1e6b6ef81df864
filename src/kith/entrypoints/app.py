"""The ASGI application: routers, conventions and system routes, wired once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import FastAPI, Query
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

import kith
from kith.activities.api import api as activities_api
from kith.analytics.api import api as analytics_api
from kith.automation.api import api as automation_api
from kith.automations.api import api as automations_api
from kith.companies.api import api as companies_api
from kith.config import Settings
from kith.contacts.api import api as contacts_api
from kith.contacts.duplicates_api import api as duplicates_api
from kith.contacts.enrichment import load_provider
from kith.core.db import Database
from kith.core.ratelimit import TokenBucket
from kith.customfields.api import api as custom_fields_api
from kith.deals.api import api as deals_api
from kith.exports.api import api as exports_api
from kith.http import problems
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow
from kith.http.middleware import BodyLimit, Metrics
from kith.http.routing import READ, include, router
from kith.imports.api import api as imports_api
from kith.jobs.api import api as jobs_api
from kith.leads.api import api as leads_api
from kith.notifications.api import api as notifications_api
from kith.orgs.api import api as orgs_api
from kith.pipelines.api import api as pipelines_api
from kith.products.api import api as products_api
from kith.realtime.api import api as realtime_api
from kith.realtime.api import close_broker
from kith.records import crud
from kith.search.api import api as search_api
from kith.telephony.api import api as telephony_api
from kith.telephony.api import hooks as telephony_hooks
from kith.tickets.api import api as tickets_api
from kith.visitors.api import WidgetCors
from kith.visitors.api import api as widget_api
from kith.visitors.api import assets as widget_assets
from kith.web import app as web
from kith.webhooks.api import api as webhooks_api
from kith.workflows.api import api as workflows_api

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
        "rule": {"type": "string", "description": "The business rule's id, when a rule refused the verb."},
    },
}

system = router("system")


@system.get("/trash", responses=READ, summary="What is in the trash")
async def list_trash(actor: CurrentActor, uow: Uow,
                     object: Annotated[Literal["contact", "company"] | None, Query()] = None) -> r.JSON:
    """Records deleted in the last 30 days, restorable with `POST /api/v1/<objects>/{id}/restore` (crm-admin)."""
    return r.JSON({"data": await crud.list_trash(uow, actor, object, 30)})


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    load_provider(settings.enrichment_provider)  # a misconfigured provider stops the start, not a request
    owns_db = db is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.embedded_worker:  # `kith serve` turns it on (KITH_EMBEDDED_WORKER); tests do not
            yield
        else:
            from kith.worker.runner import running

            async with running(app.state.db, settings):
                yield
        await close_broker(app)  # ends open realtime streams, stops the realtime tailer
        if owns_db:
            await app.state.db.dispose()

    app = FastAPI(
        title="Kith CRM API",
        version=kith.__version__,
        description="Contacts, companies, leads, deals, activities and campaigns. Authenticate with "
                    "`Authorization: Bearer <api key>`. Errors are RFC 9457 problem+json.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.database_url)
    problems.install(app)
    app.state.widget_limiter = TokenBucket(rate=settings.widget_rate_per_second, burst=settings.widget_burst)
    # duplicates_api before contacts_api: /contacts/duplicates must not match /contacts/{record_id}
    for api in (orgs_api, duplicates_api, contacts_api, companies_api, custom_fields_api, widget_api, widget_assets,
                system, search_api, pipelines_api, products_api, deals_api, leads_api, activities_api,
                notifications_api, workflows_api, automation_api, webhooks_api, exports_api, analytics_api,
                automations_api, imports_api, realtime_api):
        include(app, api)
    for api in (jobs_api, telephony_api, telephony_hooks):  # docs/jobs.md, docs/telephony.md
        include(app, api)
    include(app, tickets_api)  # docs/tickets.md

    @app.get("/healthz", tags=["system"], summary="Liveness and database check")
    async def healthz() -> r.JSON:
        async with app.state.db.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return r.JSON({"status": "ok", "database": app.state.db.backend, "version": kith.__version__})

    @app.get("/metrics", tags=["system"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    web.install(app)  # the web app at / (kith.web; docs/web.md)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       streamed={"/api/v1/imports": settings.max_import_bytes})
    app.add_middleware(WidgetCors)
    app.add_middleware(Metrics)
    return app
