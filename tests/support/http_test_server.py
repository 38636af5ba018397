#!/usr/bin/env python3
"""An HTTP server for tests: serves a directory like `python3 -m http.server` (with ETag and
If-None-Match), plus paths that misbehave the way real servers and networks do.

usage: http_test_server.py ROOT PORT_FILE
Binds 127.0.0.1 on an ephemeral port, writes the port to PORT_FILE, serves until killed.

  /_fault/status/<code>          answers <code> with a short body
  /_fault/truncated/<n>          announces <n> bytes, sends half, closes the connection
  /_fault/stall/<n>              announces <n> bytes, sends 10, then sends nothing more
  /_fault/endless                chunked body that never ends (1 MiB a second)
  /_fault/garbage                200 with 4 KiB of random bytes
  /_fault/redirect?to=<url>      302 to <url>
Files over 16 MiB are streamed in 1 MiB chunks (ETag from size and mtime), so that a test can
serve a large sparse file without the server holding it.
Every request is appended to ROOT/../requests.log as "METHOD PATH If-None-Match".

ROOT/../faults, if present, makes real files misbehave: one "PATH KIND" line each, KIND one of
status/<code>, garbage, truncated (the file's real length announced, half of it sent) or stall
(the real length announced, 10 bytes sent, then nothing). It is read on every request.
"""
import hashlib
import http.server
import os
import socketserver
import sys
import time
import urllib.parse


BIG_FILE = 16 << 20  # larger files are streamed (their ETag from size and mtime)


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _log(self):
        log = os.path.join(os.path.dirname(os.path.abspath(self.directory)), "requests.log")
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path} {self.headers.get('If-None-Match', '-')}\n")

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._log()
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "_fault":
            return self._fault(parts[1:], urllib.parse.parse_qs(url.query))
        path = self.translate_path(url.path)
        if not os.path.isfile(path):
            return self._send(404, b"not found\n")
        if os.path.getsize(path) > BIG_FILE and self._configured_fault(url.path) is None:
            return self._send_big(path)
        with open(path, "rb") as f:
            body = f.read()
        fault = self._configured_fault(url.path)
        if fault is not None:
            kind, _, arg = fault.partition("/")
            if kind in ("truncated", "stall"):
                return self._fault([kind, str(len(body))], {})
            return self._fault([kind, arg] if arg else [kind], {})
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._send(200, body, [("ETag", etag), ("Content-Type", "application/octet-stream")])

    def _send_big(self, path):
        """A large file (a sparse one, made by a test) streamed in chunks, not read whole."""
        st = os.stat(path)
        self.send_response(200)
        self.send_header("Content-Length", str(st.st_size))
        self.send_header("ETag", f'"{st.st_size:x}-{st.st_mtime_ns:x}"')
        self.end_headers()
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                self.wfile.write(chunk)

    def _configured_fault(self, path):
        faults = os.path.join(os.path.dirname(os.path.abspath(self.directory)), "faults")
        try:
            with open(faults) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) == 2 and fields[0] == path:
                        return fields[1]
        except FileNotFoundError:
            pass
        return None

    def _fault(self, parts, query):
        kind = parts[0] if parts else ""
        if kind == "status":
            return self._send(int(parts[1]), b"fault\n")
        if kind == "garbage":
            return self._send(200, os.urandom(4096))
        if kind == "redirect":
            return self._send(302, b"", [("Location", query["to"][0])])
        if kind in ("truncated", "stall"):
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(b"x" * (n // 2 if kind == "truncated" else 10))
            self.wfile.flush()
            if kind == "stall":
                time.sleep(3600)
            self.close_connection = True
            return
        if kind == "endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(1 / 16)
        return self._send(404, b"unknown fault\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    root, port_file = sys.argv[1], sys.argv[2]
    server = Server(("127.0.0.1", 0),
                    lambda *a, **kw: Handler(*a, directory=root, **kw))
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, BrokenPipeError):
        pass


if __name__ == "__main__":
    main()
