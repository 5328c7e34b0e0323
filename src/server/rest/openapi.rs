//! The OpenAPI description of the REST API, generated from the handlers' `#[utoipa::path]` and the
//! types' `ToSchema`: the routes and the document come from the same `routes!` calls
//! ([`super::router`]), so they cannot drift apart. Every constraint the server enforces on a
//! request is declared: lengths, patterns, enums, ranges, and `additionalProperties: false` where
//! unknown fields are refused.

use crate::model::{AgentRun, EventPage, NewRun, RunEvent, RunPage, RunSort, RunStatus, RunUpdate};
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "runwire API",
        version = "1",
        description = "Report agent runs and read them back. Authenticate with \
                       `Authorization: Bearer <token>` (tokens carry scopes: runs:write to report, \
                       runs:read to read). Every write accepts an Idempotency-Key. Errors are \
                       `{\"error\": ..., \"code\": ..., \"field\"?: ...}`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(
        ErrorBody, AgentRun, RunEvent, RunPage, EventPage, NewRun, RunUpdate, RunStatus, RunSort
    )),
    tags(
        (name = "runs", description = "Runs and their updates"),
        (name = "legacy", description = "Paths of the system runwire replaces"),
        (name = "operations", description = "Health, readiness and scheduled jobs"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "cronSecret",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The CRON_SECRET the server was started with"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metricsToken",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The RUNWIRE_METRICS_TOKEN the server was started with",
                    ))
                    .build(),
            ),
        );
    }
}

/// Each kind of update refuses unknown fields (`deny_unknown_fields` on the enum), which the
/// derive does not carry into the variants' schemas: say it there.
struct StrictUpdates;

impl Modify for StrictUpdates {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        use utoipa::openapi::RefOr;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("RunUpdate") {
            for item in &mut one_of.items {
                if let RefOr::T(Schema::Object(object)) = item {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// Every error answer.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// A stable name: bad_request, validation, unauthorized, forbidden, not_found, conflict,
    /// payload_too_large, rate_limited, quota_exceeded, unavailable, internal.
    pub code: String,
    /// The request field at fault (validation errors).
    pub field: Option<String>,
    /// The request's id (its `X-Request-Id`), as the server's logs name it.
    pub request_id: Option<String>,
}

/// `Idempotency-Key`: a retried write with the same key is done once; its first answer is replayed.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// 1 to 200 visible ASCII characters.
    #[serde(rename = "Idempotency-Key")]
    #[param(
        rename = "Idempotency-Key",
        pattern = r"^[!-~]{1,200}$",
        min_length = 1,
        max_length = 200
    )]
    idempotency_key: Option<String>,
}

/// A run's id in a path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct RunId {
    /// The run's id (a UUID).
    id: uuid::Uuid,
}

/// The run-list dialect of `GET /api/v1/runs`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RunListParams {
    /// Comma-separated statuses; `active` stands for every unfinished one.
    #[param(
        pattern = r"^\s*(active|pending|queued|in_progress|paused|awaiting_verification|verifying|retrying|completed|failed|cancelled|timed_out)?\s*(,\s*(active|pending|queued|in_progress|paused|awaiting_verification|verifying|retrying|completed|failed|cancelled|timed_out)?\s*)*$"
    )]
    status: Option<String>,
    /// Only unfinished runs (the older spelling of `status=active`).
    active: Option<bool>,
    /// An agent name, exactly.
    #[param(max_length = 100, pattern = r"^[^\x00]*$")]
    agent: Option<String>,
    /// A task id: a UUID, or the text runs were started with ("task_123").
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    task_id: Option<String>,
    /// Case-insensitive substring of agent, task or current step, or a run id prefix.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    q: Option<String>,
    /// The older name of `q`.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    search: Option<String>,
    sort: Option<crate::model::RunSort>,
    /// The `next_cursor` of the previous page of the same sort.
    #[param(pattern = r"^((o?[0-9]{1,18}|l-?[0-9]{1,18})_[0-9a-f]{32})?$")]
    cursor: Option<String>,
    /// Runs per page.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The dashboard's time window (ignored by lists and exports).
    #[param(pattern = "^(24h|7d|30d|all)?$")]
    window: Option<String>,
    /// The dashboard's open run (ignored by lists and exports).
    run: Option<uuid::Uuid>,
}

/// The run-list dialect of an export: every run of the view, so no `cursor` or `limit`; `format`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExportParams {
    /// Comma-separated statuses; `active` stands for every unfinished one.
    #[param(
        pattern = r"^\s*(active|pending|queued|in_progress|paused|awaiting_verification|verifying|retrying|completed|failed|cancelled|timed_out)?\s*(,\s*(active|pending|queued|in_progress|paused|awaiting_verification|verifying|retrying|completed|failed|cancelled|timed_out)?\s*)*$"
    )]
    status: Option<String>,
    /// Only unfinished runs (the older spelling of `status=active`).
    active: Option<bool>,
    /// An agent name, exactly.
    #[param(max_length = 100, pattern = r"^[^\x00]*$")]
    agent: Option<String>,
    /// A task id: a UUID, or the text runs were started with ("task_123").
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    task_id: Option<String>,
    /// Case-insensitive substring of agent, task or current step, or a run id prefix.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    q: Option<String>,
    /// The older name of `q`.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    search: Option<String>,
    sort: Option<crate::model::RunSort>,
    /// csv (the default) or json.
    #[param(pattern = "^(csv|json)?$")]
    format: Option<String>,
    /// The dashboard's time window (ignored by lists and exports).
    #[param(pattern = "^(24h|7d|30d|all)?$")]
    window: Option<String>,
    /// The dashboard's open run (ignored by lists and exports).
    run: Option<uuid::Uuid>,
}

