"""Shared by every test folder: puts tests/ on sys.path (pytest's rootdir-relative import mode inserts the folder of
this conftest), so test modules can ``import pki`` (tests/pki.py, the test PKI made at test time)."""
