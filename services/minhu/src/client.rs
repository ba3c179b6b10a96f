//! A small client for trying minhu by hand: `minhu submit` and `minhu track`.

use minhu_contracts::v1::intake_service_client::IntakeServiceClient;
use minhu_contracts::v1::{
    Location, Petition, Petitioner, Receipt, SubmitRequest, TrackRequest, TrackResponse,
};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_types::StatusExt;

pub struct IntakeClient {
    inner: IntakeServiceClient<Channel>,
    authorization: MetadataValue<tonic::metadata::Ascii>,
}

impl IntakeClient {
    pub async fn connect(addr: &str, token: &str) -> anyhow::Result<IntakeClient> {
        let inner = IntakeServiceClient::connect(addr.to_owned()).await?;
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
fn describe(status: tonic::Status) -> anyhow::Error {
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
