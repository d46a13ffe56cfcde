//! Helpers shared by the integration tests (each test file that needs them declares
//! `mod common;`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use inngest_sdk::{Error, Function, FunctionOpts, Input, Step};
use serde_json::Value;

/// `n` sequential steps `step-0` … `step-(n-1)` (`n` from the event's `data.n`), each
/// counting its executions in `runs[i]` and returning `i`; the function returns their sum.
pub(crate) fn counted_steps(opts: FunctionOpts, runs: Arc<Vec<AtomicUsize>>) -> Function {
    Function::new(opts, move |input: Input<Value>, step: Step| {
        let runs = Arc::clone(&runs);
        async move {
            let n = input.event.data["n"].as_u64().unwrap_or(0);
            let mut total = 0;
            for i in 0..n {
                let runs = Arc::clone(&runs);
                total += step
                    .run(&format!("step-{i}"), move || async move {
                        runs[i as usize].fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(i)
                    })
                    .await?;
            }
            Ok::<_, Error>(total)
        }
    })
}

/// `n` execution counters for [`counted_steps`], all at zero.
pub(crate) fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

/// How often each step ran so far.
pub(crate) fn counts(runs: &[AtomicUsize]) -> Vec<usize> {
    runs.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}
