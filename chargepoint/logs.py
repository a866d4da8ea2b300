"""Structured logging: human text or one JSON object per line. Extra fields ride on ``extra={"fields": {...}}``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_SECRET_KEYS = ("password", "authorization", "basicauthpassword", "authorizationkey")


def _redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k.lower() in _SECRET_KEYS else v) for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(_redact(fields))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={v}" for k, v in _redact(fields).items())
        return text


class _LineClearingHandler(logging.StreamHandler):
    """On a terminal that also shows a live status line: erase that line before each record, so a log line never
    runs into it (the status line is drawn again on its next refresh)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write("\r\x1b[2K")
        super().emit(record)


def setup_logging(fmt: str = "text", level: int = logging.INFO, stream: TextIO | None = None,
                  status_line: bool = False) -> None:
    """Log to ``stream`` (stderr). ``status_line``: a live status line shares the terminal; then only warnings and
    errors are shown unless ``level`` asks for debug (``-v``), and each record first erases the status line."""
    handler_type = _LineClearingHandler if status_line else logging.StreamHandler
    handler = handler_type(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if status_line and level >= logging.INFO:
        level = logging.WARNING
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # The ocpp library logs every frame at INFO; keep it for --verbose only.
    for frames in ("ocpp", "chargepoint.ocpp.v201.wire"):
        logging.getLogger(frames).setLevel(logging.WARNING if level >= logging.INFO else level)
    logging.getLogger("websockets").setLevel(logging.WARNING)
