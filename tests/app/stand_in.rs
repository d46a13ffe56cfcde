//! One local HTTP stand-in for every vendor (Clerk, Resend, Discord) and Inngest's event
//! API: it records each request and answers from a table of canned responses that a test
//! can change. Prefixes keep the vendors apart: `/clerk/v1`, `/resend`, `/discord/api/v10`,
//! `/discord/oauth2/authorize`, `/inngest`.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::inngest_stand_in::InngestStandIn;

pub(crate) const CLERK_USER: &str = "user_2abc";
pub(crate) const PURCHASE: &str = "cs_test_a1";
pub(crate) const DISCORD_USER: &str = "80351110224678912";
pub(crate) const GUILD: &str = "1100000000000000001";
pub(crate) const ROLE_ONE_ON_ONE: &str = "1200000000000000001";
pub(crate) const ROLE_GROUP: &str = "1200000000000000002";
pub(crate) const AUTH_CODE: &str = "discord-auth-code";
/// The link-token key the app under test is configured with, so tests can sign tokens.
pub(crate) const LINK_KEY: &str = "test-link-key-0123456789abcdef-0123456789";

/// A request the stand-in received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// When it arrived.
    pub(crate) at: std::time::Instant,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Debug, Clone)]
struct Rule {
    method: Method,
    /// Exact path, or a prefix when it ends with `*`.
    path: String,
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    rules: Mutex<Vec<Rule>>,
    /// One-shot answers, used (and removed) before any rule: a vendor failing N times.
    once: Mutex<Vec<Rule>>,
    deny_consent: Mutex<bool>,
    /// When set, Clerk's users, metadata and invitations are served from this store (as
    /// Clerk would), not from canned rules: what one step writes, the next one reads.
    clerk: Mutex<Option<ClerkStore>>,
    /// Inngest's event API under `/inngest`, unless a rule answers first.
    inngest: Option<InngestStandIn>,
}

/// Clerk's users by id, for the stateful Clerk stand-in.
#[derive(Debug, Default)]
struct ClerkStore {
    users: Vec<Value>,
    invitations: Vec<Value>,
}

/// The running stand-in.
#[derive(Debug, Clone)]
pub(crate) struct StandIn {
    pub(crate) url: String,
    shared: Arc<Shared>,
}

impl StandIn {
    pub(crate) async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared {
            inngest: Some(InngestStandIn::at(format!("{url}/inngest"))),
            ..Shared::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let stand_in = StandIn { url, shared };
        stand_in.install_defaults();
        stand_in
    }

