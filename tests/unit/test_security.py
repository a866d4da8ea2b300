"""Security building blocks without sockets: [csms] configuration checks, TLS error classification, X.509 helpers
(hash data, chain verification, CSR), the certificate store and log redaction."""

from __future__ import annotations

import logging
import ssl
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from pki import Pki

from chargepoint.config import ConfigError, parse_config
from chargepoint.ocpp import security as sec
from chargepoint.ocpp.certstore import CSMS_ROOT, STATION_CERT, CertificateStore
from chargepoint.ocpp.transport import TransportConfig

PW = "0123456789abcdef"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"), "CS1")


def csms(text: str) -> str:
    return "[csms]\n" + text


def parse(text: str) -> None:
    parse_config(tomllib.loads(text))


def test_profile_2_and_3_configuration_accepted(pki: Pki) -> None:
    cfg = parse_config(tomllib.loads(csms(f'url = "wss://h/ocpp"\nsecurity_profile = 2\npassword = "{PW}"\n'
                                          f'ca_bundle = "{pki.root_file}"\n')))
    assert cfg.csms.security_profile == 2 and cfg.csms.ca_bundle == str(pki.root_file)
    cfg = parse_config(tomllib.loads(csms(
        f'url = "wss://h/ocpp"\nsecurity_profile = 3\nca_bundle = "{pki.root_file}"\n'
        f'client_cert = "{pki.client.cert_file}"\nclient_key = "{pki.client.key_file}"\n')))
    assert cfg.csms.client_key == str(pki.client.key_file)


