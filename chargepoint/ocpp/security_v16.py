"""OCPP 1.6J security extension (the OCPP 1.6 security whitepaper), charging-station side: a mixin of the 1.6
adapter. The same :class:`~chargepoint.ocpp.security_manager.SecurityManager` as 2.0.1 does the work; only names
differ (CentralSystemRootCertificate, InvalidCentralSystemCertificate, SignChargePointCertificate, ...).

* InstallCertificate, GetInstalledCertificateIds, DeleteCertificate (CentralSystemRootCertificate and
  ManufacturerRootCertificate).
* ExtendedTriggerMessage: SignChargePointCertificate -> SignCertificate with a new CSR (CN = charge point id,
  O = CpoName); BootNotification, Heartbeat, StatusNotification and MeterValues as TriggerMessage does.
* CertificateSigned -> validate, install, use from the next connection (at once, with fallback, in profile 3).
* SecurityEventNotification for the neutral security events.
* ChangeConfiguration AuthorizationKey / SecurityProfile (keys in :mod:`chargepoint.ocpp.v16_config`) ->
  reconnect with the new password / profile once the answer is out, fall back if the CSMS refuses it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result

from chargepoint.clock import iso
from chargepoint.ocpp.certstore import STATION_CERT, TYPES_16
from chargepoint.ocpp.security import event_name
from chargepoint.station.actions import SecurityEvent

if TYPE_CHECKING:
    from chargepoint.ocpp.base import SessionHooks
    from chargepoint.ocpp.security_manager import SecurityManager
    from chargepoint.station.core import Station

log = logging.getLogger("chargepoint.ocpp.v16")

SECRET_KEYS = frozenset({"authorizationkey"})
# ExtendedTriggerMessage requests that TriggerMessage also knows
_PLAIN_TRIGGERS = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})




class V16Security:
    """Mixin of :class:`~chargepoint.ocpp.v16.V16Adapter`."""

    if TYPE_CHECKING:
        hooks: SessionHooks
        station: Station

        async def _request(self, payload: Any, *, transaction: bool) -> Any | None: ...

        def _trigger_status(self, requested_message: str, connector_id: int | None) -> str: ...

        def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None: ...

        def _spawn(self, coro: Any) -> None: ...

    @property
    def security(self) -> SecurityManager | None:
        return getattr(self.hooks, "security", None)

    # ------------------------------------------------------------------ outbound
    async def send_security_event(self, event: SecurityEvent) -> None:
        await self._request(call.SecurityEventNotification(
            type=event_name(event.kind, "1.6"), timestamp=iso(event.timestamp), tech_info=event.tech_info,
        ), transaction=False)

    async def sign_certificate(self) -> None:
        manager = self.security
        if manager is None:
            return
        organization = self.station.settings.extra.get("CpoName") or None
        csr = manager.make_csr(STATION_CERT, organization)
        res = await self._request(call.SignCertificate(csr=csr), transaction=False)
        if res is None or res.status != "Accepted":
            log.warning("SignCertificate: %s", res.status if res is not None else "no valid answer")

    # ------------------------------------------------------------------ inbound
    @on("InstallCertificate", skip_schema_validation=True)
    def on_install_certificate(self, certificate_type: str, certificate: str) -> call_result.InstallCertificate:
        if self.security is None:
            return call_result.InstallCertificate(status="Failed")
        status, _reason = self.security.install_root(TYPES_16[certificate_type], certificate)
        return call_result.InstallCertificate(status=status)

    @after("InstallCertificate")
    def after_install_certificate(self, **_: Any) -> None:
        if self.security is not None:
            self.security.refresh()

    @on("GetInstalledCertificateIds", skip_schema_validation=True)
    def on_get_installed_certificate_ids(self, certificate_type: str) -> call_result.GetInstalledCertificateIds:
        entries = self.security.certs.installed([TYPES_16[certificate_type]]) if self.security is not None else []
        if not entries:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[e["certificate_hash_data"] for e in entries])

    @on("DeleteCertificate", skip_schema_validation=True)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> call_result.DeleteCertificate:
        if self.security is None:
            return call_result.DeleteCertificate(status="NotFound")
        status, _reason = self.security.delete(certificate_hash_data)
        return call_result.DeleteCertificate(status=status)

    @after("DeleteCertificate")
    def after_delete_certificate(self, **_: Any) -> None:
        if self.security is not None:
            self.security.refresh()

    @on("CertificateSigned", skip_schema_validation=True)
    def on_certificate_signed(self, certificate_chain: str) -> call_result.CertificateSigned:
        if self.security is None:
            return call_result.CertificateSigned(status="Rejected")
        problem = self.security.certificate_signed(STATION_CERT, certificate_chain)
        return call_result.CertificateSigned(status="Rejected" if problem else "Accepted")

    @after("CertificateSigned")
    def after_certificate_signed(self, **_: Any) -> None:
        if self.security is not None:
            self.security.apply_staged()

    def _extended_trigger_status(self, requested_message: str, connector_id: int | None) -> str:
        if requested_message == "SignChargePointCertificate":
            if self.security is None:
                return "NotImplemented"
            return "Accepted" if self.hooks.registration_status == "Accepted" else "Rejected"
        if requested_message in _PLAIN_TRIGGERS:
            return self._trigger_status(requested_message, connector_id)
        return "NotImplemented"  # FirmwareStatusNotification, LogStatusNotification: no such profiles here

    @on("ExtendedTriggerMessage", skip_schema_validation=True)
    def on_extended_trigger_message(self, requested_message: str,
                                    connector_id: int | None = None) -> call_result.ExtendedTriggerMessage:
        return call_result.ExtendedTriggerMessage(status=self._extended_trigger_status(requested_message,
                                                                                       connector_id))

    @after("ExtendedTriggerMessage")
    def after_extended_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self._extended_trigger_status(requested_message, connector_id) != "Accepted":
            return
        if requested_message == "SignChargePointCertificate":
            self._spawn(self.sign_certificate())
        else:
            self.after_trigger_message(requested_message, connector_id)

    @after("ChangeConfiguration")
    def after_change_configuration(self, key: str, value: str) -> None:
        if self.security is not None and key.strip().lower() in ("authorizationkey", "securityprofile"):
            self.security.apply_staged()
