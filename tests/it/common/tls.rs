//! A private CA for the TLS tests, made by `scripts/test-ca.sh` (openssl): the CA certificate,
//! server certificates for localhost/127.0.0.1, and what clients need to trust them.

use std::path::{Path, PathBuf};
use std::process::Command;

use vidstream::config::TlsSettings;

/// A CA in a directory, with a first server certificate ("server") issued.
pub struct TestCa {
    pub dir: PathBuf,
}

impl TestCa {
    /// Makes the CA and the "server" certificate under `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let ca = TestCa {
            dir: dir.to_owned(),
        };
        ca.issue("server");
        ca
    }

    /// Issues another server certificate: `(NAME.pem, NAME.key)`.
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-ca.sh");
        let out = Command::new(script)
            .arg(&self.dir)
            .arg(name)
            .output()
            .expect("scripts/test-ca.sh runs");
        assert!(
            out.status.success(),
            "test-ca.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        )
    }

    /// The CA certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// `[tls]` serving the "server" certificate.
    pub fn settings(&self) -> TlsSettings {
        TlsSettings {
            cert_file: Some(self.dir.join("server.pem")),
            key_file: Some(self.dir.join("server.key")),
            ..TlsSettings::default()
        }
    }

    /// A reqwest client trusting only this CA.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(self.ca_file()).unwrap();
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    /// The DER of the first certificate in a PEM file.
    pub fn der(pem_file: &Path) -> Vec<u8> {
        use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
        CertificateDer::from_pem_file(pem_file).unwrap().to_vec()
    }

    /// Base64 SHA-256 of the public key of `cert` (Chromium's
    /// `--ignore-certificate-errors-spki-list` form).
    pub fn spki_sha256(cert: &Path) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(
                "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der \
                 | openssl dgst -sha256 -binary | base64",
            )
            .arg("sh")
            .arg(cert)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}
