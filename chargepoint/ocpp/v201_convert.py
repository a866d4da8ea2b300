"""Conversions between the neutral station vocabulary and OCPP 2.x data types (snake_case dicts, as the ``ocpp``
library passes nested objects to handlers and serializes them from calls)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from chargepoint.clock import iso, parse_iso
from chargepoint.station.types import AuthInfo, AuthStatus, IdToken, MeterSample

log = logging.getLogger("chargepoint.ocpp.v201")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        log.warning("CSMS sent an unreadable currentTime %r", text)
        return None


def id_token_type(token: IdToken) -> dict[str, Any]:
    return {"id_token": token.id, "type": token.type}


def auth_info(info: dict[str, Any]) -> AuthInfo:
    """IdTokenInfoType (snake_case dict) -> neutral AuthInfo."""
    try:
        status = AuthStatus(info["status"])
    except ValueError:
        status = AuthStatus.INVALID
    group = info.get("group_id_token") or {}
    return AuthInfo(status, parse_time(info.get("cache_expiry_date_time")), group.get("id_token"))


def meter_values(samples: tuple[MeterSample, ...]) -> list[dict[str, Any]]:
    """MeterValueType list (snake_case); samples without values are left out (sampledValue needs one)."""
    out: list[dict[str, Any]] = []
    for s in samples:
        values = [
            {
                "value": v.value + 0.0,  # no "-0.0" on the wire
                "measurand": v.measurand.value,
                "context": v.context.value,
                "location": v.location,
                "unit_of_measure": {"unit": v.unit},
            }
            for v in s.values
        ]
        if values:
            out.append({"timestamp": iso(s.timestamp), "sampled_value": values})
    return out
