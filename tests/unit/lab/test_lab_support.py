"""The real lab's support code that needs no binaries: pins, cache paths, TLS material."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.lab import paths
from tests.lab import pki
from tests.lab.control_plane import ControlPlane
from tests.lab.control_plane import ControlPlaneError


def test_versions_pins_kubernetes_and_etcd():
    pins = paths.versions()
    assert pins["KUBERNETES_VERSION"].startswith("v1.")
    assert pins["KUBERNETES_STAGING_VERSION"] == "v0." + pins["KUBERNETES_VERSION"][3:]
    assert pins["ETCD_VERSION"].startswith("v3.")


def test_versions_refuses_a_line_it_cannot_read(tmp_path):
    bad = tmp_path / "versions.env"
    bad.write_text("# pins\nKUBERNETES_VERSION=v1.37.2\nETCD_VERSION = v3.7.3\n")
    with pytest.raises(ValueError, match=r"versions.env:3: expected KEY=value .*'ETCD_VERSION = v3.7.3'"):
        paths.versions(bad)


def test_binaries_live_in_the_cache_outside_the_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("NETPOL_LAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    pins = paths.versions()
    binaries = paths.control_plane_binaries()
    kube = tmp_path / "netpol-aks" / "lab" / f"kubernetes-{pins['KUBERNETES_VERSION']}" / "bin"
    assert binaries["kube-apiserver"] == kube / "kube-apiserver"
    assert binaries["etcd"] == tmp_path / "netpol-aks" / "lab" / f"etcd-{pins['ETCD_VERSION']}" / "bin" / "etcd"
    monkeypatch.setenv("NETPOL_LAB_CACHE", str(tmp_path / "other"))
    assert paths.control_plane_binaries()["kube-scheduler"].is_relative_to(tmp_path / "other")


def test_certificates_chain_to_the_lab_ca_with_the_right_names(tmp_path):
    ca = pki.CertificateAuthority(tmp_path)
    pair = ca.issue("apiserver", "kube-apiserver", server=True, hosts=("127.0.0.1", "kubernetes.default.svc"))
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    cert.verify_directly_issued_by(ca.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["kubernetes.default.svc"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    client = x509.load_pem_x509_certificate(
        ca.issue("node", "system:node:n", organizations=("system:nodes",), client=True).cert.read_bytes()
    )
    assert client.subject.rfc4514_string() == "CN=system:node:n,O=system:nodes"
    for key in (pair.key, ca.key_file, tmp_path / "node.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_start_without_binaries_says_to_build_and_creates_nothing(tmp_path):
    state = tmp_path / "cp"
    plane = ControlPlane(state, binaries={"etcd": tmp_path / "missing" / "etcd"})
    with pytest.raises(ControlPlaneError, match=r"not built: etcd .*run `make lab-build`"):
        plane.start()
    assert not state.exists()
