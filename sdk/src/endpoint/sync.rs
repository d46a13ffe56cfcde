//! `PUT`: in-band and out-of-band sync (docs/protocol.md §6).

use super::*;

impl Endpoint {
    pub(super) async fn sync(
        &self,
        parts: &http::request::Parts,
        query: &Query<'_>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let config = self.inner.client.config();
        let in_band = parts
            .headers
            .get(headers::SYNC_KIND)
            .is_some_and(|v| v.as_bytes() == b"in_band")
            && config.allow_in_band_sync();
        let auth = self.authenticate(&parts.headers, body);
        let key = match auth {
            Auth::Invalid(error) => {
                tracing::warn!(%error, "sync request with an invalid signature refused");
                return unauthorized();
            }
            Auth::Valid(key) => Some(key),
            Auth::Unsigned => None,
        };
        if in_band {
            return self.sync_in_band(body, key);
        }
        let mut res = self.sync_out_of_band(parts, query).await;
        res.headers_mut()
            .insert(headers::SYNC_KIND, HeaderValue::from_static("out_of_band"));
        res
    }

    fn sync_in_band(&self, body: &[u8], key: Option<&SigningKey>) -> Response<Vec<u8>> {
        let request: InBandRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(_) => {
                return message_response(
                    StatusCode::BAD_REQUEST,
                    "an in-band sync body must be {\"url\": <string>}",
                );
            }
        };
        let url = match Url::parse(&request.url)
            .ok()
            .and_then(|url| self.advertised_url(url).ok())
        {
            Some(url) => url,
            None => {
                return message_response(
                    StatusCode::BAD_REQUEST,
                    "the sync url is not an absolute http(s) URL",
                );
            }
        };
        let config = self.inner.client.config();
        let response = InBandResponse {
            app_id: &self.inner.app_id,
            app_version: self.inner.app_version.as_deref(),
            env: config.env(),
            framework: self.inner.framework,
            functions: self.function_configs(&url),
            inspection: self.introspection(Some(true)),
            platform: None,
            sdk_author: "inngest",
            sdk_language: SDK_LANGUAGE,
            sdk_version: SDK_VERSION,
            url: url.to_string(),
            capabilities: CAPABILITIES,
        };
        let mut res = json_response(StatusCode::OK, to_json(&response));
        res.headers_mut()
            .insert(headers::SYNC_KIND, HeaderValue::from_static("in_band"));
        self.sign(res, key)
    }

    async fn sync_out_of_band(
        &self,
        parts: &http::request::Parts,
        query: &Query<'_>,
    ) -> Response<Vec<u8>> {
        let config = self.inner.client.config();
        if config.mode() == Mode::Cloud && parts.headers.get(headers::SIGNATURE).is_none() {
            // An unsigned PUT could make the app register itself at a URL derived from an
            // attacker's Host header; in cloud mode only Inngest may trigger a sync.
            return unauthorized();
        }
        let url = match request_url(parts).and_then(|url| self.advertised_url(url).ok()) {
            Some(url) => url,
            None => {
                return message_response(StatusCode::BAD_REQUEST, "cannot determine the app URL");
            }
        };
        let body = to_json(&RegisterRequest::new(
            url.to_string(),
            &self.inner.app_id,
            self.inner.app_version.as_deref(),
            self.inner.framework,
            self.function_configs(&url),
        ));
        let server_kind = parts
            .headers
            .get(headers::SERVER_KIND)
            .and_then(|v| v.to_str().ok());
        match self
            .inner
            .client
            .register(body, query.deploy_id.as_deref(), server_kind)
            .await
        {
            Ok(registered) => json_response(
                StatusCode::OK,
                to_json(&SyncResult {
                    message: "Successfully synced.",
                    modified: registered.modified,
                }),
            ),
            Err(error) => {
                tracing::error!(%error, "out-of-band sync failed");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    to_json(&SyncResult {
                        message: &error.to_string(),
                        modified: false,
                    }),
                )
            }
        }
    }

    /// The URL sent at sync: `url` without `deployId`, with the serve origin and path
    /// overrides applied; the query string survives (docs/protocol.md §6.2, §12 item 10).
    pub(super) fn advertised_url(&self, mut url: Url) -> Result<Url, SyncError> {
        let config = self.inner.client.config();
        if let Some(origin) = config.serve_origin() {
            let origin = Url::parse(origin).map_err(|_| SyncError::InvalidUrl)?;
            url.set_scheme(origin.scheme())
                .map_err(|()| SyncError::InvalidUrl)?;
            url.set_host(origin.host_str())
                .map_err(|_| SyncError::InvalidUrl)?;
            url.set_port(origin.port())
                .map_err(|()| SyncError::InvalidUrl)?;
        }
        if let Some(path) = config.serve_path() {
            url.set_path(path);
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "deployId" && k != "fnId" && k != "stepId")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(SyncError::InvalidUrl);
        }
        Ok(url)
    }

    pub(super) fn function_configs(&self, url: &Url) -> Vec<FunctionConfig<'_>> {
        self.inner
            .entries
            .iter()
            .map(|entry| entry.opts.to_config(&self.inner.app_id, url))
            .collect()
    }
}

/// The request URL as the client addressed it: scheme from `X-Forwarded-Proto`, host from
/// `X-Forwarded-Host` or `Host`, path and query from the request line.
fn request_url(parts: &http::request::Parts) -> Option<Url> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let scheme = header("x-forwarded-proto")
        .or(parts.uri.scheme_str())
        .unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    Url::parse(&format!("{scheme}://{host}{path_and_query}")).ok()
}
