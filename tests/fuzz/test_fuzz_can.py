"""CI-sized fuzzing of the CHAdeMO CAN path (see tests/fuzz/can_targets.py for the properties checked)."""

from __future__ import annotations

from .can_targets import targets

_T = {t.name: t for t in targets()}

test_can_decode_any_identifier_and_payload = _T["can/decode"].as_test()
test_can_hostile_frames_mid_session_keep_the_safety_invariants = _T["can/session"].as_test()
test_can_hostile_frames_during_the_handshake_keep_the_safety_invariants = _T["can/handshake"].as_test()
