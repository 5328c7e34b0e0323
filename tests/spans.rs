//! Spans over REST against the real router and PostgreSQL: starts and ends, children before their
//! parents, tokens and cost (priced when the agent sends none, unknown for an unknown model), run
//! totals in the same transaction, span events on the log, idempotent retries, limits, and
//! isolation between users.

mod common;

use common::api::{api, assert_error};
use reqwest::Method;
use runwire::model::{
    AgentRun, PriceTable, RunEventKind, Span, SpanKind, SpanStatus, TokenUse, SPAN_BATCH_MAX,
};
use serde_json::{json, Value};

fn spans_of(body: &Value) -> Vec<Span> {
    serde_json::from_value(body["spans"].clone()).unwrap()
}

#[tokio::test]
async fn a_trace_arrives_in_pieces_and_the_run_keeps_its_totals() {
    let api = api().await;
    let run = api.start("researcher").await;
    let path = format!("/api/v1/runs/{}/spans", run.id);

    // the agent span starts; a child LLM call arrives already ended, before its parent
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [
                {"span_id": "llm-1", "parent_span_id": "tool-1", "kind": "llm", "name": "chat gpt-4o",
                 "model": "gpt-4o-2024-08-06", "started_at": "2026-01-01T00:00:01Z",
                 "ended_at": "2026-01-01T00:00:03Z", "input_tokens": 1000, "output_tokens": 200,
                 "cache_read_tokens": 400, "input": "What is 2+2?", "output": "4"},
                {"span_id": "agent-1", "kind": "agent", "name": "researcher",
                 "started_at": "2026-01-01T00:00:00Z"}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let spans = spans_of(&body);
    assert_eq!(spans.len(), 2);
    let llm = spans.iter().find(|s| s.span_id == "llm-1").unwrap();
    assert_eq!(llm.status, SpanStatus::Ok);
    assert_eq!(llm.kind, SpanKind::Llm);
    assert_eq!(llm.parent_span_id.as_deref(), Some("tool-1"));
    let expected = PriceTable::shipped()
        .cost(
            "gpt-4o",
            TokenUse {
                input: 1000,
                output: 200,
                cache_read: 400,
            },
        )
        .unwrap();
    assert!((llm.cost_usd.unwrap() - expected).abs() < 1e-12, "{llm:?}");
    assert_eq!(llm.duration_ms(chrono::Utc::now()), 2000);
    let agent = spans.iter().find(|s| s.span_id == "agent-1").unwrap();
    assert_eq!(agent.status, SpanStatus::Running);
    assert_eq!(agent.ended_at, None);

    // the parent arrives, then a second call of an unknown model and a failing tool call
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [
                {"span_id": "tool-1", "parent_span_id": "agent-1", "kind": "tool", "name": "search",
                 "started_at": "2026-01-01T00:00:00.5Z", "attributes": {"query": "2+2"}},
                {"span_id": "llm-2", "parent_span_id": "agent-1", "kind": "llm", "name": "chat",
                 "model": "our-own-model", "input_tokens": 50, "output_tokens": 5,
                 "ended_at": "2026-01-01T00:00:05Z", "started_at": "2026-01-01T00:00:04Z"},
                {"span_id": "tool-1", "status": "error", "error": "search backend timed out",
                 "ended_at": "2026-01-01T00:00:04Z", "attributes": {"retries": 2}}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = spans_of(&body);
    let run_after: AgentRun = serde_json::from_value(body["run"].clone()).unwrap();
    // totals count the LLM calls; the unknown model's cost is unknown, not 0, and not counted
    assert_eq!(run_after.tokens_in, Some(1050));
    assert_eq!(run_after.tokens_out, Some(205));
    assert!((run_after.cost_usd.unwrap() - expected).abs() < 1e-12);
    let tool = spans_of(&body)
        .into_iter()
        .find(|s| s.span_id == "tool-1")
        .unwrap();
    assert_eq!(tool.status, SpanStatus::Error);
    assert_eq!(tool.error.as_deref(), Some("search backend timed out"));
    assert_eq!(tool.attributes, json!({"query": "2+2", "retries": 2}));

    let (status, body) = api.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let listed = spans_of(&body);
    assert_eq!(
        listed
            .iter()
            .map(|s| s.span_id.as_str())
            .collect::<Vec<_>>(),
        ["agent-1", "tool-1", "llm-1", "llm-2"],
        "by start time"
    );
    // The page reads back every field of each span as the last write left it.
    let written: std::collections::HashMap<&str, &Span> = spans
        .iter()
        .chain(&second)
        .map(|span| (span.span_id.as_str(), span))
        .collect();
    for span in &listed {
        assert_eq!(Some(&span), written.get(span.span_id.as_str()), "read back");
    }
    assert_eq!(
        listed
            .iter()
            .find(|s| s.span_id == "llm-2")
            .unwrap()
            .cost_usd,
        None
    );
    assert_eq!(api.run(run.id).await.tokens_in, Some(1050));

    // every report is an event of the run, holding the span as it then stood
    let kinds: Vec<RunEventKind> = api
        .events(run.id)
        .await
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.is_span())
        .collect();
    assert_eq!(
        kinds,
        [
            RunEventKind::SpanEnded,
            RunEventKind::SpanStarted,
            RunEventKind::SpanStarted,
            RunEventKind::SpanEnded,
            RunEventKind::SpanEnded
        ]
    );

    // an ended span is final; the run keeps taking spans after it completes
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [{"span_id": "llm-1", "output_tokens": 999}]}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = api
        .post(
            &format!("/api/v1/runs/{}/complete", run.id),
            json!({"result": {"answer": 4}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [{"span_id": "agent-1", "ended_at": "2026-01-01T00:00:06Z"},
                             {"span_id": "late", "kind": "llm", "name": "late call", "model": "gpt-4o",
                              "input_tokens": 10, "output_tokens": 1, "cost_usd": 0.5,
                              "ended_at": "2026-01-01T00:00:06Z"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let done: AgentRun = serde_json::from_value(body["run"].clone()).unwrap();
    assert_eq!(done.status, runwire::model::RunStatus::Completed);
    assert_eq!(done.tokens_in, Some(1060));
    assert!((done.cost_usd.unwrap() - (expected + 0.5)).abs() < 1e-12);

    // a live client holding the run as it started, folding every later event, ends up with the
    // stored run: totals included
    let mut folded = run.clone();
    for event in api.events(run.id).await.iter().skip(1) {
        folded.fold(event);
    }
    assert_eq!(folded, api.run(run.id).await);
}

#[tokio::test]
async fn bad_span_reports_are_refused_with_nothing_stored() {
    let api = api().await;
    let run = api.start("coder").await;
    let path = format!("/api/v1/runs/{}/spans", run.id);
    let ok = json!({"span_id": "s1", "name": "fine"});
    let cases: Vec<(Value, u16)> = vec![
        (json!({"spans": []}), 422),
        (
            json!({"spans": [ok, {"span_id": "bad id!", "name": "x"}]}),
            422,
        ),
        (json!({"spans": [ok, {"span_id": "s2"}]}), 422), // a new span needs a name
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "input_tokens": -1}]}),
            422,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "cost_usd": -0.1}]}),
            422,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "kind": "wizard"}]}),
            400,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "colour": "red"}]}),
            400,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "parent_span_id": "s2"}]}),
            422,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "started_at": "2026-01-01T00:00:05Z",
                                  "ended_at": "2026-01-01T00:00:01Z"}]}),
            422,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x", "input": "nul\u{0}"}]}),
            422,
        ),
        (
            json!({"spans": [ok, {"span_id": "s2", "name": "x",
                                  "attributes": {"big": "x".repeat(70_000)}}]}),
            413,
        ),
        (
            json!({"spans": (0..=SPAN_BATCH_MAX).map(|n| json!({"span_id": format!("b{n}"), "name": "x"})).collect::<Vec<_>>()}),
            422,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api.post(&path, body.clone()).await;
        assert_eq!(status.as_u16(), expected, "{body} -> {answer}");
    }
    let (status, body) = api.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(spans_of(&body), [], "nothing stored");
    assert!(api.events(run.id).await.iter().all(|e| !e.kind.is_span()));
    assert_eq!(api.run(run.id).await.tokens_in, None);

    // a long input is kept as a preview, cut at 4,096 characters
    let long = "é".repeat(10_000);
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [{"span_id": "p", "name": "long", "input": long}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let preview = spans_of(&body)[0].input_preview.clone().unwrap();
    assert_eq!(preview.chars().count(), 4096);
    assert!(preview.ends_with('…'));

    let (status, body) = api.get(&format!("{path}?after=garbage")).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, _) = api.get(&format!("{path}?limit=0")).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn spans_page_by_start_and_retries_with_a_key_are_applied_once() {
    let api = api().await;
    let run = api.start("coder").await;
    let path = format!("/api/v1/runs/{}/spans", run.id);
    let batch = json!({"spans": (0..25).map(|n| json!({
        "span_id": format!("s{n:02}"), "kind": "step", "name": format!("step {n}"),
        "started_at": format!("2026-01-01T00:00:{n:02}Z")
    })).collect::<Vec<_>>()});
    let first = api
        .send(Method::POST, &path, Some(batch.clone()), Some("spans-1"))
        .await;
    let again = api
        .send(Method::POST, &path, Some(batch), Some("spans-1"))
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(first, again, "the retry gets the first answer");
    let span_events = api
        .events(run.id)
        .await
        .into_iter()
        .filter(|e| e.kind.is_span())
        .count();
    assert_eq!(span_events, 25, "applied once");

    let mut seen = Vec::new();
    let mut next = format!("{path}?limit=10");
    loop {
        let (status, body) = api.get(&next).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(spans_of(&body).into_iter().map(|s| s.span_id));
        match body["next_after"].as_str() {
            Some(after) => next = format!("{path}?limit=10&after={after}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..25).map(|n| format!("s{n:02}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn another_users_run_takes_no_spans_and_shows_none() {
    let api = api().await;
    let run = api.start("private").await;
    let path = format!("/api/v1/runs/{}/spans", run.id);
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [{"span_id": "mine", "name": "secret call"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let stranger = &api.other_token;
    let (status, body) = api
        .send_as(
            stranger,
            Method::POST,
            &path,
            Some(json!({"spans": [{"span_id": "theirs", "name": "intrusion"}]})),
            None,
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = api.send_as(stranger, Method::GET, &path, None, None).await;
    assert_error(status, &body, 404, "not_found");
    let (_, body) = api.get(&path).await;
    assert_eq!(
        spans_of(&body)
            .iter()
            .map(|s| s.span_id.as_str())
            .collect::<Vec<_>>(),
        ["mine"]
    );
}

#[tokio::test]
async fn a_run_holds_at_most_its_cap_of_spans_and_a_batch_past_it_stores_nothing() {
    let api = api().await;
    let run = api.start("chatty").await;
    let path = format!("/api/v1/runs/{}/spans", run.id);
    let batch = |from: i64| {
        json!({"spans": (from..from + SPAN_BATCH_MAX as i64)
            .map(|n| json!({"span_id": format!("s{n}"), "name": "step", "status": "ok"}))
            .collect::<Vec<_>>()})
    };
    let full = runwire::model::SPANS_PER_RUN_MAX;
    for from in (0..full).step_by(SPAN_BATCH_MAX) {
        let (status, body) = api.post(&path, batch(from)).await;
        assert_eq!(status, 200, "{body}");
    }
    // one span more is refused, with nothing of its batch stored; a known span still takes reports
    let (status, body) = api
        .post(
            &path,
            json!({"spans": [{"span_id": "one-more", "name": "x"}]}),
        )
        .await;
    assert_error(status, &body, 422, "validation");
    let (status, _) = api
        .post(
            &format!("{path}?limit=1"),
            json!({"spans": [{"span_id": "s1", "name": "again"}]}),
        )
        .await;
    assert_eq!(status, 409, "s1 has ended");
    let owner = api
        .app
        .db
        .user("agent-a@example.com", runwire::model::UserRole::User)
        .await;
    let mut tx = api.app.db.scoped(&owner).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_run_spans WHERE run_id = $1")
        .bind(run.id)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(stored, full);
    let kept = runwire::server::runs::span_count(&mut tx, run.id)
        .await
        .unwrap();
    assert_eq!(
        i64::from(kept),
        full,
        "the run's kept count is the real one"
    );
    let after_cap: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM agent_run_events WHERE run_id = $1 AND kind LIKE 'span_%'",
    )
    .bind(run.id)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(
        after_cap, full,
        "one event per stored span, none for the refused ones"
    );
}

/// Writers of one run's spans take turns on the run's row: batches racing to start the same new
/// spans all succeed, each span is stored once, and the run's totals count every batch. (A new
/// span has no row to lock, and a batch of only new spans is a plain INSERT: without the turns two
/// batches would insert the same span and one would fail.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_racing_on_one_runs_new_spans_each_store_them_once() {
    let api = api().await;
    let run = api.start("racer").await;
    let path = format!("/api/v1/runs/{}/spans", run.id);
    const WRITERS: usize = 8;
    let batches = (0..WRITERS).map(|writer| {
        let mut spans: Vec<Value> = (0..10)
            .map(|n| {
                json!({"span_id": format!("shared-{n}"), "kind": "step",
                             "name": "shared", "started_at": "2026-01-01T00:00:00Z"})
            })
            .collect();
        spans.extend((0..10).map(|n| {
            json!({
            "span_id": format!("own-{writer}-{n}"), "kind": "llm", "name": "chat",
            "model": "no-such-model", "started_at": "2026-01-01T00:00:00Z",
            "ended_at": "2026-01-01T00:00:01Z", "input_tokens": 10, "output_tokens": 1})
        }));
        api.post(&path, json!({ "spans": spans }))
    });
    for (status, body) in futures::future::join_all(batches).await {
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = api.get(&format!("{path}?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = spans_of(&body).into_iter().map(|s| s.span_id).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (10 + WRITERS * 10, 10 + WRITERS * 10));
    let (_, body) = api.get(&format!("/api/v1/runs/{}", run.id)).await;
    let run: AgentRun = serde_json::from_value(body).unwrap();
    assert_eq!(run.tokens_in, Some(WRITERS as i64 * 100));
    assert_eq!(run.tokens_out, Some(WRITERS as i64 * 10));
}
