"""OCPP 2.0.1 security, block A, over real sockets: security profiles 2 and 3 (TLS, mutual TLS), security events
(A04), password change (A01), station certificate update (A02) and security profile upgrade (A05, pragmatic).
Test names carry the certification case (docs/reference/ocpp21_cs_testcases.tsv) whose behaviour they assert.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from pki import Pki
from security_rig import CS, NEW_PASSWORD, PASSWORD, restart_with, rig, wait_until

from chargepoint.ocpp.certstore import STATION_CERT
from hil.emulators.csms import CsmsEmulator

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"), CS)


def peer_certificate(csms: CsmsEmulator) -> x509.Certificate:
    """The client certificate the station presented on its current connection."""
    ssl_object = csms.endpoint(CS).connection.ws.transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


# ---------------------------------------------------------------------- profiles 2 and 3, A04 events
async def test_TC_A_04_CS_profile_2_tls_server_certificate_and_basic_auth(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(), basic_auth={CS: PASSWORD},
                   ca_bundle=pki.root_file) as r:
        assert r.csms.url.startswith("wss://") and r.session.transport.security_profile == 2
        version = r.csms.endpoint(CS).connection.ws.transport.get_extra_info("ssl_object").version()
        assert version in ("TLSv1.2", "TLSv1.3")
        await r.security_event("StartupOfTheDevice")
        got = await r.call("GetVariables", {"getVariableData": [
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}]})
        assert got["getVariableResult"][0]["attributeValue"] == "2"


@pytest.mark.parametrize("bad", ["rogue_server", "expired_server"])
async def test_TC_A_05_CS_invalid_server_certificate_refused_then_reported(tmp_path: Path, pki: Pki,
                                                                           bad: str) -> None:
    async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(getattr(pki, bad)),
                   basic_auth={CS: PASSWORD}, ca_bundle=pki.root_file, accepted=False) as r:
        await wait_until(lambda: r.session.connect_attempts >= 2)
        assert not r.csms.is_connected(CS) and "TLS handshake" in (r.session.last_error or "")
        await restart_with(r.csms, pki.server_context())
        await r.session.wait_accepted(5)
        frame = await r.security_event("InvalidCsmsCertificate")
        assert "certificate verify failed" in frame.payload["techInfo"]
        assert r.events().count("InvalidCsmsCertificate") == 1  # once per kind while offline, not per attempt


def tls11_listener(ctx: ssl.SSLContext) -> tuple[socket.socket, threading.Thread]:
    """A TLS 1.1-only server on a blocking socket: unlike asyncio's, it sends the protocol_version alert."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by the test
            with contextlib.suppress(OSError), conn, ctx.wrap_socket(conn, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


async def test_TC_A_06_CS_tls_version_too_low_refused(tmp_path: Path, pki: Pki) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = pki.server_context(tls_version=ssl.TLSVersion.TLSv1_1)
    except (ssl.SSLError, ValueError) as e:
        pytest.skip(f"this OpenSSL cannot make a TLS 1.1-only server: {e}")
    listener, thread = tls11_listener(old)
    port = listener.getsockname()[1]
    try:
        async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(), basic_auth={CS: PASSWORD},
                       ca_bundle=pki.root_file, accepted=False, port=port, start_csms=False) as r:
            await wait_until(lambda: r.session.connect_attempts >= 2)
            assert "TLS handshake" in (r.session.last_error or "")
            listener.close()
            await asyncio.to_thread(thread.join, 5)
            await r.csms.start()
            await r.session.wait_accepted(5)
            frame = await r.security_event("InvalidTLSVersion")
            assert "protocol version" in frame.payload["techInfo"]
    finally:
        listener.close()


async def test_TC_A_07_CS_profile_3_mutual_tls_without_basic_auth(tmp_path: Path, pki: Pki) -> None:
    server = pki.server_context(client_ca=pki.root_file)
    async with rig(tmp_path, pki, profile=3, csms_ssl=server, ca_bundle=pki.root_file,
                   client=(pki.client.cert_file, pki.client.key_file)) as r:
        assert r.session.transport.auth_header() == {}  # no Basic auth in profile 3
        assert peer_certificate(r.csms).serial_number == pki.client.cert.serial_number


async def test_profile_3_client_certificate_refused_by_the_csms(tmp_path: Path, pki: Pki) -> None:
    server = pki.server_context(client_ca=pki.root_file)
    async with rig(tmp_path, pki, profile=3, csms_ssl=server, ca_bundle=pki.root_file, accepted=False,
                   client=(pki.rogue_client.cert_file, pki.rogue_client.key_file)) as r:
        await wait_until(lambda: r.session.connect_attempts >= 2)
        assert not r.csms.is_connected(CS)
        await restart_with(r.csms, pki.server_context(client_ca=pki.other_root_file))  # now it trusts that CA
        await r.session.wait_accepted(5)
        await r.security_event("FailedToAuthenticateAtCsms")


