"""OCPP security profiles, TLS and X.509 helpers (no I/O beyond reading the configured PEM files).

* Profile 1: HTTP Basic auth (``ws://``; over ``wss://`` the server is verified like profile 2).
* Profile 2: TLS with server authentication (the CSMS certificate must chain to a trusted CSMS root, the host name
  must match) + HTTP Basic auth. ``wss://`` only, TLS 1.2 or newer.
* Profile 3: mutual TLS: as 2, plus the station's client certificate; no Basic auth.

Security events are named with the OCPP 2.0.1 spelling (appendix "Security events"); :func:`event_name` gives the
1.6 security-whitepaper spelling where it differs.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import ssl
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

PROFILES = (1, 2, 3)
MIN_TLS = ssl.TLSVersion.TLSv1_2

# Security events (2.0.1 names). The critical ones are sent to the CSMS with SecurityEventNotification.
STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
RESET_OR_REBOOT = "ResetOrReboot"
RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
FAILED_TO_AUTHENTICATE_AT_CSMS = "FailedToAuthenticateAtCsms"
CSMS_FAILED_TO_AUTHENTICATE = "CsmsFailedToAuthenticate"
INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"
INVALID_CHARGING_STATION_CERTIFICATE = "InvalidChargingStationCertificate"
INVALID_TLS_VERSION = "InvalidTLSVersion"
INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"

_EVENT_NAMES_16 = {
    FAILED_TO_AUTHENTICATE_AT_CSMS: "FailedToAuthenticateAtCentralSystem",
    CSMS_FAILED_TO_AUTHENTICATE: "CentralSystemFailedToAuthenticate",
    INVALID_CSMS_CERTIFICATE: "InvalidCentralSystemCertificate",
    INVALID_CHARGING_STATION_CERTIFICATE: "InvalidChargePointCertificate",
}

# OpenSSL reason codes (ssl.SSLError.reason) -> security event.
_TLS_VERSION_REASONS = frozenset({
    "UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW",
})
_CIPHER_REASONS = frozenset({"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM"})
# The CSMS refused our client certificate (profile 3).
_CLIENT_CERT_REFUSED = frozenset({
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "TLSV1_ALERT_ACCESS_DENIED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "TLSV1_ALERT_DECRYPT_ERROR",
})


class RedactSecrets(logging.Filter):
    """Frame logs (the ocpp library at INFO, websockets at DEBUG) carry secrets in ChangeConfiguration
    (AuthorizationKey) and SetVariables (BasicAuthPassword): mask those values, and every password registered with
    :func:`register_secret` wherever it appears (websockets shortens long frames, dropping the key names)."""

    _VALUE = re.compile(r'("(?:value|attributeValue)"\s*:\s*)"(?:[^"\\]|\\.)*"')
    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return True
        low = text.lower()
        masked = self._VALUE.sub(r'\1"***"', text) if "authorizationkey" in low or "basicauthpassword" in low else text
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != text:
            record.msg, record.args = masked, ()
        return True


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        RedactSecrets.secrets.add(value)


for _name in ("ocpp", "websockets.client", "chargepoint.ocpp.v201.wire"):
    logging.getLogger(_name).addFilter(RedactSecrets())


class SecurityConfigError(ValueError):
    """A security setting is unusable. The message starts with the configuration key it is about."""


def event_name(kind: str, version: str) -> str:
    """The security event's name in an OCPP version ('1.6' uses the whitepaper's CentralSystem/ChargePoint names)."""
    return _EVENT_NAMES_16.get(kind, kind) if version == "1.6" else kind


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- PEM and keys
def read_file(path: str | Path, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SecurityConfigError(f"{key}: cannot read {path}: {e.strerror or e}") from None


def parse_certificates(data: bytes | str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in order. Raises ValueError when there is none or one is malformed."""
    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN CERTIFICATE-----" not in raw:
        raise ValueError("no PEM certificate found")
    return x509.load_pem_x509_certificates(raw)


def load_certificates(path: str | Path, key: str) -> list[x509.Certificate]:
    try:
        return parse_certificates(read_file(path, key))
    except ValueError as e:
        raise SecurityConfigError(f"{key}: {path}: not a PEM certificate bundle ({e})") from None


PrivateKey = Any  # one of cryptography's private key types


def load_private_key(path: str | Path, key: str) -> PrivateKey:
    data = read_file(path, key)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SecurityConfigError(f"{key}: {path}: the key is encrypted; an unencrypted key is needed") from None
    except ValueError:
        raise SecurityConfigError(f"{key}: {path}: not a PEM private key") from None


