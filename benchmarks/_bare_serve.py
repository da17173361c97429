"""The floor of B8's ``/metrics``: ``python -m benchmarks._bare_serve FILE`` answers
``GET /metrics`` with the bytes of ``FILE``, as they are, from a bare Starlette application on
uvicorn (its h11 protocol, as ``serve``'s), on a free port of the loopback, until SIGTERM.

Nothing else runs in its process: no checks, no state, no threads. What a scrape of it takes
beside the busy loops is what the machine takes to answer that text over HTTP at all.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def main(path: str) -> None:
    text = Path(path).read_bytes()

    async def metrics(request: Request) -> Response:
        return Response(text, media_type=CONTENT_TYPE)

    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()
    # As serve says where it listens, so that benchmarks._serving finds it.
    print(f"bare: on http://{host}:{port}/ ", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        Starlette(routes=[Route("/metrics", metrics)]),
        log_config=None,
        access_log=False,
        lifespan="off",
        http="h11",
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1])
