//! `/api/v1/runs`: create, read, list, report progress and outcomes.

use super::idempotency::{self, Claim};
use super::openapi::{
    BatchBody, CancelBody, CompleteBody, FailBody, IdempotencyKey, ProgressBody, ReadErrors, RunId,
    RunListParams, StatusBody, VerificationBody, WriteErrors,
};
use super::{parse_json, query, run_id, run_query, Caller, WriteRequest, BATCH_MAX_UPDATES};
use crate::error::AppError;
use crate::model::{AgentRun, EventPage, NewRun, RunPage, RunUpdate, SpanPage, SpanReport};
use crate::server::auth::service;
use crate::server::db::begin_scoped;
use crate::server::publisher;
use crate::server::state::AppState;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde::Serialize;
use serde_json::value::to_raw_value;
use serde_json::Value;
use uuid::Uuid;

type RunPath = Result<Path<Uuid>, PathRejection>;

/// What a write request does, once its body is understood.
enum Write {
    Create(NewRun),
    Apply {
        run_id: Uuid,
        updates: Vec<RunUpdate>,
    },
    Spans {
        run_id: Uuid,
        reports: Vec<SpanReport>,
    },
}

/// Performs a write in one transaction, honouring an Idempotency-Key, as the caller (or, for a
/// service token, as the user whose run it is).
async fn perform(
    state: &AppState,
    caller: &Caller,
    request: &WriteRequest,
    write: Write,
) -> Result<Response, AppError> {
    let key = idempotency::key_from(&request.headers)?;
    let principal = match &write {
        Write::Create(new) => {
            service::principal_for_user(&state.pool, &caller.0, new.user_id.as_deref()).await?
        }
        Write::Apply { run_id, .. } | Write::Spans { run_id, .. } => {
            service::principal_for_run(&state.pool, &caller.0, *run_id).await?
        }
    };
    if let (None, Write::Apply { run_id, updates }) = (&key, &write) {
        // Nothing to claim or store with the write: the publisher's own transaction, which is one
        // round trip for progress on a run it wrote last.
        let run = state
            .publisher
            .apply_batch(principal, *run_id, updates)
            .await?;
        return Ok((StatusCode::OK, Json(run)).into_response());
    }
    let mut tx = begin_scoped(&state.pool, principal).await?;
    if let Some(key) = &key {
        let fingerprint =
            idempotency::fingerprint(request.method.as_str(), request.uri.path(), &request.body);
        if let Claim::Replay(status, answer) =
            idempotency::claim(&mut tx, key, &fingerprint).await?
        {
            let mut response = (status, Json(answer)).into_response();
            response.headers_mut().insert(
                idempotency::REPLAYED_HEADER,
                HeaderValue::from_static("true"),
            );
            return Ok(response);
        }
    }
    let (status, answer) = match write {
        Write::Create(new) => (
            StatusCode::CREATED,
            to_raw_value(&publisher::create_in(&mut tx, &new).await?),
        ),
        Write::Apply { run_id, updates } => (
            StatusCode::OK,
            to_raw_value(&publisher::apply_in(&mut tx, run_id, &updates).await?),
        ),
        Write::Spans { run_id, reports } => {
            let (run, spans) = state
                .publisher
                .record_spans_in(&mut tx, run_id, &reports)
                .await?;
            (
                StatusCode::OK,
                to_raw_value(&SpanBatchAnswer { run, spans }),
            )
        }
    };
    // Straight to JSON: through a `serde_json::Value` first, a batch of 100 spans was built as
    // maps, written out and dropped (a tenth of the server's CPU in the span benchmark).
    let answer = answer.map_err(AppError::internal)?;
    if let Some(key) = &key {
        idempotency::store(&mut tx, key, status, &answer).await?;
    }
    tx.commit().await?;
    Ok((status, Json(answer)).into_response())
}

/// Start a run.
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", params(IdempotencyKey),
    request_body = NewRun,
    responses((status = 201, description = "The new run", body = AgentRun), ReadErrors, WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: WriteRequest,
) -> Result<Response, AppError> {
    let new: NewRun = parse_json(&request.body)?;
    perform(&state, &caller, &request, Write::Create(new)).await
}

/// One update whose `type` is given by the path: the body holds its other fields.
async fn update(
    state: AppState,
    caller: Caller,
    path: RunPath,
    request: WriteRequest,
    kind: &'static str,
) -> Result<Response, AppError> {
    let run_id = run_id(path)?;
    let mut fields: Value = parse_json(&request.body)?;
    let Some(object) = fields.as_object_mut() else {
        return Err(AppError::BadRequest(
            "the body must be a JSON object".to_owned(),
        ));
    };
    if object.contains_key("type") {
        return Err(AppError::BadRequest("unknown field `type`".to_owned()));
    }
    object.insert("type".to_owned(), Value::from(kind));
    let update: RunUpdate =
        serde_json::from_value(fields).map_err(|err| AppError::BadRequest(err.to_string()))?;
    let write = Write::Apply {
        run_id,
        updates: vec![update],
    };
    perform(&state, &caller, &request, write).await
}

macro_rules! update_endpoint {
    ($name:ident, $kind:literal, $path:literal, $body:ty, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "runs", params(RunId, IdempotencyKey),
            request_body = $body,
            responses((status = 200, description = "The run after the update", body = AgentRun),
                      ReadErrors, WriteErrors))]
        pub async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            path: RunPath,
            request: WriteRequest,
        ) -> Result<Response, AppError> {
            update(state, caller, path, request, $kind).await
        }
    };
}

