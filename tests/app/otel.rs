//! With the `otel` feature, vendor calls carry the current span's W3C trace context
//! (`traceparent`, `tracestate`), so a vendor call made inside a step joins the run's trace;
//! outside any span they carry none (docs/design.md, "Tracing").

use axum::http::Method;
use huckleberry_functions::ports::UserDirectory;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::clients::{clerk, discord};
use crate::stand_in::{CLERK_USER, DISCORD_USER, GUILD, ROLE_GROUP, StandIn};

/// `00-<32 hex trace id>-<16 hex span id>-<flags>` → (trace id, span id).
fn parse(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1].len(), 32, "{traceparent}");
    assert_eq!(parts[2].len(), 16, "{traceparent}");
    assert_eq!(parts[3], "01", "sampled");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn clerk_and_discord_calls_carry_the_current_spans_trace_context() {
    let stand_in = StandIn::start().await;
    stand_in.respond_raw(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/*"),
        204,
        &[],
        "",
    );
    // Spans are exported to the stand-in too (it records and answers them); what matters
    // here is the context the layer gives the current span.
    let otel = inngest_sdk::otel::Otel::builder()
        .endpoint(&stand_in.url)
        .expect("url")
        .build()
        .expect("otel");
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(otel.layer()));

    // Outside any span: nothing to propagate.
    clerk(&stand_in).user(&CLERK_USER.into()).await.expect("ok");
    let untraced = stand_in.requests_to(Method::GET, "/clerk/v1/users/");
    assert_eq!(untraced.len(), 1);
    assert_eq!(untraced[0].header("traceparent"), None);

    let client = discord(&stand_in);
    async {
        clerk(&stand_in).user(&CLERK_USER.into()).await.expect("ok");
        let token = client
            .exchange_code("code", &"v".repeat(43))
            .await
            .expect("token");
        client
            .add_member(&DISCORD_USER.into(), &token, Some(&ROLE_GROUP.into()))
            .await
            .expect("joined");
    }
    .instrument(tracing::info_span!("step"))
    .await;

    let clerk_call = &stand_in.requests_to(Method::GET, "/clerk/v1/users/")[1];
    let discord_call = &stand_in.requests_to(
        Method::PUT,
        &format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/{ROLE_GROUP}"),
    )[0];
    let (clerk_trace, clerk_span) = parse(clerk_call.header("traceparent").expect("traceparent"));
    let (discord_trace, discord_span) =
        parse(discord_call.header("traceparent").expect("traceparent"));
    assert_eq!(
        clerk_trace, discord_trace,
        "both calls are in the step's trace"
    );
    assert_eq!(
        clerk_span, discord_span,
        "both name the step's span as their parent"
    );
    otel.shutdown().await;
}
