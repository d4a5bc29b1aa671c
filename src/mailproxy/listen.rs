//! The mail listeners' sockets: binding, implicit TLS, STARTTLS upgrades, and the connection
//! limits checked before a single byte of the protocol is read.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{ConnSlot, MailProxy};
use crate::config::TlsFiles;

/// Which protocol a listener speaks, and whether TLS starts with the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IMAP, STARTTLS (143-style).
    Imap,
    /// IMAP over implicit TLS (993-style).
    Imaps,
    /// SMTP submission, STARTTLS required (587-style).
    Submission,
    /// SMTP submission over implicit TLS (465-style).
    Submissions,
}

impl Kind {
    pub fn implicit_tls(self) -> bool {
        matches!(self, Kind::Imaps | Kind::Submissions)
    }

    fn is_imap(self) -> bool {
        matches!(self, Kind::Imap | Kind::Imaps)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Imap => "imap",
            Kind::Imaps => "imaps",
            Kind::Submission => "submission",
            Kind::Submissions => "submissions",
        }
    }

    /// What a connection over the limit is told before it is closed (RFC 9051 §7.1.5 `BYE`,
    /// RFC 5321 §3.8 421).
    fn refusal(self) -> &'static [u8] {
        if self.is_imap() {
            b"* BYE [UNAVAILABLE] Too many connections; try again later\r\n"
        } else {
            b"421 4.7.0 Too many connections; try again later\r\n"
        }
    }
}

/// A client connection, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Between a plain stream and its TLS upgrade, or after a failed one: every I/O fails.
    Closed,
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "the connection is closed")
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Closed => false,
        }
    }
}

/// One accepted connection, handed to `imap::serve` or `smtp::serve`.
pub struct Conn {
    pub stream: Stream,
    pub peer: SocketAddr,
    pub kind: Kind,
    /// For STARTTLS on a plain listener; `None` when no certificate is configured (loopback
    /// only, see `config::mail_proxy`).
    pub tls: Option<TlsAcceptor>,
    /// This connection's place among the open ones; given back when it is dropped.
    pub slot: ConnSlot,
}

impl Conn {
    /// Whether a password may be sent on this connection now: over TLS, or from this machine
    /// (RFC 9051 §6.2.3 `LOGINDISABLED`, RFC 8314 §3).
    pub fn may_log_in(&self) -> bool {
        self.stream.is_tls() || self.peer.ip().is_loopback()
    }

    /// Upgrades a plain connection (STARTTLS, RFC 9051 §6.2.1, RFC 3207). The caller has
    /// already dropped whatever the client sent after the command (CVE-2011-0411).
    pub async fn start_tls(&mut self, timeout: std::time::Duration) -> std::io::Result<()> {
        let Some(acceptor) = self.tls.clone() else {
            return Err(std::io::Error::other("no certificate"));
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(std::io::Error::other("TLS is already on"));
        };
        let tls = tokio::time::timeout(timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }
}

/// The listeners' TLS: the server's certificate, with ALPN limited to the protocol spoken so a
/// browser's `http/1.1` is refused in the handshake (ALPACA, CLIENTS.md).
pub fn tls_acceptor(files: &TlsFiles, protocol: &[u8]) -> Result<TlsAcceptor, String> {
    let config = crate::http::server::tls_config(files)?;
    let mut config = (*config).clone();
    config.alpn_protocols = vec![protocol.to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds `addr` and serves `kind` on it until the server shuts down. Returns the bound
/// address (port 0 picks one: tests).
pub async fn bind(proxy: Arc<MailProxy>, kind: Kind, addr: SocketAddr) -> Result<SocketAddr, String> {
    let tls = match &proxy.config.tls {
        Some(files) => Some(tls_acceptor(files, if kind.is_imap() { b"imap" } else { b"smtp" })?),
        None => None,
    };
    let listener =
        TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr} ({}): {e}", kind.name()))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(protocol = kind.name(), "mail listener on {local}");
    tokio::spawn(accept_loop(proxy, kind, listener, tls));
    Ok(local)
}

/// Every listener the configuration names; their addresses, in the order imap, imaps,
/// submission, submissions.
pub async fn spawn_configured(proxy: Arc<MailProxy>) -> Result<Vec<(Kind, SocketAddr)>, String> {
    let c = proxy.config.clone();
    let mut bound = Vec::new();
    for (kind, addr) in [
        (Kind::Imap, c.imap_listen),
        (Kind::Imaps, c.imaps_listen),
        (Kind::Submission, c.submission_listen),
        (Kind::Submissions, c.submissions_listen),
    ] {
        if let Some(addr) = addr {
            bound.push((kind, bind(proxy.clone(), kind, addr).await?));
        }
    }
    Ok(bound)
}

async fn accept_loop(proxy: Arc<MailProxy>, kind: Kind, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let shutdown = proxy.shutting_down();
    tokio::pin!(shutdown);
    loop {
        let (mut stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "mail accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(slot) = proxy.connection_slot(peer.ip()) else {
            metrics::counter!("madang_mailproxy_refused_total", "reason" => "limit").increment(1);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                    if kind.implicit_tls() {
                        // Nothing can be said before a handshake that is not made.
                        return;
                    }
                    let _ = stream.write_all(kind.refusal()).await;
                    let _ = stream.shutdown().await;
                })
                .await;
            });
            continue;
        };
        let proxy = proxy.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let stream = if kind.implicit_tls() {
                let Some(acceptor) = tls.clone() else { return };
                match tokio::time::timeout(proxy.config.login_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, %peer, "mail TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                }
            } else {
                Stream::Plain(stream)
            };
            let conn = Conn { stream, peer, kind, tls, slot };
            if kind.is_imap() {
                super::imap::serve(proxy, conn).await;
            } else {
                super::smtp::serve(proxy, conn).await;
            }
        });
    }
}
