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

#[tokio::test]
async fn over_connect_readyz_waits_for_the_worker_and_there_is_no_serve_endpoint() {
    // Nothing listens at this Inngest origin: the worker stays `connecting`.
    let app = spawn_app(&[
        ("INNGEST_CONNECT", "1"),
        ("INNGEST_BASE_URL", "http://127.0.0.1:1"),
    ])
    .await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.address)).send();
    let res = get("/readyz").await.expect("request");
    assert_eq!(res.status(), 503);
    assert_eq!(res.text().await.expect("body"), "connecting");
    assert_eq!(get("/healthz").await.expect("request").status(), 200);
    assert_eq!(
        get("/api/inngest").await.expect("request").status(),
        404,
        "the functions are not served over HTTP"
    );
}
