"""An HTTP proxy on 127.0.0.1 in front of a real service, for misbehaviour injected for real
between a client and the gateway. It reads each request's head, records its line, and by the
first matching rule (`when`):

- `answer(status, headers, body)`: answers itself (a 429 storm, a 503) without forwarding;
- `drop_response()`: forwards the request whole, lets the service answer, and closes the
  client's connection instead of relaying the answer (a response lost on the way back);
- `cut_after(n)`: relays the first `n` bytes of the answer, then closes both sides (a stream
  cut mid-way).

Every forwarded request is sent with `Connection: close`, so each connection carries one
request and every request is seen.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Rule:
    method: str
    path_prefix: str
    action: str  # "answer" | "drop_response" | "cut_after"
    times: int
    response: bytes = b""
    cut_bytes: int = 0
    hits: int = 0


@dataclass
class HttpProxy:
    target_port: int
    requests: list[str] = field(default_factory=list)  # "GET /api/status/..." as received
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    # --- rules ------------------------------------------------------------------------------

    def answer(
        self, method: str, path_prefix: str, status: int, *, headers=None, body=b"", times=1
    ) -> Rule:
        head = [f"HTTP/1.1 {status} Injected", f"content-length: {len(body)}", "connection: close"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        return self._add(Rule(method, path_prefix, "answer", times, response=raw))

    def drop_response(self, method: str, path_prefix: str, *, times: int = 1) -> Rule:
        return self._add(Rule(method, path_prefix, "drop_response", times))

    def cut_after(self, method: str, path_prefix: str, n_bytes: int, *, times: int = 1) -> Rule:
        return self._add(Rule(method, path_prefix, "cut_after", times, cut_bytes=n_bytes))

    def seen(self, method: str, path_prefix: str) -> int:
        """How many requests of `method` on a path starting with `path_prefix` arrived."""
        with self._lock:
            return sum(1 for line in self.requests if _matches(line, method, path_prefix))

    def close(self) -> None:
        self._listener.close()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _rule_for(self, line: str) -> Rule | None:
        with self._lock:
            self.requests.append(line)
            for rule in self.rules:
                if rule.hits < rule.times and _matches(line, rule.method, rule.path_prefix):
                    rule.hits += 1
                    return rule
        return None

    # --- connections ------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            line = head.split(b"\r\n", 1)[0].decode("latin-1").rsplit(" ", 1)[0]
            rule = self._rule_for(line)
            if rule is not None and rule.action == "answer":
                client.sendall(rule.response)
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            upstream.sendall(_closing(head) + rest)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            relayed = 0
            while chunk := upstream.recv(65536):
                if rule is not None and rule.action == "drop_response":
                    continue  # read the whole answer, relay none of it
                if rule is not None and rule.action == "cut_after":
                    chunk = chunk[: max(0, rule.cut_bytes - relayed)]
                client.sendall(chunk)
                relayed += len(chunk)
                if rule is not None and rule.action == "cut_after" and relayed >= rule.cut_bytes:
                    return
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """The rest of the request body, client to service."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass


def _closing(head: bytes) -> bytes:
    """The request head with `Connection: close` (one request per connection)."""
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _matches(line: str, method: str, path_prefix: str) -> bool:
    verb, _, target = line.partition(" ")
    return verb == method and target.startswith(path_prefix)
