//! `GET /api/v1/runs/export?format=csv|json&status=…&agent=…&q=…&sort=…`: every run of the
//! dashboard's current view, streamed page by page. Each page is read in a short transaction of its
//! own, so an export never holds a database connection while it waits for its client: a client that
//! never reads stalls only its own export. One export per user runs at a time (per process).

use super::openapi::{ExportParams, ReadErrors};
use super::Caller;
use crate::error::AppError;
use crate::model::AgentRun;
use crate::server::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

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

/// Every run of a list (the run-list dialect, plus `format`), streamed as CSV or a JSON array.
#[utoipa::path(get, path = "/api/v1/runs/export", tag = "runs",
    params(ExportParams),
    responses((status = 200, description = "The runs, newest first unless sorted otherwise",
               content((String = "text/csv"), (Vec<AgentRun> = "application/json"))),
              ReadErrors))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, AppError> {
    let (view, problems) = super::run_query(&uri, &["format"])?;
    if view.cursor.is_some() || view.limit.is_some() {
        return Err(AppError::BadRequest(
            "an export takes every run of the view: leave out cursor and limit".into(),
        ));
    }
    if !problems.is_empty() {
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(AppError::BadRequest(messages.join("; ")));
    }
    let format = match format_of(&uri).as_deref() {
        None | Some("") | Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => return Err(AppError::validation("format", "must be csv or json")),
    };
    let filter = view.filter();
    filter.validate()?;
    let who = caller.0.principal();
    let slot = state.exports.start(who.user_id).ok_or_else(|| {
        AppError::QuotaExceeded(
            "an export of yours is still running; wait for it to finish (one at a time)".into(),
        )
    })?;
    // fused: after the first read, an export of nothing must not be polled again
    let mut pages = Box::pin(state.reader.export(who, filter, view.sort).fuse());
    // The first page is read before the answer starts, so a failure is a status, not a cut body.
    let first_page = pages.next().await.transpose()?;
    let pages = futures::stream::iter(first_page.map(Ok)).chain(pages);
    let mut first = true;
    let body = pages.map(move |page: Result<Vec<AgentRun>, AppError>| {
        // Held until the body ends, finished or abandoned: then the next export may start.
        let _slot = &slot;
        // A database error mid-way ends the body abruptly: the client sees a broken transfer,
        // never a silently short file.
        let mut chunk = Vec::new();
        for run in page? {
            match format {
                Format::Csv => chunk.extend(csv_row(&run)),
                Format::Json => chunk.extend(json_row(&run, std::mem::take(&mut first))),
            }
        }
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

/// The `format` parameter of an export.
fn format_of(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == "format")
        .map(|(_, value)| value.into_owned())
}

/// The users with an export running in this process.
#[derive(Default)]
pub struct OpenExports {
    running: Mutex<HashSet<Uuid>>,
}

/// One running export; dropping it (the body finished or was abandoned) lets the next start.
pub struct ExportSlot {
    exports: Arc<OpenExports>,
    user: Uuid,
}

impl OpenExports {
    pub fn start(self: &Arc<Self>, user: Uuid) -> Option<ExportSlot> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(user).then(|| ExportSlot {
            exports: Arc::clone(self),
            user,
        })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut running = self
            .exports
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        running.remove(&self.user);
    }
}

fn csv_line<'a>(fields: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // writing to a Vec cannot fail
    let cells = fields
        .into_iter()
        .map(|field| match neutralise_formula(field) {
            std::borrow::Cow::Borrowed(cell) => std::borrow::Cow::Borrowed(cell.as_bytes()),
            std::borrow::Cow::Owned(cell) => std::borrow::Cow::Owned(cell.into_bytes()),
        });
    let _ = writer.write_record(cells);
    writer.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return) gets a leading `'`, so it is shown as the text it is (OWASP, CSV injection).
fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
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
    fn cells_a_spreadsheet_would_run_are_neutralised() {
        let line = csv_line([
            "=HYPERLINK(\"http://evil.example\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "plain",
            "a=b",
        ]);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "\"'=HYPERLINK(\"\"http://evil.example\"\")\",'+1,'-2,'@SUM(A1),'\tx,\"'\rx\",plain,a=b\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let line = csv_line(["a", "b,c", "say \"hi\"", "two\nlines"]);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
        );
    }
}
