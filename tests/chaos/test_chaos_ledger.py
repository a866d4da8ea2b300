"""The chaos ledger test (CI-sized): >= 100 transactions per OCPP version through random faults - the CSMS down
for random intervals, connections reset mid-frame, the station SIGKILLed and restarted, CAN silence on the CHAdeMO
connector - then the CSMS's record compared with the station's ledger.

Every transaction and every meter reading the station recorded must have reached the CSMS, in order, with the same
values; the only repeats allowed are identical copies of a message in flight at a fault (at-least-once delivery:
2.x repeats carry the same transactionId and seqNo, 1.6 repeats are byte-identical), and each must have a fault
between its copies. The counts are printed at the end of the pytest run (see conftest.py) and written to
reports/chaos-<version>.json. The long form: ``python benchmarks/chaos_long.py`` (docs/reliability.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .chaos import ChaosConfig, run_chaos
from .conftest import SUMMARIES

pytestmark = pytest.mark.timeout(900)

TRANSACTIONS = 100
REPORTS = Path(__file__).resolve().parents[2] / "reports"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_chaos_ledger_nothing_lost_nothing_doubled(tmp_path: Path, version: str) -> None:
    result = await run_chaos(ChaosConfig(version=version, transactions=TRANSACTIONS, seed=1), tmp_path)
    summary = result.summary()
    SUMMARIES.append(result)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"chaos-{version}.json").write_text(json.dumps(summary, indent=1) + "\n")
    report = result.report
    assert report.problems() == [], summary  # nothing lost, unexpected, out of order, changed or non-monotonic
    assert report.open_transactions == [], summary
    assert report.station_transactions >= TRANSACTIONS
    # the CSMS saw each distinct message and meter reading the station recorded, no more and no fewer
    assert report.received_messages == report.station_messages, summary
    assert report.received_meter_values == report.station_meter_values, summary
    # repeats: identical copies (checked in problems()) with a fault between them, at most one per fault
    assert result.unexplained_duplicates == [], summary
    assert report.duplicate_copies <= sum(result.faults.values()), summary
    if version == "1.6":  # a repeated StartTransaction the CSMS had processed opens an orphan there (1.6 has no id)
        assert report.csms_transactions == report.station_transactions + len(report.orphans), summary
        assert len(report.orphans) <= result.faults["kill"] + result.faults["reset"] + result.faults["csms_down"]
    else:
        assert report.csms_transactions == report.station_transactions, summary
    # every kind of fault happened, and the CAN silence really stopped transactions
    assert all(result.faults[k] >= 1 for k in ("csms_down", "reset", "kill", "can_silence")), summary
    assert result.proxy["torn"] >= 1
