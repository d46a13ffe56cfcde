//! Typed events (`EventType`): a function triggered by its handler's event type, a wait whose
//! result type names the awaited event, an event built from its data. Each runs through the
//! real serve endpoint against the fake executor.
#![cfg(feature = "testing")]

use std::time::Duration;

use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{
    Endpoint, Error, Event, EventType, Function, FunctionOpts, Input, Step, Trigger, WaitForEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Signup {
    user_id: String,
    plan: String,
}

impl EventType for Signup {
    const NAME: &'static str = "user/signed.up";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Verified {
    user_id: String,
    via: String,
}

impl EventType for Verified {
    const NAME: &'static str = "user/email.verified";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Onboarded {
    user_id: String,
    verified_via: Option<String>,
}

impl EventType for Onboarded {
    const NAME: &'static str = "user/onboarded";
}

async fn serve(functions: Vec<Function>) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let mut builder = Endpoint::builder("app", inngest.client()).clock(inngest.clock());
    for function in functions {
        builder = builder.function(function);
    }
    let endpoint = builder.build().expect("the endpoint builds");
    inngest.serve(endpoint).await.expect("the app syncs");
    inngest
}

/// Waits for the user's verification, then announces the onboarding, all typed.
fn onboarding() -> Function {
    Function::for_event(
        FunctionOpts::new("onboarding"),
        |input: Input<Signup>, step: Step| async move {
            let signup = input.event.data;
            let verified = step
                .wait_for_event(
                    "wait-for-verification",
                    WaitForEvent::<Verified>::of(Duration::from_secs(3_600))
                        .if_exp("async.data.user_id == event.data.user_id"),
                )
                .await?;
            let announced = Onboarded {
                user_id: signup.user_id,
                verified_via: verified.map(|event| event.data.via),
            };
            step.send_event("announce", vec![Event::from_data(announced.clone())])
                .await?;
            Ok::<_, Error>(announced)
        },
    )
}

#[test]
fn a_typed_function_is_triggered_by_the_name_of_its_handlers_event_type() {
    let function = onboarding();
    assert_eq!(
        function.opts().triggers(),
        [Trigger::event("user/signed.up")]
    );
}

#[test]
fn a_filtered_trigger_for_the_event_type_is_kept_and_not_doubled() {
    let pro_only = Function::for_event(
        FunctionOpts::new("pro")
            .trigger(Trigger::event_of_if::<Signup>("event.data.plan == 'pro'")),
        |input: Input<Signup>, _step: Step| async move { Ok::<_, Error>(input.event.data.plan) },
    );
    assert_eq!(
        pro_only.opts().triggers(),
        [Trigger::event_if(
            "user/signed.up",
            "event.data.plan == 'pro'"
        )]
    );
}

#[test]
fn an_event_built_from_its_data_carries_the_types_name() {
    let event = Event::from_data(Signup {
        user_id: "u1".into(),
        plan: "pro".into(),
    });
    assert_eq!(event.name, "user/signed.up");
    assert_eq!(
        serde_json::to_value(&event).expect("serializes"),
        json!({"name": "user/signed.up", "data": {"user_id": "u1", "plan": "pro"}})
    );
}

#[tokio::test]
async fn typed_trigger_wait_and_send_agree_on_names_end_to_end() {
    let inngest = serve(vec![onboarding()]).await;

    // An event of another name triggers nothing.
    let none = inngest
        .send(Event::new(
            "user/signed.out",
            json!({"user_id": "u1", "plan": "pro"}),
        ))
        .await;
    assert!(none.is_empty());

    let runs = inngest
        .send(Event::from_data(Signup {
            user_id: "u1".into(),
            plan: "pro".into(),
        }))
        .await;
    assert_eq!(runs.len(), 1);
    inngest.run_until_idle().await;
    assert_eq!(inngest.run(&runs[0]).status, RunStatus::Waiting);

    // The wait is resumed by the event named after `Verified`, decoded as a `Verified`.
    inngest
        .send(Event::from_data(Verified {
            user_id: "u1".into(),
            via: "link".into(),
        }))
        .await;
    inngest.run_until_idle().await;

    let run = inngest.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.output,
        Some(json!({"user_id": "u1", "verified_via": "link"}))
    );
    assert_eq!(run.step_ids(), ["wait-for-verification", "announce"]);
    let announced = inngest.events_named("user/onboarded");
    assert_eq!(announced.len(), 1);
    assert_eq!(
        announced[0].data(),
        &json!({"user_id": "u1", "verified_via": "link"})
    );
}

#[tokio::test]
async fn a_typed_wait_times_out_to_none() {
    let inngest = serve(vec![onboarding()]).await;
    let runs = inngest
        .send(Event::from_data(Signup {
            user_id: "u2".into(),
            plan: "free".into(),
        }))
        .await;
    inngest.run_until_idle().await;

    inngest.advance(Duration::from_secs(3_601)).await;

    let run = inngest.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.output,
        Some(json!({"user_id": "u2", "verified_via": null}))
    );
}
