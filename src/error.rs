//! The one error type of runwire. Server code turns every failure into an `AppError`; the browser gets it
//! typed through server functions, and the REST layer turns it into `{ "error": ..., "code": ... }`.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    /// The request itself is malformed (bad JSON, bad UUID, unknown field).
    #[error("{0}")]
    BadRequest(String),
    /// A value is out of its allowed range; `field` names it so forms can show it in place.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("sign in to continue")]
    Unauthorized,
    /// Known caller, but not allowed: a missing token scope, a cross-site request.
    #[error("{0}")]
    Forbidden(String),
    /// Sign-in failed. Deliberately silent on whether the email exists.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Unknown, or owned by someone else: both look the same so ids cannot be probed.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state (illegal transition, finished run, duplicate).
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large: the limit is {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A per-user limit on something held at once (queued runs, open exports).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The server is too busy or too slow right now; the request may be retried.
    #[error("{0}")]
    Unavailable(String),
    /// Something broke on our side. The details are in the server log under `reference`.
    #[error("internal error (reference {reference})")]
    Internal { reference: String },
    /// The server function transport failed (network down, server unreachable, bad encoding).
    #[error("{0}")]
    ServerFn(String),
}

impl AppError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized | AppError::InvalidCredentials => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge { .. } => 413,
            AppError::Validation { .. } => 422,
            AppError::RateLimited { .. } | AppError::QuotaExceeded(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal { .. } => 500,
            AppError::ServerFn(_) => 502,
        }
    }

    /// A stable machine-readable name, for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Validation { .. } => "validation",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::QuotaExceeded(_) => "quota_exceeded",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal { .. } => "internal",
            AppError::ServerFn(_) => "transport",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // the request could not be read: the caller's fault
            ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => {
                AppError::BadRequest(value.to_string())
            }
            _ => AppError::ServerFn(value.to_string()),
        }
    }
}

impl From<crate::model::RunFilterError> for AppError {
    fn from(err: crate::model::RunFilterError) -> Self {
        let field = match err {
            crate::model::RunFilterError::SearchTooLong(_) => "search",
            crate::model::RunFilterError::AgentNameLength => "agent_name",
            crate::model::RunFilterError::NulCharacter(field) => field,
        };
        AppError::validation(field, err.to_string())
    }
}

impl From<crate::model::TriggerError> for AppError {
    fn from(err: crate::model::TriggerError) -> Self {
        AppError::validation(err.field(), err.to_string())
    }
}

impl From<crate::model::RunUpdateError> for AppError {
    fn from(err: crate::model::RunUpdateError) -> Self {
        use crate::model::RunUpdateError as E;
        match err {
            E::Finished(_) | E::IllegalTransition { .. } | E::SpanEnded(_) => {
                AppError::Conflict(err.to_string())
            }
            E::TooLarge { field: "run", .. } => AppError::validation("run", err.to_string()),
            E::TooLarge { max, .. } => AppError::PayloadTooLarge { limit_bytes: max },
            _ => AppError::validation(err.field(), err.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
pub use ssr::server_fn_error_status;

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;

    impl AppError {
        /// Logs the real cause and returns an error that names only a reference to it.
        pub fn internal(cause: impl std::fmt::Display) -> Self {
            let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
            tracing::error!(%reference, "internal error: {cause}");
            AppError::Internal { reference }
        }
    }

    /// The one place errors become HTTP responses: `{ "error": ..., "code": ... }` (+ `field`).
    impl axum::response::IntoResponse for AppError {
        fn into_response(self) -> axum::response::Response {
            let status = axum::http::StatusCode::from_u16(self.status_code())
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut body = serde_json::json!({ "error": self.to_string(), "code": self.code() });
            if let AppError::Validation { field, .. } = &self {
                body["field"] = serde_json::Value::from(field.as_str());
            }
            // The id the logs know this request by, to quote when reporting a problem.
            if let Some(id) = crate::server::telemetry::requests::RequestId::current() {
                body["request_id"] = serde_json::Value::from(id);
            }
            let mut response = (status, axum::Json(body)).into_response();
            if let AppError::RateLimited { retry_after_secs } = self {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after_secs),
                );
            }
            response
        }
    }

    /// Server functions answer every error with 500; this gives each the status its `AppError` names
    /// (401, 404, 422, 429 ...) and a Retry-After when rate limited. Other responses pass untouched.
    pub async fn server_fn_error_status(
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        use axum::http::{header, HeaderValue, StatusCode};
        let response = next.run(request).await;
        if !response.headers().contains_key("serverfnerror") {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
            parts.status = StatusCode::INTERNAL_SERVER_ERROR;
            return axum::response::Response::from_parts(parts, axum::body::Body::empty());
        };
        if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
            parts.status = StatusCode::from_u16(err.status_code()).unwrap_or(parts.status);
            if let AppError::RateLimited { retry_after_secs } = err {
                parts
                    .headers
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
        }
        axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
    }

    impl From<sqlx::Error> for AppError {
        fn from(err: sqlx::Error) -> Self {
            match &err {
                sqlx::Error::RowNotFound => AppError::NotFound,
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    let constraint = db.constraint().unwrap_or_default();
                    match code.as_ref() {
                        // raised by our own triggers (migrations/*_runs.sql)
                        "RW409" => AppError::Conflict(db.message().to_owned()),
                        "RW422" => AppError::validation("progress_percent", db.message()),
                        // check_violation: name the field from the constraint
                        "23514" => AppError::validation(
                            field_of_constraint(constraint),
                            format!("value violates {constraint}"),
                        ),
                        "23505" => AppError::Conflict(format!("already exists ({constraint})")),
                        // a NUL character in text or jsonb: the model refuses it first; this is the
                        // backstop for any path it missed
                        "22021" | "22P05" => AppError::validation("input", db.message()),
                        _ => AppError::internal(err),
                    }
                }
                _ => AppError::internal(err),
            }
        }
    }

    fn field_of_constraint(constraint: &str) -> &'static str {
        match constraint {
            "agent_runs_agent_name_length" => "agent_name",
            "agent_runs_task_length" => "task",
            "agent_runs_progress_range" | "agent_run_events_progress_check" => "progress_percent",
            "users_email_format" => "email",
            _ => "input",
        }
    }
}
