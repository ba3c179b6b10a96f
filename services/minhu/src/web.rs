//! Browser portals on the gRPC listener (`[web]`): gRPC-Web beside native gRPC, a CORS
//! allow-list for portals served from other origins, and the demo portal's static files at
//! `/portal/`.
//!
//! One layer in front of every service decides per request, cheapest test first:
//! - `/portal` paths: the embedded portal files (when the portal is on);
//! - native gRPC (HTTP/2, `application/grpc*` but not `-web`): straight to the services, so
//!   existing channels take exactly the path they took before;
//! - everything else (gRPC-Web over HTTP/1.1 or HTTP/2, CORS preflights): CORS, then tonic-web's
//!   translation to gRPC. tonic-web answers other HTTP/1.1 requests `400`.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{Either, Map, Ready, ready};
use http_body_util::Full;
use minhu_core::config::WebSettings;
use tokio::time::Timeout;
use tokio::time::error::Elapsed;
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::http::{
    HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version, header,
};
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

/// Where the demo portal is served.
pub const PORTAL_PATH: &str = "/portal/";

/// From a gRPC-Web request's head to its answer's head: the whole request must arrive within
/// it. HTTP/1.1 has no pings to find a peer that stalls mid-request, so this bounds how long
/// one can hold a connection (hyper bounds the head itself to 30 s).
pub const WEB_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Request headers a gRPC-Web client sends (the token, its framing, its deadline).
const ALLOW_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
];

/// Response headers a browser script must be allowed to read: the status travels in headers
/// when a call fails before any message (trailers-only responses).
const EXPOSE_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// The `[web]` layer for the gRPC server; with `enabled = false` it passes every request on.
#[derive(Clone)]
pub struct WebLayer {
    cors: Option<CorsLayer>,
    portal: bool,
}

impl WebLayer {
    /// `serves_portal`: whether this process runs the service the portal calls (the gateway).
    pub fn new(settings: &WebSettings, serves_portal: bool) -> anyhow::Result<WebLayer> {
        if !settings.enabled {
            return Ok(WebLayer {
                cors: None,
                portal: false,
            });
        }
        let origins = settings
            .allow_origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<Vec<_>, _>>()?;
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSE_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE);
        Ok(WebLayer {
            cors: Some(cors),
            portal: settings.portal && serves_portal,
        })
    }

    /// Whether the listener must also speak HTTP/1.1 (browsers on plaintext do).
    pub fn accepts_http1(&self) -> bool {
        self.cors.is_some()
    }
}

impl<S: Clone> Layer<S> for WebLayer {
    type Service = WebService<S>;

    fn layer(&self, inner: S) -> WebService<S> {
        let web = self
            .cors
            .as_ref()
            .map(|cors| cors.layer(GrpcWebLayer::new().layer(inner.clone())));
        WebService {
            inner,
            web,
            portal: self.portal,
        }
    }
}

#[derive(Clone)]
pub struct WebService<S> {
    inner: S,
    web: Option<Cors<GrpcWebService<S>>>,
    portal: bool,
}

type WebResult<E> = Result<Response<Body>, E>;

/// A gRPC-Web call's answer, cut off at [`WEB_REQUEST_TIMEOUT`].
type WebFuture<S> = Map<
    Timeout<
        tower_http::cors::ResponseFuture<
            tonic_web::ResponseFuture<<S as Service<Request<Body>>>::Future>,
        >,
    >,
    fn(
        Result<WebResult<<S as Service<Request<Body>>>::Error>, Elapsed>,
    ) -> WebResult<<S as Service<Request<Body>>>::Error>,
>;

impl<S> Service<Request<Body>> for WebService<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    #[allow(clippy::type_complexity)]
    type Future = Either<S::Future, Either<Ready<Result<Response<Body>, S::Error>>, WebFuture<S>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match &mut self.web {
            Some(web) => Service::<Request<Body>>::poll_ready(web, cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if self.portal && is_portal(request.uri().path()) {
            return Either::Right(Either::Left(ready(Ok(portal(&request)))));
        }
        match &mut self.web {
            Some(web) if !is_native_grpc(&request) => {
                let call = tokio::time::timeout(WEB_REQUEST_TIMEOUT, web.call(request));
                Either::Right(Either::Right(call.map(answer_in_time)))
            }
            _ => Either::Left(self.inner.call(request)),
        }
    }
}

