"""Every route of the Starlette app in one list."""

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import counter, rest
from .counter_guard import CounterGuard, LandedOn
from .page_headers import SecurityHeaders

# The page and its files tell the browser what it may run, load and frame (page_headers.py).
PAGE_HEADERS = [Middleware(SecurityHeaders)]
# Around the book's counter endpoint, which knows nothing of them (counter_guard.py):
COUNTER_LAYERS = [
    Middleware(CounterGuard),  # another site's page gets 403; a message over COUNTER_MAX_MESSAGE closes with 1009
    Middleware(LandedOn),  # the first message says which host and worker the WebSocket landed on
]

routes: list[BaseRoute] = [
    # The REST API (listing 9.8 and the aiohttp API's product endpoints). A GET
    # route answers HEAD too; any other method gets 405 with an Allow header.
    Route("/brands", rest.brands, methods=["GET"]),
    Route("/products/{id}", rest.get_product, methods=["GET"]),
    Route("/product", rest.create_product, methods=["POST"]),
    # Health: alive (no database) and ready (the database answers), as on every app.
    Route("/healthz", rest.healthz, methods=["GET"]),
    Route("/readyz", rest.readyz, methods=["GET"]),
    # The WebSocket user counter (listing 9.9) and its page (listing 9.10).
    WebSocketRoute("/counter", counter.UserCounter, middleware=COUNTER_LAYERS),
    Route("/", counter.counter_page, methods=["GET"], middleware=PAGE_HEADERS),
    Mount("/static", StaticFiles(directory=counter.STATIC_DIR), name="static", middleware=PAGE_HEADERS),
]
