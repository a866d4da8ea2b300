"""A test PKI made at test time with ``cryptography``: a root CA, a CSMS server certificate for 127.0.0.1 /
localhost, a station client certificate, an expired certificate and a second, unrelated CA. Nothing is shipped
in the repository; every run makes fresh keys (EC P-256, fast).

``Pki.create(folder)`` writes every certificate and key as PEM files and returns their paths; ``Ca.sign_csr``
lets a test act as the CSMS's CA for SignCertificate / CertificateSigned.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


def _name(cn: str, org: str = "Test PKI") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Ca:
    key: Key
    cert: x509.Certificate

    @classmethod
    def create(cls, cn: str, *, not_before: datetime | None = None, days: int = 30) -> Ca:
        key = _key()
        start = not_before or datetime.now(UTC) - timedelta(days=1)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(cn)).issuer_name(_name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @property
    def pem(self) -> str:
        return cert_pem(self.cert)

    def issue(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *, server: bool = False,
              days: int = 30, not_before: datetime | None = None) -> x509.Certificate:
        start = not_before or datetime.now(UTC) - timedelta(hours=1)
        b = (x509.CertificateBuilder()
             .subject_name(subject).issuer_name(self.cert.subject)
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(start + timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                   else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return b.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str, days: int = 30) -> str:
        """Act as the CSMS's CA: the CSR's subject and key, signed by this CA (PEM chain: leaf only)."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        public_key = csr.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        return cert_pem(self.issue(csr.subject, public_key, days=days))


@dataclass
class Leaf:
    cert_file: Path
    key_file: Path
    cert: x509.Certificate


@dataclass
class Pki:
    root: Ca
    other: Ca  # an unrelated CA: what it signs is not trusted by the station / the CSMS
    root_file: Path
    other_root_file: Path
    server: Leaf  # CSMS server certificate (127.0.0.1, localhost) signed by root
    rogue_server: Leaf  # the same names, signed by the other CA
    expired_server: Leaf  # signed by root, expired yesterday
    client: Leaf  # station client certificate (CN = station id) signed by root
    rogue_client: Leaf  # station certificate signed by the other CA
    folder: Path

    @classmethod
    def create(cls, folder: Path, station_id: str = "CS1") -> Pki:
        folder.mkdir(parents=True, exist_ok=True)
        root, other = Ca.create("Test Root CA"), Ca.create("Other CA")
        root_file, other_file = folder / "root.pem", folder / "other-root.pem"
        root_file.write_text(root.pem)
        other_file.write_text(other.pem)

        def leaf(name: str, ca: Ca, cn: str, server: bool, **kw: object) -> Leaf:
            key = _key()
            cert = ca.issue(_name(cn), key.public_key(), server=server, **kw)  # type: ignore[arg-type]
            cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
            cert_file.write_text(cert_pem(cert))
            key_file.write_bytes(key_pem(key))
            return Leaf(cert_file, key_file, cert)

        past = datetime.now(UTC) - timedelta(days=10)
        return cls(
            root, other, root_file, other_file,
            server=leaf("server", root, "localhost", True),
            rogue_server=leaf("rogue-server", other, "localhost", True),
            expired_server=leaf("expired-server", root, "localhost", True, not_before=past, days=9),
            client=leaf("client", root, station_id, False),
            rogue_client=leaf("rogue-client", other, station_id, False),
            folder=folder,
        )

    def server_context(self, leaf: Leaf | None = None, *, client_ca: Path | None = None,
                       tls_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """The CSMS's TLS server context; with ``client_ca`` it requires a client certificate from that CA."""
        leaf = leaf or self.server
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if tls_version is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = tls_version
            ctx.maximum_version = tls_version
        ctx.load_cert_chain(leaf.cert_file, leaf.key_file)
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(client_ca))
        return ctx
