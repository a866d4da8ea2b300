"""The station's certificate store: CA certificates installed by the CSMS and the station's own certificates, kept
as PEM files under ``<data_dir>/certs/`` (a private temporary folder when the station persists nothing).

Layout::

    <dir>/<RootType>/<sha256 fingerprint>.pem    CA certificates (InstallCertificate); RootType is a 2.0.1 name
    <dir>/<LeafType>/chain.pem, key.pem          the station's certificate (CertificateSigned) and its key (0600)
    <dir>/<LeafType>/chain.prev.pem, key.prev.pem  the one before, kept until the new one has connected
    <dir>/pending/<LeafType>.key.pem             the private key of an outstanding SignCertificate (0600)

Every write goes to a temporary file first and is renamed into place, so a power loss leaves the old or the new
file, never half of one. Private keys are never logged and never leave the station.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from chargepoint.ocpp.security import (
    fingerprint,
    hash_data,
    is_ca,
    is_self_signed,
    key_matches,
    parse_certificates,
    pem,
    same_hash_data,
    validity_problem,
    verify_chain,
)

log = logging.getLogger("chargepoint.certs")

CSMS_ROOT = "CSMSRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
ROOT_TYPES = (CSMS_ROOT, MANUFACTURER_ROOT, "V2GRootCertificate", "MORootCertificate")
STATION_CERT = "ChargingStationCertificate"
V2G_CERT = "V2GCertificate"
LEAF_TYPES = (STATION_CERT, V2G_CERT)
V2G_CHAIN = "V2GCertificateChain"  # GetInstalledCertificateIds name of the V2GCertificate chain
# OCPP 1.6 security whitepaper names -> the 2.0.1 names used here
TYPES_16 = {"CentralSystemRootCertificate": CSMS_ROOT, "ManufacturerRootCertificate": MANUFACTURER_ROOT}

Protect = Callable[[str, x509.Certificate], str | None]  # (type, cert) -> why it must stay, or None


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class CertificateStore:
    def __init__(self, directory: str | Path | None, max_entries: int = 24) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chargepoint-certs-")
            directory = self._tmp.name
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        #: More CA certificates to look issuers up in (for issuerKeyHash), e.g. the configured CA bundle.
        self.issuers: Callable[[], list[x509.Certificate]] = list

    # ------------------------------------------------------------------ CA certificates
    def roots(self, cert_type: str) -> list[tuple[Path, x509.Certificate]]:
        out: list[tuple[Path, x509.Certificate]] = []
        folder = self.dir / cert_type
        for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
            try:
                out.append((path, parse_certificates(path.read_bytes())[0]))
            except (OSError, ValueError) as e:
                log.warning("certificate store: ignoring unreadable %s (%s)", path, e)
        return out

    def root_certificates(self, cert_type: str) -> list[x509.Certificate]:
        return [c for _p, c in self.roots(cert_type)]

    def entries(self) -> int:
        """Installed certificates (CA certificates and the station's own), for CertificateEntries."""
        return sum(len(self.roots(t)) for t in ROOT_TYPES) + sum(1 for t in LEAF_TYPES if self.leaf(t))

    def install_root(self, cert_type: str, pem_text: str, now: datetime) -> tuple[str, str | None]:
        """InstallCertificate: ('Accepted' | 'Rejected' | 'Failed', reason)."""
        if cert_type not in ROOT_TYPES:
            return "Rejected", "UnsupportedCertificateType"
        try:
            certs = parse_certificates(pem_text)
        except ValueError:
            return "Rejected", "InvalidCertificate"
        if len(certs) != 1:
            return "Rejected", "InvalidCertificate"
        cert = certs[0]
        if validity_problem(cert, now) is not None:
            return "Rejected", "InvalidCertificate"
        if not is_ca(cert):
            return "Rejected", "InvalidCertificate"
        path = self.dir / cert_type / f"{fingerprint(cert)}.pem"
        if path.exists():
            return "Accepted", None
        if self.entries() >= self.max_entries:
            return "Failed", "CertificateStoreMaxLength"
        try:
            _write(path, pem(cert).encode())
        except OSError as e:
            log.error("certificate store: cannot write %s: %s", path, e)
            return "Failed", "WriteError"
        log.info("installed %s %s", cert_type, cert.subject.rfc4514_string())
        return "Accepted", None

    # ------------------------------------------------------------------ GetInstalledCertificateIds / Delete
    def _all_known(self) -> list[x509.Certificate]:
        known = [c for t in ROOT_TYPES for c in self.root_certificates(t)] + self.issuers()
        for t in LEAF_TYPES:
            known += self.leaf_chain(t)
        return known

    def _issuer(self, cert: x509.Certificate, pool: Iterable[x509.Certificate]) -> x509.Certificate | None:
        if is_self_signed(cert):
            return None
        for candidate in pool:
            if candidate.subject == cert.issuer and candidate != cert:
                with contextlib.suppress(Exception):
                    cert.verify_directly_issued_by(candidate)
                    return candidate
        return None  # issuer unknown: its key hash falls back to the certificate's own key

    def _hash(self, cert: x509.Certificate, algorithm: str = "SHA256") -> dict[str, str]:
        return hash_data(cert, self._issuer(cert, self._all_known()), algorithm)

    def installed(self, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """2.0.1 CertificateHashDataChainType entries (snake_case) of the requested types (None = all)."""
        wanted = list(types) if types else [*ROOT_TYPES, V2G_CHAIN]
        out: list[dict[str, Any]] = []
        for cert_type in wanted:
            if cert_type in ROOT_TYPES:
                for _p, cert in self.roots(cert_type):
                    out.append({"certificate_type": cert_type, "certificate_hash_data": self._hash(cert)})
            elif cert_type == V2G_CHAIN:
                chain = self.leaf_chain(V2G_CERT)
                if chain:
                    entry: dict[str, Any] = {"certificate_type": V2G_CHAIN, "certificate_hash_data":
                                             self._hash(chain[0])}
                    if len(chain) > 1:
                        entry["child_certificate_hash_data"] = [self._hash(c) for c in chain[1:]]
                    out.append(entry)
        return out

    def delete(self, wanted: dict[str, Any], protect: Protect | None = None) -> tuple[str, str | None]:
        """DeleteCertificate: ('Accepted' | 'Failed' | 'NotFound', reason). The station's own certificates cannot be
        deleted; ``protect`` may veto deleting a CA certificate that is still needed."""
        algorithm = str(wanted.get("hash_algorithm", "SHA256")).upper()
        for cert_type in LEAF_TYPES:
            for cert in self.leaf_chain(cert_type)[:1]:
                if same_hash_data(self._hash(cert, algorithm), wanted):
                    return "Failed", "ChargingStationCertificate" if cert_type == STATION_CERT else "V2GCertificate"
        for cert_type in ROOT_TYPES:
            for path, cert in self.roots(cert_type):
                if not same_hash_data(self._hash(cert, algorithm), wanted):
                    continue
                reason = protect(cert_type, cert) if protect is not None else None
                if reason is not None:
                    return "Failed", reason
                try:
                    path.unlink()
                except OSError as e:
                    log.error("certificate store: cannot delete %s: %s", path, e)
                    return "Failed", "WriteError"
                log.info("deleted %s %s", cert_type, cert.subject.rfc4514_string())
                return "Accepted", None
        return "NotFound", None

    # ------------------------------------------------------------------ the station's own certificates
    def _leaf_paths(self, cert_type: str, previous: bool = False) -> tuple[Path, Path]:
        suffix = ".prev" if previous else ""
        return self.dir / cert_type / f"chain{suffix}.pem", self.dir / cert_type / f"key{suffix}.pem"

    def leaf(self, cert_type: str = STATION_CERT) -> tuple[Path, Path] | None:
        """(chain file, key file) of the installed station certificate, or None."""
        chain, key = self._leaf_paths(cert_type)
        return (chain, key) if chain.is_file() and key.is_file() else None

    def leaf_chain(self, cert_type: str = STATION_CERT) -> list[x509.Certificate]:
        files = self.leaf(cert_type)
        if files is None:
            return []
        try:
            return parse_certificates(files[0].read_bytes())
        except (OSError, ValueError):
            return []

    def stage_key(self, cert_type: str, key_pem: bytes) -> None:
        """Keep the private key of a CSR until the CSMS sends the signed certificate."""
        _write(self.dir / "pending" / f"{cert_type}.key.pem", key_pem, private=True)

    def pending_key(self, cert_type: str) -> bytes | None:
        path = self.dir / "pending" / f"{cert_type}.key.pem"
        try:
            return path.read_bytes()
        except OSError:
            return None

    def install_signed(self, cert_type: str, chain_pem: str, roots: list[x509.Certificate],
                       now: datetime) -> str | None:
        """CertificateSigned: install the chain with the staged key. Returns None when installed, else why not."""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            chain = parse_certificates(chain_pem)
        except ValueError:
            return "not a PEM certificate chain"
        key_pem = self.pending_key(cert_type)
        if key_pem is None:
            return "no certificate signing request outstanding"
        key = load_pem_private_key(key_pem, password=None)
        if not key_matches(chain[0], key):
            return "the certificate does not match the key of the last certificate signing request"
        problem = verify_chain(chain, roots, now)
        if problem is not None:
            return problem
        chain_path, key_path = self._leaf_paths(cert_type)
        prev_chain, prev_key = self._leaf_paths(cert_type, previous=True)
        if chain_path.exists() and key_path.exists():
            os.replace(chain_path, prev_chain)
            os.replace(key_path, prev_key)
        _write(key_path, key_pem, private=True)
        _write(chain_path, "".join(pem(c) for c in chain).encode())
        with contextlib.suppress(OSError):
            (self.dir / "pending" / f"{cert_type}.key.pem").unlink()
        log.info("installed %s %s (valid until %s)", cert_type, chain[0].subject.rfc4514_string(),
                 chain[0].not_valid_after_utc.isoformat())
        return None

    def restore_previous(self, cert_type: str = STATION_CERT) -> bool:
        """Go back to the certificate installed before the last CertificateSigned (it did not work). False when
        there was none: the failed one is removed and the configured client certificate applies again."""
        prev_chain, prev_key = self._leaf_paths(cert_type, previous=True)
        chain_path, key_path = self._leaf_paths(cert_type)
        if not (prev_chain.exists() and prev_key.exists()):  # there was none: drop the one that failed
            for path in (chain_path, key_path):
                with contextlib.suppress(OSError):
                    path.unlink()
            return False
        os.replace(prev_key, key_path)
        os.replace(prev_chain, chain_path)
        return True

    def forget_previous(self, cert_type: str = STATION_CERT) -> None:
        for path in self._leaf_paths(cert_type, previous=True):
            with contextlib.suppress(OSError):
                path.unlink()
