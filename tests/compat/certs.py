"""Test certificates (PEM) made with the `cryptography` package: a CA, and
server/client certificates it signs, optionally expired or from another CA.
Shared by the TLS, SASL_SSL and ACL tests.

    ca = CA(tmp_path / "ca")
    server = ca.issue(tmp_path / "broker", "broker1", dns=["localhost"], ips=["127.0.0.1"])
    client = ca.issue(tmp_path / "alice", "alice", ou="eng")
    server.keystore   # key + chain in one PEM file (ssl.keystore.location)
    client.cert, client.key, ca.cert
"""

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn, ou=None, o=None):
    attrs = []
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class Issued:
    """A key and certificate written to DIR: key.pem, cert.pem (with the CA
    after it), keystore.pem (key then chain)."""

    def __init__(self, directory, key, cert, ca_cert):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.serial = cert.serial_number
        self.subject = cert.subject.rfc4514_string()
        self.key = self.dir / "key.pem"
        self.cert = self.dir / "cert.pem"
        self.keystore = self.dir / "keystore.pem"
        chain = _cert_pem(cert) + _cert_pem(ca_cert)
        self.key.write_bytes(_key_pem(key))
        self.cert.write_bytes(chain)
        self.keystore.write_bytes(_key_pem(key) + chain)


class CA:
    def __init__(self, directory, name="Brook Test CA"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = _name(name, o="Brook")
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert = self.dir / "ca.pem"
        self.cert.write_bytes(_cert_pem(self.certificate))

    def issue(self, directory, cn, ou=None, o=None, dns=(), ips=(), expired=False, days=30):
        """Signs a certificate for `cn` (server and client use). SANs from
        `dns`/`ips`; `expired` makes one whose validity ended yesterday."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            start, end = now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
        else:
            start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, ou=ou, o=o)).issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
        )
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(directory, key, cert, self.certificate)


def server_settings(ca, server, client_auth="required"):
    """Broker properties for SSL listeners with `server`'s keystore."""
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(server.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca.cert),
        "ssl.client.auth": client_auth,
    }


if __name__ == "__main__":
    # python3 certs.py DIR: DIR/ca/ca.pem, DIR/server (localhost, 127.0.0.1)
    # and DIR/alice (CN=alice,OU=eng,O=Brook), for the Java and Go tests.
    import sys

    out = Path(sys.argv[1])
    authority = CA(out / "ca")
    authority.issue(out / "server", "localhost", dns=["localhost"], ips=["127.0.0.1"])
    authority.issue(out / "alice", "alice", ou="eng", o="Brook")
