"""Crash safety: ``chargepoint run`` as a real process, SIGKILLed while charging, while a CALL is in flight and at
random instants, then restarted with the same data dir, against the CSMS emulator in this process.

After every scenario the CSMS's record (every transaction frame it received) is compared with the station's ledger
(tests/chaos/harness.py): nothing lost, nothing out of order, meter registers monotonic across the restarts, and the
only repeats are identical copies of the message in flight at a kill. Tests wait on emulator frames and on the
station's log lines; the only sleeps are the random kill instants.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chaos.harness import LedgerReport, StationProcess, compare, wait_drained, wait_until, write_config

from chargepoint.persistence.store import read_ledger
from hil.emulators.csms import CsmsBehaviour, CsmsEmulator, Frame

pytestmark = pytest.mark.timeout(120)

OCPP = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
VERSIONS = list(OCPP)


@dataclass
class Rig:
    csms: CsmsEmulator
    station: StationProcess
    version: str

    @property
    def cp(self) -> str:
        return self.station.station_id

    @property
    def v16(self) -> bool:
        return self.version == "1.6"

    async def wait(self, action: str, pred: Any = None, after: int = -1, timeout: float = 20.0) -> Frame:
        try:
            return await self.csms.wait_for(self.cp, action, pred, timeout=timeout, after=after)
        except TimeoutError as e:  # say what the station was doing, and where it is now
            await self.station.dump_stacks()
            tail = "\n".join(self.station.lines[-120:])
            raise TimeoutError(f"{e}; the station's last log lines:\n{tail}") from None

    async def answer(self, frame: Frame) -> dict[str, Any]:
        f = await self.csms.wait_frame(lambda f: f.direction == "tx" and f.unique_id == frame.unique_id
                                       and f.message_type == 3, timeout=20, after=frame.index)
        payload: dict[str, Any] = f.payload
        return payload

    async def started(self, after: int = -1) -> tuple[Frame, Any]:
        """The next transaction start the CSMS received, and its transaction id (1.6: once answered)."""
        if self.v16:
            f = await self.wait("StartTransaction", after=after)
            return f, (await self.answer(f))["transactionId"]
        f = await self.wait("TransactionEvent", lambda p: p["eventType"] == "Started", after)
        return f, f.payload["transactionInfo"]["transactionId"]

    async def sample(self, tx: Any, after: int = -1, min_wh: float = -1.0) -> Frame:
        """The next periodic meter value of ``tx`` with an import register above ``min_wh``."""
        def registers(p: dict[str, Any]) -> list[float]:
            return [float(v["value"]) for mv in p.get("meterValue", []) for v in mv["sampledValue"]
                    if v.get("measurand") == "Energy.Active.Import.Register"]

        if self.v16:
            return await self.wait("MeterValues", lambda p: p.get("transactionId") == tx
                                   and any(r > min_wh for r in registers(p)), after)
        return await self.wait("TransactionEvent", lambda p: p["transactionInfo"]["transactionId"] == tx
                               and p["triggerReason"] == "MeterValuePeriodic" and any(r > min_wh
                                                                                     for r in registers(p)), after)

    async def ended(self, tx: Any, after: int = -1) -> Frame:
        if self.v16:
            return await self.wait("StopTransaction", lambda p: p["transactionId"] == tx, after)
        return await self.wait("TransactionEvent", lambda p: p["eventType"] == "Ended"
                               and p["transactionInfo"]["transactionId"] == tx, after)

    def reason(self, ended: Frame) -> str:
        return str(ended.payload.get("reason") if self.v16 else ended.payload["transactionInfo"]["stoppedReason"])

    async def remote_stop(self, tx: Any) -> None:
        if self.v16:
            res = await self.csms.call(self.cp, "RemoteStopTransaction", {"transactionId": tx})
        else:
            res = await self.csms.call(self.cp, "RequestStopTransaction", {"transactionId": tx})
        assert res["status"] == "Accepted"

    async def finish(self, kills: int) -> LedgerReport:
        """Let the station send everything, stop it cleanly and compare the CSMS's record with its ledger."""
        await wait_drained(self.csms, self.station)
        assert await self.station.terminate() == 0
        report = compare(self.version, self.csms.frames, self.cp, self.station.db_path)
        assert report.problems() == [], report.summary()
        assert not report.open_transactions
        # at most the one message in flight at each kill arrives twice, as an identical copy
        assert report.duplicate_copies <= kills and all(d.identical for d in report.duplicates), report.summary()
        return report


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, version: str, behaviour: CsmsBehaviour | None = None, args: Sequence[str] = (),
              protocols: Sequence[str] = ("direct",), aligned_interval: int = 0) -> AsyncIterator[Rig]:
    config = write_config(tmp_path / "station.toml", protocols, aligned_interval=aligned_interval)
    async with CsmsEmulator(protocols=(OCPP[version],), behaviour=behaviour) as csms:
        station = StationProcess(csms.url, tmp_path / "data", "CRASH" + version.replace(".", ""), version, config,
                                 args)
        try:
            yield Rig(csms, station, version)
        finally:
            await station.close()


