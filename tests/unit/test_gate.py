"""The checkout gate: a bounded, fair queue for a node's pooled connections."""

import asyncio

import pytest

from service.db.gate import CheckoutGate
from service.db.problems import NodeUnavailableError


async def test_waiters_get_released_slots_in_order() -> None:
    gate = CheckoutGate("n", capacity=1, timeout=5)
    await gate.enter()
    order: list[int] = []

    async def waiter(i: int) -> None:
        await gate.enter()
        order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        gate.leave()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]


async def test_a_wait_past_the_timeout_is_a_503_without_a_ban() -> None:
    gate = CheckoutGate("n", capacity=1, timeout=0.05)
    await gate.enter()
    with pytest.raises(NodeUnavailableError) as caught:
        await gate.enter()
    assert caught.value.kind.node_fault is False
    gate.leave()
    await asyncio.wait_for(gate.enter(), 1)  # the timed-out waiter took no slot


async def test_a_cancelled_waiter_gives_back_nothing_it_did_not_get() -> None:
    gate = CheckoutGate("n", capacity=1, timeout=5)
    await gate.enter()
    cancelled = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.leave()
    await asyncio.wait_for(gate.enter(), 1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gate.enter(), 0.05)  # capacity 1: still exactly one slot


async def test_no_pool_means_no_queue() -> None:
    gate = CheckoutGate("n", capacity=None, timeout=0.01)
    for _ in range(100):
        await gate.enter()
    assert gate.pooled is False
