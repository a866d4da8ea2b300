"""Regression (fuzz findings): MessageTypeIds the strict router classified wrongly.

* JSON ``true`` / ``false`` as MessageTypeId passed ``isinstance(x, int)`` and got MessageTypeNotSupported; a boolean
  is no MessageTypeId at all: RpcFrameworkError (1.6: ProtocolError), like ``2.0`` or ``"2"``.
* OCPP 2.1 defines MessageTypeId 5 (CALLRESULTERROR, the answer to a CALLRESULT the peer could not process) and 6
  (SEND, an unconfirmed message). Neither is ever answered; the station answered both with MessageTypeNotSupported.
  In 1.6 and 2.0.1 they stay unknown message types.
"""

from __future__ import annotations

import json

import pytest

from .ocpp_rig import VERSIONS, AdapterRig, fingerprint


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mtype", [True, False])
async def test_boolean_message_type_id_is_a_framework_error(version: str, mtype: bool) -> None:
    code = "ProtocolError" if version == "1.6" else "RpcFrameworkError"
    async with AdapterRig(version) as rig:
        ex = await rig.exchange(json.dumps([mtype, "b1", "Reset", {"type": "Hard"}]))
        assert [a[:3] for a in ex.answers] == [[4, "b1", code]]


async def test_ocpp21_send_and_callresulterror_get_no_answer_and_change_nothing() -> None:
    async with AdapterRig("2.1") as rig:
        before = fingerprint(rig)
        for frame in ([6, "s1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "2026-03-01T10:00:00Z",
                                                              "data": []}],
                      [6, "s2", "Reset", {"type": "Immediate"}],
                      [5, "e1", "FormatViolation", "your CALLRESULT was not valid", {}]):
            ex = await rig.exchange(json.dumps(frame))
            assert ex.answers == [], frame
        assert fingerprint(rig) == before
        assert rig.hooks.asked == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("mtype", [5, 6])
async def test_message_types_5_and_6_stay_unknown_before_ocpp21(version: str, mtype: int) -> None:
    code = "ProtocolError" if version == "1.6" else "MessageTypeNotSupported"
    async with AdapterRig(version) as rig:
        ex = await rig.exchange(json.dumps([mtype, "m1", "Reset", {"type": "Hard"}]))
        assert [a[:3] for a in ex.answers] == [[4, "m1", code]]
