//! The shipped systemd unit is one systemd accepts: `systemd-analyze verify` reads it (with
//! `ExecStart` pointed at the binary just built) and has nothing to say. A misspelt directive or
//! value only prints a warning there, so any output at all fails the test. (deploy/nginx.conf is
//! run for real by tests/nginx.rs.)

use std::process::Command;

#[test]
fn the_systemd_unit_is_valid() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/runwire.service"
    ))
    .unwrap();
    let shipped_binary = "/opt/runwire/bin/runwire";
    assert_eq!(unit.matches(shipped_binary).count(), 1, "ExecStart moved");
    let unit = unit.replace(shipped_binary, env!("CARGO_BIN_EXE_runwire"));
    let dir = std::env::temp_dir().join(format!("runwire-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("runwire.service");
    std::fs::write(&path, unit).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) checks the unit");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(verified.status.success(), "{said}");
    assert!(said.trim().is_empty(), "systemd-analyze verify: {said}");
}
