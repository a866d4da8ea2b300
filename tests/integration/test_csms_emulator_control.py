"""CSMS emulator against minimal charge points written with the ``ocpp`` library, over real loopback WebSockets:
overrides and observers, raw frames, silent and delayed answers, disconnects, reconnects and restarts.

The test stations are in csms_emulator_rig.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from csms_emulator_rig import boot_request, station
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16

from hil.emulators.csms import CsmsBehaviour, CsmsEmulator, StationNotConnected


async def test_overrides_observers_and_wait_for_predicate() -> None:
    seen: list[dict[str, Any]] = []

    async def observe(station_id: str, payload: dict[str, Any]) -> None:
        seen.append(payload)  # returning None keeps the default answer

    behaviour = CsmsBehaviour(
        handlers={
            "DataTransfer": lambda sid, p: {"status": "Accepted", "data": f"{sid}:{p['vendorId']}"},
            "StatusNotification": observe,
            "Heartbeat": lambda sid, p: {"wrong": 1},
        }
    )
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        answer = await st.cp.call(call16.DataTransfer(vendor_id="acme"), suppress=False)
        assert (answer.status, answer.data) == ("Accepted", "CP1:acme")
        with pytest.raises(InternalError):  # an override's schema-invalid answer is not sent
            await st.cp.call(call16.Heartbeat(), suppress=False)
        mark = csms.mark()
        waiter = asyncio.create_task(
            csms.wait_for("CP1", "StatusNotification", lambda p: p["status"] == "Faulted", after=mark)
        )
        for status in ("Available", "Faulted"):
            await st.cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status=status))
        frame = await waiter
        assert frame.index > mark and frame.payload["status"] == "Faulted"
        assert [p["status"] for p in seen] == ["Available", "Faulted"]
        assert csms.station("CP1").connector_status == {1: "Faulted"}
        with pytest.raises(TimeoutError):
            await csms.wait_for("CP1", "StatusNotification", after=frame.index, timeout=0.05)


async def test_send_raw_and_server_side_disconnect() -> None:
    async with CsmsEmulator() as csms, station(csms.url, "CP1", "ocpp2.0.1") as st:
        await csms.wait_connected("CP1")
        await csms.send_raw("CP1", "this is not OCPP")
        await csms.send_raw("CP1", '[2,"raw-1","ClearCache",{}]')
        answer = await csms.wait_frame(lambda f: f.direction == "rx" and f.unique_id == "raw-1")
        assert (answer.message_type, answer.action, answer.payload["errorCode"]) == (4, "ClearCache", "NotImplemented")
        assert st.tap.rx == ["this is not OCPP", '[2,"raw-1","ClearCache",{}]']
        frame = csms.frames[0]
        assert (frame.direction, frame.message_type, frame.raw) == ("tx", None, "this is not OCPP")
        await csms.disconnect("CP1", reason="bye")
        assert not csms.is_connected("CP1") and csms.protocol_of("CP1") is None
        await st.ws.wait_closed()
        assert (st.ws.close_code, st.ws.close_reason) == (1000, "bye")
        assert [e.kind for e in csms.events] == ["connected", "disconnected"]
        with pytest.raises(StationNotConnected):
            await csms.send_raw("CP1", "[]")


async def test_silent_and_delayed_answers() -> None:
    behaviour = CsmsBehaviour(silent_actions={"Heartbeat"}, action_delays_s={"StatusNotification": 0.05})
    async with CsmsEmulator(behaviour=behaviour) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        st.cp._response_timeout = 0.1
        with pytest.raises(asyncio.TimeoutError):
            await st.cp.call(call16.Heartbeat())
        assert csms.station("CP1").action_counts["Heartbeat"] == 1
        assert [f.direction for f in csms.frames] == ["rx"]  # recorded, never answered
        loop = asyncio.get_running_loop()
        started = loop.time()
        await st.cp.call(
            call16.StatusNotification(connector_id=0, error_code="NoError", status="Available"), suppress=False
        )
        assert loop.time() - started >= 0.05


async def test_reconnect_replaces_connection_and_stop_closes_stations() -> None:
    csms = CsmsEmulator()
    await csms.start()
    try:
        async with station(csms.url, "CP1", "ocpp1.6") as old, station(csms.url, "CP1", "ocpp2.1") as new:
            await old.ws.wait_closed()
            assert old.ws.close_code == 1000 and old.ws.close_reason == "replaced by a new connection"
            await csms.wait_connected("CP1")
            assert csms.protocol_of("CP1") == "ocpp2.1"
            assert (await new.cp.call(boot_request("ocpp2.1"), suppress=False)).status == "Accepted"
            await csms.stop()
            await new.ws.wait_closed()
            assert new.ws.close_code == 1001
    finally:
        await csms.stop()
    assert [e.kind for e in csms.events] == ["connected", "connected", "disconnected", "disconnected"]
    assert csms.station("CP1").connect_count == 2 and not csms.station("CP1").connected


async def test_max_frames_keeps_absolute_indexes() -> None:
    async with CsmsEmulator(max_frames=2) as csms, station(csms.url, "CP1", "ocpp1.6") as st:
        for _ in range(3):
            await st.cp.call(call16.Heartbeat(), suppress=False)
        assert [f.index for f in csms.frames] == [4, 5] and csms.mark() == 5
        waiter = asyncio.create_task(csms.wait_for("CP1", "Heartbeat", after=csms.mark()))
        await st.cp.call(call16.Heartbeat(), suppress=False)
        assert (await waiter).index == 6
        assert (await csms.wait_for("CP1", "Heartbeat")).index == 6  # older ones were dropped


async def test_override_may_call_the_station_before_answering() -> None:
    csms = CsmsEmulator()

    async def boot(station_id: str, payload: dict[str, Any]) -> None:
        config = await csms.call(station_id, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        csms.behaviour.boot_interval = int(config["configurationKey"][0]["value"]) // 2
        # None: the default BootNotification answer, now with the new interval

    csms.behaviour.handlers["BootNotification"] = boot
    async with csms, station(csms.url, "CP1", "ocpp1.6") as st:
        assert (await st.cp.call(boot_request("ocpp1.6"), suppress=False)).interval == 150
        assert [(f.direction, f.message_type, f.action) for f in csms.frames] == [
            ("rx", 2, "BootNotification"),
            ("tx", 2, "GetConfiguration"),
            ("rx", 3, "GetConfiguration"),
            ("tx", 3, "BootNotification"),
        ]


async def test_restart_on_same_port_lets_the_station_reconnect() -> None:
    csms = CsmsEmulator()
    async with csms, station(csms.url, "CP1", "ocpp2.0.1"):
        await csms.wait_connected("CP1")
    url = csms.url
    async with csms, station(url, "CP1", "ocpp2.0.1") as st:
        assert csms.url == url
        assert (await st.cp.call(boot_request("ocpp2.0.1"), suppress=False)).status == "Accepted"
        assert csms.station("CP1").connect_count == 2
