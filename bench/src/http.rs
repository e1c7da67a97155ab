//! A lean HTTP/1.1 client for the REST drivers: keep-alive connections from hyper's pool, no
//! TLS, no redirects, so the driver spends as little of the shared CPU as it can.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Requests to one service as players (`x-mock-user-id`, with the service's auth off).
#[derive(Clone)]
pub struct Players {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Players {
    /// `base` is the service's address with its base path, e.g. `http://127.0.0.1:8000/challenge`.
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(connector);
        Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Sends the request as `user` and reads the whole answer; an answer other than `expect`
    /// is an error naming the status and the start of the body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        user: &str,
        body: Option<&'static str>,
        expect: &[u16],
    ) -> Result<Bytes, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("x-mock-user-id", user);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from_static(
                body.unwrap_or_default().as_bytes(),
            )))
            .map_err(|err| err.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| format!("{method} {path}: {err}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("{method} {path}: reading the answer: {err}"))?
            .to_bytes();
        if expect.contains(&status) {
            Ok(body)
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            Err(format!("{method} {path}: {status} {text}"))
        }
    }
}
