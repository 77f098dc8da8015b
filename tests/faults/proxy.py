"""A TCP proxy on 127.0.0.1 in front of a real service, for outages injected for real:

- `refuse()`: the port is closed (connection refused) and open connections are cut;
- `blackhole()`: connections are accepted and bytes taken, but nothing goes through and
  nothing comes back (a hung peer);
- `restore()`: back to forwarding.
"""

from __future__ import annotations

import select
import socket
import threading


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.mode = "pass"
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._start_accepting()

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        return sock

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refused, or the proxy is shut
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self._connections.append(client)
        upstream = None
        try:
            if self.mode == "pass":
                upstream = socket.create_connection(self.target, timeout=5)
                with self._lock:
                    self._connections.append(upstream)
            self._pump(client, upstream)
        except (OSError, ValueError):  # ValueError: select() on a socket `_cut_all` closed
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()

    def _pump(self, client: socket.socket, upstream: socket.socket | None) -> None:
        peers = {client: upstream, upstream: client} if upstream else {client: None}
        while not self._closed:
            readable, _, _ = select.select(list(peers), [], [], 0.2)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                if self.mode == "pass" and peers[sock] is not None:
                    peers[sock].sendall(data)
                # blackhole: the bytes are swallowed

    def refuse(self) -> None:
        """Close the port and cut every open connection."""
        self.mode = "refuse"
        self._stop_listening()
        self._cut_all()

    def _stop_listening(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()

    def blackhole(self) -> None:
        """Accept, swallow, never answer; open connections go silent too."""
        if self.mode == "refuse":
            self._reopen()
        self.mode = "blackhole"

    def restore(self) -> None:
        if self.mode == "refuse":
            self._reopen()
        if self.mode == "blackhole":
            self._cut_all()  # the silenced connections are dead to their peers anyway
        self.mode = "pass"

    def _reopen(self) -> None:
        self._listener = self._listen(self.port)
        self._start_accepting()

    def _cut_all(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._stop_listening()
        self._cut_all()