update_endpoint!(
    progress,
    "progress",
    "/api/v1/runs/{id}/progress",
    ProgressBody,
    "Report progress (0 to 100, never backwards within an attempt) and the current step."
);
update_endpoint!(
    status,
    "status",
    "/api/v1/runs/{id}/status",
    StatusBody,
    "Move the run to another status (legal moves only)."
);
update_endpoint!(
    verification,
    "verification",
    "/api/v1/runs/{id}/verification",
    VerificationBody,
    "Record a check of the run's output (at most 20 per run)."
);
update_endpoint!(
    complete,
    "complete",
    "/api/v1/runs/{id}/complete",
    CompleteBody,
    "Complete the run with its result."
);
update_endpoint!(
    fail,
    "fail",
    "/api/v1/runs/{id}/fail",
    FailBody,
    "Fail the run with an error."
);
update_endpoint!(
    cancel,
    "cancel",
    "/api/v1/runs/{id}/cancel",
    CancelBody,
    "Cancel the run."
);

/// Several updates of one run, applied in order in one transaction: all or nothing.
#[utoipa::path(post, path = "/api/v1/runs/{id}/events", tag = "runs", params(RunId, IdempotencyKey),
    request_body = BatchBody,
    responses((status = 200, description = "The run after every update", body = AgentRun),
              ReadErrors, WriteErrors))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
    request: WriteRequest,
) -> Result<Response, AppError> {
    let run_id = run_id(path)?;
    let BatchBody { updates } = parse_json(&request.body)?;
    if updates.is_empty() || updates.len() > BATCH_MAX_UPDATES {
        return Err(AppError::validation(
            "updates",
            format!("send 1 to {BATCH_MAX_UPDATES} updates"),
        ));
    }
    let write = Write::Apply { run_id, updates };
    perform(&state, &caller, &request, write).await
}

/// One run.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(RunId),
    responses((status = 200, description = "The run", body = AgentRun), ReadErrors))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
) -> Result<Response, AppError> {
    let run = state.reader.get(caller.principal(), run_id(path)?).await?;
    Ok(Json(run).into_response())
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunListParams),
    responses((status = 200, description = "A page of runs", body = RunPage), ReadErrors))]
/// A page of the caller's runs, in the one run-list dialect (`RunQuery`): `status` (with `active`),
/// `agent`, `task_id`, `q`, `sort`, `cursor`, `limit`; the older `search` and `active=true` too.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, AppError> {
    let (query, problems) = run_query(&uri, &[])?;
    if let Some(problem) = problems.into_iter().next() {
        return Err(if problem.malformed {
            AppError::BadRequest(problem.message)
        } else {
            AppError::validation(problem.field, problem.message)
        });
    }
    let page = state
        .reader
        .list(
            caller.principal(),
            &query.filter(),
            query.sort,
            query.cursor.as_deref(),
            query.limit.unwrap_or(DEFAULT_PAGE),
        )
        .await?;
    Ok(Json(page).into_response())
}

/// Runs per page when the caller does not say.
const DEFAULT_PAGE: u32 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The id of the last event already seen (0: from the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A run's events, oldest first, after an event id.
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs", params(RunId, EventsQuery),
    responses((status = 200, description = "A page of the run's events", body = EventPage),
              ReadErrors))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
    params: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let run_id = run_id(path)?;
    let query = query(params)?;
    let page = state
        .reader
        .events_after(
            caller.principal(),
            run_id,
            query.after.unwrap_or(0),
            query.limit.unwrap_or(500),
        )
        .await?;
    Ok(Json(page).into_response())
}

/// A batch of span reports, as `POST /api/v1/runs/{id}/spans` takes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpanBatchBody {
    /// Span starts, changes and ends, applied in order; a span may arrive already ended, a child
    /// before its parent.
    #[schema(min_items = 1, max_items = 1000)]
    pub spans: Vec<SpanReport>,
}

/// The run after a batch of spans (its token and cost totals included) and the spans it touched.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpanBatchAnswer {
    pub run: AgentRun,
    pub spans: Vec<crate::model::Span>,
}

/// Record spans of a run: LLM calls, tool calls, retrievals, steps, with tokens and cost.
#[utoipa::path(post, path = "/api/v1/runs/{id}/spans", tag = "spans", params(RunId, IdempotencyKey),
    request_body = SpanBatchBody,
    responses((status = 200, description = "The run and the spans as they now stand", body = SpanBatchAnswer),
              ReadErrors, WriteErrors))]
pub async fn record_spans(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
    request: WriteRequest,
) -> Result<Response, AppError> {
    let run_id = run_id(path)?;
    let SpanBatchBody { spans } = parse_json(&request.body)?;
    let write = Write::Spans {
        run_id,
        reports: spans,
    };
    perform(&state, &caller, &request, write).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpansQuery {
    /// A previous page's `next_after`.
    #[param(pattern = r"^[0-9]{1,18}\.[A-Za-z0-9._:-]{1,64}$")]
    after: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A run's spans by start time.
#[utoipa::path(get, path = "/api/v1/runs/{id}/spans", tag = "spans", params(RunId, SpansQuery),
    responses((status = 200, description = "A page of the run's spans", body = SpanPage),
              ReadErrors))]
pub async fn spans(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
    params: Result<Query<SpansQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let run_id = run_id(path)?;
    let query = query(params)?;
    let page = state
        .reader
        .spans(
            caller.principal(),
            run_id,
            query.after.as_deref(),
            query.limit.unwrap_or(crate::model::SPAN_PAGE_MAX),
        )
        .await?;
    Ok(Json(page).into_response())
}
