//! (2) A sign-in throttle that holds under concurrency, per email and per client address (behind a
//! trusted proxy, per forwarded address; IPv6 per /64), sign-ups throttled, argon2 work capped.

use crate::common::process::ServerProcess;
use crate::common::{browser, TestApp, TestDb, TEST_PASSWORD};
use crate::{behind_proxy, credentials};
use runwire::model::UserRole;
use runwire::server::auth::throttle::{SIGN_IN_PER_ADDRESS, SIGN_UP_PER_ADDRESS};

async fn sign_in_from(app: &TestApp, email: &str, password: &str, from: Option<&str>) -> u16 {
    let mut request = browser()
        .post(app.url("/api/sign_in"))
        .form(&credentials(email, password));
    if let Some(address) = from {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_hundred_guesses_at_once_get_at_most_five_evaluated() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("victim@example.com", UserRole::User).await;
    let guesses = (0..100).map(|n| {
        let app = &app;
        async move { sign_in_from(app, "victim@example.com", &format!("guess {n}"), None).await }
    });
    let statuses = futures::future::join_all(guesses).await;
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    println!("100 parallel wrong guesses: {evaluated} evaluated (401), {throttled} refused (429)");
    assert!(
        evaluated <= 5,
        "{evaluated} guesses were checked: {statuses:?}"
    );
    assert_eq!(evaluated + throttled, 100, "{statuses:?}");
    // and the right password is refused too, until the window passes
    assert_eq!(
        sign_in_from(&app, "victim@example.com", TEST_PASSWORD, None).await,
        429
    );
}

#[tokio::test]
async fn one_client_behind_a_shared_proxy_does_not_lock_out_the_others() {
    let app = behind_proxy().await;
    app.db.user("bystander@example.com", UserRole::User).await;
    let attacker = "203.0.113.5";
    for n in 0..SIGN_IN_PER_ADDRESS {
        let email = format!("nobody{n}@example.com");
        assert_eq!(
            sign_in_from(&app, &email, "wrong guess", Some(attacker)).await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&app, "fresh@example.com", "wrong guess", Some(attacker)).await,
        429,
        "the attacker's address is throttled"
    );
    assert_eq!(
        sign_in_from(
            &app,
            "bystander@example.com",
            TEST_PASSWORD,
            Some("203.0.113.6")
        )
        .await,
        200,
        "someone else behind the same proxy signs in"
    );
    // IPv6 clients count per /64: another address of the same /64 is the same client.
    for n in 0..SIGN_IN_PER_ADDRESS {
        let email = format!("six{n}@example.com");
        let from = format!("2001:db8:7:7::{:x}", n + 1);
        assert_eq!(sign_in_from(&app, &email, "wrong", Some(&from)).await, 401);
    }
    assert_eq!(
        sign_in_from(
            &app,
            "six@example.com",
            "wrong",
            Some("2001:db8:7:7:ffff::1")
        )
        .await,
        429
    );
    assert_eq!(
        sign_in_from(&app, "six@example.com", "wrong", Some("2001:db8:7:8::1")).await,
        401
    );
}

#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let app = TestApp::start(TestDb::new().await, None).await;
    for n in 0..SIGN_IN_PER_ADDRESS {
        let email = format!("spoof{n}@example.com");
        let spoofed = format!("198.51.100.{n}");
        assert_eq!(
            sign_in_from(&app, &email, "wrong", Some(&spoofed)).await,
            401
        );
    }
    // every one of them counted against the real peer, 127.0.0.1
    assert_eq!(
        sign_in_from(&app, "spoof@example.com", "wrong", Some("198.51.100.250")).await,
        429
    );
}

#[tokio::test]
async fn sign_ups_are_throttled_per_address() {
    let app = behind_proxy().await;
    let sign_up = |n: u32, from: &'static str| {
        let app = &app;
        async move {
            browser()
                .post(app.url("/api/sign_up"))
                .header("x-forwarded-for", from)
                .form(&[
                    ("email", format!("new{n}-{from}@example.com")),
                    ("password", "a long enough password".to_owned()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for n in 0..SIGN_UP_PER_ADDRESS as u32 {
        assert!(sign_up(n, "203.0.113.20").await < 400);
    }
    assert_eq!(sign_up(99, "203.0.113.20").await, 429);
    assert!(
        sign_up(99, "203.0.113.21").await < 400,
        "another address still can"
    );
}

/// argon2 takes ~19 MiB per hash; a flood of sign-ups from many addresses runs them one per core at
/// a time, so the server's memory stays flat.
#[tokio::test]
async fn a_sign_up_flood_cannot_exhaust_memory() {
    let db = TestDb::new().await;
    let server =
        ServerProcess::start_with(&db.url, None, &[("RUNWIRE_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let url = format!("http://{}/api/sign_up", server.addr);
    // warm up: one sign-up, so the peak below is the flood's
    let first = browser()
        .post(&url)
        .form(&[
            ("email", "warm@example.com"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(first.status().as_u16() < 400);
    let (_, before) = server.memory_mib();
    let flood = (0..60).map(|n| {
        let url = url.clone();
        async move {
            browser()
                .post(&url)
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .form(&[
                    ("email", format!("flood{n}@example.com")),
                    ("password", "a long enough password".to_owned()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(flood).await;
    assert!(
        statuses.iter().all(|s| *s < 400 || *s == 429),
        "{statuses:?}"
    );
    let (_, after) = server.memory_mib();
    // what stays once the hashes are done: the allocator gives their buffers back
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (settled, _) = server.memory_mib();
    println!(
        "60 concurrent sign-ups: peak RSS {before:.0} -> {after:.0} MiB, {settled:.0} MiB after"
    );
    // Unbounded, 60 hashes at ~19 MiB each would add over 1 GiB.
    assert!(
        after - before < 200.0,
        "peak RSS rose by {:.0} MiB",
        after - before
    );
}
