"""Listing 9.6: a WSGI application is a plain function (PEP 3333), run with `gunicorn asgi_raw.wsgi_app:application`."""

BODY = b"WSGI hello!"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    # One call per request: the server passes the whole request in `environ`,
    # we hand back status and headers, then *return* the body. While this
    # function runs, its worker (process or thread) serves nobody else, and
    # there is no `await` anywhere to give the worker back.
    #
    # Once we return, the exchange is over. A WebSocket needs the opposite: a
    # connection that stays open and carries messages both ways for minutes,
    # and one function call that maps one request to one response has no way
    # to say that. Hence ASGI (asgi_app.py).
    start_response("200 OK", HEADERS)
    return [BODY]
