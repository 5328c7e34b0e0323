//! `sqlx::migrate!` embeds the migrations when the crate compiles; without this, cargo does not
//! know to compile it again when a migration is added or changed (sqlx's own advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
