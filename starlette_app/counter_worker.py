"""The uvicorn worker gunicorn runs for the shared counter: uvicorn's own, with per-message-deflate off.

gunicorn passes none of uvicorn's WebSocket options to its workers; uvicorn's documented way to set them
is a subclass of the worker with CONFIG_KWARGS, named by `--worker-class`.
"""

from typing import Any

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]


class CounterWorker(UvicornWorker):
    # The counts are a few bytes: compressing them saves nothing, and each connection's compressor and
    # decompressor would hold more than half of its memory (starlette_app/README.md, the load check).
    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "ws_per_message_deflate": False}
