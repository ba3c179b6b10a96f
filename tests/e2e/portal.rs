//! The demo portal in a real browser: headless Chromium (Debian's package, driven by
//! playwright-core from tests/browser) opens /portal/ on the running app, a person types a
//! petition, submits it, sees the tracking number and tracks it. What the browser saw is then
//! checked against native gRPC. Without node, the npm packages or Chromium this test fails:
//! deploy/local/setup.sh installs them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use minhu_contracts::v1::{CaseStatus, Receipt};
use minhu_e2e::{NatsServer, spawn_app};

/// Chromium's start, the page's gRPC-Web calls and triage routing the petition.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_person_submits_and_tracks_a_petition_in_headless_chromium() {
    let server = NatsServer::start();
    let app = spawn_app(&server.url()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/portal.mjs");
    let base = format!("http://{}", app.grpc_addr.expect("gRPC served"));

    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&base)
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
    app.stop().await.unwrap();
}
