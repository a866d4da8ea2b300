"""OCPP 1.6J security whitepaper over real sockets: profiles 2/3, SecurityEventNotification with the 1.6 event names,
certificate management (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate), ExtendedTriggerMessage
(SignChargePointCertificate) -> SignCertificate -> CertificateSigned, AuthorizationKey and SecurityProfile.
1.6 has no security test-case list in docs/reference, so names describe the behaviour."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki import Pki
from security_rig import CS, NEW_PASSWORD, PASSWORD, restart_with, rig, wait_until

pytestmark = pytest.mark.timeout(30)
V16 = "ocpp1.6"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"), CS)


async def test_v16_profile_2_with_startup_event(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, pki, protocol=V16, profile=2, csms_ssl=pki.server_context(), basic_auth={CS: PASSWORD},
                   ca_bundle=pki.root_file) as r:
        await r.security_event("StartupOfTheDevice")
        res = await r.call("GetConfiguration", {"key": ["SecurityProfile", "AuthorizationKey"]})
        keys = {e["key"]: e for e in res["configurationKey"]}
        assert keys["SecurityProfile"]["value"] == "2"
        assert keys["AuthorizationKey"] == {"key": "AuthorizationKey", "readonly": False}  # write-only: no value


async def test_v16_invalid_central_system_certificate_reported_with_the_16_name(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, pki, protocol=V16, profile=2, csms_ssl=pki.server_context(pki.rogue_server),
                   basic_auth={CS: PASSWORD}, ca_bundle=pki.root_file, accepted=False) as r:
        await wait_until(lambda: r.session.connect_attempts >= 2)
        await restart_with(r.csms, pki.server_context())
        await r.session.wait_accepted(5)
        await r.security_event("InvalidCentralSystemCertificate")
        assert "InvalidCsmsCertificate" not in r.events()


async def test_v16_profile_3_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, pki, protocol=V16, profile=3, csms_ssl=pki.server_context(client_ca=pki.root_file),
                   ca_bundle=pki.root_file, client=(pki.client.cert_file, pki.client.key_file)) as r:
        await r.security_event("StartupOfTheDevice")
        res = await r.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
        assert res["status"] == "Rejected"  # never downgraded


async def test_v16_install_list_and_delete_certificates(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, protocol=V16) as r:
        res = await r.call("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"})
        assert res == {"status": "NotFound"}
        for cert_type in ("CentralSystemRootCertificate", "ManufacturerRootCertificate"):
            res = await r.call("InstallCertificate", {"certificateType": cert_type, "certificate": pki.root.pem})
            assert res == {"status": "Accepted"}
        res = await r.call("InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                                  "certificate": pki.server.cert_file.read_text()})
        assert res == {"status": "Rejected"}  # not a CA certificate
        res = await r.call("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"})
        cert = pki.root.cert
        point = cert.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        wanted = {"hashAlgorithm": "SHA256", "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
                  "issuerKeyHash": hashlib.sha256(point).hexdigest(), "serialNumber": f"{cert.serial_number:x}"}
        assert res == {"status": "Accepted", "certificateHashData": [wanted]}
        assert (await r.call("DeleteCertificate", {"certificateHashData": wanted}))["status"] == "Accepted"
        assert (await r.call("DeleteCertificate", {"certificateHashData": wanted}))["status"] == "Accepted"  # Manuf.
        assert (await r.call("DeleteCertificate", {"certificateHashData": wanted}))["status"] == "NotFound"


async def test_v16_extended_trigger_sign_certificate_round_trip(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, protocol=V16, ca_bundle=pki.root_file) as r:
        assert (await r.call("ChangeConfiguration", {"key": "CpoName", "value": "Example CPO"}))["status"] == \
            "Accepted"
        res = await r.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
        assert res["status"] == "Accepted"
        sign = await r.wait("SignCertificate")
        csr = x509.load_pem_x509_csr(sign.payload["csr"].encode())
        assert csr.subject.rfc4514_string() == f"O=Example CPO,CN={CS}"
        bad = await r.call("CertificateSigned", {"certificateChain": pki.other.sign_csr(sign.payload["csr"])})
        assert bad["status"] == "Rejected"
        await r.security_event("InvalidChargePointCertificate")
        good = await r.call("CertificateSigned", {"certificateChain": pki.root.sign_csr(sign.payload["csr"])})
        assert good["status"] == "Accepted" and r.manager.certs.leaf() is not None
        res = await r.call("ExtendedTriggerMessage", {"requestedMessage": "Heartbeat"})
        assert res["status"] == "Accepted"
        await r.wait("Heartbeat")
        res = await r.call("ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
        assert res["status"] == "NotImplemented"


async def test_v16_authorization_key_change_and_fallback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    auth = {CS: PASSWORD}
    async with rig(tmp_path, protocol=V16, basic_auth=auth) as r:
        caplog.set_level("DEBUG")
        mark = r.csms.mark()
        res = await r.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_PASSWORD})
        assert res["status"] == "Accepted"
        await r.wait("BootNotification", after=mark)  # refused with the new key: back with the old one
        await r.security_event("FailedToAuthenticateAtCentralSystem", after=mark)
        assert r.session.transport.password == PASSWORD
        auth[CS] = NEW_PASSWORD
        mark = r.csms.mark()
        await r.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_PASSWORD})
        await r.wait("BootNotification", after=mark)
        await wait_until(lambda: r.manager.password == NEW_PASSWORD)
        assert (await r.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": "short"}))["status"] == \
            "Rejected"
    station_logs = "\n".join(rec.getMessage() for rec in caplog.records  # the station's side only
                             if not rec.name.startswith(("hil", "websockets.server")))
    assert NEW_PASSWORD not in station_logs
