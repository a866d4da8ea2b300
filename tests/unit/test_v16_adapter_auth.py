"""The OCPP 1.6J adapter against a CSMS built on the ``ocpp`` library, over an in-memory connection: the
authorization cache and the local authorization list.

Tests are named after the OCPP 1.6 CTT charge-point test cases (docs/reference/ocpp16_cs_testcases.tsv) whose
behaviour they check. The rig (in-memory connection, scriptable CSMS, virtual time) is in v16_rig.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ocpp.v16 import call
from v16_rig import Rig
from v16_rig import make_rig as make_rig  # a pytest fixture
from v16_rig import rig as rig  # a pytest fixture

from chargepoint.station.auth import AuthPolicy
from chargepoint.station.types import IdToken


# ---------------------------------------------------------------------------------------------------- 04 cache
async def test_TC_007_1_CS_regular_start_with_cached_id(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    rig.station.present_token(1, IdToken("TAG1"))  # the CSMS's answer goes into the cache
    await rig.pump()
    await rig.run(rig.station.settings.connection_timeout_s + 1)
    assert len(rig.station.auth.cache) == 1
    mark = rig.mark()
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.run(5)
    assert rig.calls("Authorize", mark) == []
    assert [s["idTag"] for s in rig.calls("StartTransaction", mark)] == ["TAG1"]


async def test_TC_007_2_CS_remote_start_with_cached_id(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(rig.station.settings.connection_timeout_s + 1)
    mark = rig.mark()
    rig.ports[1].plug_in()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))).status == "Accepted"
    await rig.run(5)
    assert rig.calls("Authorize", mark) == []
    assert [s["idTag"] for s in rig.calls("StartTransaction", mark)] == ["TAG1"]


async def test_TC_061_1_CS_clear_cache_then_local_start_asks_the_csms_again(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    await rig.run(rig.station.settings.connection_timeout_s + 1)
    assert (await rig.call(call.ClearCache())).status == "Accepted"
    mark = rig.mark()
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.run(5)
    assert rig.calls("Authorize", mark) == [{"idTag": "TAG1"}]
    assert len(rig.calls("StartTransaction", mark)) == 1


async def test_TC_061_2_CS_clear_cache_remote(rig: Rig) -> None:
    rig.station.present_token(1, IdToken("TAG1"))
    await rig.pump()
    assert len(rig.station.auth.cache) == 1
    assert (await rig.call(call.ClearCache())).status == "Accepted"
    assert len(rig.station.auth.cache) == 0


# ---------------------------------------------------------------------------------------------------- 18 local list
async def test_TC_008_1_CS_regular_start_with_id_in_local_list(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    rig.ports[1].plug_in()
    rig.station.present_token(1, IdToken("LOCAL1"))
    await rig.run(5)
    assert rig.calls("Authorize") == []
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["LOCAL1"]


async def test_TC_008_2_CS_remote_start_with_id_in_local_list(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(policy=AuthPolicy(local_pre_authorize=True))
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    rig.ports[1].plug_in()
    assert (await rig.call(call.RemoteStartTransaction(id_tag="LOCAL1", connector_id=1))).status == "Accepted"
    await rig.run(5)
    assert rig.calls("Authorize") == []
    assert [s["idTag"] for s in rig.calls("StartTransaction")] == ["LOCAL1"]


async def test_TC_042_1_CS_get_local_list_version_not_supported(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="LocalAuthListEnabled", value="false"))).status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == -1


async def test_TC_042_2_CS_get_local_list_version_empty(rig: Rig) -> None:
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[]))
    assert res.status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0


async def test_TC_043_1_CS_send_local_list_not_supported(rig: Rig) -> None:
    assert (await rig.call(call.ChangeConfiguration(key="LocalAuthListEnabled", value="false"))).status == "Accepted"
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "NotSupported"
    assert rig.station.auth.local_list.entries == {}


async def test_TC_043_2_CS_send_local_list_version_mismatch(rig: Rig) -> None:
    res = await rig.call(call.SendLocalList(list_version=5, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    for version in (5, 4):
        res = await rig.call(call.SendLocalList(list_version=version, update_type="Differential",
                                                local_authorization_list=[{"idTag": "T2",
                                                                           "idTagInfo": {"status": "Accepted"}}]))
        assert res.status == "VersionMismatch"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 5
    assert set(rig.station.auth.local_list.entries or {}) == {"T1"}


async def test_TC_043_3_CS_send_local_list_failed(rig: Rig) -> None:
    # a full list must carry idTagInfo for every entry
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1"}]))
    assert res.status == "Failed"
    # more entries than SendLocalListMaxLength
    rig.station.settings.send_local_list_max_length = 2
    entries = [{"idTag": f"T{i}", "idTagInfo": {"status": "Accepted"}} for i in range(3)]
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=entries))
    assert res.status == "Failed"
    # an expiry date that is no date (the library's schema check does not look at formats)
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted", "expiryDate": "tomorrow"}}]))
    assert res.status == "Failed"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 0


async def test_TC_043_CS_send_local_list_full_and_differential(rig: Rig) -> None:
    res = await rig.call(call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[
        {"idTag": "T1", "idTagInfo": {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z",
                                      "parentIdTag": "PARENT"}},
        {"idTag": "T2", "idTagInfo": {"status": "Blocked"}}]))
    assert res.status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 1
    t1 = rig.station.auth.local_list.get("T1")
    assert t1 is not None and t1.parent_id == "PARENT" and t1.expiry == datetime(2027, 1, 1, tzinfo=UTC)
    res = await rig.call(call.SendLocalList(list_version=2, update_type="Differential", local_authorization_list=[
        {"idTag": "T2"}, {"idTag": "T3", "idTagInfo": {"status": "Accepted"}}]))
    assert res.status == "Accepted"
    assert (await rig.call(call.GetLocalListVersion())).list_version == 2
    assert set(rig.station.auth.local_list.entries or {}) == {"T1", "T3"}