/// A request that did not arrive whole (or was not answered) in time: DEADLINE_EXCEEDED, and
/// the connection is closed.
fn answer_in_time<E>(answer: Result<WebResult<E>, Elapsed>) -> WebResult<E> {
    answer.unwrap_or_else(|_| {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc-web+proto"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(
            "grpc-status",
            HeaderValue::from(Code::DeadlineExceeded as i32),
        );
        headers.insert(
            "grpc-message",
            HeaderValue::from_static("the request did not arrive in time"),
        );
        Ok(response)
    })
}

fn is_native_grpc(request: &Request<Body>) -> bool {
    request.version() == Version::HTTP_2
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.starts_with("application/grpc") && !t.starts_with("application/grpc-web")
            })
}

fn is_portal(path: &str) -> bool {
    path == "/portal" || path.starts_with(PORTAL_PATH)
}

/// One embedded file of the demo portal.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 6] = [
    Asset {
        path: "/portal/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../portal/index.html"),
    },
    Asset {
        path: "/portal/portal.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../portal/portal.js"),
    },
    Asset {
        path: "/portal/grpc-web.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../portal/grpc-web.js"),
    },
    Asset {
        path: "/portal/protobuf.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../portal/protobuf.js"),
    },
    Asset {
        path: "/portal/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../portal/style.css"),
    },
    Asset {
        path: "/portal/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../portal/favicon.svg"),
    },
];

/// The page may load its own files and call its own origin, nothing else (no CDN: the
/// portal works on a closed network).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn portal(request: &Request<Body>) -> Response<Body> {
    let path = request.uri().path();
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n")
            .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    if path == "/portal" {
        return plain(StatusCode::PERMANENT_REDIRECT, "")
            .with_header(header::LOCATION, HeaderValue::from_static(PORTAL_PATH));
    }
    let path = if path == "/portal/index.html" {
        PORTAL_PATH
    } else {
        path
    };
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let body = if request.method() == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from_static(asset.body)
    };
    let mut response = Response::new(Body::new(Full::new(body)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
    // Always revalidated: an upgraded gateway serves its matching portal at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(Full::new(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

trait WithHeader {
    fn with_header(self, name: HeaderName, value: HeaderValue) -> Self;
}

impl WithHeader for Response<Body> {
    fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers_mut().insert(name, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn get(path: &str, method: Method) -> Response<Body> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        portal(&request)
    }

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_portal_files_are_served_with_their_types() {
        let page = get("/portal/", Method::GET);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = text(page).await;
        assert!(html.contains("portal.js"), "{html}");
        for asset in &ASSETS[1..] {
            let response = get(asset.path, Method::GET);
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
            assert_eq!(response.headers()[header::CONTENT_TYPE], asset.content_type);
            assert_eq!(
                response.headers()[header::X_CONTENT_TYPE_OPTIONS],
                "nosniff"
            );
            assert!(!text(response).await.is_empty());
        }
        assert_eq!(
            text(get("/portal/index.html", Method::GET)).await,
            String::from_utf8_lossy(ASSETS[0].body)
        );
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused() {
        let redirect = get("/portal", Method::GET);
        assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(redirect.headers()[header::LOCATION], PORTAL_PATH);
        assert_eq!(
            get("/portal/../Cargo.toml", Method::GET).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/portal/secret", Method::GET).status(),
            StatusCode::NOT_FOUND
        );
        let post = get("/portal/", Method::POST);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        let head = get("/portal/style.css", Method::HEAD);
        assert_eq!(head.status(), StatusCode::OK);
        assert!(text(head).await.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_request_is_deadline_exceeded_and_closes_its_connection() {
        let late = tokio::time::timeout(WEB_REQUEST_TIMEOUT, std::future::pending::<()>())
            .await
            .unwrap_err();
        let response = answer_in_time::<std::convert::Infallible>(Err(late)).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "4");
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn only_portal_paths_are_the_portal() {
        assert!(is_portal("/portal/") && is_portal("/portal") && is_portal("/portal/portal.js"));
        assert!(!is_portal("/portals") && !is_portal("/minhu.v1.IntakeService/Submit"));
    }
}
