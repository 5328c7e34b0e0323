//! OTLP/HTTP on the wire: the two encodings a request may use, and answers in the request's own
//! encoding as the OTLP specification asks (an `ExportTraceServiceResponse` on success, a
//! `google.rpc.Status` on failure).

use crate::error::AppError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a request's Content-Type names; None for any other type.
    pub fn of(headers: &HeaderMap) -> Option<Encoding> {
        let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// The export in the body; Err says why it cannot be read (a 400).
    pub fn decode(self, body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
        match self {
            Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
                .map_err(|err| format!("the body is not an OTLP protobuf export: {err}")),
            Encoding::Json => serde_json::from_slice(body)
                .map_err(|err| format!("the body is not an OTLP JSON export: {err}")),
        }
    }

    /// 200 with the export's outcome: partial success when some spans were rejected.
    pub fn answer(self, rejected: usize, message: String) -> Response {
        let partial_success =
            (rejected > 0 || !message.is_empty()).then_some(ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message: message,
            });
        let response = ExportTraceServiceResponse { partial_success };
        let body = match self {
            Encoding::Protobuf => response.encode_to_vec(),
            // `{}` rather than `{"partialSuccess": null}` when all was accepted
            Encoding::Json if response.partial_success.is_none() => b"{}".to_vec(),
            Encoding::Json => serde_json::to_vec(&response).unwrap_or_default(),
        };
        self.respond(StatusCode::OK, body)
    }

    /// The error's status with a `google.rpc.Status` body; a 429 keeps its Retry-After.
    pub fn failure(self, err: &AppError) -> Response {
        let status =
            StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = self.refuse(status, err.to_string());
        if let AppError::RateLimited { retry_after_secs } = err {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }

    /// `status` with a `google.rpc.Status` body saying why.
    pub fn refuse(self, status: StatusCode, message: String) -> Response {
        let message = RpcStatus {
            code: grpc_code(status),
            message,
        };
        let body = match self {
            Encoding::Protobuf => message.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&message).unwrap_or_default(),
        };
        self.respond(status, body)
    }

    fn respond(self, status: StatusCode, body: Vec<u8>) -> Response {
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type()),
        );
        response
    }
}

/// `google.rpc.Status`, the body of an OTLP error (its `details` are never sent).
#[derive(Clone, PartialEq, Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The gRPC code that matches an HTTP status (as the gRPC HTTP mapping pairs them).
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 415 | 422 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        404 => 5,             // NOT_FOUND
        409 => 10,            // ABORTED
        413 | 429 => 8,       // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 13,              // INTERNAL
    }
}
