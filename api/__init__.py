"""The FastAPI service: app factory, routers and dependencies."""
