"""OCPP 2.0.1 adapter against a CSMS on the ``ocpp`` library over an in-memory connection, in virtual time:
authorization data (authorization cache, local authorization list).

Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
The rig (in-memory connection, CSMS, virtual clock) is in v201_rig.py.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call
from v201_rig import ACCEPTED, Rig, comp

from chargepoint.station.types import AuthInfo, AuthStatus


# ---------------------------------------------------------------------- C/D: authorization data
async def test_TC_C_37_CS_clear_cache_accepted() -> None:
    async with Rig() as r:
        await r.authorize("TAG1")
        assert len(r.station.auth.cache) == 1
        res = await r.request(call.ClearCache())
        assert res.status == "Accepted" and len(r.station.auth.cache) == 0


async def test_TC_C_38_CS_clear_cache_rejected_when_cache_disabled() -> None:
    async with Rig() as r:
        r.station.auth.cache.put("TAG1", ACCEPTED)
        await r.set(comp("AuthCacheCtrlr"), "Enabled", "false")
        res = await r.request(call.ClearCache())
        assert res.status == "Rejected" and len(r.station.auth.cache) == 1


def entry(token: str, status: str | None = "Accepted") -> dict[str, Any]:
    out: dict[str, Any] = {"id_token": {"id_token": token, "type": "ISO14443"}}
    if status is not None:
        out["id_token_info"] = {"status": status}
    return out


async def test_TC_D_01_CS_and_TC_D_08_CS_send_full_list_and_get_version() -> None:
    async with Rig() as r:
        res = await r.request(call.SendLocalList(version_number=3, update_type="Full",
                                                 local_authorization_list=[entry("A"), entry("B", "Blocked")]))
        assert res.status == "Accepted"
        assert (await r.request(call.GetLocalListVersion())).version_number == 3
        lst = r.station.auth.local_list
        assert lst.get("A") == ACCEPTED and lst.get("B") == AuthInfo(AuthStatus.BLOCKED)
        assert (await r.get(comp("LocalAuthListCtrlr"), "Entries"))["attribute_value"] == "2"


async def test_TC_D_02_CS_and_TC_D_03_CS_differential_update_and_remove() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full",
                                           local_authorization_list=[entry("A"), entry("B")]))
        res = await r.request(call.SendLocalList(version_number=2, update_type="Differential",
                                                 local_authorization_list=[entry("C"), entry("A", "Expired")]))
        assert res.status == "Accepted"
        res = await r.request(call.SendLocalList(version_number=3, update_type="Differential",
                                                 local_authorization_list=[entry("B", None)]))
        assert res.status == "Accepted"
        lst = r.station.auth.local_list
        assert sorted(lst.entries or {}) == ["A", "C"] and lst.get("A") == AuthInfo(AuthStatus.EXPIRED)
        assert (await r.request(call.GetLocalListVersion())).version_number == 3


async def test_TC_D_04_CS_full_with_empty_list_clears_it() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[entry("A")]))
        res = await r.request(call.SendLocalList(version_number=2, update_type="Full"))
        assert res.status == "Accepted" and r.station.auth.local_list.entries == {}
        assert (await r.request(call.GetLocalListVersion())).version_number == 2


async def test_TC_D_05_CS_differential_with_empty_list_updates_the_version() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[entry("A")]))
        res = await r.request(call.SendLocalList(version_number=5, update_type="Differential"))
        assert res.status == "Accepted" and sorted(r.station.auth.local_list.entries or {}) == ["A"]
        assert (await r.request(call.GetLocalListVersion())).version_number == 5


async def test_TC_D_06_CS_version_mismatch() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=4, update_type="Full", local_authorization_list=[entry("A")]))
        res = await r.request(call.SendLocalList(version_number=4, update_type="Differential",
                                                 local_authorization_list=[entry("B")]))
        assert res.status == "VersionMismatch" and r.station.auth.local_list.get("B") is None


async def test_send_local_list_failures_change_nothing() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=1, update_type="Full", local_authorization_list=[entry("A")]))
        dup = await r.request(call.SendLocalList(version_number=2, update_type="Full",
                                                 local_authorization_list=[entry("X"), entry("X", "Blocked")]))
        no_info = await r.request(call.SendLocalList(version_number=2, update_type="Full",
                                                     local_authorization_list=[entry("Y", None)]))
        assert (dup.status, no_info.status) == ("Failed", "Failed")
        assert sorted(r.station.auth.local_list.entries or {}) == ["A"]
        assert r.station.auth.local_list.version == 1


async def test_TC_D_10_CS_local_list_disabled() -> None:
    async with Rig() as r:
        await r.request(call.SendLocalList(version_number=2, update_type="Full", local_authorization_list=[entry("A")]))
        await r.set(comp("LocalAuthListCtrlr"), "Enabled", "false")
        assert (await r.request(call.GetLocalListVersion())).version_number == 0
        res = await r.request(call.SendLocalList(version_number=3, update_type="Full"))
        assert res.status == "Failed" and r.station.auth.local_list.version == 2
