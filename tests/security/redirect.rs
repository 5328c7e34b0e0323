//! (3) No open redirect after sign-in.

use crate::common::{browser, TestApp, TestDb, TEST_PASSWORD};
use runwire::model::UserRole;
use runwire::server::db::Principal;

async fn location_after_sign_in(app: &TestApp, next: &str) -> (u16, Option<String>) {
    let response = browser()
        .post(app.url("/api/sign_in"))
        .form(&[
            ("email", "redirect@example.com"),
            ("password", TEST_PASSWORD),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), location)
}

#[tokio::test]
async fn next_is_followed_only_when_it_is_a_path_on_this_site() {
    let app = TestApp::start(TestDb::new().await, None).await;
    app.db.user("redirect@example.com", UserRole::User).await;
    for bad in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/%252F/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "dashboard",
        "/agents\nSet-Cookie: planted=1",
        "/agents\r\nLocation: https://evil.example",
    ] {
        let (status, location) = location_after_sign_in(&app, bad).await;
        assert!(status < 500, "{bad:?} broke the request: {status}");
        assert_eq!(location.as_deref(), Some("/dashboard"), "{bad:?}");
    }
    for good in ["/agents", "/dashboard?status=failed&q=a%20b", "/runs/123"] {
        let (_, location) = location_after_sign_in(&app, good).await;
        assert_eq!(location.as_deref(), Some(good));
    }
}

#[tokio::test]
async fn the_demo_sign_in_honours_a_valid_next() {
    let db = TestDb::new().await;
    let demo = db.user("demo-next@example.com", UserRole::User).await;
    let principal = Principal {
        user_id: demo.id,
        role: demo.role,
    };
    let app = TestApp::start(db, Some(principal)).await;
    for (next, expected) in [("/agents", "/agents"), ("//evil.example", "/dashboard")] {
        let response = browser()
            .post(app.url("/api/sign_in_demo"))
            .form(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["location"], expected, "{next}");
    }
}
