//! The TLS pieces end to end over loopback: a client certificate becomes the
//! principal through the mapping rules; plain text, an untrusted client and
//! a client that does not trust the server fail the handshake (an error, no
//! panic); a changed keystore file is served to the next connection.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use brook_security::listener_tls::ListenerTls;
use brook_security::stream::Stream;
use brook_security::tls::TlsSettings;
use brook_security::SecurityProtocol;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    Ca { cert: params.self_signed(&key).unwrap(), key }
}

/// key + chain PEM of a certificate for `cn` (OU `ou`) signed by `ca`.
fn issue(ca: &Ca, cn: &str, ou: &str) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    // Subject order OU, CN: RFC 2253 prints it reversed, CN first.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationalUnitName, ou);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    format!("{}{}{}", key.serialize_pem(), cert.pem(), ca.cert.pem())
}

fn settings(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Accepts one connection with `tls`; returns the handshake's outcome
/// (the principal's text) after echoing one byte.
async fn serve_one(listener: &TcpListener, tls: &ListenerTls) -> Result<Option<String>, String> {
    let (tcp, _) = listener.accept().await.unwrap();
    let (mut stream, principal) = tls.handshake(tcp).await?;
    let mut b = [0u8; 1];
    if stream.read_exact(&mut b).await.is_ok() {
        let _ = stream.write_all(&b).await;
        let _ = stream.flush().await;
    }
    Ok(principal.map(|p| p.to_string()))
}

async fn client(addr: &str, props: &BTreeMap<String, String>) -> std::io::Result<Vec<u8>> {
    let config = TlsSettings::from_properties(&|n| props.get(n).cloned()).unwrap().client_config().unwrap();
    let mut stream = Stream::connect(addr, Some(&config), Duration::from_secs(5)).await?;
    stream.write_all(b"x").await?;
    stream.flush().await?;
    let mut b = [0u8; 1];
    stream.read_exact(&mut b).await?;
    Ok(stream.peer_certificate().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_principals_refusals_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let ca1 = ca("CA one");
    let rogue = ca("Rogue");
    let trust = write(dir.path(), "ca.pem", &ca1.cert.pem());
    let rogue_trust = write(dir.path(), "rogue.pem", &rogue.cert.pem());
    let keystore = write(dir.path(), "server.pem", &issue(&ca1, "server", "brokers"));
    let server = settings(&[
        ("ssl.keystore.location", keystore.clone()),
        ("ssl.truststore.location", trust.clone()),
        ("ssl.client.auth", "required".into()),
        ("ssl.principal.mapping.rules", "RULE:^CN=([a-z]+),OU=eng$/$1/U".into()),
    ]);
    let tls = ListenerTls::new(SecurityProtocol::Ssl, &|n| server.get(n).cloned()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    // alice (OU=eng) maps to ALICE.
    let alice = settings(&[
        ("ssl.keystore.location", write(dir.path(), "alice.pem", &issue(&ca1, "alice", "eng"))),
        ("ssl.truststore.location", trust.clone()),
    ]);
    let (served, seen) = tokio::join!(serve_one(&listener, &tls), client(&addr, &alice));
    assert_eq!(served.unwrap().as_deref(), Some("User:ALICE"));
    let first_cert = seen.unwrap();

    // bob (OU=ops) matches no rule: refused.
    let bob = settings(&[
        ("ssl.keystore.location", write(dir.path(), "bob.pem", &issue(&ca1, "bob", "ops"))),
        ("ssl.truststore.location", trust.clone()),
    ]);
    let (served, _) = tokio::join!(serve_one(&listener, &tls), client(&addr, &bob));
    assert!(served.unwrap_err().contains("no ssl.principal.mapping.rules rule applies"));

    // A client certificate from another CA.
    let mallory = settings(&[
        ("ssl.keystore.location", write(dir.path(), "mallory.pem", &issue(&rogue, "mallory", "eng"))),
        ("ssl.truststore.location", trust.clone()),
    ]);
    let (served, seen) = tokio::join!(serve_one(&listener, &tls), client(&addr, &mallory));
    assert!(served.is_err() && seen.is_err());

    // A client that does not trust the server.
    let doubtful = settings(&[
        ("ssl.keystore.location", write(dir.path(), "alice2.pem", &issue(&ca1, "alice", "eng"))),
        ("ssl.truststore.location", rogue_trust),
    ]);
    let (served, seen) = tokio::join!(serve_one(&listener, &tls), client(&addr, &doubtful));
    assert!(served.is_err() && seen.is_err());

    // Plain text (a Kafka request) to the TLS port.
    let plain = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = s.write_all(&[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0]).await;
        let mut b = [0u8; 1];
        let _ = s.read(&mut b).await;
    };
    let (served, ()) = tokio::join!(serve_one(&listener, &tls), plain);
    assert!(served.is_err());

    // A new keystore file: the next connection (after the 1 s check) gets it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&keystore, issue(&ca1, "server-renewed", "brokers")).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (served, seen) = tokio::join!(serve_one(&listener, &tls), client(&addr, &alice));
    assert_eq!(served.unwrap().as_deref(), Some("User:ALICE"));
    let renewed = seen.unwrap();
    assert_ne!(renewed, first_cert);
    assert!(brook_security::tls::subject_dn(&renewed).unwrap().starts_with("CN=server-renewed,OU=brokers"));
}
