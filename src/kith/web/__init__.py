"""The web app: server-rendered Jinja2 pages over the same services as the API (docs/web.md)."""
