//! Control-plane and archived-media calls a producer needs, in kvssink's order (KVS-API.md
//! §1.8): `describeStream` → (404 and allowed) `createStream` → `getDataEndpoint(PUT_MEDIA)`.
//! Plus `listFragments`, which the uploader uses to tell "stored before the connection dropped"
//! from "lost" (see [`super::uploader`]).

use std::time::Duration;

use serde_json::{Value, json};

use super::ClientError;
use super::http::{self, Endpoint};
use crate::auth::sigv4::Signer;

/// Timeout of one control-plane call.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A KVS API client for one endpoint.
#[derive(Debug, Clone)]
pub struct Api {
    /// Where calls go.
    pub endpoint: Endpoint,
    /// `None` sends unsigned requests (which vidstream refuses; AWS too).
    pub signer: Option<Signer>,
}

/// What `prepare_stream` found out.
#[derive(Debug, Clone)]
pub struct StreamSetup {
    /// The stream's ARN.
    pub arn: String,
    /// `DataRetentionInHours`: with 0 the server sends no PERSISTED acks.
    pub retention_hours: u64,
    /// Whether we created it.
    pub created: bool,
    /// The PUT_MEDIA data endpoint.
    pub put_media_endpoint: Endpoint,
}

/// One stored fragment, from ListFragments.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedFragment {
    /// Fragment number.
    pub number: String,
    /// Producer timestamp in ms.
    pub producer_ms: i64,
}

impl Api {
    /// Builds the request head (signed when a signer is set) for a JSON POST.
    pub fn json_head(&self, path: &str, body: &[u8]) -> String {
        self.head("POST", path, body)
    }

    /// Builds the request head (signed when a signer is set) of a `method` request with a JSON
    /// `body` (empty: none).
    /// `path` is not yet percent-encoded (it is encoded here, and signed as it is).
    pub fn head(&self, method: &str, path: &str, body: &[u8]) -> String {
        let path = self.endpoint.path(path);
        let host = self.endpoint.host_header();
        let line_path = crate::auth::sigv4::encode_path(&path);
        let mut head = format!(
            "{method} {line_path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: vidstream/{}\r\n",
            body.len(),
            env!("CARGO_PKG_VERSION")
        );
        if let Some(signer) = &self.signer {
            let hash = crate::auth::sigv4::payload_sha256(body);
            let signed = [
                ("content-type", "application/json"),
                ("host", host.as_str()),
            ];
            head.push_str(&signer.auth_lines(method, &path, &signed, &hash));
        }
        head.push_str("\r\n");
        head
    }

    /// POSTs `body` to `path`; `Ok(Err((status, type, message)))` for a KVS error reply.
    pub async fn call(
        &self,
        path: &str,
        body: Value,
    ) -> Result<Result<Value, ApiFailure>, ClientError> {
        self.rest("POST", path, Some(body)).await
    }

