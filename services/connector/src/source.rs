//! The HTTP side: one GET of a source's page, its failures told apart for the backoff and the
//! health. Error messages never carry the URL (it may hold the source's credentials) or the
//! page (it holds petitions).

use std::time::Duration;

use minhu_core::connectors::ConnectorSettings;
use reqwest::header::{HeaderName, HeaderValue};

/// The largest page read: a source answering more is failing, not paging.
pub const MAX_PAGE_BYTES: usize = 16 << 20;

/// Why a poll got no page.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("no answer within the request timeout")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the answer is not a JSON page: {0}")]
    BadResponse(String),
    #[error("request failed: {0}")]
    Request(String),
}

impl FetchError {
    /// The failure's kind: health's `last_error_kind` and the poll metric's `outcome`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Status(_) => "http_status",
            FetchError::Timeout => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::BadResponse(_) => "bad_response",
            FetchError::Request(_) => "request",
        }
    }

    fn from_reqwest(e: reqwest::Error) -> FetchError {
        let e = e.without_url();
        if e.is_timeout() {
            return FetchError::Timeout;
        }
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        if e.is_connect() {
            FetchError::Connect(chain)
        } else if e.is_body() || e.is_decode() {
            FetchError::BadResponse(chain)
        } else {
            FetchError::Request(chain)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("connectors[{0}].url is not a URL: {1}")]
    Url(String, String),
    #[error("connectors[{0}].auth is not a valid header")]
    Auth(String),
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One source, with its client.
pub struct Source {
    http: reqwest::Client,
    url: reqwest::Url,
    auth: Option<(HeaderName, HeaderValue)>,
}

impl Source {
    pub fn new(settings: &ConnectorSettings) -> Result<Source, SourceError> {
        let url = reqwest::Url::parse(&settings.url)
            .map_err(|e| SourceError::Url(settings.id.clone(), e.to_string()))?;
        let auth = match &settings.auth {
            None => None,
            Some(auth) => {
                let name = HeaderName::from_bytes(auth.header.as_bytes())
                    .map_err(|_| SourceError::Auth(settings.id.clone()))?;
                let mut value = HeaderValue::from_str(auth.value.expose())
                    .map_err(|_| SourceError::Auth(settings.id.clone()))?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        // reqwest is built without a crypto provider (no aws-lc); rustls takes the process's
        // default, ring, which async-nats already uses. Installed once; later calls find it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(settings.request_timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("minhu-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SourceError::Client)?;
        Ok(Source { http, url, auth })
    }

    /// GETs the page at `query` (added to the URL's own query) and parses it as JSON.
    pub async fn fetch(&self, query: &[(String, String)]) -> Result<serde_json::Value, FetchError> {
        let mut url = self.url.clone();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some((name, value)) = &self.auth {
            request = request.header(name, value.clone());
        }
        let mut response = request.send().await.map_err(FetchError::from_reqwest)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::from_reqwest)? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(FetchError::BadResponse(format!(
                    "larger than {MAX_PAGE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        // serde_json's message names a line and column, never the content.
        serde_json::from_slice(&body).map_err(|e| FetchError::BadResponse(e.to_string()))
    }
}
