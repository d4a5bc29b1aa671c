//! HTTPS with rustls: HTTP/2 and HTTP/1.1 offered by ALPN, and clear errors
//! for bad certificate settings.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, TestDb, madang};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

struct Certificate {
    der: CertificateDer<'static>,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
}

fn self_signed(dir: &std::path::Path) -> Certificate {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, issued.cert.pem()).unwrap();
    std::fs::write(&key_path, issued.signing_key.serialize_pem()).unwrap();
    Certificate { der: issued.cert.der().clone(), cert_path, key_path }
}

fn connector(cert: &Certificate, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    addr: &str,
    cert: &Certificate,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    connector(cert, alpn).connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_offers_http2_and_http1() {
    let db = TestDb::sqlite();
    let cert = self_signed(db.dir());
    let mut env = db.env();
    env.push(("MADANG_SERVER_TLS_CERT".into(), cert.cert_path.display().to_string()));
    env.push(("MADANG_SERVER_TLS_KEY".into(), cert.key_path.display().to_string()));
    let server = Server::spawn(&env);
    let addr = server.base.trim_start_matches("http://").to_string();

    let mut ready = None;
    for _ in 0..200 {
        if let Ok(stream) = connect(&addr, &cert, &[b"h2", b"http/1.1"]).await {
            ready = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h2 = ready.expect("TLS server did not come up");
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 is preferred");

    let mut http1 = connect(&addr, &cert, &[b"http/1.1"]).await.unwrap();
    assert_eq!(http1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    http1.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    http1.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"ready\""), "{response}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new().get(format!("{}/healthz", server.base)).send().await;
    assert!(plain.is_err());
}

#[test]
fn bad_tls_settings_are_configuration_errors() {
    let db = TestDb::sqlite();
    let cert = self_signed(db.dir());
    let garbage = db.dir().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let cases = [
        (cert.cert_path.display().to_string(), "/nonexistent/key.pem".to_string(), "cannot read TLS key"),
        (garbage.display().to_string(), cert.key_path.display().to_string(), "no certificate found"),
    ];
    for (cert_file, key_file, needle) in cases {
        let mut env = db.env();
        env.push(("MADANG_SERVER_TLS_CERT".into(), cert_file));
        env.push(("MADANG_SERVER_TLS_KEY".into(), key_file));
        let o = madang(&env, &["serve"], "");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}
