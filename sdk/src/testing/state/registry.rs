//! Apps and the functions they sync (docs/protocol.md §6.3, §6.4).

use serde_json::Value;
use url::Url;

use super::ix::AppIx;
use super::{App, CancelDef, FunctionDef, State};
use crate::Endpoint;
use crate::core::time::parse_duration;

impl State {
    /// The index of the app at `url`, added with `endpoint` if new.
    pub(crate) fn app(&mut self, url: &str, endpoint: Option<Endpoint>) -> AppIx {
        if let Some(i) = self.apps.position(|a| a.url == url) {
            if endpoint.is_some() {
                self.apps[i].endpoint = endpoint;
            }
            return i;
        }
        self.apps.push(App {
            url: url.to_owned(),
            endpoint,
        })
    }

    /// Registers the functions of a sync (the `functions` array of docs/protocol.md §6.3/§6.4),
    /// replacing earlier registrations with the same ids.
    pub(crate) fn register(&mut self, app: AppIx, functions: &Value) -> Result<(), String> {
        let list = functions.as_array().ok_or("`functions` is not an array")?;
        let mut defs = Vec::with_capacity(list.len());
        for f in list {
            defs.push(parse_function(app, f)?);
        }
        for def in defs {
            match self.functions.iter_mut().find(|f| f.id == def.id) {
                Some(existing) => *existing = def,
                None => {
                    self.functions.push(def);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn function_ids(&self) -> Vec<String> {
        self.functions.iter().map(|f| f.id.clone()).collect()
    }

    pub(crate) fn has_function(&self, id: &str) -> bool {
        self.functions.iter().any(|f| f.id == id)
    }
}

/// Reads one function config of a sync (docs/protocol.md §6.4).
pub(super) fn parse_function(app: AppIx, f: &Value) -> Result<FunctionDef, String> {
    let id = f
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or("a function config has no id")?
        .to_owned();
    let step = f
        .pointer("/steps/step")
        .ok_or_else(|| format!("function {id:?} has no steps.step"))?;
    let url = step
        .pointer("/runtime/url")
        .and_then(Value::as_str)
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| format!("function {id:?} has no valid steps.step.runtime.url"))?;
    let retries = step
        .pointer("/retries/attempts")
        .and_then(Value::as_u64)
        .map_or(crate::core::config::DEFAULT_RETRIES, |n| {
            u32::try_from(n).unwrap_or(u32::MAX - 1)
        });
    let triggers = f
        .get("triggers")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let event = t.get("event").and_then(Value::as_str)?;
                    let expression = t.get("expression").and_then(Value::as_str);
                    Some((event.to_owned(), expression.map(str::to_owned)))
                })
                .collect()
        })
        .unwrap_or_default();
    let cancel = f
        .get("cancel")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    Some(CancelDef {
                        event: c.get("event").and_then(Value::as_str)?.to_owned(),
                        if_exp: c.get("if").and_then(Value::as_str).map(str::to_owned),
                        timeout: c
                            .get("timeout")
                            .and_then(Value::as_str)
                            .and_then(|t| parse_duration(t).ok()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(FunctionDef {
        id,
        app,
        url,
        triggers,
        max_attempts: retries + 1,
        idempotency: f
            .get("idempotency")
            .and_then(Value::as_str)
            .map(str::to_owned),
        cancel,
    })
}
