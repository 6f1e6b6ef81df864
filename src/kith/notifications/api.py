"""Notifications routes."""

from __future__ import annotations

from kith.http.routing import router

api = router("notifications")
