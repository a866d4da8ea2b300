"""Crash safety: ``chargepoint run`` as a real process, SIGKILLed while charging, while a CALL is in flight and at
random instants, then restarted with the same data dir, against the CSMS emulator in this process.

After every scenario the CSMS's record (every transaction frame it received) is compared with the station's ledger
(tests/chaos/harness.py): nothing lost, nothing out of order, meter registers monotonic across the restarts, and the
only repeats are identical copies of the message in flight at a kill. Tests wait on emulator frames and on the
station's log lines; the only sleeps are the random kill instants.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chaos.harness import LedgerReport, StationProcess, compare, wait_drained, write_config

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
        return await self.csms.wait_for(self.cp, action, pred, timeout=timeout, after=after)

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
