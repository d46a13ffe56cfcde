// The conformance fixture functions (docs/protocol.md §9.4) and the bench's `bench-steps` function,
// written with the official JS SDK and served by node's http server, for bench/run.sh.
//
// Same app id, function ids, triggers and step ids as the Rust fixture
// (sdk/src/testing/conformance.rs), so the same executor request bodies and `fnId` values
// reach both. Run with INNGEST_DEV=1 PORT=<port> node server.mjs.
import http from "node:http";
import { Inngest } from "inngest";
import { serve } from "inngest/node";

// Checkpointing (on by default in v4) reports each step to the Inngest API while the call
// runs. The load bench (bench/run.sh) has no Inngest server and compares the classic serve
// protocol (docs/protocol.md §7), so it is off unless CHECKPOINTING=1 (bench/e2e_steps.py, which
// runs against a real dev server).
const inngest = new Inngest({
  id: "rust-conformance",
  checkpointing: process.env.CHECKPOINTING === "1",
});

const simpleFn = inngest.createFunction(
  { id: "test-suite-simple-fn", triggers: [{ event: "tests/function.test" }] },
  async ({ event }) => ({ body: "ok", name: event.name }),
);

const stepTest = inngest.createFunction(
  { id: "test-suite-step-test", triggers: [{ event: "tests/step.test" }] },
  async ({ event, step }) => {
    const first = await step.run("first step", async () => "first step");
    await step.sleep("sleep", "2s");
    await step.run("second step", async () => ({ first, second: true }));
    return { body: "ok", name: event.name };
  },
);

let stepRuns = 0;
let bodyRuns = 0;
const retryTest = inngest.createFunction(
  { id: "test-suite-retry-test", triggers: [{ event: "tests/retry.test" }] },
  async ({ event, step }) => {
    await step.run("first step", async () => {
      stepRuns += 1;
      if (stepRuns === 1) throw new Error("broken");
      return `yes: ${stepRuns}`;
    });
    bodyRuns += 1;
    if (bodyRuns === 1) throw new Error("broken func");
    return { body: "ok", name: event.name };
  },
);

const cancelTest = inngest.createFunction(
  {
    id: "test-suite-cancel-test",
    triggers: [{ event: "tests/cancel.test" }],
    cancelOn: [
      { event: "cancel/please", if: "async.data.request_id == event.data.request_id" },
    ],
  },
  async ({ event, step }) => {
    await step.sleep("sleep", "10s");
    await step.run("After the sleep", async () => "done");
    return { body: "ok", name: event.name };
  },
);

const waitForEvent = inngest.createFunction(
  { id: "test-suite-wait-for-event", triggers: [{ event: "tests/wait.test" }] },
  async ({ step }) => {
    const resumed = await step.waitForEvent("wait", {
      event: "test/resume",
      timeout: "10s",
      if: "async.data.resume == true && async.data.id == event.data.id",
    });
    return resumed ? { result: resumed.data } : {};
  },
);

// `bench-steps`: event.data.n sequential steps `step-0` … `step-(n-1)`, each returning its
// index; returns their sum. The Rust twin is `inngest_sdk::testing::conformance::bench_steps`.
const benchSteps = inngest.createFunction(
  { id: "bench-steps", triggers: [{ event: "bench/steps" }] },
  async ({ event, step }) => {
    let total = 0;
    for (let i = 0; i < event.data.n; i++) {
      total += await step.run(`step-${i}`, async () => i);
    }
    return total;
  },
);

const functions = [simpleFn, stepTest, retryTest, cancelTest, waitForEvent, benchSteps];

if (process.env.CONNECT === "1") {
  // A Connect worker instead of an HTTP server (bench/e2e_steps.py's js-connect). Node 20 has
  // no global WebSocket: the `ws` package stands in, and requests run on this thread
  // (INNGEST_CONNECT_ISOLATE_EXECUTION=false), where that global is seen.
  const { WebSocket } = await import("ws");
  globalThis.WebSocket = WebSocket;
  process.env.INNGEST_CONNECT_ISOLATE_EXECUTION = "false";
  const { connect } = await import("inngest/connect");
  const worker = await connect({ apps: [{ client: inngest, functions }] });
  console.error("js fixture connected over Connect");
  const stop = () => worker.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const handler = serve({ client: inngest, functions });
  const port = Number(process.env.PORT ?? 3000);
  http.createServer(handler).listen(port, "127.0.0.1", () => {
    console.error(`js fixture listening on http://127.0.0.1:${port}/api/inngest`);
  });
}
