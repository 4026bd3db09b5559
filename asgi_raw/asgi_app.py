"""Listing 9.7: an ASGI app is a coroutine that sends events; `uvicorn asgi_raw.asgi_app:application`."""

BODY = b"ASGI hello!"
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(BODY)).encode())]


async def application(scope, receive, send):
    # Called once per scope: each HTTP request (a keep-alive connection makes
    # several), each WebSocket connection, and the server's lifespan. `scope`
    # says which ("http", "websocket", "lifespan"); `receive` and `send`
    # are coroutines that move events in and out. Nothing is returned: the
    # answer is the events we send, and each `await` lets the server's event
    # loop run other connections meanwhile.
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif scope["type"] == "lifespan":
        # uvicorn's start-up and shutdown, sent as events on one long-lived
        # scope: the place a real app opens and closes its database pool.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        # This scope can live for hours, messages flowing both ways through
        # receive() and send(): what WSGI cannot express. We serve none, so we
        # close the handshake, which the server turns into HTTP 403.
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000})
    else:
        # The ASGI spec asks an app to raise on a scope type it does not know,
        # so the server can tell "unsupported" from "handled".
        raise NotImplementedError(f"scope type {scope['type']!r} is not supported")
