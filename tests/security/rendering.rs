//! (12) Rendering never panics, and a panic is a logged 500, never a dropped connection.

use crate::common::PublisherExt;
use crate::common::{agent, principal, TestApp, TestDb};
use axum::routing::get;
use runwire::model::UserRole;
use runwire::server::publisher::AgentEventPublisher;
use runwire::server::web;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};

/// Panics about disposed reactive values anywhere in this process (a render's background task
/// included), counted by a panic hook that keeps the default report.
static DISPOSED_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_reactive_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.to_string().contains("disposed") {
                DISPOSED_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_renders_200_times_at_once_while_runs_change() {
    count_reactive_panics();
    let app = TestApp::start(TestDb::new().await, None).await;
    let user = app.db.user("render@example.com", UserRole::User).await;
    app.db
        .user("render-admin@example.com", UserRole::Admin)
        .await;
    let client = app.signed_in("render@example.com").await;
    let admin = app.signed_in("render-admin@example.com").await;
    let publisher = AgentEventPublisher::new(app.db.pool.clone());
    let run = publisher
        .start_run(principal(&user), None, "renderer", "render me")
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = tokio::spawn({
        let (publisher, stop, who) = (publisher.clone(), stop.clone(), principal(&user));
        async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let fresh = publisher
                    .start_run(who, None, "churn", "a new run")
                    .await
                    .unwrap();
                let _ = publisher
                    .update_progress(who, fresh.id, Some(format!("step {n}")), 50.0)
                    .await;
                if n.is_multiple_of(2) {
                    let _ = publisher.complete_run(who, fresh.id, None, None).await;
                }
                n += 1;
            }
            n
        }
    });
    let pages = [
        "/".to_owned(),
        "/signin".to_owned(),
        "/signup".to_owned(),
        "/dashboard".to_owned(),
        "/dashboard?status=active&sort=longest&window=24h".to_owned(),
        format!("/dashboard?run={}", run.id),
        "/agents".to_owned(),
        format!("/runs/{}", run.id),
        "/settings/tokens".to_owned(),
        "/system".to_owned(),
        "/no/such/page".to_owned(),
    ];
    let semaphore = Arc::new(tokio::sync::Semaphore::new(48));
    let mut renders = Vec::new();
    for page in &pages {
        for n in 0..200 {
            let client = if page == "/system" || n % 5 == 0 {
                admin.clone()
            } else {
                client.clone()
            };
            let url = app.url(page);
            let page = page.clone();
            let semaphore = semaphore.clone();
            renders.push(tokio::spawn(async move {
                let _slot = semaphore.acquire().await.unwrap();
                match client.get(&url).send().await {
                    // a reader that leaves once the head is in, mid-stream (as a benchmark timing
                    // the first byte does, or a user closing the tab)
                    Ok(response) if n % 2 == 1 => (page, Ok(response.status().as_u16())),
                    Ok(response) => {
                        let status = response.status().as_u16();
                        match response.text().await {
                            Ok(_) => (page, Ok(status)),
                            Err(err) => (page, Err(format!("body broke off: {err}"))),
                        }
                    }
                    Err(err) => (page, Err(format!("no answer: {err}"))),
                }
            }));
        }
    }
    let mut failures = Vec::new();
    for render in renders {
        match render.await.unwrap() {
            (_, Ok(status)) if status < 500 => {}
            (page, outcome) => failures.push(format!("{page}: {outcome:?}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let published = churn.await.unwrap();
    println!(
        "{} renders while {published} runs were published",
        pages.len() * 200
    );
    assert!(published > 0);
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    // renders abandoned mid-stream finish or stop in the background: give them a moment
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        DISPOSED_PANICS.load(Ordering::SeqCst),
        0,
        "a render panicked (see above)"
    );
}

#[tokio::test]
async fn a_panic_is_answered_with_a_500_naming_a_reference() {
    async fn explode() -> &'static str {
        panic!("boom")
    }
    let router = axum::Router::new()
        .route("/explode", get(explode))
        .layer(axum::middleware::from_fn(web::catch_panic));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let response = agent()
        .get(format!("http://{addr}/explode"))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "internal");
    assert!(
        body["error"].as_str().unwrap().contains("reference"),
        "{body}"
    );
}
