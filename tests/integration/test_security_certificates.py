"""OCPP 2.0.1 certificate management (block M, charging-station side) over real sockets, and the persistence of
security events queued while the CSMS is unreachable. Names follow docs/reference/ocpp21_cs_testcases.tsv."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki import Ca, Pki
from security_rig import CS, PASSWORD, rig, wait_until

from chargepoint.persistence.store import StationStore

pytestmark = pytest.mark.timeout(30)

ROOTS = ["CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"), CS)


def expected_hash(cert: x509.Certificate) -> dict[str, str]:
    """CertificateHashData of a self-signed certificate, computed independently of the station's code."""
    point = cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"hashAlgorithm": "SHA256", "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(point).hexdigest(), "serialNumber": f"{cert.serial_number:x}"}


def install(cert_type: str, pem: str) -> dict[str, object]:
    return {"certificateType": cert_type, "certificate": pem}


@pytest.mark.parametrize(("case", "cert_type"), list(zip(["TC_M_01", "TC_M_02", "TC_M_03", "TC_M_04"], ROOTS,
                                                          strict=True)))
async def test_TC_M_01_to_04_CS_install_ca_certificate(tmp_path: Path, pki: Pki, case: str, cert_type: str) -> None:
    async with rig(tmp_path) as r:
        assert (await r.call("InstallCertificate", install(cert_type, pki.root.pem)))["status"] == "Accepted"
        assert (await r.call("InstallCertificate", install(cert_type, pki.root.pem)))["status"] == "Accepted"
        assert len(r.manager.certs.roots(cert_type)) == 1  # installing twice keeps one copy
        got = await r.call("GetVariables", {"getVariableData": [
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertificateEntries"}}]})
        assert got["getVariableResult"][0]["attributeValue"] == "1"


@pytest.mark.parametrize("problem", ["garbage", "expired", "not_a_ca", "two_certificates"])
async def test_TC_M_07_CS_install_invalid_certificate_rejected(tmp_path: Path, pki: Pki, problem: str) -> None:
    expired = Ca.create("Expired CA", not_before=pki.root.cert.not_valid_before_utc.replace(year=2020), days=10)
    pem = {"garbage": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "expired": expired.pem,
           "not_a_ca": pki.server.cert_file.read_text(), "two_certificates": pki.root.pem + pki.other.pem}[problem]
    async with rig(tmp_path) as r:
        res = await r.call("InstallCertificate", install("CSMSRootCertificate", pem))
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "InvalidCertificate"
        assert r.manager.certs.entries() == 0


async def test_TC_M_12_to_19_CS_retrieve_installed_certificate_ids(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path) as r:
        res = await r.call("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
        assert res["status"] == "NotFound"  # TC_M_19
        await r.call("InstallCertificate", install("CSMSRootCertificate", pki.root.pem))
        await r.call("InstallCertificate", install("ManufacturerRootCertificate", pki.other.pem))
        await r.call("InstallCertificate", install("V2GRootCertificate", pki.root.pem))
        await r.call("InstallCertificate", install("MORootCertificate", pki.other.pem))
        res = await r.call("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})  # TC_M_12
        assert res["status"] == "Accepted"
        assert res["certificateHashDataChain"] == [{"certificateType": "CSMSRootCertificate",
                                                    "certificateHashData": expected_hash(pki.root.cert)}]
        res = await r.call("GetInstalledCertificateIds", {"certificateType": ["ManufacturerRootCertificate"]})
        assert [c["certificateHashData"] for c in res["certificateHashDataChain"]] == [expected_hash(pki.other.cert)]
        both = await r.call("GetInstalledCertificateIds",  # TC_M_17
                            {"certificateType": ["CSMSRootCertificate", "ManufacturerRootCertificate"]})
        assert [c["certificateType"] for c in both["certificateHashDataChain"]] == [
            "CSMSRootCertificate", "ManufacturerRootCertificate"]
        everything = await r.call("GetInstalledCertificateIds", {})  # TC_M_18
        assert sorted(c["certificateType"] for c in everything["certificateHashDataChain"]) == sorted(ROOTS)
        res = await r.call("GetInstalledCertificateIds", {"certificateType": ["V2GCertificateChain"]})
        assert res["status"] == "NotFound"


async def test_TC_M_20_and_M_22_CS_delete_certificate(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path) as r:
        await r.call("InstallCertificate", install("ManufacturerRootCertificate", pki.root.pem))
        wanted = {"certificateHashData": expected_hash(pki.root.cert)}
        assert (await r.call("DeleteCertificate", wanted))["status"] == "Accepted"  # TC_M_20
        assert (await r.call("DeleteCertificate", wanted))["status"] == "NotFound"  # TC_M_22
        ids = await r.call("GetInstalledCertificateIds", {})
        assert ids["status"] == "NotFound"
        # serial numbers compare without leading zeros, hashes case-insensitively
        await r.call("InstallCertificate", install("ManufacturerRootCertificate", pki.root.pem))
        loose = dict(wanted["certificateHashData"])
        loose["serialNumber"] = ("0" + loose["serialNumber"])[-40:].upper()
        loose["issuerKeyHash"] = loose["issuerKeyHash"].upper()
        assert (await r.call("DeleteCertificate", {"certificateHashData": loose}))["status"] == "Accepted"


async def test_TC_M_23_CS_station_certificate_cannot_be_deleted(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, ca_bundle=pki.root_file) as r:
        await r.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        sign = await r.wait("SignCertificate")
        chain = pki.root.sign_csr(sign.payload["csr"])
        assert (await r.call("CertificateSigned", {"certificateChain": chain}))["status"] == "Accepted"
        leaf = x509.load_pem_x509_certificate(chain.encode())
        assert r.manager.certs.installed(None) == []  # no CA installed; the station's own certificate is not listed
        own = {"hashAlgorithm": "SHA256", "issuerNameHash": hashlib.sha256(leaf.issuer.public_bytes()).hexdigest(),
               "issuerKeyHash": expected_hash(pki.root.cert)["issuerKeyHash"],
               "serialNumber": f"{leaf.serial_number:x}"}
        res = await r.call("DeleteCertificate", {"certificateHashData": own})
        assert res["status"] == "Failed"
        assert r.manager.certs.leaf() is not None


async def test_last_csms_root_in_use_cannot_be_deleted(tmp_path: Path, pki: Pki) -> None:
    async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(), basic_auth={CS: PASSWORD},
                   ca_bundle=None, accepted=False) as r:
        await wait_until(lambda: r.session.connect_attempts >= 1)
        # no CA configured: install the CSMS root out of band (as a factory would) and connect with it
        assert r.manager.install_root("CSMSRootCertificate", pki.root.pem)[0] == "Accepted"
        r.manager.refresh()
        await r.session.wait_accepted(5)
        wanted = {"certificateHashData": expected_hash(pki.root.cert)}
        res = await r.call("DeleteCertificate", wanted)
        assert res["status"] == "Failed" and res["statusInfo"]["reasonCode"].startswith("the last CSMSRoot"[:20])
        await r.call("InstallCertificate", install("CSMSRootCertificate", pki.other.pem))
        assert (await r.call("DeleteCertificate", wanted))["status"] == "Accepted"  # another one remains


async def test_security_event_raised_offline_survives_a_restart(tmp_path: Path, pki: Pki) -> None:
    store = StationStore(tmp_path / "station.sqlite")
    async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(pki.rogue_server),
                   basic_auth={CS: PASSWORD}, ca_bundle=pki.root_file, accepted=False, store=store) as r:
        await wait_until(lambda: r.session.connect_attempts >= 2)
    queued = [m.action for m in store.queued()]
    assert [getattr(a, "kind", None) for a in queued] == ["StartupOfTheDevice", "InvalidCsmsCertificate"]
    # a new process: same store, the CSMS now has a good certificate
    async with rig(tmp_path, pki, profile=2, csms_ssl=pki.server_context(), basic_auth={CS: PASSWORD},
                   ca_bundle=pki.root_file, store=store, accepted=False) as r2:
        await r2.session.wait_accepted(5)
        invalid = await r2.security_event("InvalidCsmsCertificate")
        await r2.security_event("StartupOfTheDevice", after=invalid.index)  # this start's own, after the old ones
        assert r2.events() == ["StartupOfTheDevice", "InvalidCsmsCertificate", "StartupOfTheDevice"]
