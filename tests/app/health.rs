//! Liveness, readiness, request ids and the Inngest endpoint's presence.

use crate::support::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_with_a_request_id() {
    let app = spawn_app(&[]).await;
    for path in ["/healthz", "/readyz"] {
        let res = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers().get("x-request-id").is_some(),
            "{path} carries a request id"
        );
    }
}

#[tokio::test]
async fn the_inngest_endpoint_answers_introspection_in_dev_mode() {
    let app = spawn_app(&[]).await;
    let res = app
        .http
        .get(format!("{}/api/inngest", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["x-inngest-sdk"]
            .to_str()
            .expect("ascii")
            .starts_with("inngest-rs:v")
    );
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["mode"], "dev");
}
