"""oil-refinery-application: a small HTTP service on the Python standard library.

GET /health answers 200 while the process serves requests (liveness and readiness);
GET / describes the service. It listens on HOST:PORT (default 0.0.0.0:8080), logs one
JSON line per request to stderr and stops cleanly on SIGTERM.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "oil-refinery-application"
VERSION = os.environ.get("APP_VERSION", "dev")
STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    """Routes the two endpoints; anything else is 404."""

    server_version = SERVICE
    sys_version = ""

    def do_GET(self):  # pylint: disable=invalid-name
        """Answer GET requests (http.server looks this method up by name)."""
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.reply(200, {"status": "ok"})
        elif path == "/":
            self.reply(200, {
                "service": SERVICE,
                "version": VERSION,
                "uptime_seconds": round(time.time() - STARTED, 1),
            })
        else:
            self.reply(404, {"error": "not found", "path": path})

    def reply(self, status, body):
        """Send body as JSON with the given status."""
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Log one JSON line per request instead of the default text."""
        sys.stderr.write(json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "client": self.client_address[0],
            "message": format % args,
        }) + "\n")


def main():
    """Serve until SIGTERM or SIGINT."""
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), Handler)

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"message": "listening", "host": host, "port": port,
                      "version": VERSION}), file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
