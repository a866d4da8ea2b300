"""Regression (fuzz finding): a flood of CALLRESULTs / CALLERRORs nobody asked for.

Every unsolicited response was queued for the next ``call()``, which skipped stale ones recursively (the ``ocpp``
library's ``_get_specific_response`` recurses once per skipped response): after ~1000 of them the station's next
CALL (BootNotification, Heartbeat, a transaction message) raised RecursionError, which ended the session; and the
queue grew without bound meanwhile. Now a response that arrives while none of our CALLs is in flight is dropped,
and the wait for our answer skips stale responses in a loop.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp.messages import CallResult

from .ocpp_rig import VERSIONS, AdapterRig


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_flood_of_unsolicited_responses_is_dropped_and_the_next_call_works(version: str) -> None:
    async with AdapterRig(version) as rig:
        for i in range(3000):
            rig.link.inbox.put_nowait(json.dumps([3, f"stale-{i}", {}]))
            rig.link.inbox.put_nowait(json.dumps([4, f"stale-e{i}", "GenericError", "", {}]))
        await rig.exchange('[3, "x", {}]')  # the probe after it: all of them have been handled
        assert rig.adapter._response_queue.qsize() == 0
        assert rig.adapter.rejected_frames >= 6000
        await asyncio.wait_for(rig.adapter.heartbeat(), 5)  # answered (with a CALLERROR) by the rig; no RecursionError


@pytest.mark.parametrize("version", VERSIONS)
async def test_stale_responses_queued_during_a_call_are_skipped_without_recursion(version: str) -> None:
    async with AdapterRig(version) as rig:
        for i in range(3000):  # as if they had arrived while a CALL of ours was in flight
            rig.adapter._response_queue.put_nowait(CallResult(f"stale-{i}", {}))
        rig.adapter._response_queue.put_nowait(CallResult("mine", {"currentTime": "2026-03-01T10:00:00Z"}))
        answer = await asyncio.wait_for(rig.adapter._get_specific_response("mine", 5), 5)
        assert answer.unique_id == "mine"
        with pytest.raises(TimeoutError):
            await rig.adapter._get_specific_response("never", 0.05)
