//! A small blocking HTTP client of one server (ureq), shared by the restart test and the
//! load benchmark (which includes this file with `#[path]`).

use std::time::Duration;

use serde_json::Value;

/// A blocking HTTP client of one server: one kept-alive connection, so one per thread.
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        let agent = ureq::config::Config::builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Self {
            agent,
            base: base.to_owned(),
        }
    }

    /// Sends `method path` with `token` and the JSON `body` (GET without one, PUT and POST
    /// with one); its status and raw body, which the caller parses (the load benchmark
    /// times the request apart from the parsing).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let response = match (method, body) {
            ("GET", None) => self.agent.get(&url).header("authorization", &auth).call(),
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .header("authorization", &auth)
                .content_type("application/json")
                .send(body.to_string()),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .content_type("application/json")
                .send(body.to_string()),
            _ => return Err(format!("no such request here: {method} {path}")),
        };
        let mut response = response.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| format!("{method} {path}: reading the body: {e}"))?;
        Ok((status, body))
    }
}
