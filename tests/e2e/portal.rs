//! The demo portal in a real browser: headless Chromium (Debian's package, driven by
//! playwright-core from tests/browser) opens /portal/ on the running app, a person types a
//! petition, submits it, sees the tracking number and tracks it; then the same page hosted on
//! another origin does the same through CORS, and an origin the gateway does not list is
//! refused. What the browser saw is checked against native gRPC. Without node, the npm
//! packages or Chromium this test fails: deploy/local/setup.sh installs them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use minhu::Role;
use minhu_contracts::v1::{CaseStatus, Receipt};
use minhu_e2e::{NatsServer, spawn_app_with};

/// Chromium's start, the page's gRPC-Web calls and triage routing the petition.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_person_submits_and_tracks_a_petition_in_headless_chromium() {
    let server = NatsServer::start();
    // Where the script serves its copy of the portal, as a portal on its own origin would.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = spawn_app_with(&server.url(), &Role::ALL, |s| {
        s.web.allow_origins = vec![format!("http://portal.test:{port}")];
    })
    .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/portal.mjs");
    let base = format!("http://{}", app.grpc_addr.expect("gRPC served"));

    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&base)
        .arg("--cross-origin-port")
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BROWSER_TIMEOUT, run)
        .await
        .expect("the browser test finished in time")
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): install Node.js 20+ and run deploy/local/setup.sh")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node {} {base} failed ({}); run deploy/local/setup.sh if Chromium or node_modules are missing\nstdout:\n{stdout}\nstderr:\n{stderr}",
        script.display(),
        output.status
    );
    println!("{stdout}");

    let field = |name: &str| {
        stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in the browser test's output: {stdout}"))
            .to_owned()
    };
    let receipt = Receipt {
        tracking_number: field("tracking_number"),
        query_code: field("query_code"),
        ..Receipt::default()
    };
    let tracked = app
        .track(&receipt)
        .await
        .expect("the tracking number the browser showed exists");
    assert_eq!(tracked.tracking_number, receipt.tracking_number);
    assert_ne!(tracked.status(), CaseStatus::Unspecified);
    let unit = tracked.unit.expect("routed to a unit");
    assert!(
        field("unit").contains(&unit.id),
        "the browser showed {}, gRPC says {unit:?}",
        field("unit")
    );

    let other_portal = Receipt {
        tracking_number: field("cross_origin_tracking_number"),
        query_code: field("cross_origin_query_code"),
        ..Receipt::default()
    };
    let tracked = app
        .track(&other_portal)
        .await
        .expect("the tracking number the other origin's page showed exists");
    assert_eq!(tracked.tracking_number, other_portal.tracking_number);
    app.stop().await.unwrap();
}
