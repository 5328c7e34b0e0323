//! `GET /api/v1/runs/export?format=csv|json&status=…&agent=…&q=…&sort=…`: every run of the
//! dashboard's current view, streamed as the database returns it (never built in memory).

use super::Caller;
use crate::error::AppError;
use crate::model::{AgentRun, DashboardQuery};
use crate::server::runs;
use crate::server::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::collections::HashMap;

const CSV_HEADER: &[&str] = &[
    "id",
    "task_id",
    "agent_name",
    "status",
    "progress_percent",
    "current_step",
    "attempt",
    "created_at",
    "started_at",
    "completed_at",
    "duration_seconds",
    "error",
    "task",
];

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Json,
}

pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, AppError> {
    let params = super::query(params)?;
    let format = match params.get("format").map(String::as_str) {
        None | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => return Err(AppError::validation("format", "must be csv or json")),
    };
    let (view, problems) = DashboardQuery::parse(|key| params.get(key).cloned());
    if !problems.is_empty() {
        return Err(AppError::BadRequest(problems.join("; ")));
    }
    let filter = view.filter();
    filter.validate()?;
    let mut tx = caller.begin(&state).await?;
    let (sender, rows) = futures::channel::mpsc::channel(256);
    let sort = view.sort;
    tokio::spawn(async move {
        if let Err(err) = runs::stream_matching(&mut tx, &filter, sort, sender).await {
            tracing::warn!("export: {err}");
        }
        let _ = tx.commit().await;
    });
    let mut first = true;
    let body = rows.map(move |row: Result<AgentRun, sqlx::Error>| {
        // A database error mid-way ends the body abruptly: the client sees a broken transfer,
        // never a silently short file.
        let run = row.map_err(|err| AppError::internal(format!("export: {err}")))?;
        let chunk = match format {
            Format::Csv => csv_row(&run),
            Format::Json => json_row(&run, std::mem::take(&mut first)),
        };
        Ok::<Bytes, AppError>(Bytes::from(chunk))
    });
    let (head, tail, content_type, extension) = match format {
        Format::Csv => (
            csv_line(CSV_HEADER.iter().copied()),
            Vec::new(),
            "text/csv; charset=utf-8",
            "csv",
        ),
        Format::Json => (b"[".to_vec(), b"\n]\n".to_vec(), "application/json", "json"),
    };
    let stream = futures::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(body)
        .chain(futures::stream::once(async move { Ok(Bytes::from(tail)) }));
    let filename = format!(
        "runwire-runs-{}.{extension}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

fn csv_line<'a>(fields: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // writing to a Vec cannot fail
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}

fn csv_row(run: &AgentRun) -> Vec<u8> {
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let duration = run
        .completed_at
        .map(|done| {
            format!(
                "{:.3}",
                run.duration(done).num_milliseconds() as f64 / 1000.0
            )
        })
        .unwrap_or_default();
    let fields = [
        run.id.to_string(),
        run.task_id.to_string(),
        run.agent_name.clone(),
        run.status.to_string(),
        run.progress_percent.to_string(),
        run.current_step.clone().unwrap_or_default(),
        run.attempt.to_string(),
        run.created_at.to_rfc3339(),
        time(run.started_at),
        time(run.completed_at),
        duration,
        run.error.clone().unwrap_or_default(),
        run.task.clone(),
    ];
    csv_line(fields.iter().map(String::as_str))
}

fn json_row(run: &AgentRun, first: bool) -> Vec<u8> {
    let mut chunk = if first {
        b"\n".to_vec()
    } else {
        b",\n".to_vec()
    };
    // serializing a run cannot fail: every field is plain data
    let _ = serde_json::to_writer(&mut chunk, run);
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let line = csv_line(["a", "b,c", "say \"hi\"", "two\nlines"]);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
        );
    }
}
