"""Every route of the Starlette app in one list."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
