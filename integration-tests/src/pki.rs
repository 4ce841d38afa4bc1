//! A certificate authority made for one test run: a CA, a broker certificate for
//! `localhost`/`127.0.0.1`, and client certificates whose common name is the principal the
//! broker maps them to. Keys are ECDSA P-256, made with the system OpenSSL (which librdkafka
//! links anyway); everything is written as PEM, the broker's key store as PKCS#12.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::symm::Cipher;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

/// The password of the broker's PKCS#12 key store and of its key.
pub const BROKER_STORE_PASSWORD: &str = "broker-store-pass";

/// A key and its certificate.
struct Issued {
    key: PKey<Private>,
    cert: X509,
}

/// The files of one test run's certificate authority, in a directory the caller owns.
#[derive(Debug, Clone)]
pub struct TestPki {
    dir: PathBuf,
}

/// A client's certificate and key files (the key encrypted with `key_password`).
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The certificate (PEM).
    pub certificate: PathBuf,
    /// The private key (PKCS#8 PEM, encrypted).
    pub key: PathBuf,
    /// The password of the key.
    pub key_password: String,
}

impl TestPki {
    /// Makes a CA and a broker certificate in `dir`, and a client certificate for each of
    /// `clients` (common name = principal name).
    pub fn create(dir: &Path, clients: &[&str]) -> Result<TestPki> {
        fs::create_dir_all(dir)?;
        let ca = issue("kstreams test CA", None, Role::Ca).context("making the test CA")?;
        fs::write(dir.join("ca.pem"), ca.cert.to_pem()?)?;
        let broker =
            issue("localhost", Some(&ca), Role::Server).context("making the broker certificate")?;
        let store = Pkcs12::builder()
            .name("broker")
            .pkey(&broker.key)
            .cert(&broker.cert)
            .build2(BROKER_STORE_PASSWORD)?;
        fs::write(dir.join("broker.p12"), store.to_der()?)?;
        // The same certificate and key as PEM, for servers that read PEM (the TLS proxy).
        fs::write(dir.join("broker.pem"), broker.cert.to_pem()?)?;
        fs::write(
            dir.join("broker.key"),
            broker.key.private_key_to_pem_pkcs8()?,
        )?;
        let pki = TestPki {
            dir: dir.to_owned(),
        };
        for name in clients {
            let client = issue(name, Some(&ca), Role::Client)
                .with_context(|| format!("making the client certificate of {name}"))?;
            let cert = pki.client(name);
            fs::write(&cert.certificate, client.cert.to_pem()?)?;
            fs::write(
                &cert.key,
                client.key.private_key_to_pem_pkcs8_passphrase(
                    Cipher::aes_256_cbc(),
                    cert.key_password.as_bytes(),
                )?,
            )?;
        }
        Ok(pki)
    }

    /// The CA certificate (PEM): `ssl.ca.location` for clients, the broker's trust store.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The broker's key store (PKCS#12, password [`BROKER_STORE_PASSWORD`]).
    pub fn broker_store(&self) -> PathBuf {
        self.dir.join("broker.p12")
    }

    /// The server certificate (for `localhost` and `127.0.0.1`) and its unencrypted key, PEM.
    pub fn server_pem(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("broker.pem"), self.dir.join("broker.key"))
    }

    /// The files of the client certificate made for `name`.
    pub fn client(&self, name: &str) -> ClientCert {
        ClientCert {
            certificate: self.dir.join(format!("{name}.crt")),
            key: self.dir.join(format!("{name}.key")),
            key_password: format!("{name}-key-pass"),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Ca,
    Server,
    Client,
}

/// A certificate for `common_name`, signed by `issuer` (self-signed when `None`), valid
/// from a day ago for thirty days.
fn issue(common_name: &str, issuer: Option<&Issued>, role: Role) -> Result<Issued> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))?;
    b.set_pubkey(&key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let (not_before, not_after) = (
        Asn1Time::from_unix(now - 86_400)?,
        Asn1Time::from_unix(now + 30 * 86_400)?,
    );
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    match role {
        Role::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()?,
            )?;
        }
        Role::Server | Role::Client => {
            b.append_extension(BasicConstraints::new().critical().build()?)?;
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_agreement()
                    .build()?,
            )?;
            let mut usage = ExtendedKeyUsage::new();
            if role == Role::Server {
                usage.server_auth();
            }
            b.append_extension(usage.client_auth().build()?)?;
        }
    }
    if role == Role::Server {
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .build(&b.x509v3_context(issuer.map(|i| &*i.cert), None))?;
        b.append_extension(san)?;
    }
    b.sign(issuer.map_or(&key, |i| &i.key), MessageDigest::sha256())?;
    Ok(Issued {
        key,
        cert: b.build(),
    })
}
