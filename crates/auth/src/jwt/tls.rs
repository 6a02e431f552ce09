//! TLS trust for the jwt/oidc fetches made with a configured CA PEM
//! (`jwks_ca_pem`, `oidc_discovery_ca_pem`): JWKS, discovery document and
//! OIDC token exchange.
//!
//! The CA PEM's certificates are the only trust anchors, checked by rustls'
//! WebPKI verifier. One case that verifier refuses is accepted, because Go's
//! crypto/x509 (Vault, OpenBao) accepts it and deployments rely on it: the
//! server's certificate *is* one of the configured CA certificates
//! (typically a self-signed certificate with `CA:TRUE` used directly as the
//! server's certificate; rustls-webpki refuses a CA certificate as an end
//! entity). Only then, and only when the DER is byte-for-byte one of the
//! configured certificates, the certificate is accepted after the checks Go
//! makes of such a one-certificate chain:
//! - it names the server (DNS or IP subjectAltName, as webpki checks it),
//! - now is within its notBefore..notAfter,
//! - an extendedKeyUsage extension, if present, includes serverAuth.
//!
//! Nothing else is relaxed: an untrusted certificate, a name mismatch or an
//! expired certificate is refused as before. The handshake signatures are
//! always checked by the WebPKI verifier (the server must hold the key).

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// A rustls client configuration trusting exactly the certificates of
/// `ca_pem` (see the module documentation), with the ALPN reqwest sets
/// itself for HTTP/2-or-1.1 clients.
pub(crate) fn client_config(ca_pem: &str) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = AnchorVerifier::new(ca_pem, provider.clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("could not build the TLS configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// WebPKI verification against the configured anchors, plus the
/// "server certificate is itself an anchor" case of the module docs.
#[derive(Debug)]
pub(crate) struct AnchorVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// The configured certificates, as DER, for the exact comparison.
    anchors: Vec<CertificateDer<'static>>,
}

impl AnchorVerifier {
    pub(crate) fn new(ca_pem: &str, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let anchors = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("could not parse the CA PEM: {e}"))?;
        if anchors.is_empty() {
            return Err("the CA PEM has no certificate".into());
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in &anchors {
            roots.add(c.clone()).map_err(|e| format!("could not parse the CA PEM: {e}"))?;
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("could not build the certificate verifier: {e}"))?;
        Ok(AnchorVerifier { inner, anchors })
    }

    /// The checks for a server certificate that is one of the anchors.
    fn verify_anchor_as_server(&self, cert: &CertificateDer<'_>, server_name: &ServerName<'_>, now: UnixTime) -> Result<(), rustls::Error> {
        use rustls::CertificateError as E;
        let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        let facts = facts(cert.as_ref()).map_err(|_| rustls::Error::InvalidCertificate(E::BadEncoding))?;
        let now = now.as_secs();
        if now < facts.not_before {
            return Err(rustls::Error::InvalidCertificate(E::NotValidYet));
        }
        if now > facts.not_after {
            return Err(rustls::Error::InvalidCertificate(E::Expired));
        }
        if !facts.server_auth {
            return Err(rustls::Error::InvalidCertificate(E::InvalidPurpose));
        }
        Ok(())
    }
}

impl ServerCertVerifier for AnchorVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        // Certificates are public: a plain comparison of the exact DER.
        if !self.anchors.iter().any(|a| a.as_ref() == end_entity.as_ref()) {
            return Err(refused);
        }
        // Report why the anchor itself does not fit (name, time, purpose),
        // which says more than webpki's "CA used as end entity".
        self.verify_anchor_as_server(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

// ---------------------------------------------------------------- certificate fields

/// What the anchor-as-server checks need from a certificate that webpki
/// has already parsed (so its outer structure is known to be sound).
struct Facts {
    /// Unix seconds.
    not_before: u64,
    not_after: u64,
    /// No extendedKeyUsage extension, or one that includes serverAuth.
    server_auth: bool,
}

/// 2.5.29.37, extendedKeyUsage (DER content octets).
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// 1.3.6.1.5.5.7.3.1, id-kp-serverAuth.
const OID_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue },
/// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
/// validity, subject, subjectPublicKeyInfo, [1] [2] unique ids OPTIONAL, [3] extensions OPTIONAL }.
fn facts(cert: &[u8]) -> der::Result<Facts> {
    use der::asn1::AnyRef;
    use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
    let context = |n: u32| Tag::ContextSpecific { constructed: true, number: TagNumber(n) };
    let mut r = SliceReader::new(cert)?;
    let facts = r.sequence(|cert| {
        let facts = cert.sequence(|tbs| {
            if Tag::peek(tbs)? == context(0) {
                AnyRef::decode(tbs)?;
            }
            for _ in 0..3 {
                AnyRef::decode(tbs)?; // serialNumber, signature, issuer
            }
            let (not_before, not_after) = tbs.sequence(|v| Ok::<_, der::Error>((time(v)?, time(v)?)))?;
            AnyRef::decode(tbs)?; // subject
            AnyRef::decode(tbs)?; // subjectPublicKeyInfo
            let mut server_auth = true;
            while !tbs.is_finished() {
                let field = AnyRef::decode(tbs)?;
                if field.tag() == context(3) {
                    server_auth = extensions_allow_server_auth(field.value())?;
                }
            }
            Ok::<_, der::Error>(Facts { not_before, not_after, server_auth })
        })?;
        AnyRef::decode(cert)?; // signatureAlgorithm
        AnyRef::decode(cert)?; // signatureValue
        Ok::<_, der::Error>(facts)
    })?;
    r.finish()?;
    Ok(facts)
}

/// Time ::= CHOICE { utcTime, generalTime }, as Unix seconds.
fn time<'a>(r: &mut impl der::Reader<'a>) -> der::Result<u64> {
    use der::asn1::{GeneralizedTime, UtcTime};
    use der::{Decode, Tag};
    let d =
        if Tag::peek(r)? == Tag::UtcTime { UtcTime::decode(r)?.to_unix_duration() } else { GeneralizedTime::decode(r)?.to_unix_duration() };
    Ok(d.as_secs())
}

