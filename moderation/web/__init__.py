"""The /moderate page: server-rendered templates, a small plain-JS layer, no build step."""

from moderation.web.routes import router

__all__ = ["router"]