    /// The variables that point the app at this stand-in, with live credentials for every
    /// vendor.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let u = &self.url;
        [
            ("INNGEST_EVENT_API_BASE_URL", format!("{u}/inngest")),
            ("CLERK_SECRET_KEY", "sk_test_standin".into()),
            ("CLERK_API_BASE_URL", format!("{u}/clerk/v1")),
            ("CLERK_AUTHORIZED_PARTIES", "https://academy.test".into()),
            ("RESEND_API_KEY", "re_standin".into()),
            ("RESEND_API_BASE_URL", format!("{u}/resend")),
            ("EMAIL_FROM", "Huckleberry <hello@academy.test>".into()),
            ("STAFF_ALERT_EMAIL", "staff@academy.test".into()),
            ("SUPPORT_EMAIL", "help@academy.test".into()),
            ("DASHBOARD_URL", "https://academy.test/dashboard".into()),
            ("DISCORD_CLIENT_ID", "1300000000000000001".into()),
            ("DISCORD_CLIENT_SECRET", "discord-client-secret".into()),
            ("DISCORD_BOT_TOKEN", "discord-bot-token".into()),
            ("DISCORD_GUILD_ID", GUILD.into()),
            ("DISCORD_ROLE_ONE_ON_ONE", ROLE_ONE_ON_ONE.into()),
            ("DISCORD_ROLE_GROUP", ROLE_GROUP.into()),
            ("DISCORD_API_BASE_URL", format!("{u}/discord/api/v10")),
            (
                "DISCORD_AUTHORIZE_URL",
                format!("{u}/discord/oauth2/authorize"),
            ),
            ("LINK_TOKEN_KEY", LINK_KEY.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn install_defaults(&self) {
        let user = clerk_user(json!({
            "mentorship": {"kind": "group", "purchase_id": PURCHASE, "status": "awaiting_discord"}
        }));
        self.respond(
            Method::GET,
            &format!("/clerk/v1/users/{CLERK_USER}"),
            200,
            user,
        );
        let jwks: Value =
            serde_json::from_str(include_str!("fixtures/clerk_session_test_jwks.json"))
                .expect("fixture");
        self.respond(Method::GET, "/clerk/v1/jwks", 200, jwks);
        self.respond(
            Method::POST,
            "/discord/api/v10/oauth2/token",
            200,
            json!({
                "access_token": "user-access-token",
                "token_type": "Bearer",
                "expires_in": 604800,
                "refresh_token": "refresh",
                "scope": "identify email guilds.join"
            }),
        );
        self.respond(
            Method::GET,
            "/discord/api/v10/users/@me",
            200,
            json!({"id": DISCORD_USER, "username": "nelly", "discriminator": "0", "global_name": "Nelly"}),
        );
        self.respond(
            Method::PUT,
            &format!("/discord/api/v10/guilds/{GUILD}/members/*"),
            201,
            json!({"user": {"id": DISCORD_USER}, "roles": [ROLE_GROUP]}),
        );
        self.respond_raw(
            Method::PUT,
            &format!("/discord/api/v10/guilds/{GUILD}/members/{DISCORD_USER}/roles/*"),
            204,
            &[],
            "",
        );
    }

    /// Answers `method path` with `status` and a JSON body from now on.
    pub(crate) fn respond(&self, method: Method, path: &str, status: u16, body: Value) {
        self.respond_raw(
            method,
            path,
            status,
            &[("content-type", "application/json")],
            &body.to_string(),
        );
    }

    /// Answers `method path` with `status`, headers and a raw body from now on.
    pub(crate) fn respond_raw(
        &self,
        method: Method,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) {
        let mut rules = self.shared.rules.lock().expect("lock");
        rules.retain(|r| !(r.method == method && r.path == path));
        rules.push(Rule {
            method,
            path: path.to_owned(),
            status: StatusCode::from_u16(status).expect("status"),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_owned(),
        });
    }

    /// Answers the next `times` requests to `method` on a path starting with `prefix` with
    /// `status` and `headers` (an empty JSON body), before any rule or store.
    pub(crate) fn fail_next(
        &self,
        method: Method,
        prefix: &str,
        times: usize,
        status: u16,
        headers: &[(&str, &str)],
    ) {
        let mut once = self.shared.once.lock().expect("lock");
        for _ in 0..times {
            once.push(Rule {
                method: method.clone(),
                path: format!("{prefix}*"),
                status: StatusCode::from_u16(status).expect("status"),
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                body: "{}".to_owned(),
            });
        }
    }

    /// Drops the one-shot answers not yet used.
    pub(crate) fn clear_failures(&self) {
        self.shared.once.lock().expect("lock").clear();
    }

    /// Serves Clerk's users from a store from now on: `GET /users/{id}`, `GET /users?
    /// email_address=`, `PATCH /users/{id}/metadata` (deep merge) and `POST /invitations`.
    pub(crate) fn use_clerk_store(&self) {
        *self.shared.clerk.lock().expect("lock") = Some(ClerkStore::default());
    }

    /// Adds a user to the Clerk store (as a sign-up does).
    pub(crate) fn add_clerk_user(&self, id: &str, email: &str, first_name: &str) {
        let mut user = clerk_user(json!({}));
        user["id"] = json!(id);
        user["first_name"] = json!(first_name);
        user["email_addresses"] =
            json!([{"id": "idn_1", "object": "email_address", "email_address": email}]);
        let mut clerk = self.shared.clerk.lock().expect("lock");
        let store = clerk.as_mut().expect("use_clerk_store first");
        store.users.retain(|u| u["id"] != id);
        store.users.push(user);
    }

    /// A stored user's public metadata.
    pub(crate) fn clerk_metadata(&self, id: &str) -> Value {
        let clerk = self.shared.clerk.lock().expect("lock");
        let store = clerk.as_ref().expect("use_clerk_store first");
        store
            .users
            .iter()
            .find(|u| u["id"] == id)
            .map(|u| u["public_metadata"].clone())
            .unwrap_or(Value::Null)
    }

    /// The invitations Clerk was asked to send (their request bodies).
    pub(crate) fn clerk_invitations(&self) -> Vec<Value> {
        let clerk = self.shared.clerk.lock().expect("lock");
        clerk
            .as_ref()
            .map(|store| store.invitations.clone())
            .unwrap_or_default()
    }

    /// Makes the Discord consent stand-in answer as if the buyer pressed "Cancel".
    pub(crate) fn deny_consent(&self) {
        *self.shared.deny_consent.lock().expect("lock") = true;
    }

    /// Every request received so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// The requests to `method` on a path starting with `prefix`.
    pub(crate) fn requests_to(&self, method: Method, prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }

    /// The events sent to the Inngest event API, flattened.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.requests_to(Method::POST, "/inngest/e/")
            .iter()
            .flat_map(|r| match r.json() {
                Value::Array(events) => events,
                event => vec![event],
            })
            .collect()
    }
}

/// A Clerk user object in the Backend API's shape, with this public metadata.
pub(crate) fn clerk_user(public_metadata: Value) -> Value {
    json!({
        "id": CLERK_USER,
        "object": "user",
        "first_name": "Ada",
        "last_name": "Buyer",
        "primary_email_address_id": "idn_1",
        "email_addresses": [
            {"id": "idn_0", "object": "email_address", "email_address": "old@example.com"},
            {"id": "idn_1", "object": "email_address", "email_address": "ada@example.com",
             "verification": {"status": "verified", "strategy": "email_code"}, "linked_to": []}
        ],
        "public_metadata": public_metadata,
        "private_metadata": {},
        "created_at": 1_715_600_000_000_i64,
        "updated_at": 1_715_600_000_000_i64
    })
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    shared.requests.lock().expect("lock").push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers,
        body: body.clone(),
        at: std::time::Instant::now(),
    });
    if method == Method::GET && path == "/discord/oauth2/authorize" {
        return consent(&shared, &query);
    }
    let once = {
        let mut once = shared.once.lock().expect("lock");
        once.iter()
            .position(|r| r.method == method && path.starts_with(r.path.trim_end_matches('*')))
            .map(|i| once.remove(i))
    };
    if let Some(rule) = once {
        return answer(rule);
    }
    if let Some(response) = clerk_store(&shared, &method, &path, &query, &body) {
        return response;
    }
    let rule = shared
        .rules
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| {
            r.method == method
                && match r.path.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => r.path == path,
                }
        })
        // The most specific rule wins (a role path over its member prefix).
        .max_by_key(|r| r.path.len())
        .cloned();
    match (rule, &shared.inngest) {
        (Some(rule), _) => answer(rule),
        (None, Some(inngest)) if method == Method::POST && path.starts_with("/inngest/e/") => {
            inngest.receive(&body).await
        }
        (None, _) => (StatusCode::NOT_FOUND, "no stand-in rule").into_response(),
    }
}