/// Extensions ::= SEQUENCE OF Extension { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING };
/// the extendedKeyUsage one is a SEQUENCE OF KeyPurposeId. Like webpki for
/// a server certificate, serverAuth is required only when the extension is there.
fn extensions_allow_server_auth(explicit: &[u8]) -> der::Result<bool> {
    use der::asn1::{AnyRef, OctetStringRef};
    use der::{Decode, Reader, SliceReader, Tag, Tagged};
    let mut r = SliceReader::new(explicit)?;
    let allowed = r.sequence(|exts| {
        let mut allowed = true;
        while !exts.is_finished() {
            exts.sequence(|ext| {
                let id = AnyRef::decode(ext)?;
                if Tag::peek(ext)? == Tag::Boolean {
                    AnyRef::decode(ext)?;
                }
                let value = <&OctetStringRef>::decode(ext)?;
                if id.tag() == Tag::ObjectIdentifier && id.value() == OID_EXT_KEY_USAGE {
                    let mut v = SliceReader::new(value.as_bytes())?;
                    allowed = v.sequence(|purposes| {
                        let mut found = false;
                        while !purposes.is_finished() {
                            let p = AnyRef::decode(purposes)?;
                            found |= p.tag() == Tag::ObjectIdentifier && p.value() == OID_SERVER_AUTH;
                        }
                        Ok::<_, der::Error>(found)
                    })?;
                    v.finish()?;
                }
                Ok::<_, der::Error>(())
            })?;
        }
        Ok::<_, der::Error>(allowed)
    })?;
    r.finish()?;
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    //! Certificates made at test time with the `openssl` CLI.
    use super::*;
    use rustls::CertificateError as E;
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A self-signed certificate `<name>.pem` (key `<name>.key`), valid for 2
    /// days, subject CN=localhost, with the given v3 extension lines.
    fn self_signed(dir: &Path, name: &str, ext: &str) -> String {
        let cnf = format!("{name}.cnf");
        std::fs::write(
            dir.join(&cnf),
            format!("[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n[dn]\nCN = localhost\n[ext]\n{ext}\n"),
        )
        .unwrap();
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-config",
                &cnf,
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "2",
            ],
        );
        std::fs::read_to_string(dir.join(pem)).unwrap()
    }

    /// What hvac's test server uses: CA:TRUE, used as the server's own certificate.
    const CA_AS_SERVER: &str = "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, digitalSignature\nsubjectAltName = DNS:localhost, IP:127.0.0.1";

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn verify(ca_pem: &str, server_cert: &str, name: &str, now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        let v = AnchorVerifier::new(ca_pem, provider()).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(&der(server_cert), &[], &name, &[], now)
    }

    fn in_days(days: i64) -> UnixTime {
        let now = UnixTime::now().as_secs() as i64;
        UnixTime::since_unix_epoch(Duration::from_secs((now + days * 86400) as u64))
    }

    #[test]
    fn a_configured_ca_certificate_used_as_the_server_certificate_is_accepted() {
        let d = tempfile::tempdir().unwrap();
        let cert = self_signed(d.path(), "srv", CA_AS_SERVER);
        // The case at hand: rustls' own verifier refuses it...
        let roots = {
            let mut r = rustls::RootCertStore::empty();
            r.add(der(&cert)).unwrap();
            Arc::new(r)
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider()).build().unwrap();
        let localhost = ServerName::try_from("localhost").unwrap();
        assert!(webpki.verify_server_cert(&der(&cert), &[], &localhost, &[], UnixTime::now()).is_err());
        // ...and Go (so Vault) accepts it, for both of its names.
        verify(&cert, &cert, "localhost", UnixTime::now()).unwrap();
        verify(&cert, &cert, "127.0.0.1", UnixTime::now()).unwrap();
        // Among other CA certificates in the PEM, too.
        let other = self_signed(d.path(), "other", CA_AS_SERVER);
        verify(&format!("{other}{cert}"), &cert, "localhost", UnixTime::now()).unwrap();
    }

    #[test]
    fn the_anchor_for_another_name_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let cert = self_signed(d.path(), "srv", CA_AS_SERVER);
        for name in ["example.com", "127.0.0.2"] {
            let e = verify(&cert, &cert, name, UnixTime::now()).unwrap_err();
            assert!(matches!(e, rustls::Error::InvalidCertificate(E::NotValidForName | E::NotValidForNameContext { .. })), "{name}: {e:?}");
        }
    }

    #[test]
    fn the_anchor_outside_its_validity_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let cert = self_signed(d.path(), "srv", CA_AS_SERVER);
        // Valid from now for 2 days.
        verify(&cert, &cert, "localhost", in_days(1)).unwrap();
        let e = verify(&cert, &cert, "localhost", in_days(3)).unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(E::Expired)), "{e:?}");
        let e = verify(&cert, &cert, "localhost", in_days(-1)).unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(E::NotValidYet)), "{e:?}");
    }

    #[test]
    fn the_anchor_whose_key_usage_excludes_server_auth_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let client_only = self_signed(d.path(), "c", &format!("{CA_AS_SERVER}\nextendedKeyUsage = clientAuth"));
        let e = verify(&client_only, &client_only, "localhost", UnixTime::now()).unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(E::InvalidPurpose)), "{e:?}");
        let server = self_signed(d.path(), "s", &format!("{CA_AS_SERVER}\nextendedKeyUsage = clientAuth, serverAuth"));
        verify(&server, &server, "localhost", UnixTime::now()).unwrap();
    }

    #[test]
    fn a_self_signed_certificate_not_in_the_pem_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let trusted = self_signed(d.path(), "trusted", CA_AS_SERVER);
        // Same subject and names as the trusted one, another key.
        let impostor = self_signed(d.path(), "impostor", CA_AS_SERVER);
        assert_ne!(der(&trusted), der(&impostor));
        verify(&trusted, &impostor, "localhost", UnixTime::now()).unwrap_err();
        // Also when it is not a CA certificate.
        let leafish = self_signed(d.path(), "leafish", "basicConstraints = critical, CA:FALSE\nsubjectAltName = DNS:localhost");
        verify(&trusted, &leafish, "localhost", UnixTime::now()).unwrap_err();
    }

    #[test]
    fn a_leaf_signed_by_the_ca_is_accepted_as_before() {
        let d = tempfile::tempdir().unwrap();
        let ca = self_signed(d.path(), "ca", "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign");
        openssl(
            d.path(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            d.path().join("leaf.ext"),
            "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost\n",
        )
        .unwrap();
        openssl(
            d.path(),
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        let leaf = std::fs::read_to_string(d.path().join("leaf.pem")).unwrap();
        verify(&ca, &leaf, "localhost", UnixTime::now()).unwrap();
        verify(&ca, &leaf, "example.com", UnixTime::now()).unwrap_err();
        verify(&ca, &leaf, "localhost", in_days(40)).unwrap_err();
    }

    #[test]
    fn a_pem_without_certificates_is_refused() {
        assert_eq!(AnchorVerifier::new("no PEM here", provider()).unwrap_err(), "the CA PEM has no certificate");
        let e = AnchorVerifier::new("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", provider()).unwrap_err();
        assert!(e.starts_with("could not parse the CA PEM"), "{e}");
    }

    /// A TLS server on loopback that answers one request with `{"ok":true}`
    /// over HTTP/1.1; returns its port and the ALPN protocol it negotiated.
    async fn serve_once(dir: &Path, name: &str) -> (u16, tokio::task::JoinHandle<Option<Vec<u8>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let certs = vec![CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.ok()?;
            let mut tls = acceptor.accept(tcp).await.ok()?;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tls.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let body = br#"{"ok":true}"#;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            tls.write_all(head.as_bytes()).await.ok()?;
            tls.write_all(body).await.ok()?;
            tls.shutdown().await.ok()?;
            alpn
        });
        (port, task)
    }

    #[tokio::test]
    async fn the_fetch_client_reaches_a_server_whose_certificate_is_the_ca() {
        let d = tempfile::tempdir().unwrap();
        let cert = self_signed(d.path(), "srv", CA_AS_SERVER);
        let (port, server) = serve_once(d.path(), "srv").await;
        let c = crate::jwt::keys::client(&cert).unwrap();
        let doc = crate::jwt::keys::get_json(&c, &format!("https://127.0.0.1:{port}/")).await.unwrap();
        assert_eq!(doc, serde_json::json!({"ok": true}));
        // The client offered ALPN as reqwest does (h2, http/1.1); this server speaks only the latter.
        assert_eq!(server.await.unwrap().as_deref(), Some(&b"http/1.1"[..]));
    }

    #[tokio::test]
    async fn the_fetch_client_refuses_a_server_whose_certificate_is_not_configured() {
        let d = tempfile::tempdir().unwrap();
        let trusted = self_signed(d.path(), "trusted", CA_AS_SERVER);
        self_signed(d.path(), "srv", CA_AS_SERVER);
        let (port, server) = serve_once(d.path(), "srv").await;
        let c = crate::jwt::keys::client(&trusted).unwrap();
        let e = crate::jwt::keys::get_json(&c, &format!("https://127.0.0.1:{port}/")).await.unwrap_err();
        assert!(e.starts_with("fetching https://127.0.0.1:"), "{e}");
        assert_eq!(server.await.unwrap(), None);
    }
}