/// The document, generated once.
pub fn generated() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = super::routes().split_for_parts().1;
        // after the routes added their schemas, which would replace a changed one
        StrictUpdates.modify(&mut document);
        document
    })
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json")))]
pub async fn document() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| generated().to_pretty_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], json.as_str())
}

/// The errors a read may answer with.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// A malformed request: an unknown parameter or field, a bad UUID or cursor.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No token, or an unknown, revoked or expired one.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The token lacks the scope.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such run, or another user's (the two look the same).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A value out of range (`field` names it), progress moving backwards, a run past its size.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// Over the per-user rate; Retry-After says when to come back.
    #[response(status = 429)]
    RateLimited(ErrorBody),
}

/// The errors only a write may answer with (besides [`ReadErrors`]).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// An illegal status transition, or a finished run.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// A body over 1 MiB, a result over 256 KiB, evidence or metadata over 64 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
}

/// `POST /api/v1/runs/{id}/progress`: how far the run is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ProgressBody {
    #[schema(minimum = 0, maximum = 100)]
    percent: f32,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    step: Option<String>,
}

/// `POST /api/v1/runs/{id}/status`: a move to another status.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StatusBody {
    status: RunStatus,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    step: Option<String>,
}

/// `POST /api/v1/runs/{id}/verification`: one check of the run's output.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VerificationBody {
    passed: bool,
    /// Any JSON, up to 64 KiB.
    evidence: Option<serde_json::Value>,
}

/// `POST /api/v1/runs/{id}/complete`: the run is done.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CompleteBody {
    /// Any JSON, up to 256 KiB.
    result: Option<serde_json::Value>,
    /// A final passed check, up to 64 KiB.
    evidence: Option<serde_json::Value>,
}

/// `POST /api/v1/runs/{id}/fail`: the run failed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FailBody {
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    error: String,
}

/// `POST /api/v1/runs/{id}/cancel`: the run is called off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CancelBody {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    reason: Option<String>,
}

/// `POST /api/v1/runs/{id}/events`: several updates, applied in order, all or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    #[schema(min_items = 1, max_items = 1000)]
    pub updates: Vec<RunUpdate>,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::generated()).unwrap()
    }

    /// The schema without its descriptions (words may differ; constraints may not).
    fn constraints(mut value: Value) -> Value {
        match &mut value {
            Value::Object(map) => {
                map.remove("description");
                for item in map.values_mut() {
                    *item = constraints(item.take());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| *i = constraints(i.take())),
            _ => {}
        }
        value
    }

    fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
        &doc["components"]["schemas"][name]
    }

    #[test]
    fn the_single_update_bodies_are_the_batch_updates_without_their_type() {
        let doc = document();
        let variants = schema(&doc, "RunUpdate")["oneOf"]
            .as_array()
            .unwrap()
            .clone();
        for variant in &variants {
            assert_eq!(
                variant["additionalProperties"],
                Value::Bool(false),
                "{variant}"
            );
        }
        for (kind, body) in [
            ("progress", "ProgressBody"),
            ("status", "StatusBody"),
            ("verification", "VerificationBody"),
            ("complete", "CompleteBody"),
            ("fail", "FailBody"),
            ("cancel", "CancelBody"),
        ] {
            let variant = variants
                .iter()
                .find(|v| v["properties"]["type"]["enum"][0] == kind)
                .unwrap_or_else(|| panic!("no {kind} in {variants:?}"));
            let mut properties = variant["properties"].as_object().unwrap().clone();
            properties.remove("type");
            let body = schema(&doc, body);
            assert_eq!(
                constraints(Value::Object(properties)),
                constraints(body["properties"].clone()),
                "{kind}: the body and the batch update declare the same fields"
            );
            assert_eq!(body["additionalProperties"], Value::Bool(false), "{kind}");
        }
    }

    #[test]
    fn strict_bodies_refuse_unknown_fields_and_texts_declare_their_limits() {
        let doc = document();
        let new_run = schema(&doc, "NewRun");
        assert_eq!(
            new_run["additionalProperties"],
            Value::Bool(false),
            "{new_run}"
        );
        assert_eq!(new_run["properties"]["agent_name"]["maxLength"], 100);
        assert_eq!(new_run["properties"]["task"]["maxLength"], 65536);
        assert_eq!(
            new_run["properties"]["agent_name"]["pattern"],
            r"^[^\x00]*[^\s\x00][^\x00]*$"
        );
        let key = doc["paths"]["/api/v1/runs"]["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .cloned()
            .unwrap();
        assert_eq!(key["in"], "header");
        assert_eq!(key["schema"]["pattern"], "^[!-~]{1,200}$");
    }
}
