"""The stack's API: /health answers 200 {"status": "ok"} while the database port accepts."""

import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        try:
            socket.create_connection((os.environ["DB_HOST"], int(os.environ["DB_PORT"])), timeout=2).close()
            up = True
        except OSError:
            up = False
        body = json.dumps({"status": "ok" if up else "degraded", "database": {"connected": up}}).encode()
        self.send_response(200 if up else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 has no default handler: `stop` waits
HTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Health).serve_forever()
