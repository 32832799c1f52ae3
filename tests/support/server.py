"""The real server as a subprocess, and a WebSocket client that speaks the protocol.

`ServerProcess` runs `support-agent serve` on a free loopback port with the
environment (and extra `serve` arguments) a test gives it and waits for `/api/health`. `WsClient` wraps a real
WebSocket (the `websockets` package) with helpers that wait for a frame of a type,
or for a run's end, with timeouts instead of sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.support.pg import free_port

__all__ = ["END_TYPES", "ServerProcess", "WsClient"]

REPO = Path(__file__).resolve().parents[2]
END_TYPES = {"message_complete", "interrupt", "run_cancelled", "run_error"}


class ServerProcess:
    def __init__(self, env: dict[str, str] | None = None, *, data_dir: Path | None = None, port: int | None = None,
                 args: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.args = list(args)
        self.env = {**os.environ, "DEMO_TOKEN_DELAY_MS": "0", "LOG_FORMAT": "json", "LOG_LEVEL": "warning",
                    "SWEEPER_INTERVAL_S": "0.2"}
        if data_dir is not None:
            self.env["DATA_DIR"] = str(data_dir)
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 60) -> ServerProcess:
        exe = Path(sys.executable).parent / "support-agent"
        cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "app.cli"]),
               "serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-frontend-build", *self.args]
        self.log_path = Path(self.env.get("DATA_DIR", "/tmp")) / f"server-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                r = httpx.get(self.base + "/api/health", timeout=1)
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class WsClient:
    """One socket. `frames` keeps every frame received, in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._cursor = 0
        self.connected: dict[str, Any] | None = None

    @classmethod
    async def connect(cls, url: str, token: str | None = None, *, expect_connected: bool = True) -> WsClient:
        full = url + (f"?token={token}" if token else "")
        ws = await websockets.connect(full, max_size=4 * 1024 * 1024, open_timeout=10)
        client = cls(ws)
        if expect_connected:
            client.connected = await client.next("connected")
        return client

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 20) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame = json.loads(raw)
        self.frames.append(frame)
        return frame

    async def next(self, *types: str, timeout: float = 20, thread_id: str | None = None) -> dict[str, Any]:
        """The next not-yet-consumed frame of one of `types` (frames before it stay recorded)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self.frames):
                f = self.frames[self._cursor]
                self._cursor += 1
                if (not types or f.get("type") in types) and (thread_id is None or f.get("thread_id") == thread_id):
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {types} frame within {timeout}s; got {[f.get('type') for f in self.frames[-10:]]}")
            await self.recv(timeout=left)

    async def until_end(self, thread_id: str | None = None, timeout: float = 30) -> list[dict[str, Any]]:
        """Frames up to and including the next run end event; returns them."""
        start = self._cursor
        end = await self.next(*END_TYPES, timeout=timeout, thread_id=thread_id)
        return [f for f in self.frames[start:self._cursor] if thread_id is None or f.get("thread_id") in (thread_id, None)] or [end]

    async def ask(self, thread_id: str, content: str, timeout: float = 30) -> list[dict[str, Any]]:
        await self.send({"type": "message", "thread_id": thread_id, "content": content})
        return await self.until_end(thread_id, timeout)

    async def close(self) -> None:
        await self.ws.close()
