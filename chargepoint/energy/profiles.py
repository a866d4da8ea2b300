"""The charging-profile store: add / replace / clear / query, with validation and persistence. Sans-I/O apart from
the optional SQLite file; no clock inside (time is passed in where a rule needs it).

Replacement rules (after :func:`chargepoint.energy.validation.validate_profile` accepted the profile):

* all versions: a profile with the id of an installed one replaces it (1.6 §5.16.4, 2.x K01.FR.05), except that a
  CSMS profile never replaces an external system's profile and vice versa (refused: the ids belong to different
  owners);
* 1.6: an installed profile with the same stackLevel + purpose on the same connector is replaced (§3.13.2, §5.16.4);
* 2.0.1 / 2.1: such a profile is **not** replaced but the new one is refused ("DuplicateProfile") when their
  validity periods overlap (K01.FR.06); for TxProfiles the same stackLevel + transactionId is refused whatever the
  validity (K01.FR.39); a TxDefaultProfile on EVSE 0 and one on an EVSE with the same stackLevel cannot coexist
  (K01.FR.52 / K01.FR.53). Refusing keeps the CSMS's view of what is installed exact; it replaces by id.

Persistence: SQLite in WAL mode with ``synchronous=FULL`` (as the rest of the station's durable state): every
add / clear is one committed transaction, so a crash leaves either the old or the new set of profiles, never a mix.
A file that cannot be read (not a database, failed integrity check, undecodable row) is moved aside to
``<file>.corrupt[.N]``, the reason is kept in :attr:`ProfileStore.load_error` and logged, and the store starts
empty. Use a file of its own (it may be moved aside).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chargepoint.energy.model import (
    ChargingProfile,
    Kind,
    OcppVersion,
    Purpose,
    SchedulePeriod,
    profile_from_dict,
    profile_to_dict,
)
from chargepoint.energy.schedule import active_period
from chargepoint.energy.validation import Rejection, StoreLimits, validate_profile

__all__ = ["AddResult", "ClearResult", "ProfileStore"]

log = logging.getLogger(__name__)

_PURPOSE_ORDER = {p: i for i, p in enumerate(Purpose)}

# ChargingScheduleUpdateType (UpdateDynamicSchedule / PullDynamicScheduleUpdate): OCPP key -> period field.
_UPDATE_FIELDS = {
    "limit": "limit", "limit_L2": "limit_l2", "limit_L3": "limit_l3",
    "dischargeLimit": "discharge_limit", "dischargeLimit_L2": "discharge_limit_l2",
    "dischargeLimit_L3": "discharge_limit_l3",
    "setpoint": "setpoint", "setpoint_L2": "setpoint_l2", "setpoint_L3": "setpoint_l3",
    "setpointReactive": "setpoint_reactive", "setpointReactive_L2": "setpoint_reactive_l2",
    "setpointReactive_L3": "setpoint_reactive_l3",
}


@dataclass(frozen=True)
class AddResult:
    accepted: bool
    profile: ChargingProfile | None = None  # as installed (a 1.6 TxProfile gets the running transaction's id)
    rejection: Rejection | None = None
    replaced_ids: tuple[int, ...] = ()

    @property
    def reason(self) -> str | None:
        return None if self.rejection is None else self.rejection.reason


@dataclass(frozen=True)
class ClearResult:
    removed_ids: tuple[int, ...] = ()

    @property
    def matched(self) -> bool:
        """Whether anything was cleared (ClearChargingProfile Accepted, else Unknown)."""
        return bool(self.removed_ids)


def _sort_key(p: ChargingProfile) -> tuple[int, int, int, int]:
    return (p.evse_id, _PURPOSE_ORDER[p.purpose], p.stack_level, p.id)


def _overlap(a: ChargingProfile, b: ChargingProfile) -> bool:
    """Whether the validity periods [validFrom, validTo) overlap (absent = unbounded)."""
    if a.valid_to is not None and b.valid_from is not None and a.valid_to <= b.valid_from:
        return False
    return not (b.valid_to is not None and a.valid_from is not None and b.valid_to <= a.valid_from)


class _Db:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            row = self.conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {row}")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1):
                raise sqlite3.DatabaseError(f"unknown schema version {version}")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS charging_profiles (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
            )
            self.conn.execute("PRAGMA user_version=1")
        except BaseException:
            self.conn.close()
            raise

    def load(self) -> list[ChargingProfile]:
        rows = self.conn.execute("SELECT id, body FROM charging_profiles ORDER BY id").fetchall()
        out = []
        for pid, body in rows:
            p = profile_from_dict(json.loads(body))
            if p.id != pid:
                raise ValueError(f"row {pid} holds profile {p.id}")
            out.append(p)
        return out

    def apply(self, removed: Iterable[int], upserted: Iterable[ChargingProfile]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany("DELETE FROM charging_profiles WHERE id = ?", [(i,) for i in removed])
            self.conn.executemany(
                "INSERT OR REPLACE INTO charging_profiles (id, body) VALUES (?, ?)",
                [(p.id, json.dumps(profile_to_dict(p), sort_keys=True)) for p in upserted],
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


def _move_aside(path: Path) -> Path:
    aside = path.with_name(path.name + ".corrupt")
    n = 0
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt.{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(aside) + suffix))
    return aside


class ProfileStore:
    """Installed charging profiles of one station. Pass it (or :meth:`profiles`) to
    :func:`chargepoint.energy.schedule.composite` / :func:`~chargepoint.energy.schedule.limit_at`.

    :attr:`version` is the OCPP version whose rules :meth:`add` applies: the one of the CSMS connection, set by the
    adapter with :meth:`use_rules_of` once the websocket handshake has negotiated it (the constructor's version
    holds until then)."""

    def __init__(
        self, version: OcppVersion | str, *, limits: StoreLimits | None = None, path: str | Path | None = None
    ) -> None:
        self.version = OcppVersion(version)
        self.limits = limits or StoreLimits()
        self.load_error: str | None = None
        self._profiles: dict[int, ChargingProfile] = {}
        self._db: _Db | None = None
        if path is not None:
            self._open(Path(path))

    def _open(self, path: Path) -> None:
        try:
            self._db = _Db(path)
            loaded = self._db.load()
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as e:
            if self._db is not None:
                self._db.conn.close()
            aside = _move_aside(path)
            self.load_error = (
                f"{path}: charging profiles unreadable ({type(e).__name__}: {e}); kept as {aside.name}, starting empty"
            )
            log.error("%s", self.load_error)
            self._db = _Db(path)
            loaded = []
        self._profiles = {p.id: p for p in loaded}

    def use_rules_of(self, version: OcppVersion | str) -> None:
        """Validate and replace by the rules of ``version`` from now on (the CSMS negotiated it). The installed
        profiles stay as they are, whatever version installed them: the model is version-neutral, they keep
        limiting, and the new CSMS can query, replace or clear them."""
        new = OcppVersion(version)
        if new is not self.version:
            log.info("charging profiles: OCPP %s rules from now on (were %s)", new, self.version)
            self.version = new

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    # -- reading ---------------------------------------------------------------------------------------------

    def profiles(self) -> tuple[ChargingProfile, ...]:
        return tuple(sorted(self._profiles.values(), key=_sort_key))

    def get(self, profile_id: int) -> ChargingProfile | None:
        return self._profiles.get(profile_id)

    def __len__(self) -> int:
        return len(self._profiles)

    def query(
        self,
        *,
        evse_id: int | None = None,
        profile_ids: Iterable[int] | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
        limit_sources: Iterable[str] | None = None,
    ) -> tuple[ChargingProfile, ...]:
        """Profiles matching every given criterion (GetChargingProfiles, K09). ``evse_id`` 0 = the station-wide
        ones only; None = all EVSEs."""
        ids = None if profile_ids is None else set(profile_ids)
        sources = None if limit_sources is None else set(limit_sources)
        return tuple(
            p for p in self.profiles()
            if (evse_id is None or p.evse_id == evse_id)
            and (ids is None or p.id in ids)
            and (purpose is None or p.purpose is purpose)
            and (stack_level is None or p.stack_level == stack_level)
            and (sources is None or p.limit_source in sources)
        )

    # -- writing ---------------------------------------------------------------------------------------------

    def _commit(self, removed: Iterable[int], upserted: Iterable[ChargingProfile]) -> None:
        removed, upserted = list(removed), list(upserted)
        if self._db is not None:
            self._db.apply(removed, upserted)
        for i in removed:
            self._profiles.pop(i, None)
        for p in upserted:
            self._profiles[p.id] = p

    def add(
        self,
        profile: ChargingProfile,
        *,
        active_tx_ids: Mapping[int, str | None] | None = None,
        from_external: bool = False,
    ) -> AddResult:
        """Validate and install ``profile`` (SetChargingProfile; a local external system with ``from_external``).

        ``active_tx_ids``: the transaction running on each EVSE. A 1.6 TxProfile without transactionId is bound to
        the running one. For a profile that came with RemoteStart / RequestStartTransaction, add it once the
        transaction exists, with ``profile.with_transaction(tx_id)``."""
        rejection = validate_profile(
            profile, self.version, limits=self.limits, active_tx_ids=active_tx_ids, from_external=from_external
        )
        if rejection is not None:
            return AddResult(False, rejection=rejection)
        if profile.purpose is Purpose.TX and profile.transaction_id is None:
            profile = profile.with_transaction(str((active_tx_ids or {})[profile.evse_id]))
        if from_external != profile.external:
            return AddResult(False, rejection=Rejection(
                "InvalidProfile", "limit_source must be 'CSO' for CSMS profiles and an external source otherwise"))
        old = self._profiles.get(profile.id)
        if old is not None and old.external != profile.external:
            owner = "an external system" if old.external else "the CSMS"
            return AddResult(False, rejection=Rejection(
                "InvalidProfileId", f"profile id {profile.id} belongs to {owner}"))
        replaced = {profile.id} if old is not None else set()
        others = [q for q in self._profiles.values() if q.id != profile.id]
        if self.version is OcppVersion.V16:
            key = (profile.purpose, profile.stack_level, profile.evse_id)
            replaced |= {q.id for q in others if (q.purpose, q.stack_level, q.evse_id) == key}
        else:
            conflict = self._conflict(profile, others)
            if conflict is not None:
                return AddResult(False, rejection=conflict)
        if len(self._profiles) - len(replaced) + 1 > self.limits.max_profiles:
            return AddResult(False, rejection=Rejection(
                "MaxProfilesReached", f"{self.limits.max_profiles} profiles installed (MaxChargingProfilesInstalled)"))
        self._commit(replaced - {profile.id}, [profile])
        return AddResult(True, profile=profile, replaced_ids=tuple(sorted(replaced)))

    @staticmethod
    def _conflict(p: ChargingProfile, others: Iterable[ChargingProfile]) -> Rejection | None:
        for q in others:
            if q.purpose is not p.purpose or q.stack_level != p.stack_level:
                continue
            if p.purpose is Purpose.TX:
                if q.transaction_id == p.transaction_id:
                    return Rejection("DuplicateProfile", f"TxProfile {q.id} already has stackLevel {p.stack_level} "
                                                         f"for transaction {p.transaction_id} (K01.FR.39)")
                continue
            if q.evse_id == p.evse_id and _overlap(p, q):
                return Rejection("DuplicateProfile", f"profile {q.id} has the same stackLevel and purpose on EVSE "
                                                     f"{p.evse_id} with an overlapping validity (K01.FR.06)")
            if p.purpose is Purpose.TX_DEFAULT and (q.evse_id == 0) != (p.evse_id == 0):
                return Rejection("DuplicateProfile", f"TxDefaultProfile {q.id} on EVSE {q.evse_id} has the same "
                                                     "stackLevel (K01.FR.52/53)")
        return None

    def clear(
        self,
        profile_id: int | None = None,
        *,
        evse_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
        include_external: bool = False,
    ) -> ClearResult:
        """ClearChargingProfile: by id (the other criteria are then ignored), else every profile matching all the
        given criteria (none = all). External-system profiles are only cleared with ``include_external``."""

        def match(p: ChargingProfile) -> bool:
            if p.external and not include_external:
                return False
            if profile_id is not None:
                return p.id == profile_id
            return (
                (evse_id is None or p.evse_id == evse_id)
                and (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        removed = sorted(p.id for p in self._profiles.values() if match(p))
        if removed:
            self._commit(removed, [])
        return ClearResult(tuple(removed))

    def clear_external(self, limit_source: str | None = None, *, evse_id: int | None = None) -> ClearResult:
        """Remove an external system's profiles (its limit was released: ClearedChargingLimit)."""
        removed = sorted(
            p.id for p in self._profiles.values()
            if p.external and (limit_source is None or p.limit_source == limit_source)
            and (evse_id is None or p.evse_id == evse_id)
        )
        if removed:
            self._commit(removed, [])
        return ClearResult(tuple(removed))

    def transaction_ended(self, tx_id: str, evse_id: int | None = None) -> tuple[int, ...]:
        """Drop the TxProfiles (and transaction-bound PriorityCharging profiles) of a finished transaction."""
        removed = sorted(
            p.id for p in self._profiles.values()
            if p.purpose in (Purpose.TX, Purpose.PRIORITY_CHARGING) and p.transaction_id == tx_id
            and (evse_id is None or p.evse_id == evse_id)
        )
        if removed:
            self._commit(removed, [])
        return tuple(removed)

    def expire_offline(self, offline_since: datetime, now: datetime) -> tuple[int, ...]:
        """Drop for good the profiles with invalidAfterOfflineDuration whose maxOfflineDuration has run out while
        offline (the others only stop counting while offline: see ``offline_since`` of the composite)."""
        removed = sorted(
            p.id for p in self._profiles.values()
            if p.invalid_after_offline_duration and p.max_offline_duration is not None
            and now >= offline_since + timedelta(seconds=p.max_offline_duration)
        )
        if removed:
            self._commit(removed, [])
        return tuple(removed)

    def update_dynamic(
        self, profile_id: int, update: Mapping[str, float | None], now: datetime, *, anchor: datetime | None = None
    ) -> Rejection | None:
        """UpdateDynamicSchedule / PullDynamicScheduleUpdate: new values for the period of a Dynamic profile in
        force at ``now`` (the first one if none is). Keys are OCPP (``limit_L2``, ``dischargeLimit`` ...) or model
        field names; absent / None keep the old value. Sets dynUpdateTime = ``now``. None when applied."""
        p = self._profiles.get(profile_id)
        if p is None:
            return Rejection("NoProfile", f"no charging profile {profile_id}")
        if p.kind is not Kind.DYNAMIC:
            return Rejection("InvalidProfile", f"profile {profile_id} is not Dynamic")
        values: dict[str, Any] = {}
        for key, value in update.items():
            name = _UPDATE_FIELDS.get(key, key)
            if name not in _UPDATE_FIELDS.values():
                return Rejection("InvalidValue", f"{key} cannot be updated")
            if value is None:
                continue
            if (name.startswith("limit") and value < 0) or (name.startswith("discharge") and value > 0):
                return Rejection("InvalidValue", f"{key} = {value} has the wrong sign")
            values[name] = value
        s = p.schedule
        per = active_period(p, now, anchor or now)
        index = next((i for i, x in enumerate(s.periods) if x is per), 0)
        periods: list[SchedulePeriod] = list(s.periods)
        periods[index] = replace(periods[index], **values)
        schedules = (replace(s, periods=tuple(periods)), *p.schedules[1:])
        self._commit([], [replace(p, schedules=schedules, dyn_update_time=now)])
        return None
