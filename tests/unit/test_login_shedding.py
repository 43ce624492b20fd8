"""Password verification under a login storm: bounded parallelism, shedding, and dropping stale waits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from argon2 import PasswordHasher
from nebula_contracts.errors import Unavailable
from nebula_directory.adapters import Argon2Passwords

CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class GatedHasher(PasswordHasher):
    """A real argon2 hasher whose verifications wait for the test to open a gate (no timing guesses)."""

    def __init__(self) -> None:
        super().__init__(**CHEAP)
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def verify(self, hash: Any, password: Any) -> bool:
        self.entered.release()
        self.gate.wait(10)
        return super().verify(hash, password)


async def test_verifies_right_and_wrong_passwords() -> None:
    passwords = Argon2Passwords(PasswordHasher(**CHEAP))
    stored = await passwords.hash("demo1234")
    assert await passwords.verify(stored, "demo1234")
    assert not await passwords.verify(stored, "wrong-password")
    assert not await passwords.verify(None, "demo1234")


async def test_sheds_logins_beyond_the_waiting_room() -> None:
    hasher = GatedHasher()
    stored = PasswordHasher(**CHEAP).hash("demo1234")
    passwords = Argon2Passwords(hasher, parallel=1, max_waiting=1, max_wait_s=30)
    running = asyncio.create_task(passwords.verify(stored, "demo1234"))
    await asyncio.to_thread(hasher.entered.acquire)  # the first one holds the only slot
    waiting = asyncio.create_task(passwords.verify(stored, "demo1234"))
    await asyncio.sleep(0)  # one loop turn: the task runs up to its wait for the slot
    assert passwords._waiting == 1
    with pytest.raises(Unavailable) as shed:
        await passwords.verify(stored, "demo1234")
    assert shed.value.details == {"retry_after_s": 1}
    hasher.gate.set()
    assert await running and await waiting


async def test_drops_a_login_that_waited_longer_than_the_caller_would() -> None:
    hasher = GatedHasher()
    stored = PasswordHasher(**CHEAP).hash("demo1234")
    passwords = Argon2Passwords(hasher, parallel=1, max_waiting=8, max_wait_s=0.0)
    running = asyncio.create_task(passwords.verify(stored, "demo1234"))
    await asyncio.to_thread(hasher.entered.acquire)
    stale = asyncio.create_task(passwords.verify(stored, "demo1234"))
    await asyncio.sleep(0)  # one loop turn: the task runs up to its wait for the slot
    assert passwords._waiting == 1
    hasher.gate.set()
    assert await running
    with pytest.raises(Unavailable):
        await stale
    assert hasher.entered.acquire(blocking=False) is False  # the stale login never reached argon2