    /// A `method` request to `path` with an optional JSON body: the JSON of a 2xx answer, or
    /// `Ok(Err(..))` for an error reply (status, KVS error type, message).
    pub async fn rest(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Result<Value, ApiFailure>, ClientError> {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let head = self.head(method, path, &body);
        let resp = http::send(&self.endpoint, &head, &body, CALL_TIMEOUT).await?;
        let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if (200..300).contains(&resp.status) {
            return Ok(Ok(json));
        }
        let error_type = resp
            .header("x-amzn-errortype")
            .map(|t| t.split(':').next().unwrap_or(t).to_owned())
            .or_else(|| json["__type"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {}", resp.status));
        let message = json["message"]
            .as_str()
            .or_else(|| json["Message"].as_str())
            .unwrap_or("")
            .to_owned();
        Ok(Err(ApiFailure {
            status: resp.status,
            error_type,
            message,
        }))
    }

    /// describeStream → (404 and `create`) createStream → getDataEndpoint(PUT_MEDIA).
    pub async fn prepare_stream(
        &self,
        stream: &str,
        create: bool,
    ) -> Result<StreamSetup, ClientError> {
        let mut created = false;
        let mut waits = 0;
        let info = loop {
            match self
                .call("/describeStream", json!({ "StreamName": stream }))
                .await?
            {
                Ok(v) => {
                    let status = v["StreamInfo"]["Status"].as_str().unwrap_or("");
                    match status {
                        "ACTIVE" => break v["StreamInfo"].clone(),
                        "CREATING" | "UPDATING" if waits < 150 => {
                            waits += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        other => {
                            return Err(ClientError::Fatal(format!(
                                "stream `{stream}` is {other}, not ACTIVE"
                            )));
                        }
                    }
                }
                Err(f) if f.status == 404 && create && !created => {
                    match self
                        .call(
                            "/createStream",
                            json!({
                                "StreamName": stream,
                                "DeviceName": "vidstream-push",
                                "MediaType": "video/h264",
                                "DataRetentionInHours": 24,
                            }),
                        )
                        .await?
                    {
                        Ok(_) => created = true,
                        // Someone else created it meanwhile: fine.
                        Err(f) if f.error_type == "ResourceInUseException" => created = true,
                        Err(f) => return Err(ClientError::Fatal(format!("createStream: {f}"))),
                    }
                }
                Err(f) if f.status == 404 => {
                    return Err(ClientError::Fatal(format!(
                        "stream `{stream}` not found ({f}); create it first or pass --create"
                    )));
                }
                Err(f) => return Err(ClientError::Fatal(format!("describeStream: {f}"))),
            }
        };
        let arn = info["StreamARN"].as_str().unwrap_or("").to_owned();
        let retention_hours = info["DataRetentionInHours"].as_u64().unwrap_or(0);
        let put_media_endpoint = self.data_endpoint(stream, "PUT_MEDIA").await?;
        Ok(StreamSetup {
            arn,
            retention_hours,
            created,
            put_media_endpoint,
        })
    }

    /// getDataEndpoint for `api_name`.
    pub async fn data_endpoint(
        &self,
        stream: &str,
        api_name: &str,
    ) -> Result<Endpoint, ClientError> {
        match self
            .call(
                "/getDataEndpoint",
                json!({ "StreamName": stream, "APIName": api_name }),
            )
            .await?
        {
            Ok(v) => {
                let url = v["DataEndpoint"].as_str().ok_or_else(|| {
                    ClientError::Protocol("getDataEndpoint: no DataEndpoint in the reply".into())
                })?;
                // The data endpoint is trusted as the control endpoint is.
                Ok(Endpoint::parse(url)?.trusting(self.endpoint.ca_file.clone()))
            }
            Err(f) => Err(ClientError::Fatal(format!("getDataEndpoint: {f}"))),
        }
    }

    /// listFragments by producer timestamp in `[start_ms, end_ms]` (all pages).
    pub async fn list_fragments(
        &self,
        stream: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ListedFragment>, ClientError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "StreamName": stream,
                "FragmentSelector": {
                    "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                    "TimestampRange": {
                        "StartTimestamp": start_ms as f64 / 1000.0,
                        "EndTimestamp": end_ms as f64 / 1000.0,
                    }
                }
            });
            if let Some(t) = &token {
                body = json!({ "StreamName": stream, "NextToken": t });
            }
            let v = self
                .call("/listFragments", body)
                .await?
                .map_err(|f| ClientError::Fatal(format!("listFragments: {f}")))?;
            for f in v["Fragments"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let (Some(n), Some(ts)) = (
                    f["FragmentNumber"].as_str(),
                    f["ProducerTimestamp"].as_f64(),
                ) else {
                    continue;
                };
                out.push(ListedFragment {
                    number: n.to_owned(),
                    producer_ms: (ts * 1000.0).round() as i64,
                });
            }
            match v["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}

/// A KVS error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// `x-amzn-ErrorType` / `__type`.
    pub error_type: String,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error_type, self.message)
    }
}
