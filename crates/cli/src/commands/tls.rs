//! `brook tls`: a self-signed CA and certificates it signs, as PEM files the
//! `ssl.*` properties take (for tests and trying TLS out; use a real PKI in
//! production).
//!
//!     brook tls ca --out ca/
//!     brook tls cert --ca ca/ --name broker1 --dns localhost --ip 127.0.0.1 --out broker1/

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};

#[derive(clap::Subcommand)]
pub enum TlsCommand {
    /// A new self-signed CA: DIR/ca.pem (the truststore) and DIR/ca-key.pem.
    Ca {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "Brook CA")]
        name: String,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// A certificate signed by the CA in --ca, for servers and clients:
    /// DIR/cert.pem (chain), DIR/key.pem and DIR/keystore.pem (key + chain,
    /// for ssl.keystore.location).
    Cert {
        #[arg(long)]
        ca: PathBuf,
        /// The subject's CN.
        #[arg(long)]
        name: String,
        /// The subject's OU (the principal mapping rules may key on it).
        #[arg(long)]
        ou: Option<String>,
        /// DNS names (subjectAltName), repeatable.
        #[arg(long)]
        dns: Vec<String>,
        /// IP addresses (subjectAltName), repeatable.
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        #[arg(long, default_value_t = 365)]
        days: i64,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: TlsCommand) -> anyhow::Result<()> {
    match cmd {
        TlsCommand::Ca { out, name, days } => {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = DistinguishedName::new();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            validity(&mut params, days);
            let cert = params.self_signed(&key)?;
            write(&out, "ca.pem", &cert.pem())?;
            write(&out, "ca-key.pem", &key.serialize_pem())?;
            println!("{}", out.join("ca.pem").display());
        }
        TlsCommand::Cert { ca, name, ou, dns, ip, days, out } => {
            let ca_pem = read(&ca.join("ca.pem"))?;
            let ca_key = KeyPair::from_pem(&read(&ca.join("ca-key.pem"))?).context("ca-key.pem")?;
            let issuer_params = CertificateParams::from_ca_cert_pem(&ca_pem).context("ca.pem")?;
            let issuer = issuer_params.self_signed(&ca_key)?;
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = DistinguishedName::new();
            if let Some(ou) = ou {
                params.distinguished_name.push(DnType::OrganizationalUnitName, ou);
            }
            params.distinguished_name.push(DnType::CommonName, name);
            for d in dns {
                params.subject_alt_names.push(SanType::DnsName(d.try_into()?));
            }
            for i in ip {
                params.subject_alt_names.push(SanType::IpAddress(i));
            }
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            validity(&mut params, days);
            let cert = params.signed_by(&key, &issuer, &ca_key)?;
            let chain = format!("{}{}", cert.pem(), ca_pem);
            write(&out, "cert.pem", &chain)?;
            write(&out, "key.pem", &key.serialize_pem())?;
            write(&out, "keystore.pem", &format!("{}{chain}", key.serialize_pem()))?;
            println!("{}", out.join("keystore.pem").display());
        }
    }
    Ok(())
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}
