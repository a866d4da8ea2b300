"""CI-sized fuzzing of the inbound OCPP path (see tests/fuzz/ocpp_targets.py for the properties checked)."""

from __future__ import annotations

from .ocpp_targets import targets

_T = {t.name: t for t in targets()}

test_ocpp16_raw_bytes_and_text = _T["ocpp1.6/raw"].as_test()
test_ocpp16_structurally_wrong_frames = _T["ocpp1.6/structural"].as_test()
test_ocpp16_schema_mutations_of_valid_requests = _T["ocpp1.6/mutated"].as_test()
test_ocpp16_valid_requests = _T["ocpp1.6/valid"].as_test()

test_ocpp201_raw_bytes_and_text = _T["ocpp2.0.1/raw"].as_test()
test_ocpp201_structurally_wrong_frames = _T["ocpp2.0.1/structural"].as_test()
test_ocpp201_schema_mutations_of_valid_requests = _T["ocpp2.0.1/mutated"].as_test()
test_ocpp201_valid_requests = _T["ocpp2.0.1/valid"].as_test()

test_ocpp21_raw_bytes_and_text = _T["ocpp2.1/raw"].as_test()
test_ocpp21_structurally_wrong_frames = _T["ocpp2.1/structural"].as_test()
test_ocpp21_schema_mutations_of_valid_requests = _T["ocpp2.1/mutated"].as_test()
test_ocpp21_valid_requests = _T["ocpp2.1/valid"].as_test()