# ---------------------------------------------------------------------------------------------------- mid-transaction
@pytest.mark.parametrize("version", VERSIONS)
async def test_sigkill_while_charging_then_restart_continues_the_transaction(tmp_path: Path, version: str) -> None:
    async with rig(tmp_path, version) as r:
        await r.station.start()
        _, tx = await r.started()
        before = await r.sample(tx, min_wh=0.0)  # energy is flowing
        mark = r.csms.mark()
        await r.station.kill()
        await r.station.start()
        # the same transaction goes on (the CLI plugs the emulated car in again and does not present its token)
        after = await r.sample(tx, after=mark, min_wh=0.0)
        assert after.index > before.index
        await r.remote_stop(tx)
        assert r.reason(await r.ended(tx)) == "Remote"
        report = await r.finish(kills=1)
        assert report.station_transactions == report.csms_transactions == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_sigkill_then_restart_without_the_car_ends_with_power_loss(tmp_path: Path, version: str) -> None:
    async with rig(tmp_path, version) as r:
        await r.station.start()
        _, tx = await r.started()
        await r.sample(tx, min_wh=0.0)
        mark = r.csms.mark()
        await r.station.kill()
        await r.station.start(["--ev", "none"])  # the car left while the station was down
        ended = await r.ended(tx, after=mark)
        assert r.reason(ended) == "PowerLoss"
        report = await r.finish(kills=1)  # meterStop >= every register sent before the kill (monotonic check)
        assert report.station_transactions == report.csms_transactions == 1


# ---------------------------------------------------------------------------------------------------- mid-send
def _tx_action(version: str) -> str:
    return "StartTransaction" if version == "1.6" else "TransactionEvent"


@pytest.mark.parametrize("version", VERSIONS)
async def test_sigkill_with_the_start_in_flight_sends_it_again_identically(tmp_path: Path, version: str) -> None:
    behaviour = CsmsBehaviour(action_delays_s={_tx_action(version): 30.0})  # the CSMS sits on the start
    async with rig(tmp_path, version, behaviour) as r:
        await r.station.start()
        first = await r.wait(_tx_action(version))
        await r.station.kill()  # the start is on the wire and unanswered; the CSMS drops its handler with the socket
        behaviour.action_delays_s.clear()
        await r.station.start()
        again, tx = await r.started(after=first.index)
        assert again.payload == first.payload and again.unique_id != first.unique_id
        await r.sample(tx, after=again.index)
        await r.remote_stop(tx)
        await r.ended(tx)
        report = await r.finish(kills=1)
        assert [d.copies for d in report.duplicates] == [2] and report.duplicates[0].answered == 1
        assert report.station_transactions == report.csms_transactions == 1 and not report.orphans


@pytest.mark.parametrize("version", VERSIONS)
async def test_sigkill_with_a_meter_value_in_flight_sends_it_again_identically(tmp_path: Path, version: str) -> None:
    behaviour = CsmsBehaviour()
    async with rig(tmp_path, version, behaviour) as r:
        await r.station.start()
        start, tx = await r.started()
        await r.answer(start)
        behaviour.action_delays_s["MeterValues" if r.v16 else "TransactionEvent"] = 30.0
        sample = await r.sample(tx, after=start.index)
        await r.station.kill()
        behaviour.action_delays_s.clear()
        await r.station.start()
        again = await r.wait(sample.action or "", lambda p: p == sample.payload, after=sample.index)
        assert again.unique_id != sample.unique_id
        await r.sample(tx, after=again.index)  # and the transaction goes on
        await r.remote_stop(tx)
        await r.ended(tx)
        report = await r.finish(kills=1)
        assert len(report.duplicates) == 1 and report.duplicates[0].copies == 2


