"""A local JSON API server for tests: ThreadingHTTPServer on 127.0.0.1, port 0, in a thread.

Records every request and answers scripted failures (or scripted delays) before the real handler runs.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_url: str


@dataclass
class Failure:
    match: str  # substring of the path+query
    status: int | None  # None: answer normally (after ``delay``)
    body: object
    times: int  # how many requests it answers; -1 = forever
    delay: float = 0.0  # seconds to wait before answering
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (Location, Retry-After)


@dataclass
class FakeApi:
    requests: list[Recorded] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(Recorded(parts.path, query, headers, self.path))
                    scripted = fake._scripted(self.path)
                if scripted and scripted.delay:
                    time.sleep(scripted.delay)
                extra = {}
                if scripted and scripted.status is not None:
                    status, body, extra = scripted.status, scripted.body, scripted.headers
                else:
                    status, body = fake.answer(parts.path, query, headers)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def fail(self, match: str, status: int, body: object = b"", times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        """The next ``times`` requests whose path+query contains ``match`` get ``status``, ``body`` and ``headers``."""
        self.failures.append(Failure(match, status, body, times, headers=dict(headers or {})))

    def delay(self, match: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests whose path+query contains ``match`` are answered after ``seconds``."""
        self.failures.append(Failure(match, None, None, times, seconds))

    def _scripted(self, raw: str) -> Failure | None:
        """The first scripted answer for ``raw`` still to be given (scripts for one match form a queue)."""
        for failure in self.failures:
            if failure.match in raw and failure.times != 0:
                failure.times -= 1 if failure.times > 0 else 0
                return failure
        return None

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, object]:
        raise NotImplementedError


def price(ticker: str, ordinal: int) -> dict[str, float]:
    """Deterministic OHLCV for a ticker on a day."""
    base = 50 + zlib.crc32(ticker.encode()) % 100 + ordinal % 10
    return {"o": float(base), "h": base + 2.0, "l": base - 1.0, "c": base + 1.0, "v": 1000.0 + ordinal % 7,
            "vw": base + 0.5, "n": 10 + ordinal % 5}
