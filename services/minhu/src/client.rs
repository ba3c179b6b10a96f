//! A small client for trying minhu by hand: `minhu submit` and `minhu track`, and the TLS
//! options every client command shares.

use std::path::{Path, PathBuf};

use anyhow::Context;
use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{
    Location, Petition, Petitioner, Receipt, SubmitRequest, TrackRequest, TrackResponse,
};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_types::StatusExt;

/// TLS for the client commands, used when the address is `https://`: the CA the server's
/// certificate chains to and, for mutual TLS (CaseService under `tls.client_ca_file`), the
/// client's own certificate and key.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTls {
    /// CA certificate (PEM) that signed the server's certificate; without it an https://
    /// address is checked against the system's trusted roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for mutual TLS.
    #[arg(long, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
}

impl ClientTls {
    /// An endpoint for `addr`, with TLS when the address is `https://`.
    pub fn endpoint(&self, addr: &str) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::from_shared(addr.to_owned())
            .with_context(|| format!("bad address {addr:?}"))?;
        if endpoint.uri().scheme_str() != Some("https") {
            anyhow::ensure!(
                self.ca_file.is_none() && self.cert_file.is_none(),
                "--ca-file, --cert-file and --key-file need an https:// address, not {addr}"
            );
            return Ok(endpoint);
        }
        let mut tls = match &self.ca_file {
            Some(path) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(path)?)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        endpoint.tls_config(tls).context("TLS configuration")
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub struct IntakeClient {
    inner: IntakeServiceClient<Channel>,
    authorization: MetadataValue<tonic::metadata::Ascii>,
}

impl IntakeClient {
    pub async fn connect(addr: &str, token: &str, tls: &ClientTls) -> anyhow::Result<IntakeClient> {
        let channel = tls
            .endpoint(addr)?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let inner = IntakeServiceClient::new(channel);
        let authorization = format!("Bearer {token}").parse()?;
        Ok(IntakeClient {
            inner,
            authorization,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        request
    }

    pub async fn submit(&mut self, petition: Petition) -> anyhow::Result<Receipt> {
        let request = self.request(SubmitRequest {
            petition: Some(petition),
        });
        match self.inner.submit(request).await {
            Ok(response) => response
                .into_inner()
                .receipt
                .ok_or_else(|| anyhow::anyhow!("the server answered without a receipt")),
            Err(status) => Err(describe(status)),
        }
    }

    pub async fn track(
        &mut self,
        tracking_number: &str,
        query_code: &str,
    ) -> anyhow::Result<TrackResponse> {
        let request = self.request(TrackRequest {
            tracking_number: tracking_number.to_owned(),
            query_code: query_code.to_owned(),
        });
        self.inner
            .track(request)
            .await
            .map(|r| r.into_inner())
            .map_err(describe)
    }
}

/// A gRPC error with its field violations spelled out.
pub(crate) fn describe(status: tonic::Status) -> anyhow::Error {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad_request) = status.get_details_bad_request() {
        for v in bad_request.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow::anyhow!(text)
}

/// The petition `minhu submit` sends, from its flags.
pub struct PetitionArgs {
    pub id: String,
    pub title: String,
    pub body: String,
    pub division_code: Option<String>,
    pub address: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub id_number: Option<String>,
}

impl From<PetitionArgs> for Petition {
    fn from(a: PetitionArgs) -> Petition {
        let identified = a.name.is_some() || a.phone.is_some() || a.id_number.is_some();
        Petition {
            channel_message_id: a.id,
            title: a.title,
            body: a.body,
            petitioner: identified.then(|| Petitioner {
                name: a.name.unwrap_or_default(),
                phone: a.phone.unwrap_or_default(),
                id_number: a.id_number.unwrap_or_default(),
                ..Default::default()
            }),
            location: (a.division_code.is_some() || a.address.is_some()).then(|| Location {
                division_code: a.division_code.unwrap_or_default(),
                address: a.address.unwrap_or_default(),
                coordinates: None,
            }),
            ..Default::default()
        }
    }
}
