//! A small app on the SDK's typed surface: events that carry their names, a function
//! triggered by its handler's event type, steps that borrow the handler's locals, a typed
//! wait and a typed send. Serves `http://127.0.0.1:$PORT/api/inngest` (default port 3000).
//!
//! ```sh
//! INNGEST_DEV=1 cargo run -p inngest-sdk --example signup --features axum
//! ```
//!
//! Without `INNGEST_DEV` the configuration is cloud mode, which needs `INNGEST_SIGNING_KEY`:
//! without one, building the endpoint fails (`BuildError::MissingSigningKey`) and the app
//! does not start.

use std::time::Duration;

use inngest_sdk::{
    Client, Config, Endpoint, Error, Event, EventType, Function, FunctionOpts, Input, Step,
    WaitForEvent,
};
use serde::{Deserialize, Serialize};

/// `user/signed.up`, sent by the sign-up form.
#[derive(Debug, Serialize, Deserialize)]
struct SignedUp {
    user_id: String,
    email: String,
}

impl EventType for SignedUp {
    const NAME: &'static str = "user/signed.up";
}

/// `user/email.verified`, sent when the user clicks the link.
#[derive(Debug, Serialize, Deserialize)]
struct EmailVerified {
    user_id: String,
}

impl EventType for EmailVerified {
    const NAME: &'static str = "user/email.verified";
}

/// `user/onboarded`, sent by the function when it is done.
#[derive(Debug, Serialize, Deserialize)]
struct Onboarded {
    user_id: String,
    verified: bool,
}

impl EventType for Onboarded {
    const NAME: &'static str = "user/onboarded";
}

/// Triggered by `user/signed.up` because its handler takes `Input<SignedUp>`.
fn onboarding() -> Function {
    Function::for_event(
        FunctionOpts::new("onboarding").retries(3),
        |input: Input<SignedUp>, step: Step| async move {
            let signup = input.event.data;
            // The body borrows `signup`: nothing is cloned into the step.
            let message: String = step
                .run("send-welcome", || async {
                    Ok::<_, Error>(format!("welcome mail to {}", signup.email))
                })
                .await?;
            let verified = step
                .wait_for_event(
                    "wait-for-verification",
                    WaitForEvent::<EmailVerified>::of(Duration::from_secs(86_400))
                        .if_exp("async.data.user_id == event.data.user_id"),
                )
                .await?;
            let onboarded = Onboarded {
                user_id: signup.user_id,
                verified: verified.is_some(),
            };
            step.send_event("announce", vec![Event::from_data(onboarded)])
                .await?;
            Ok::<_, Error>(message)
        },
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = Endpoint::builder("signup-example", Client::new(Config::from_env()?))
        .framework("axum")
        .function(onboarding())
        .build()?;
    let app = axum::Router::new().route("/api/inngest", inngest_sdk::axum::serve(endpoint));
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!("listening on http://{}/api/inngest", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