def test_security_configuration_errors_name_the_key(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    ok = f'url = "wss://h/"\nca_bundle = "{pki.root_file}"\n'
    cases = [
        (f'url = "ws://h/"\nsecurity_profile = 2\npassword = "{PW}"\nca_bundle = "{pki.root_file}"\n',
         "csms.url: security_profile 2 needs a wss:// URL"),
        ('security_profile = 3\n', "csms.url: a wss:// URL is required for security_profile 3"),
        ('security_profile = 4\n', "csms.security_profile: must be <= 3"),
        (ok + "security_profile = 2\n", "csms.password: required for security_profile 2"),
        (f'url = "wss://h/"\nsecurity_profile = 2\npassword = "{PW}"\n', "csms.ca_bundle: required"),
        (f'url = "wss://h/"\nca_bundle = "{tmp_path / "missing.pem"}"\n', "csms.ca_bundle: cannot read"),
        (f'url = "wss://h/"\nca_bundle = "{garbage}"\n', "csms.ca_bundle: .* not a PEM certificate bundle"),
        (ok + "security_profile = 3\n", "csms.client_cert: required for security_profile 3"),
        (ok + f'client_cert = "{pki.client.cert_file}"\n', "csms.client_key: client_cert and client_key go"),
        (ok + f'security_profile = 3\nclient_cert = "{pki.client.cert_file}"\nclient_key = "{garbage}"\n',
         "csms.client_key: .* not a PEM private key"),
        (ok + f'security_profile = 3\nclient_cert = "{pki.client.cert_file}"\n'
              f'client_key = "{pki.rogue_client.key_file}"\n', "csms.client_key: .* does not belong to"),
    ]
    for text, message in cases:
        with pytest.raises(ConfigError, match=message):
            parse(csms(text))


def test_transport_profiles() -> None:
    with pytest.raises(ValueError, match="needs wss"):
        TransportConfig(url="ws://h/", station_id="CS", security_profile=2)
    cfg = TransportConfig(url="wss://h/", station_id="CS", password=PW, security_profile=3)
    assert cfg.auth_header() == {}  # profile 3: the client certificate authenticates, no Basic auth
    assert "Authorization" in TransportConfig(url="wss://h/", station_id="CS", password=PW,
                                              security_profile=2).auth_header()


def test_client_context_is_strict(pki: Pki) -> None:
    ctx = sec.client_context(pki.root.pem, pki.client.cert_file, pki.client.key_file)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(("reason", "event"), [
    ("TLSV1_ALERT_PROTOCOL_VERSION", sec.INVALID_TLS_VERSION),
    ("UNSUPPORTED_PROTOCOL", sec.INVALID_TLS_VERSION),
    ("NO_SHARED_CIPHER", sec.INVALID_TLS_CIPHER_SUITE),
    ("TLSV13_ALERT_CERTIFICATE_REQUIRED", sec.FAILED_TO_AUTHENTICATE_AT_CSMS),
    ("SSLV3_ALERT_BAD_CERTIFICATE", sec.FAILED_TO_AUTHENTICATE_AT_CSMS),
    ("SOMETHING_ELSE", None),
])
def test_tls_failures_map_to_security_events(reason: str, event: str | None) -> None:
    err = ssl.SSLError(1, f"[SSL: {reason}] x")
    err.reason = reason
    try:
        raise OSError("wrapped") from err
    except OSError as wrapped:
        assert sec.classify_tls_error(wrapped) == event
    assert sec.classify_tls_error(ssl.SSLCertVerificationError(1, "verify failed")) == sec.INVALID_CSMS_CERTIFICATE
    assert sec.classify_tls_error(ConnectionResetError()) is None


def test_event_names_per_version() -> None:
    assert sec.event_name(sec.INVALID_CSMS_CERTIFICATE, "1.6") == "InvalidCentralSystemCertificate"
    assert sec.event_name(sec.FAILED_TO_AUTHENTICATE_AT_CSMS, "1.6") == "FailedToAuthenticateAtCentralSystem"
    assert sec.event_name(sec.INVALID_CHARGING_STATION_CERTIFICATE, "1.6") == "InvalidChargePointCertificate"
    assert sec.event_name(sec.STARTUP_OF_THE_DEVICE, "1.6") == "StartupOfTheDevice"
    assert sec.event_name(sec.INVALID_CSMS_CERTIFICATE, "2.0.1") == "InvalidCsmsCertificate"


def test_chain_verification(pki: Pki) -> None:
    now = datetime.now(UTC)
    assert sec.verify_chain([pki.client.cert], [pki.root.cert], now) is None
    assert "no trusted root" in (sec.verify_chain([pki.rogue_client.cert], [pki.root.cert], now) or "")
    assert "expired" in (sec.verify_chain([pki.expired_server.cert], [pki.root.cert], now) or "")
    assert "expired" in (sec.verify_chain([pki.client.cert], [pki.root.cert], now + timedelta(days=400)) or "")
    assert sec.verify_chain([], [pki.root.cert], now) == "empty certificate chain"


def test_csr_names_and_key() -> None:
    csr_pem, key_pem = sec.generate_csr("CS1", "Example CPO")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CS1"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"
    assert b"PRIVATE KEY" in key_pem and b"PRIVATE KEY" not in csr_pem.encode()


def test_certificate_store_survives_a_restart_and_rolls_back(pki: Pki, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = CertificateStore(tmp_path / "certs")
    assert store.install_root(CSMS_ROOT, pki.root.pem, now) == ("Accepted", None)
    csr, key = sec.generate_csr("CS1", None)
    store.stage_key(STATION_CERT, key)
    assert (tmp_path / "certs" / "pending" / f"{STATION_CERT}.key.pem").stat().st_mode & 0o077 == 0
    first = pki.root.sign_csr(csr)
    assert store.install_signed(STATION_CERT, first, [pki.root.cert], now) is None
    again = CertificateStore(tmp_path / "certs")  # a new process
    assert len(again.roots(CSMS_ROOT)) == 1 and again.leaf_chain()[0].serial_number == \
        x509.load_pem_x509_certificate(first.encode()).serial_number
    csr2, key2 = sec.generate_csr("CS1", None)
    again.stage_key(STATION_CERT, key2)
    assert again.install_signed(STATION_CERT, pki.root.sign_csr(csr2), [pki.root.cert], now) is None
    assert again.restore_previous(STATION_CERT)  # the new one did not work: the first one is back
    assert again.leaf_chain()[0].serial_number == x509.load_pem_x509_certificate(first.encode()).serial_number
    assert again.install_signed(STATION_CERT, first, [pki.root.cert], now) == \
        "no certificate signing request outstanding"
    assert again.entries() == 2


def test_store_limit(pki: Pki, tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_entries=1)
    now = datetime.now(UTC)
    assert store.install_root(CSMS_ROOT, pki.root.pem, now)[0] == "Accepted"
    assert store.install_root(CSMS_ROOT, pki.other.pem, now) == ("Failed", "CertificateStoreMaxLength")


def test_secrets_are_masked_in_frame_logs(caplog: pytest.LogCaptureFixture) -> None:
    sec.register_secret("s3cret-value-0123456789")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("websockets.client").debug("< TEXT '[2,\"1\",\"Chan...s3cret-value-0123456789\"}]'")
    logging.getLogger("ocpp").info('[2,"1","SetVariables",{"setVariableData":[{"attributeValue":"abcdefgh12345678",'
                                   '"variable":{"name":"BasicAuthPassword"}}]}]')
    text = caplog.text
    assert "s3cret-value-0123456789" not in text and "abcdefgh12345678" not in text and "***" in text
