//! The gRPC listener's connections: plaintext or TLS (rustls), each given a deadline to start
//! speaking HTTP/2, so clients that connect and stall (slow-loris) cannot hold the listener.
//! With gRPC-Web on (`[web]`), HTTP/1.1 clients get the same deadline for their first 24
//! bytes, hyper's header read timeout (30 s) for the rest of their request head, and
//! [`crate::web::WEB_REQUEST_TIMEOUT`] for the rest of the request.
//!
//! Connections are accepted in one task and set up (TLS handshake) each in a task of its own:
//! a client that stalls mid-handshake delays no one else. Once HTTP/2 runs, the server's
//! keepalive pings (see [`KEEPALIVE_INTERVAL`]) close connections whose peer stopped answering.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use minhu_core::config::TlsSettings;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

/// From accept to the end of the HTTP/2 client preface (TLS handshake included). A real client
/// sends both within a few round trips; a slow-loris client never finishes them.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/2 connection may be silent before the server pings it. Healthy clients
/// answer at once (idle or streaming alike); a peer that stalls mid-request does not.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long the server waits for a ping's answer before it closes the connection.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`: what every HTTP/2 client sends first.
const PREFACE_LEN: usize = 24;
/// Connections set up but not yet taken by the server.
const BACKLOG: usize = 128;
/// A failed accept (e.g. out of file descriptors) is retried after this pause, not in a spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The server side of TLS, read from the configured PEM files.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    client_certificates: bool,
}

impl Tls {
    /// Reads and checks the certificate, key and client CA files. `http1`: offer HTTP/1.1 in
    /// ALPN beside HTTP/2 (browsers and plain HTTP clients calling gRPC-Web).
    pub fn from_settings(settings: &TlsSettings, http1: bool) -> anyhow::Result<Tls> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let chain = certificates(&settings.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&settings.key_file)
            .with_context(|| format!("tls.key_file {}", settings.key_file.display()))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &settings.client_ca_file {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(path)? {
                    roots
                        .add(ca)
                        .with_context(|| format!("tls.client_ca_file {}", path.display()))?;
                }
                // A client without a certificate still connects: channels and ops identify
                // themselves by token; CaseService then refuses calls without one
                // (`require_client_certificate`). One that presents a certificate must
                // present one this CA signed, or the handshake fails.
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .context("client certificate verifier")?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .context("tls.cert_file and tls.key_file do not make a server identity")?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        if http1 {
            config.alpn_protocols.push(b"http/1.1".to_vec());
        }
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            client_certificates: settings.client_ca_file.is_some(),
        })
    }

    /// Whether clients are checked against a CA of their own (mutual TLS).
    pub fn verifies_clients(&self) -> bool {
        self.client_certificates
    }
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let read = || -> Result<Vec<_>, tokio_rustls::rustls::pki_types::pem::Error> {
        CertificateDer::pem_file_iter(path)?.collect()
    };
    let certificates = read().with_context(|| format!("{}", path.display()))?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "{} holds no PEM certificate",
        path.display()
    );
    Ok(certificates)
}

/// Plaintext connections from `listener`, each guarded by the handshake deadline. The listener
/// closes when the server drops the stream.
pub fn plaintext(listener: TcpListener) -> ReceiverStream<io::Result<Guarded<TcpStream>>> {
    accept(listener, |tcp| async move { Ok(tcp) })
}

/// TLS connections from `listener`, each guarded by the handshake deadline.
pub fn tls(
    listener: TcpListener,
    tls: &Tls,
) -> ReceiverStream<io::Result<Guarded<tokio_rustls::server::TlsStream<TcpStream>>>> {
    let acceptor = tls.acceptor.clone();
    accept(listener, move |tcp| acceptor.accept(tcp))
}

fn accept<IO, F, Fut>(
    listener: TcpListener,
    establish: F,
) -> ReceiverStream<io::Result<Guarded<IO>>>
where
    IO: Send + 'static,
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<IO>> + Send + 'static,
{
    let (ready, incoming) = mpsc::channel(BACKLOG);
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                // The server stopped accepting: close the listener now.
                _ = ready.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        tracing::warn!(error = %e, "gRPC accept failed");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                        continue;
                    }
                },
            };
            // Without TCP_NODELAY a response's trailing frames wait out the peer's delayed
            // ACK: ~40 ms added to every call.
            let _ = tcp.set_nodelay(true);
            let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
            let setup = establish(tcp);
            let ready = ready.clone();
            tokio::spawn(async move {
                match tokio::time::timeout_at(deadline, setup).await {
                    Ok(Ok(io)) => {
                        let _ = ready.send(Ok(Guarded::new(io, deadline))).await;
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(incoming)
}

/// A connection that must deliver the HTTP/2 client preface before its deadline; a read
/// still waiting for it then fails, and the server drops the connection.
pub struct Guarded<IO> {
    io: IO,
    preface: Option<Preface>,
}

struct Preface {
    deadline: Pin<Box<Sleep>>,
    missing: usize,
}

impl<IO> Guarded<IO> {
    fn new(io: IO, deadline: Instant) -> Guarded<IO> {
        Guarded {
            io,
            preface: Some(Preface {
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                missing: PREFACE_LEN,
            }),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        let Some(preface) = &mut this.preface else {
            return polled;
        };
        match &polled {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                preface.missing = preface.missing.saturating_sub(read);
                // Done waiting: the preface is in, or the peer closed.
                if preface.missing == 0 || read == 0 {
                    this.preface = None;
                }
            }
            Poll::Pending if preface.deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within the handshake timeout",
                )));
            }
            _ => {}
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Requests see the connection as tonic's own listener would describe it (peer address, and
/// with TLS the client's certificates).
impl<IO: Connected> Connected for Guarded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The CaseService gate under mutual TLS: a call without a verified client certificate is
/// refused before any handler sees it. (The TLS handshake already refused certificates the
/// client CA did not sign, so one being present means it is verified.)
pub fn require_client_certificate(
    request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    match request.peer_certs() {
        Some(chain) if !chain.is_empty() => Ok(request),
        _ => Err(tonic::Status::unauthenticated(
            "CaseService requires a client certificate signed by the unit CA (mutual TLS)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (TcpStream, Guarded<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        (client, Guarded::new(server, deadline))
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_preface_fails_at_the_deadline() {
        let (mut client, mut server) = pair().await;
        client.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.read(&mut buf).await.unwrap(), 16);
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_preface_is_in_silence_is_allowed() {
        let (mut client, mut server) = pair().await;
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.read(&mut buf).await.unwrap(), PREFACE_LEN);
        let later = tokio::time::timeout(HANDSHAKE_TIMEOUT * 3, server.read(&mut buf)).await;
        assert!(later.is_err(), "still waiting, not failed: {later:?}");
        client.write_all(b"x").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 1);
    }
}
