//! Step bodies borrow from the handler: no clone-before-move. The locals below are not
//! `Clone`, so these functions would not compile if `Step::run` required `'static` bodies.
#![cfg(feature = "testing")]

use std::time::Duration;

use inngest_sdk::testing::{FakeExecutor, RunStatus};
use inngest_sdk::{Endpoint, Error, Event, Function, FunctionOpts, Input, Step, Trigger};
use serde::Deserialize;
use serde_json::json;

/// A handler local that cannot be cloned into a step.
#[derive(Debug)]
struct Letter {
    to: String,
    lines: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Signup {
    email: String,
    name: String,
}

async fn serve(function: Function) -> FakeExecutor {
    let inngest = FakeExecutor::start().await;
    let endpoint = Endpoint::builder("app", inngest.client())
        .clock(inngest.clock())
        .function(function)
        .build()
        .expect("the endpoint builds");
    inngest.serve(endpoint).await.expect("the app syncs");
    inngest
}

/// Two steps read the same local, with a sleep between them, so the second runs on a
/// replay in a later call.
fn letters(opts: FunctionOpts) -> Function {
    Function::new(
        opts.trigger(Trigger::event("user/signed.up")),
        |input: Input<Signup>, step: Step| async move {
            let signup = &input.event.data;
            let letter = Letter {
                to: signup.email.clone(),
                lines: vec![format!("Dear {},", signup.name), "welcome.".to_owned()],
            };
            let rendered: String = step
                .run("render", || async {
                    Ok::<_, Error>(letter.lines.join(" "))
                })
                .await?;
            step.sleep("cool-down", Duration::from_secs(60)).await;
            let receipt: String = step
                .run("send", || async {
                    Ok::<_, Error>(format!("{} <- {}", letter.to, rendered))
                })
                .await?;
            Ok::<_, Error>(receipt)
        },
    )
}

async fn run_letters(opts: FunctionOpts) {
    let inngest = serve(letters(opts)).await;
    let runs = inngest
        .send(Event::new(
            "user/signed.up",
            json!({"email": "ada@example.com", "name": "Ada"}),
        ))
        .await;
    inngest.run_until_idle().await;
    assert_eq!(inngest.run(&runs[0]).status, RunStatus::Sleeping);
    inngest.advance(Duration::from_secs(60)).await;

    let run = inngest.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.output,
        Some(json!("ada@example.com <- Dear Ada, welcome."))
    );
    assert_eq!(run.step_ids(), ["render", "cool-down", "send"]);
}

#[tokio::test]
async fn a_step_body_borrows_a_non_clone_local_of_the_handler() {
    run_letters(FunctionOpts::new("letters")).await;
}

#[tokio::test]
async fn a_step_body_borrows_a_local_without_checkpointing() {
    run_letters(FunctionOpts::new("letters").without_checkpointing()).await;
}

#[tokio::test]
async fn parallel_steps_borrow_the_same_local() {
    let function = Function::new(
        FunctionOpts::new("parallel").trigger(Trigger::event("user/signed.up")),
        |input: Input<Signup>, step: Step| async move {
            let letter = Letter {
                to: input.event.data.email,
                lines: vec!["one".to_owned(), "two".to_owned()],
            };
            let first = step.run("first-line", || async {
                Ok::<_, Error>(format!("{}: {}", letter.to, letter.lines[0]))
            });
            let second = step.run("second-line", || async {
                Ok::<_, Error>(format!("{}: {}", letter.to, letter.lines[1]))
            });
            let (first, second) = tokio::join!(first, second);
            Ok::<_, Error>(vec![first?, second?])
        },
    );
    let inngest = serve(function).await;
    let runs = inngest
        .send(Event::new(
            "user/signed.up",
            json!({"email": "ada@example.com", "name": "Ada"}),
        ))
        .await;
    inngest.run_until_idle().await;

    let run = inngest.run(&runs[0]);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.output,
        Some(json!(["ada@example.com: one", "ada@example.com: two"]))
    );
    let mut steps = run.step_ids();
    steps.sort();
    assert_eq!(steps, ["first-line", "second-line"]);
    // Both were found in one discovery (a 206 with two planned ops), then each ran
    // in its own targeted call.
    assert_eq!(run.calls[0].status, 206);
}