@pytest.mark.parametrize("version", [
    pytest.param("1.6", marks=pytest.mark.xfail(
        strict=False, raises=TimeoutError,
        reason="rare: in full-suite runs the restarted 1.6 station sometimes sends nothing after its repeated start "
               "(docs/known-gaps.md); the time-out prints its log and stacks")),
    "2.0.1",
])
async def test_sigkill_after_the_csms_processed_the_start_is_a_detectable_repeat(tmp_path: Path, version: str) -> None:
    """The worst instant: the CSMS has processed the start (and answers it), the station dies before it can commit
    the answer. At-least-once delivery sends the start again, identical. 2.x: same transactionId and seqNo, so the
    CSMS sees the repeat. 1.6: the CSMS opens a second transaction for it (1.6 has no message id); the first one
    gets nothing else ever (an orphan with a start identical to the real one), which the comparison reports."""
    behaviour = CsmsBehaviour()
    async with rig(tmp_path, version, behaviour) as r:
        killed: list[bool] = []

        def kill_before_answering(station_id: str, payload: dict[str, Any]) -> None:
            if not killed and (r.v16 or payload.get("eventType") == "Started"):
                killed.append(True)
                assert r.station.proc is not None
                r.station.proc.kill()  # SIGKILL; the emulator still processes the CALL and answers into the void
            return None

        behaviour.handlers[_tx_action(version)] = kill_before_answering
        await r.station.start()
        first = await r.wait(_tx_action(version))
        await r.station.kill()  # reap it
        await r.station.start()
        again, tx = await r.started(after=first.index)
        assert again.payload == first.payload
        await r.sample(tx, after=again.index)
        await r.remote_stop(tx)
        await r.ended(tx)
        report = await r.finish(kills=1)
        # The CSMS answered both copies; whether its answer to the killed connection made it into the record
        # depends on how soon the emulator saw the socket die (its send is cancelled with the connection).
        assert [(d.copies, d.identical) for d in report.duplicates] == [(2, True)]
        assert report.duplicates[0].answered in (1, 2)
        assert report.station_transactions == 1
        if r.v16:
            assert len(r.csms.transactions[r.cp]) == 2  # the CSMS opened a transaction for each copy
            assert report.csms_transactions == report.duplicates[0].answered
            assert len(report.orphans) == report.duplicates[0].answered - 1
            orphan = next(t for t in r.csms.transactions[r.cp].values() if t.transaction_id != tx)
            assert orphan.events == [first.payload] and not orphan.ended  # nothing else ever names it
        else:
            assert report.csms_transactions == 1 and r.csms.transactions[r.cp][tx].seq_nos[:2] == [0, 0]


# ---------------------------------------------------------------------------------------------------- mid-write
@pytest.mark.parametrize("version", VERSIONS)
async def test_sigkill_at_random_instants_loses_nothing(tmp_path: Path, version: str) -> None:
    """Two EVSEs charging, a meter value every second and a clock-aligned one every second (about four queue and
    ledger writes per second), killed at random instants eight times; every restart continues the transactions."""
    rng = random.Random(f"crash-{version}")
    kills = 8
    async with rig(tmp_path, version, protocols=("direct", "direct"), aligned_interval=1) as r:
        await r.station.start()
        _, tx = await r.started()
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.0, 2.5))  # the random instant
            await r.station.kill()
            mark = r.csms.mark()
            await r.station.start()
            await r.wait("BootNotification", after=mark)
        await r.sample(tx, after=r.csms.mark())  # the first transaction is still going
        open_txs = [t.transaction_id for t in r.csms.transactions[r.cp].values() if t.started and not t.ended]
        for t in open_txs:
            if r.v16 and t != tx and not any(f.payload.get("transactionId") == t
                                             for f in r.csms.calls(r.cp, "MeterValues")):
                continue  # an orphan of a repeated start (see the test above): the station does not know it
            await r.remote_stop(t)
            await r.ended(t)
        report = await r.finish(kills=kills)
        assert report.station_transactions >= 2 and report.stop_reasons == {"Remote": report.station_transactions}
        assert len(report.orphans) <= kills


