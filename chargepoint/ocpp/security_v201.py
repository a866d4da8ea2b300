"""OCPP 2.0.1 security (blocks A and M, charging-station side): a mixin of the 2.0.1 adapter.

* A01: SetVariables SecurityCtrlr.BasicAuthPassword -> reconnect with the new password, fall back if refused.
* A02/A03: TriggerMessage(SignChargingStationCertificate | SignV2GCertificate) -> SignCertificate with a new CSR;
  CertificateSigned -> validate the chain against the installed roots, install, use it from the next connection
  (at once, with fallback, while profile 3 is active).
* A04: SecurityEventNotification for the neutral :class:`SecurityEvent` actions.
* A05 (pragmatic): SetNetworkProfile stores a slot's URL and security profile; SetVariables
  SecurityCtrlr.SecurityProfile (made writable) to a higher profile reconnects with it and falls back if refused.
* M: InstallCertificate, GetInstalledCertificateIds, DeleteCertificate.

Everything goes through the session's :class:`~chargepoint.ocpp.security_manager.SecurityManager`
(``hooks.security``); without one these requests are answered Rejected / Failed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on

from chargepoint.clock import iso
from chargepoint.ocpp.certstore import STATION_CERT, V2G_CERT
from chargepoint.ocpp.device_model import AttributeType, Component, DeviceModel, Mutability
from chargepoint.station.actions import SecurityEvent

if TYPE_CHECKING:
    from chargepoint.ocpp.base import SessionHooks
    from chargepoint.ocpp.security_manager import SecurityManager

log = logging.getLogger("chargepoint.ocpp.v201")

# TriggerMessage requestedMessage -> the certificate it asks the station to have signed
SIGN_TRIGGERS = {"SignChargingStationCertificate": STATION_CERT, "SignV2GCertificate": V2G_CERT}
SECURITY_CTRLR = Component("SecurityCtrlr")


def _info(reason: str | None, detail: str | None = None) -> dict[str, Any] | None:
    if reason is None:
        return None
    out: dict[str, Any] = {"reason_code": reason[:20]}
    if detail:
        out["additional_info"] = detail[:512]
    return out


def bind_security_variables(dm: DeviceModel, manager: SecurityManager) -> None:
    """Bind SecurityCtrlr variables to the security manager (once per device model and manager).

    SecurityProfile becomes writable (upgrade only; see the module docstring), BasicAuthPassword stages a password
    change, CertificateEntries counts the certificate store. Neither secret nor profile is kept in the device
    model's persistent snapshot: the manager persists them.
    """
    if getattr(dm, "security_manager", None) is manager:
        return
    dm.security_manager = manager  # type: ignore[attr-defined]

    def attr(name: str) -> Any:
        var = dm.find(SECURITY_CTRLR, name)
        return None if var is None else var.attributes[AttributeType.ACTUAL]

    profile = attr("SecurityProfile")
    if profile is not None:
        profile.mutability = Mutability.READ_WRITE
        profile.persistent = False
        profile.getter = lambda: str(manager.profile)
        profile.setter = lambda v: manager.stage_profile(int(v))
    password = attr("BasicAuthPassword")
    if password is not None:
        password.persistent = False
        password.value = None
        password.getter = lambda: None  # never kept in the device model
        password.setter = manager.stage_password
    entries = attr("CertificateEntries")
    if entries is not None:
        entries.getter = lambda: str(manager.certs.entries())


class V201Security:
    """Mixin of :class:`~chargepoint.ocpp.v201.V201Adapter`."""

    if TYPE_CHECKING:
        hooks: SessionHooks
        device_model: DeviceModel
        _call: Any
        _call_result: Any

        async def call(self, payload: Any, suppress: bool = True, unique_id: Any = None,
                       skip_schema_validation: bool = False) -> Any: ...

    @property
    def security(self) -> SecurityManager | None:
        return getattr(self.hooks, "security", None)

    def bind_security(self) -> None:
        if self.security is not None:
            bind_security_variables(self.device_model, self.security)

    # ------------------------------------------------------------------ outbound
    async def send_security_event(self, event: SecurityEvent) -> None:
        """A04 SecurityEventNotification. A CALLERROR drops it; no answer raises (the session retries)."""
        await self.call(self._call.SecurityEventNotification(
            type=event.kind, timestamp=iso(event.timestamp), tech_info=event.tech_info))

    async def sign_certificate(self, cert_type: str) -> None:
        """A02: a new key pair and CSR (CN = station id, O = SecurityCtrlr.OrganizationName) to the CSMS."""
        manager = self.security
        if manager is None:
            return
        try:
            organization = self.device_model.read(SECURITY_CTRLR, "OrganizationName")
        except KeyError:
            organization = None
        csr = manager.make_csr(cert_type, organization)
        res = await self.call(self._call.SignCertificate(csr=csr, certificate_type=cert_type))
        status = getattr(res, "status", None)
        if status != "Accepted":
            log.warning("SignCertificate (%s): %s", cert_type, status or "no valid answer")

    # ------------------------------------------------------------------ A01 / A05: after SetVariables
    @after("SetVariables")
    def after_set_variables(self, **_: Any) -> None:
        if self.security is not None:
            self.security.apply_staged()

    @on("SetNetworkProfile")
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any], **_: Any) -> Any:
        result = self._call_result.SetNetworkProfile
        manager = self.security
        if manager is None:
            return result(status="Rejected", status_info=_info("NotConfigured"))
        if connection_data.get("ocpp_transport") != "JSON":
            return result(status="Rejected", status_info=_info("UnsupportedTransport"))
        problem = manager.set_network_profile(configuration_slot, connection_data["ocpp_csms_url"],
                                              int(connection_data["security_profile"]))
        if problem is not None:
            return result(status="Rejected", status_info=_info("InvalidProfile", problem))
        return result(status="Accepted")

    # ------------------------------------------------------------------ M01-M04
    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        manager = self.security
        if manager is None:
            return self._call_result.InstallCertificate(status="Failed", status_info=_info("NotConfigured"))
        status, reason = manager.install_root(certificate_type, certificate)
        return self._call_result.InstallCertificate(status=status, status_info=_info(reason))

    @after("InstallCertificate")
    def after_install_certificate(self, **_: Any) -> None:
        if self.security is not None:
            self.security.refresh()

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None, **_: Any) -> Any:
        result = self._call_result.GetInstalledCertificateIds
        entries = self.security.certs.installed(certificate_type) if self.security is not None else []
        if not entries:
            return result(status="NotFound")
        return result(status="Accepted", certificate_hash_data_chain=entries)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        manager = self.security
        if manager is None:
            return self._call_result.DeleteCertificate(status="NotFound")
        status, reason = manager.delete(certificate_hash_data)
        return self._call_result.DeleteCertificate(status=status, status_info=_info(reason))

    @after("DeleteCertificate")
    def after_delete_certificate(self, **_: Any) -> None:
        if self.security is not None:
            self.security.refresh()

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, certificate_type: str | None = None, **_: Any) -> Any:
        manager = self.security
        if manager is None:
            return self._call_result.CertificateSigned(status="Rejected", status_info=_info("NotConfigured"))
        problem = manager.certificate_signed(certificate_type or STATION_CERT, certificate_chain)
        if problem is not None:
            return self._call_result.CertificateSigned(status="Rejected",
                                                       status_info=_info("InvalidCertificate", problem))
        return self._call_result.CertificateSigned(status="Accepted")

    @after("CertificateSigned")
    def after_certificate_signed(self, **_: Any) -> None:
        if self.security is not None:
            self.security.apply_staged()
