//! Certificates made for one test: a server CA and the server's certificate (localhost,
//! 127.0.0.1), a unit CA and a unit system's client certificate, and a stranger CA with a
//! client certificate minhu was never told about. PEM files in a directory that lives as long
//! as the value.

use std::path::{Path, PathBuf};

use minhu::client::ClientTls;
use minhu_core::config::TlsSettings;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub struct TestPki {
    dir: tempfile::TempDir,
}

/// A certificate and its key, as PEM files.
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestPki {
    pub fn generate() -> TestPki {
        let dir = tempfile::tempdir().expect("temp dir");
        let server_ca = ca("minhu test server CA");
        let unit_ca = ca("minhu test unit CA");
        let stranger_ca = ca("a CA minhu does not know");
        write(dir.path(), "server-ca.crt", &server_ca.0);
        write(dir.path(), "unit-ca.crt", &unit_ca.0);
        write(dir.path(), "stranger-ca.crt", &stranger_ca.0);
        leaf(
            dir.path(),
            "server",
            &server_ca.1,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        leaf(
            dir.path(),
            "unit",
            &unit_ca.1,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        leaf(
            dir.path(),
            "stranger",
            &stranger_ca.1,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        TestPki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pair(&self, name: &str) -> Pair {
        Pair {
            cert: self.path(&format!("{name}.crt")),
            key: self.path(&format!("{name}.key")),
        }
    }

    /// The `[tls]` settings of a server; `mutual` adds the unit CA as client CA.
    pub fn server_settings(&self, mutual: bool) -> TlsSettings {
        let server = self.pair("server");
        TlsSettings {
            cert_file: server.cert,
            key_file: server.key,
            client_ca_file: mutual.then(|| self.path("unit-ca.crt")),
        }
    }

    /// The server CA's certificate (PEM), for clients other than minhu's own.
    pub fn server_ca(&self) -> PathBuf {
        self.path("server-ca.crt")
    }

    /// A client trusting the server CA, without a certificate of its own.
    pub fn client(&self) -> ClientTls {
        ClientTls {
            ca_file: Some(self.path("server-ca.crt")),
            ..ClientTls::default()
        }
    }

    /// A client trusting the server CA, presenting the named certificate ("unit", "stranger").
    pub fn client_with(&self, name: &str) -> ClientTls {
        let pair = self.pair(name);
        ClientTls {
            ca_file: Some(self.path("server-ca.crt")),
            cert_file: Some(pair.cert),
            key_file: Some(pair.key),
        }
    }

    /// A client that trusts some other CA, not the server's.
    pub fn client_trusting_a_stranger(&self) -> ClientTls {
        ClientTls {
            ca_file: Some(self.path("stranger-ca.crt")),
            ..ClientTls::default()
        }
    }
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(
    dir: &Path,
    name: &str,
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("certificate");
    write(dir, &format!("{name}.crt"), &cert.pem());
    write(dir, &format!("{name}.key"), &key.serialize_pem());
}

fn write(dir: &Path, name: &str, pem: &str) {
    std::fs::write(dir.join(name), pem).expect("write PEM");
}