# ---------------------------------------------------------------------------------------------------- offline stop
@pytest.mark.parametrize("reboot", ["sigkill", "sigterm"])
async def test_stop_transaction_not_sent_twice_after_offline_stop_and_reboot(tmp_path: Path, reboot: str) -> None:
    """A failure seen in other charge points: start -> CSMS offline -> stop -> reboot, and the CSMS gets the
    StopTransaction twice (or a second one after the next reboot). Here: exactly once."""
    auto = ["--auto-sessions", "1", "--auto-charge", "3", "--auto-idle", "0.2:0.5"]  # one transaction of 3 s
    async with rig(tmp_path, "1.6", args=auto) as r:
        await r.station.start()
        _, tx = await r.started()
        # The CSMS records its answer as it sends it; a MeterValues naming tx proves the station has it. Going
        # offline before that would lose the answer, and the station would rightly send the start again.
        await r.sample(tx)
        await r.csms.stop()  # offline
        await r.station.wait_log("transaction ended")  # the generator stopped it while the CSMS was away ...
        await wait_until(lambda: [e.kind for e in read_ledger(r.station.db_path)][-1:] == ["Ended"], 10,
                         "the end in the ledger")  # ... and the station committed it (the log line comes first)
        if reboot == "sigkill":
            await r.station.kill()
        else:
            assert await r.station.terminate() == 0
        mark = r.station.mark()
        await r.station.start()  # reboot, still offline
        line = await r.station.wait_log("queued message(s)", after=mark)
        assert "recovered 0 open transaction(s)" in line  # the stop is queued, the transaction is over
        await r.csms.start()
        stop = await r.ended(tx)
        assert r.reason(stop) in ("Local", "EVDisconnected")
        await wait_drained(r.csms, r.station)
        assert await r.station.terminate() == 0  # and one more reboot with the CSMS there
        mark = r.csms.mark()
        await r.station.start()
        await r.wait("StatusNotification", after=mark)  # registered again; anything queued would go out now
        report = await r.finish(kills=1)  # the CSMS going away is the one fault: a message in flight may repeat
        assert len(r.csms.calls(r.cp, "StopTransaction")) == 1
        assert [d.action for d in report.duplicates] in ([], ["MeterValues"])
        assert report.station_transactions == report.csms_transactions == 1


# ---------------------------------------------------------------------------------------------------- late answers
@pytest.mark.parametrize("version", VERSIONS)
async def test_callresult_without_a_call_in_flight_after_an_offline_online_flap(tmp_path: Path, version: str) -> None:
    """The start is in flight when the connection drops; after the reconnect the station sends it again, and the
    CSMS answers the lost first copy (a result for a CALL of the previous connection) while the new copy waits for
    its answer, and again when nothing is in flight. The station must take neither as an answer: 1.6 keeps the
    real transactionId (not 999), 2.x does not deauthorize the transaction, and the connection stays up."""
    behaviour = CsmsBehaviour(action_delays_s={_tx_action(version): 2.0})
    async with rig(tmp_path, version, behaviour) as r:
        stale = ({"transactionId": 999, "idTagInfo": {"status": "Invalid"}} if r.v16
                 else {"idTokenInfo": {"status": "Invalid"}})
        await r.station.start()
        first = await r.wait(_tx_action(version))
        await r.csms.disconnect(r.cp)  # offline ...
        again = await r.wait(_tx_action(version), after=first.index)  # ... online: the same start, a new CALL
        assert again.payload == first.payload
        connects = r.csms.station(r.cp).connect_count
        await r.csms.send_raw(r.cp, json.dumps([3, first.unique_id, stale]))  # late answer to the lost copy
        answer = await r.answer(again)  # the real one, 2 s later
        behaviour.action_delays_s.clear()
        tx = answer["transactionId"] if r.v16 else again.payload["transactionInfo"]["transactionId"]
        nxt = await r.csms.wait_frame(lambda f: f.direction == "rx" and f.message_type == 2
                                      and f.action not in ("BootNotification", "StatusNotification"),
                                      after=again.index)
        ans = next(f for f in r.csms.frames if f.direction == "tx" and f.unique_id == again.unique_id)
        assert nxt.index > ans.index, "the station went on before the real answer arrived"
        sample = await r.sample(tx, after=again.index)
        for raw in ([3, first.unique_id, stale], [4, first.unique_id, "GenericError", "late", {}]):
            await r.csms.send_raw(r.cp, json.dumps(raw))  # nothing in flight now
        await r.sample(tx, after=sample.index)  # still charging, same transaction
        assert r.csms.station(r.cp).connect_count == connects and r.csms.is_connected(r.cp)
        await r.remote_stop(tx)
        assert r.reason(await r.ended(tx)) == "Remote"
        report = await r.finish(kills=1)  # the flap repeated one message
        assert report.station_transactions == report.csms_transactions == 1