fn answer(rule: Rule) -> Response {
    let mut response = (rule.status, rule.body).into_response();
    for (name, value) in rule.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    response
}

/// The stateful Clerk: `None` when the store is off or the request is not for it.
fn clerk_store(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    body: &Bytes,
) -> Option<Response> {
    let mut clerk = shared.clerk.lock().expect("lock");
    let store = clerk.as_mut()?;
    let rest = path.strip_prefix("/clerk/v1/")?;
    let json_response = |status: StatusCode, body: Value| {
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users"]) => {
            let email = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "email_address")
                .map(|(_, v)| v.to_lowercase())
                .unwrap_or_default();
            let found: Vec<Value> = store
                .users
                .iter()
                .filter(|u| {
                    u["email_addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| {
                            e["email_address"].as_str().map(str::to_lowercase)
                                == Some(email.clone())
                        })
                })
                .cloned()
                .collect();
            Some(json_response(StatusCode::OK, Value::Array(found)))
        }
        ("GET", ["users", id]) => Some(match store.users.iter().find(|u| u["id"] == *id) {
            Some(user) => json_response(StatusCode::OK, user.clone()),
            None => json_response(
                StatusCode::NOT_FOUND,
                json!({"errors": [{"code": "resource_not_found"}]}),
            ),
        }),
        ("PATCH", ["users", id, "metadata"]) => {
            let patch: Value = serde_json::from_slice(body).unwrap_or_default();
            Some(match store.users.iter_mut().find(|u| u["id"] == *id) {
                Some(user) => {
                    deep_merge(
                        &mut user["public_metadata"],
                        patch["public_metadata"].clone(),
                    );
                    json_response(StatusCode::OK, user.clone())
                }
                None => json_response(
                    StatusCode::NOT_FOUND,
                    json!({"errors": [{"code": "resource_not_found"}]}),
                ),
            })
        }
        ("POST", ["invitations"]) => {
            let invitation: Value = serde_json::from_slice(body).unwrap_or_default();
            store.invitations.push(invitation);
            let id = format!("inv_{}", store.invitations.len());
            Some(json_response(
                StatusCode::OK,
                json!({"id": id, "object": "invitation", "status": "pending"}),
            ))
        }
        _ => None,
    }
}

/// Clerk's metadata merge: objects merge key by key, `null` removes a key, anything else
/// replaces.
fn deep_merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    deep_merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

/// Discord's consent screen, decided at once: back to `redirect_uri` with a code (or
/// `error=access_denied`) and the state, as Discord does.
fn consent(shared: &Shared, query: &str) -> Response {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut target = url::Url::parse(&get("redirect_uri")).expect("redirect_uri");
    if *shared.deny_consent.lock().expect("lock") {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &get("state"));
    } else {
        target
            .query_pairs_mut()
            .append_pair("code", AUTH_CODE)
            .append_pair("state", &get("state"));
    }
    (
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, target.to_string())],
    )
        .into_response()
}
