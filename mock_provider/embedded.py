"""Run the mock inside the caller's process: on the caller's loop, or on a thread of its own.

``MockProvider`` is an async context manager for async tests and benchmarks;
``MockProviderThread`` hosts one on a private event loop for synchronous callers (the sync
openai SDK, a sync executor under test).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from mock_provider.profile import Profile, load_profile
from mock_provider.request_log import RequestLog
from mock_provider.server import ProviderState, create_server

log = logging.getLogger(__name__)

ProfileSource = Profile | Mapping[str, Any] | str | Path | None


class MockProvider:
    """An in-process mock provider on ``host``:``port`` (0 picks a free port)."""

    def __init__(
        self,
        profile: ProfileSource = None,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.profile = load_profile(profile)
        self.seed = seed
        self.host = host
        self.port = port
        self.state = ProviderState(self.profile, seed)
        self._runner: web.ServerRunner | None = None

    @classmethod
    def from_options(
        cls,
        *,
        latency: float | None = None,
        max_concurrency: int | None = None,
        profile: ProfileSource = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> MockProvider:
        """A mock whose profile has the CLI shortcuts (fixed latency, cap) applied."""
        loaded = load_profile(profile).with_overrides(
            latency=latency, max_concurrency=max_concurrency
        )
        return cls(loaded, seed=seed, host=host, port=port)

    @property
    def request_log(self) -> RequestLog:
        return self.state.request_log

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    async def start(self) -> MockProvider:
        if self._runner is not None:
            return self
        # aiohttp's low-level server (no router, middlewares or app signals): see server.py.
        server = create_server(
            self.state,
            access_log=None,
            # A client that gives up (a timeout on a hang) ends its handler, and the record.
            handler_cancellation=True,
        )
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=1024)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        log.info("mock provider listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await runner.cleanup()
        log.info("mock provider on %s stopped", self.url)

    async def __aenter__(self) -> MockProvider:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class MockProviderThread:
    """A ``MockProvider`` served from a daemon thread, for synchronous callers."""

    def __init__(
        self,
        profile: ProfileSource = None,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.provider = MockProvider(profile, seed=seed, host=host, port=port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def request_log(self) -> RequestLog:
        return self.provider.request_log

    @property
    def url(self) -> str:
        return self.provider.url

    @property
    def base_url(self) -> str:
        return self.provider.base_url

    def start(self) -> MockProviderThread:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.provider.start())
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.provider.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="mock-provider", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> MockProviderThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