def public_key_der(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def key_matches(cert: x509.Certificate, private_key: PrivateKey) -> bool:
    return public_key_der(cert.public_key()) == public_key_der(private_key.public_key())


def validate_tls_files(profile: int, url: str | None, ca_bundle: str | None, client_cert: str | None,
                       client_key: str | None, prefix: str = "csms") -> None:
    """Check the [csms] security settings; raise SecurityConfigError naming the key at fault."""
    if profile not in PROFILES:
        raise SecurityConfigError(f"{prefix}.security_profile: must be 1, 2 or 3; got {profile}")
    if profile >= 2 and url is not None and urlsplit(url).scheme != "wss":
        raise SecurityConfigError(f"{prefix}.url: security_profile {profile} needs a wss:// URL; got {url!r}")
    if profile >= 2 and ca_bundle is None:
        raise SecurityConfigError(f"{prefix}.ca_bundle: required for security_profile {profile} (the CA "
                                  "certificates that sign the CSMS certificate)")
    if ca_bundle is not None:
        load_certificates(ca_bundle, f"{prefix}.ca_bundle")
    if profile == 3 and (client_cert is None or client_key is None):
        missing = "client_cert" if client_cert is None else "client_key"
        raise SecurityConfigError(f"{prefix}.{missing}: required for security_profile 3 (mutual TLS)")
    if (client_cert is None) != (client_key is None):
        missing = "client_cert" if client_cert is None else "client_key"
        raise SecurityConfigError(f"{prefix}.{missing}: client_cert and client_key go together")
    if client_cert is not None and client_key is not None:
        chain = load_certificates(client_cert, f"{prefix}.client_cert")
        private_key = load_private_key(client_key, f"{prefix}.client_key")
        if not key_matches(chain[0], private_key):
            raise SecurityConfigError(f"{prefix}.client_key: {client_key} does not belong to the certificate in "
                                      f"{prefix}.client_cert ({client_cert})")


# ---------------------------------------------------------------------------------------------- TLS
def client_context(ca_pem: str, client_chain: Path | None = None, client_key: Path | None = None) -> ssl.SSLContext:
    """The station's TLS client context: TLS >= 1.2, CSMS certificate verified against ``ca_pem``, host name checked,
    and the client certificate (profile 3) when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = MIN_TLS
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ca_pem.strip():
        ctx.load_verify_locations(cadata=ca_pem)
    else:  # profile 1 over wss:// without a configured CA: the system's trust store
        ctx.load_default_certs()
    if client_chain is not None and client_key is not None:
        ctx.load_cert_chain(str(client_chain), str(client_key))
    return ctx


def _ssl_errors(exc: BaseException | None) -> Iterable[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify_tls_error(exc: BaseException) -> str | None:
    """The security event a failed TLS handshake stands for (None if it is not a TLS problem)."""
    for e in _ssl_errors(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return INVALID_CSMS_CERTIFICATE
        if isinstance(e, ssl.SSLError):
            reason = (e.reason or "").upper()
            if reason in _TLS_VERSION_REASONS:
                return INVALID_TLS_VERSION
            if reason in _CIPHER_REASONS:
                return INVALID_TLS_CIPHER_SUITE
            if reason in _CLIENT_CERT_REFUSED:
                return FAILED_TO_AUTHENTICATE_AT_CSMS
            if "CERTIFICATE_VERIFY_FAILED" in reason:
                return INVALID_CSMS_CERTIFICATE
    return None


def is_tls_error(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError) for e in _ssl_errors(exc))


# ---------------------------------------------------------------------------------------------- X.509
def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc.isoformat()}"
    if now > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc.isoformat()}"
    return None


def verify_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime) -> str | None:
    """None if ``chain`` (leaf first, optional intermediates) is valid now and ends at one of ``roots``; else why
    not. Signatures, issuer names, validity periods and the CA flag of every issuer are checked."""
    if not chain:
        return "empty certificate chain"
    for cert in chain:
        problem = validity_problem(cert, now)
        if problem is not None:
            return f"{cert.subject.rfc4514_string()}: {problem}"
    for child, parent in itertools.pairwise(chain):
        if not is_ca(parent):
            return f"{parent.subject.rfc4514_string()} is not a CA certificate"
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return f"{child.subject.rfc4514_string()} is not signed by {parent.subject.rfc4514_string()}"
    last = chain[-1]
    for root in roots:
        if root.subject != last.issuer or validity_problem(root, now) is not None:
            continue
        if root == last:
            return None
        try:
            last.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return None
    return f"no trusted root certificate issued {last.issuer.rfc4514_string()}"


_HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


def _public_key_bits(public_key: Any) -> bytes:
    """The subjectPublicKey BIT STRING contents (what OCSP's issuerKeyHash hashes)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return bytes(public_key.public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint))
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return bytes(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    raise ValueError(f"unsupported public key type {type(public_key).__name__}")


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None, algorithm: str = "SHA256") -> dict[str, str]:
    """OCPP CertificateHashDataType (snake_case keys): hashes of the issuer's name and public key and the serial
    number in hex without leading zeros. ``issuer`` None = ``cert`` is self-signed."""
    def digest(data: bytes) -> str:
        return hashlib.new(algorithm.lower(), data).hexdigest()

    if algorithm not in _HASHES:
        raise ValueError(f"unsupported hash algorithm {algorithm}")
    key_owner = issuer if issuer is not None else cert
    return {
        "hash_algorithm": algorithm,
        "issuer_name_hash": digest(cert.issuer.public_bytes()),
        "issuer_key_hash": digest(_public_key_bits(key_owner.public_key())),
        "serial_number": format(cert.serial_number, "x"),
    }


def same_hash_data(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Compare two CertificateHashData (snake_case) case-insensitively, serial numbers without leading zeros."""
    def norm(d: dict[str, Any]) -> tuple[str, str, str, str]:
        serial = str(d.get("serial_number", "")).lower().lstrip("0") or "0"
        return (str(d.get("hash_algorithm", "")).upper(), str(d.get("issuer_name_hash", "")).lower(),
                str(d.get("issuer_key_hash", "")).lower(), serial)

    return norm(a) == norm(b)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def generate_csr(common_name: str, organization: str | None) -> tuple[str, bytes]:
    """A new EC P-256 key pair and its PKCS#10 request (CN = station id, O = organization). Returns (CSR PEM,
    private key PEM); the key never leaves the station."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]
    if organization:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64]))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name(names))
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem
