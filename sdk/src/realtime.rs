//! Realtime (docs/protocol.md §8.10): publish typed messages on a channel's topics, and mint
//! subscription tokens a browser uses to receive them over the server's WebSocket.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{ApiError, Client};

/// A topic of a realtime channel whose messages carry a `T`. Channels are plain strings
/// (`"user:42"`, `"run:<id>"`); a topic names one kind of message within them.
pub struct Topic<T: ?Sized> {
    name: String,
    payload: PhantomData<fn(&T)>,
}

impl<T: ?Sized> Topic<T> {
    /// The topic named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Topic {
            name: name.into(),
            payload: PhantomData,
        }
    }

    /// The topic's name on the wire.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T: ?Sized> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Topic::new(self.name.clone())
    }
}

impl<T: ?Sized> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Topic").field(&self.name).finish()
    }
}

/// A token that lets its holder (a browser) subscribe to some topics of one channel, for a
/// short time (a minute on the dev server). Hand [`SubscriptionToken::connect_url`] to
/// the browser; the token is a credential, so `Debug` does not print it.
#[derive(Clone)]
pub struct SubscriptionToken {
    /// The signed token (a JWT).
    pub token: String,
    /// The WebSocket URL to connect to, without the token (`ws(s)://…/v1/realtime/connect`).
    pub url: Url,
    /// The channel the token is for.
    pub channel: String,
    /// The topics the token is for.
    pub topics: Vec<String>,
}

impl SubscriptionToken {
    /// The URL a browser opens a WebSocket to: [`SubscriptionToken::url`] with
    /// `?token=<token>`.
    pub fn connect_url(&self) -> Url {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("token", &self.token);
        url
    }
}

impl fmt::Debug for SubscriptionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionToken")
            .field("token", &"<redacted>")
            .field("url", &self.url.as_str())
            .field("channel", &self.channel)
            .field("topics", &self.topics)
            .finish()
    }
}

/// One message a subscriber receives over the realtime WebSocket (docs/protocol.md §8.10).
/// `kind` is `"data"` for a published message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RealtimeMessage {
    /// `"data"` for a published message; other kinds are lifecycle or stream messages.
    pub kind: String,
    /// The channel.
    #[serde(default)]
    pub channel: String,
    /// The topic.
    #[serde(default)]
    pub topic: String,
    /// The published data.
    #[serde(default)]
    pub data: serde_json::Value,
    /// The run that published it, if a run did.
    #[serde(default)]
    pub run_id: Option<String>,
}

impl RealtimeMessage {
    /// The data as a `T` (the payload type of its [`Topic`]).
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

#[derive(Serialize)]
struct TokenTopic<'a> {
    kind: &'static str,
    channel: &'a str,
    name: &'a str,
}

impl Client {
    /// Publishes `data` on `topic` of `channel` (docs/protocol.md §8.10):
    /// `POST {api}/v1/realtime/publish?channel=…&topic=…` with the data as the JSON body.
    /// Not durable: in a function, use [`crate::Step::publish`] so a retried run does not
    /// publish twice.
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        channel: &str,
        topic: &Topic<T>,
        data: &T,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_vec(data).map_err(ApiError::Body)?;
        self.publish_json(channel, topic.name(), body).await
    }

    /// [`Client::publish`] of an already serialized body.
    pub(crate) async fn publish_json(
        &self,
        channel: &str,
        topic: &str,
        body: Vec<u8>,
    ) -> Result<(), ApiError> {
        let mut url = self.api_url(&["v1", "realtime", "publish"]);
        url.query_pairs_mut()
            .append_pair("channel", channel)
            .append_pair("topic", topic);
        self.api_post(&url, "application/json", body.into()).await?;
        Ok(())
    }

    /// Mints a token that lets a browser subscribe to `topics` of `channel`
    /// (docs/protocol.md §8.10): `POST {api}/v1/realtime/token`. Call it from your backend
    /// after checking the user may see the channel; the signing key never leaves it.
    pub async fn subscription_token(
        &self,
        channel: &str,
        topics: &[&str],
    ) -> Result<SubscriptionToken, ApiError> {
        #[derive(Deserialize)]
        struct Answer {
            jwt: String,
        }
        let body: Vec<TokenTopic<'_>> = topics
            .iter()
            .map(|name| TokenTopic {
                kind: "run",
                channel,
                name,
            })
            .collect();
        let body = serde_json::to_vec(&body).map_err(ApiError::Body)?;
        let url = self.api_url(&["v1", "realtime", "token"]);
        let answer: Answer = self.api_post_json(&url, body).await?;
        Ok(SubscriptionToken {
            token: answer.jwt,
            url: websocket_url(self.api_url(&["v1", "realtime", "connect"])),
            channel: channel.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        })
    }
}

/// `http(s)://` → `ws(s)://`.
fn websocket_url(mut url: Url) -> Url {
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    // Both are special schemes, so the change is allowed.
    let _ = url.set_scheme(scheme);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_url_carries_the_token_and_debug_hides_it() {
        let token = SubscriptionToken {
            token: "secret.jwt.value".into(),
            url: websocket_url(
                Url::parse("https://api.example.com/v1/realtime/connect").expect("url"),
            ),
            channel: "user:1".into(),
            topics: vec!["progress".into()],
        };
        assert_eq!(
            token.connect_url().as_str(),
            "wss://api.example.com/v1/realtime/connect?token=secret.jwt.value"
        );
        let debug = format!("{token:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert_eq!(
            websocket_url(Url::parse("http://127.0.0.1:8288/x").expect("url")).as_str(),
            "ws://127.0.0.1:8288/x"
        );
    }
}