# ---------------------------------------------------------------------- A01: Basic-auth password
async def test_TC_A_01_and_A_09_CS_new_password_then_reconnect_with_it(tmp_path: Path) -> None:
    auth = {CS: PASSWORD}
    async with rig(tmp_path, basic_auth=auth) as r:
        auth[CS] = NEW_PASSWORD  # the CSMS expects the new password from the next connection on
        mark = r.csms.mark()
        assert (await r.set_variable("SecurityCtrlr", "BasicAuthPassword", NEW_PASSWORD))["attributeStatus"] \
            == "Accepted"
        await r.wait("BootNotification", after=mark)
        await r.security_event("ReconfigurationOfSecurityParameters", after=mark)
        assert r.csms.station(CS).connect_count == 2
        await wait_until(lambda: r.manager.password == NEW_PASSWORD)
        assert r.session.transport.password == NEW_PASSWORD
        assert r.store.get("security")["password"] == NEW_PASSWORD  # survives a restart
        got = await r.call("GetVariables", {"getVariableData": [
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]})
        assert got["getVariableResult"][0]["attributeStatus"] == "Rejected"  # write-only


async def test_A01_new_password_refused_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    async with rig(tmp_path, basic_auth={CS: PASSWORD}) as r:
        mark = r.csms.mark()
        assert (await r.set_variable("SecurityCtrlr", "BasicAuthPassword", NEW_PASSWORD))["attributeStatus"] \
            == "Accepted"
        await r.wait("BootNotification", after=mark)  # back, with the old password
        await r.security_event("FailedToAuthenticateAtCsms", after=mark)
        assert [e.detail for e in r.csms.events if e.kind == "refused"] == ["basic auth: wrong password"]
        assert r.manager.password == PASSWORD and r.session.transport.password == PASSWORD


async def test_TC_A_10_CS_password_that_breaks_the_rules_is_rejected(tmp_path: Path) -> None:
    async with rig(tmp_path, basic_auth={CS: PASSWORD}) as r:
        result = await r.set_variable("SecurityCtrlr", "BasicAuthPassword", "short")
        assert result["attributeStatus"] == "Rejected"
        await r.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
        await r.wait("Heartbeat")
        assert r.csms.station(CS).connect_count == 1 and r.session.transport.password == PASSWORD


# ---------------------------------------------------------------------- A02: station certificate
async def test_TC_A_11_CS_update_station_certificate_on_request(tmp_path: Path, pki: Pki) -> None:
    server = pki.server_context(client_ca=pki.root_file)
    async with rig(tmp_path, pki, profile=3, csms_ssl=server, ca_bundle=pki.root_file,
                   client=(pki.client.cert_file, pki.client.key_file)) as r:
        res = await r.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        assert res["status"] == "Accepted"
        sign = await r.wait("SignCertificate")
        assert sign.payload["certificateType"] == STATION_CERT
        csr = x509.load_pem_x509_csr(sign.payload["csr"].encode())
        assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CS
        assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "OpenV2X"
        mark = r.csms.mark()
        chain = pki.root.sign_csr(sign.payload["csr"])
        res = await r.call("CertificateSigned", {"certificateChain": chain, "certificateType": STATION_CERT})
        assert res["status"] == "Accepted"
        await r.wait("BootNotification", after=mark)  # reconnected with the new certificate
        assert peer_certificate(r.csms) == x509.load_pem_x509_certificate(chain.encode())
        assert r.manager.certs.leaf(STATION_CERT) is not None


async def test_TC_A_12_CS_update_v2g_certificate_on_request(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path) as r:
        assert (await r.call("InstallCertificate", {"certificateType": "V2GRootCertificate",
                                                     "certificate": pki.root.pem}))["status"] == "Accepted"
        assert (await r.call("TriggerMessage", {"requestedMessage": "SignV2GCertificate"}))["status"] == "Accepted"
        sign = await r.wait("SignCertificate", lambda p: p.get("certificateType") == "V2GCertificate")
        res = await r.call("CertificateSigned", {"certificateChain": pki.root.sign_csr(sign.payload["csr"]),
                                                 "certificateType": "V2GCertificate"})
        assert res["status"] == "Accepted"
        ids = await r.call("GetInstalledCertificateIds", {"certificateType": ["V2GCertificateChain"]})
        assert ids["status"] == "Accepted" and len(ids["certificateHashDataChain"]) == 1


