"""Hostile-input fuzzing of the inbound OCPP path, the CHAdeMO CAN path and the reconnect loop (docs/fuzzing.md)."""
