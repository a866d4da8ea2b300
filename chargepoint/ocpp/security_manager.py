"""The station's security state across connections and restarts, shared by the 1.6 and 2.0.1 adapters.

It owns the active security profile, the Basic-auth password, the TLS material (the configured files plus the
certificate store) and the certificate signing requests in flight, and it builds the session's
:class:`TransportConfig` from them. Changes that need a new connection follow one rule: the adapter *stages* the
change while it answers the CSMS (SetVariables, ChangeConfiguration, CertificateSigned), then, once the answer is
out, :meth:`SecurityManager.apply_staged` asks the session to reconnect with the new parameters and to fall back to
the previous ones if the CSMS refuses them (:meth:`StationSession.request_reconnect`). Only what worked is kept:

* A01 / AuthorizationKey: new password; refused (HTTP 401) -> back to the previous password.
* A02 / A03: new station certificate while profile 3 is active; refused -> back to the previous certificate.
* A05 / SecurityProfile: higher profile only; refused -> back to the previous profile. Never downgraded.

CSMS-made changes (password, profile, URL) are stored in the station store under ``security`` together with a
fingerprint of the configured [csms] values; editing the configuration discards them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509

from chargepoint.ocpp import security as sec
from chargepoint.ocpp.certstore import CSMS_ROOT, STATION_CERT, V2G_CERT, CertificateStore
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.persistence.store import StationStore

log = logging.getLogger("chargepoint.security")

STORE_KEY = "security"


class SecurityManager:
    def __init__(self, base: TransportConfig, certs: CertificateStore, *, ca_bundle: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None, store: StationStore | None = None,
                 organization: str = "") -> None:
        self.base = base
        self.certs = certs
        self.ca_bundle = ca_bundle
        self.client_cert = client_cert
        self.client_key = client_key
        self.store = store
        self.organization = organization
        self.profile = base.security_profile
        self.password = base.password
        sec.register_secret(base.password)
        self.url = base.url
        self.network_profiles: dict[int, dict[str, Any]] = {}  # SetNetworkProfile slot -> {url, security_profile}
        self.session: Any = None
        self._staged_password: str | None = None
        self._staged_profile: int | None = None
        self._staged_certificate = False
        certs.issuers = self._configured_roots
        self._load()

    # ------------------------------------------------------------------ wiring and persistence
    def attach(self, session: Any) -> None:
        """Bind to the session that uses :meth:`transport`; adapters reach this object as ``hooks.security``."""
        self.session = session
        session.security = self

    def _config_fingerprint(self) -> str:
        b = self.base
        text = f"{b.url}|{b.security_profile}|{b.password or ''}|{self.ca_bundle}|{self.client_cert}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _load(self) -> None:
        saved = self.store.get(STORE_KEY) if self.store is not None else None
        if not saved or saved.get("config") != self._config_fingerprint():
            return
        self.profile = int(saved.get("profile", self.profile))
        self.password = saved.get("password", self.password)
        sec.register_secret(self.password)
        self.url = saved.get("url", self.url)
        self.network_profiles = {int(k): v for k, v in (saved.get("network_profiles") or {}).items()}
        log.info("security: using the settings the CSMS made (profile %d)", self.profile)

    def _save(self) -> None:
        if self.store is None:
            return
        with self.store.atomic():
            self.store.put(STORE_KEY, {
                "config": self._config_fingerprint(), "profile": self.profile, "password": self.password,
                "url": self.url, "network_profiles": {str(k): v for k, v in self.network_profiles.items()},
            })

    def _event(self, kind: str, info: str | None = None) -> None:
        if self.session is not None:
            self.session.security_event(kind, info)

    # ------------------------------------------------------------------ TLS material and transports
    def _configured_roots(self) -> list[x509.Certificate]:
        return sec.load_certificates(self.ca_bundle, "csms.ca_bundle") if self.ca_bundle else []

    def trusted_roots(self) -> list[x509.Certificate]:
        """CA certificates that may sign the CSMS certificate: the configured bundle and installed CSMS roots."""
        return self._configured_roots() + self.certs.root_certificates(CSMS_ROOT)

    def client_files(self) -> tuple[Path, Path] | None:
        """The station certificate for mutual TLS: the one the CSMS signed, else the configured one."""
        installed = self.certs.leaf(STATION_CERT)
        if installed is not None:
            return installed
        if self.client_cert and self.client_key:
            return Path(self.client_cert), Path(self.client_key)
        return None

    def transport(self, profile: int | None = None, password: str | None = None,
                  url: str | None = None) -> TransportConfig:
        """The connection parameters for a profile (default: the active one) from the current TLS material."""
        profile = profile or self.profile
        url = url or self.url
        ctx = None
        if urlsplit(url).scheme == "wss":
            roots = "".join(sec.pem(c) for c in self.trusted_roots())
            files = self.client_files() if profile == 3 else None
            ctx = sec.client_context(roots, *(files or (None, None)))
        return replace(self.base, url=url, security_profile=profile, ssl_context=ctx,
                       password=password if password is not None else self.password)

    def refresh(self) -> None:
        """Let the next connection use newly installed or deleted certificates (the current one stays up)."""
        if self.session is None or getattr(self.session, "_switch", None) is not None:
            return
        try:
            self.session.transport = self.transport()
        except (ValueError, OSError) as e:  # e.g. the configured files became unreadable: keep what works
            log.error("security: cannot rebuild the TLS context: %s", e)

    # ------------------------------------------------------------------ A01: Basic-auth password
    def stage_password(self, value: str) -> None:
        if not 16 <= len(value) <= 40:
            raise ValueError("the password must be 16..40 characters")
        sec.register_secret(value)
        self._staged_password = value

    # ------------------------------------------------------------------ A05: security profile
    def upgrade_problem(self, profile: int) -> str | None:
        """Why the station cannot move to ``profile`` now (None: it can)."""
        if profile not in sec.PROFILES:
            return "security profile must be 1, 2 or 3"
        if profile < self.profile:
            return f"downgrading from security profile {self.profile} is not allowed"
        if profile >= 2 and not self.trusted_roots():
            return "no CSMSRootCertificate installed"
        if profile == 3 and self.client_files() is None:
            return "no ChargingStationCertificate installed"
        if profile == 2 and not self.password:
            return "security profile 2 needs a Basic-auth password"
        return None

    def upgrade_url(self, profile: int) -> str:
        """Where to connect with ``profile``: the newest network profile for it, else the current URL (wss://)."""
        for slot in sorted(self.network_profiles, reverse=True):
            if self.network_profiles[slot]["security_profile"] == profile:
                return str(self.network_profiles[slot]["url"])
        parts = urlsplit(self.url)
        if profile >= 2 and parts.scheme == "ws":
            return urlunsplit(parts._replace(scheme="wss"))
        return self.url

    def stage_profile(self, profile: int) -> None:
        problem = self.upgrade_problem(profile)
        if problem is not None:
            raise ValueError(problem)
        self._staged_profile = profile if profile != self.profile else None

    def set_network_profile(self, slot: int, url: str, profile: int) -> str | None:
        """SetNetworkProfile (pragmatic: URL and security profile of a slot). Returns why it is refused, or None."""
        if profile < self.profile:
            return "downgrading the security profile is not allowed"
        scheme = urlsplit(url).scheme
        if scheme not in ("ws", "wss") or (profile >= 2 and scheme != "wss"):
            return f"security profile {profile} needs a {'wss' if profile >= 2 else 'ws or wss'}:// URL"
        problem = self.upgrade_problem(profile)
        if problem is not None:
            return problem
        self.network_profiles[slot] = {"url": url, "security_profile": profile}
        self._save()
        return None

    # ------------------------------------------------------------------ A02/A03, M: certificates
    def install_root(self, cert_type: str, pem_text: str) -> tuple[str, str | None]:
        return self.certs.install_root(cert_type, pem_text, sec.now_utc())

    def delete(self, hash_data: dict[str, Any]) -> tuple[str, str | None]:
        return self.certs.delete(hash_data, self._protect)

    def _protect(self, cert_type: str, cert: x509.Certificate) -> str | None:
        if cert_type != CSMS_ROOT or self.profile < 2:
            return None
        others = [c for c in self.trusted_roots() if c != cert]
        return None if others else "the last CSMSRootCertificate is in use"

    def make_csr(self, cert_type: str, organization: str | None = None) -> str:
        """A new key pair (kept in the store until CertificateSigned) and its CSR."""
        common_name = self.base.station_id
        csr, key = sec.generate_csr(common_name, organization or self.organization)
        self.certs.stage_key(cert_type, key)
        log.info("security: certificate signing request for %s (CN=%s)", cert_type, common_name)
        return csr

    def certificate_signed(self, cert_type: str, chain_pem: str) -> str | None:
        """Validate and install a signed certificate. Returns None when installed, else why it was rejected (the
        InvalidChargingStationCertificate security event is queued)."""
        if cert_type == STATION_CERT:
            roots = self.trusted_roots()
        else:
            roots = self.certs.root_certificates("V2GRootCertificate")
        problem = self.certs.install_signed(cert_type, chain_pem, roots, sec.now_utc())
        if problem is not None:
            log.warning("security: %s rejected: %s", cert_type, problem)
            self._event(sec.INVALID_CHARGING_STATION_CERTIFICATE, f"{cert_type}: {problem}")
            return problem
        if cert_type == STATION_CERT:
            self._staged_certificate = True
        elif cert_type != V2G_CERT:
            log.warning("security: unexpected certificate type %s", cert_type)
        return None

    # ------------------------------------------------------------------ reconnect with fallback
    def apply_staged(self) -> None:
        """Reconnect with whatever was staged (call after the CSMS got its answer)."""
        password, self._staged_password = self._staged_password, None
        profile, self._staged_profile = self._staged_profile, None
        certificate, self._staged_certificate = self._staged_certificate, False
        if self.session is None or (password is None and profile is None and not certificate):
            return
        if certificate and profile is None and self.profile < 3:
            self.refresh()  # the new certificate is used once profile 3 is
            return
        target = profile or self.profile
        try:
            new = self.transport(target, password, self.upgrade_url(target) if profile else None)
        except (ValueError, OSError) as e:
            log.error("security: cannot build the new connection parameters: %s", e)
            if certificate:
                self.certs.restore_previous(STATION_CERT)
            return
        if password is not None or profile is not None:
            what = "Basic-auth password" if password is not None else f"security profile {profile}"
            self._event(sec.RECONFIGURATION_OF_SECURITY_PARAMETERS, f"{what} changed by the CSMS")
        self.session.request_reconnect(new, self.session.transport, self._on_result(new, password, certificate))

    def _on_result(self, new: TransportConfig, password: str | None, certificate: bool) -> Callable[[bool], None]:
        def done(ok: bool) -> None:
            if ok:
                if password is not None:
                    self.password = password
                self.profile, self.url = new.security_profile, new.url
                if certificate:
                    self.certs.forget_previous(STATION_CERT)
                self._save()
                log.info("security: now connected with profile %d", self.profile)
            elif certificate:
                self.certs.restore_previous(STATION_CERT)
        return done