@pytest.mark.parametrize("problem", ["other_ca", "wrong_key", "garbage"])
async def test_TC_A_14_CS_invalid_station_certificate_rejected(tmp_path: Path, pki: Pki, problem: str) -> None:
    async with rig(tmp_path, ca_bundle=pki.root_file) as r:
        await r.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        sign = await r.wait("SignCertificate")
        chain = {"other_ca": pki.other.sign_csr(sign.payload["csr"]),
                 "wrong_key": pki.client.cert_file.read_text(),
                 "garbage": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"}[problem]
        res = await r.call("CertificateSigned", {"certificateChain": chain, "certificateType": STATION_CERT})
        assert res["status"] == "Rejected"
        await r.security_event("InvalidChargingStationCertificate")
        assert r.manager.certs.leaf(STATION_CERT) is None


async def test_TC_A_15_CS_sign_certificate_rejected_by_the_csms(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, ca_bundle=pki.root_file) as r:
        r.csms.behaviour.handlers["SignCertificate"] = lambda _id, _p: {"status": "Rejected"}
        await r.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        await r.wait("SignCertificate")
        await r.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
        await r.wait("Heartbeat")
        assert r.csms.station(CS).connect_count == 1 and r.manager.certs.leaf(STATION_CERT) is None


# ---------------------------------------------------------------------- A05: security profile upgrade
def network_profile(url: str, profile: int) -> dict[str, object]:
    return {"configurationSlot": 1, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
        "securityProfile": profile, "ocppInterface": "Wired0"}}


async def test_TC_A_19_CS_upgrade_security_profile_1_to_2(tmp_path: Path, pki: Pki) -> None:
    async with CsmsEmulator(protocols=("ocpp2.0.1",), basic_auth={CS: PASSWORD},
                            ssl_context=pki.server_context()) as tls, rig(tmp_path, basic_auth={CS: PASSWORD}) as r:
        root = {"certificateType": "CSMSRootCertificate", "certificate": pki.root.pem}
        assert (await r.call("InstallCertificate", root))["status"] == "Accepted"
        assert (await r.call("SetNetworkProfile", network_profile(tls.url, 2)))["status"] == "Accepted"
        assert (await r.set_variable("SecurityCtrlr", "SecurityProfile", "2"))["attributeStatus"] == "Accepted"
        await r.wait("BootNotification", csms=tls)
        await r.security_event("ReconfigurationOfSecurityParameters", csms=tls)
        await wait_until(lambda: r.manager.profile == 2)
        got = await r.call("GetVariables", {"getVariableData": [
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}]}, csms=tls)
        assert got["getVariableResult"][0]["attributeValue"] == "2"
        assert r.store.get("security")["profile"] == 2


async def test_A05_upgrade_that_fails_falls_back_to_the_previous_profile(tmp_path: Path, pki: Pki) -> None:
    async with CsmsEmulator(protocols=("ocpp2.0.1",), basic_auth={CS: PASSWORD},
                            ssl_context=pki.server_context(pki.rogue_server)) as tls, \
            rig(tmp_path, basic_auth={CS: PASSWORD}) as r:
        await r.call("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": pki.root.pem})
        await r.call("SetNetworkProfile", network_profile(tls.url, 2))
        mark = r.csms.mark()
        assert (await r.set_variable("SecurityCtrlr", "SecurityProfile", "2"))["attributeStatus"] == "Accepted"
        await r.wait("BootNotification", after=mark)  # back on the profile 1 CSMS
        await r.security_event("InvalidCsmsCertificate", after=mark)
        assert r.manager.profile == 1 and r.session.transport.security_profile == 1
        assert not tls.calls(CS)


async def test_TC_A_20_CS_upgrade_without_csms_root_certificate_rejected(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        result = await r.set_variable("SecurityCtrlr", "SecurityProfile", "2")
        assert result["attributeStatus"] == "Rejected"
        assert "CSMSRootCertificate" in result["attributeStatusInfo"]["additionalInfo"]
        res = await r.call("SetNetworkProfile", network_profile("wss://127.0.0.1:1/", 2))
        assert res["status"] == "Rejected"


async def test_TC_A_21_CS_upgrade_without_station_certificate_rejected(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, ca_bundle=pki.root_file) as r:
        result = await r.set_variable("SecurityCtrlr", "SecurityProfile", "3")
        assert result["attributeStatus"] == "Rejected"
        assert "ChargingStationCertificate" in result["attributeStatusInfo"]["additionalInfo"]


async def test_TC_A_22_CS_downgrade_security_profile_rejected(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(), basic_auth={CS: PASSWORD},
                   ca_bundle=pki.root_file) as r:
        assert (await r.set_variable("SecurityCtrlr", "SecurityProfile", "1"))["attributeStatus"] == "Rejected"
        res = await r.call("SetNetworkProfile", network_profile("ws://127.0.0.1:1/", 1))
        assert res["status"] == "Rejected"
        assert r.session.transport.security_profile == 2 and r.csms.station(CS).connect_count == 1
