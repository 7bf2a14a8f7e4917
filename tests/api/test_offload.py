"""The offload pool (tessera.api.offload): blocking calls off the loop, outcomes back on it."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tessera.api.offload import Offload

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


@pytest.fixture
def pool() -> Iterator[Offload]:
    offload = Offload(threads=4)
    yield offload
    offload.close()


def test_a_call_runs_on_a_pool_thread_in_the_callers_context(pool: Offload) -> None:
    """An offloaded call runs on a pool thread yet sees the request's context variables, and returns its value."""

    async def main() -> tuple[str, str, int]:
        WHO.set("officer-7")
        return await pool.run(lambda a, b: (WHO.get(), threading.current_thread().name, a + b), 40, 2)

    who, thread, total = asyncio.run(main())
    assert (who, total) == ("officer-7", 42)
    assert thread.startswith("tessera-offload-")


def test_an_exception_is_raised_in_the_awaiting_request(pool: Offload) -> None:
    """A call's exception is raised in the request that awaited it, not lost on the pool thread."""

    def refuse() -> None:
        raise KeyError("no such subject")

    async def main() -> None:
        await pool.run(refuse)

    with pytest.raises(KeyError, match="no such subject"):
        asyncio.run(main())


def test_calls_in_flight_run_at_once_so_they_can_share_an_fsync(pool: Offload) -> None:
    """Calls in flight run side by side (four meet at a barrier), so their writes can share one fsync."""
    barrier = threading.Barrier(4, timeout=10)  # passes only if four calls wait on it together

    async def main() -> list[int]:
        return list(await asyncio.gather(*(pool.run(barrier.wait) for _ in range(4))))

    assert sorted(asyncio.run(main())) == [0, 1, 2, 3]


def test_a_cancelled_request_leaves_the_pool_serving(pool: Offload) -> None:
    """Cancelling a request lets its call finish, drops its outcome quietly, and the pool serves the next."""
    release = threading.Event()
    ran = threading.Event()

    def slow() -> str:
        release.wait(10)
        ran.set()
        return "late"

    faults: list[dict[str, Any]] = []

    async def main() -> str:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: faults.append(context))
        task = asyncio.ensure_future(pool.run(slow))
        await asyncio.sleep(0.01)
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        answer = await pool.run(str.upper, "next")
        await asyncio.sleep(0.01)  # the cancelled call's outcome has reached the loop by now
        return answer

    assert asyncio.run(main()) == "NEXT"
    assert ran.wait(10)  # the call itself still ran to its end
    assert faults == []  # its outcome was dropped, not set on the cancelled future


def test_a_call_outliving_its_loop_does_not_stop_the_thread() -> None:
    """A call whose event loop closes under it does not kill the pool thread: later calls still answer."""
    offload = Offload(threads=1)
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(10)

    async def abandon() -> None:
        abandoned = asyncio.ensure_future(offload.run(slow))
        await asyncio.sleep(0)  # the call is queued; the loop closes under it
        assert await asyncio.to_thread(started.wait, 10)
        assert not abandoned.done()

    try:
        asyncio.run(abandon())
        release.set()

        async def main() -> int:
            return await asyncio.wait_for(offload.run(len, "four"), 10)  # a dead thread would never answer

        assert asyncio.run(main()) == 4
    finally:
        release.set()
        offload.close()


def test_close_finishes_queued_calls_then_refuses_new_ones() -> None:
    """close() runs what was queued, may be called twice, then refuses new calls."""
    offload = Offload(threads=2)
    done: list[int] = []

    async def main() -> None:
        futures = [asyncio.ensure_future(offload.run(done.append, i)) for i in range(6)]
        await asyncio.gather(*futures)

    asyncio.run(main())
    offload.close()
    offload.close()  # a second close is a no-op
    assert sorted(done) == list(range(6))

    async def after() -> None:
        await offload.run(done.append, 99)

    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(after())
    assert 99 not in done


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "4"])
def test_the_pool_needs_a_positive_thread_count(threads: object) -> None:
    """Zero, negative, fractional, boolean or string thread counts are refused."""
    with pytest.raises(ValueError, match="threads"):
        Offload(threads=threads)  # type: ignore[arg-type]
