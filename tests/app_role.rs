//! An existing `runwire_app` role with powers it must not have is never reused. (A binary of its own:
//! roles belong to the whole server, and the other tests' pools must not see this role changed.)

mod common;

use common::TestDb;
use runwire::server::db::{self, DbError};

#[tokio::test]
async fn an_application_role_with_extra_powers_is_refused() {
    let db = TestDb::new().await;
    let mut owner = db.owner_conn().await;
    for (power, undo) in [("CREATEDB", "NOCREATEDB"), ("BYPASSRLS", "NOBYPASSRLS")] {
        sqlx::query(&format!("ALTER ROLE runwire_app {power}"))
            .execute(&mut owner)
            .await
            .unwrap();
        let refused = db::app_pool(&db.owner, 2).await;
        sqlx::query(&format!("ALTER ROLE runwire_app {undo}"))
            .execute(&mut owner)
            .await
            .unwrap();
        match refused {
            Err(DbError::UnsafeAppRole(message)) => {
                assert!(message.contains(power), "{message}");
                assert!(
                    message.contains(&format!("ALTER ROLE runwire_app {undo}")),
                    "{message}"
                );
            }
            Err(other) => panic!("{power}: {other}"),
            Ok(_) => panic!("{power}: the role was used"),
        }
    }
    sqlx::query("GRANT pg_read_all_data TO runwire_app")
        .execute(&mut owner)
        .await
        .unwrap();
    let refused = db::app_pool(&db.owner, 2).await;
    sqlx::query("REVOKE pg_read_all_data FROM runwire_app")
        .execute(&mut owner)
        .await
        .unwrap();
    assert!(matches!(refused, Err(DbError::UnsafeAppRole(m)) if m.contains("pg_read_all_data")));
    assert!(
        db::app_pool(&db.owner, 2).await.is_ok(),
        "a clean role is used"
    );
}
