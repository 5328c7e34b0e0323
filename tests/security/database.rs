//! (10) A least-privilege database login; row-level security even for the tables' owner; runwire's own
//! addresses kept. (An existing application role with powers it must not have: tests/app_role.rs.)

use crate::common::{browser, TestApp, TestDb};

#[tokio::test]
async fn the_pool_logs_in_as_the_application_role_and_cannot_become_the_owner() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let (session, current): (String, String) =
        sqlx::query_as("SELECT session_user::text, current_user::text")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        (session.as_str(), current.as_str()),
        ("runwire_app", "runwire_app")
    );
    // With SET ROLE from the owner's login, RESET ROLE would make a query the owner again.
    sqlx::query("RESET ROLE").execute(&mut *conn).await.unwrap();
    let after: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(after, "runwire_app");
    let owner_role: String =
        sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'agent_runs'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let became = sqlx::query(&format!("SET ROLE {owner_role}"))
        .execute(&mut *conn)
        .await;
    assert!(
        became.is_err(),
        "the application role cannot take the owner's role"
    );
    let secrets = sqlx::query("SELECT value FROM runwire_secrets")
        .execute(&mut *conn)
        .await;
    assert!(
        secrets.is_err(),
        "the application cannot read its own password"
    );
}

#[tokio::test]
async fn every_tenant_table_forces_row_level_security() {
    let db = TestDb::new().await;
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT relname::text, relrowsecurity, relforcerowsecurity FROM pg_class
         WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace AND NOT relispartition
           AND EXISTS (SELECT 1 FROM information_schema.columns c
                       WHERE c.table_name = relname AND c.column_name = 'user_id')
         ORDER BY 1",
    )
    .fetch_all(&mut db.owner_conn().await)
    .await
    .unwrap();
    // users' own tables (sessions, tokens) are read to find the user, before there is one
    let before_any_user = ["api_tokens", "sessions"];
    let tenant: Vec<_> = tables
        .iter()
        .filter(|(name, ..)| !before_any_user.contains(&name.as_str()))
        .collect();
    assert!(tenant.len() >= 6, "{tables:?}");
    for (name, enabled, forced) in tenant {
        assert!(
            *enabled && *forced,
            "{name}: RLS enabled {enabled}, forced {forced}"
        );
    }
    // A partition is reached through its table, whose policies then apply; the application has
    // no privilege on the partition itself, so it cannot go around them.
    let partitions: Vec<(String, bool)> = sqlx::query_as(
        "SELECT relname::text,
                has_table_privilege('runwire_app', oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
         FROM pg_class WHERE relispartition AND relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    .fetch_all(&mut db.owner_conn().await)
    .await
    .unwrap();
    assert!(partitions.len() >= 4, "{partitions:?}");
    for (name, reachable) in partitions {
        assert!(
            !reachable,
            "runwire_app may use the partition {name} directly"
        );
    }
}

#[tokio::test]
async fn runwires_own_addresses_cannot_be_taken_by_sign_up() {
    let app = TestApp::start(TestDb::new().await, None).await;
    for email in [
        "demo@runwire.local",
        "health-probe@runwire.internal",
        "x@RUNWIRE.LOCAL",
    ] {
        let response = browser()
            .post(app.url("/api/sign_up"))
            .form(&[("email", email), ("password", "a long enough password")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{email}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body.to_string().contains("reserved"), "{body}");
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(users, 0);
}
