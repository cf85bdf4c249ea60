//! Unit tests of the plant module that need no database: URLs and error messages.
#![allow(clippy::unwrap_used)]

use super::url::{redact, PlantUrl, TlsMode};
use super::PlantError;

#[test]
fn a_socket_url_never_uses_tls() {
    let u =
        PlantUrl::parse("postgresql:///plant?host=/tmp/dir&user=line3&sslmode=require").unwrap();
    assert_eq!(u.tls, TlsMode::Off);
    assert_eq!(u.config.get_user(), Some("line3"));
    assert_eq!(u.config.get_dbname(), Some("plant"));
}

#[test]
fn sslmode_picks_the_checks() {
    let mode = |m: &str| {
        PlantUrl::parse(&format!("postgresql://u@db.example:5432/plant?sslmode={m}"))
            .unwrap()
            .tls
    };
    assert_eq!(mode("disable"), TlsMode::Off);
    assert_eq!(mode("prefer"), TlsMode::Off);
    assert_eq!(mode("require"), TlsMode::Require);
    assert_eq!(mode("verify-ca"), TlsMode::VerifyCa);
    assert_eq!(mode("verify-full"), TlsMode::VerifyFull);
    let u = PlantUrl::parse(
        "postgresql://u@db.example/plant?sslmode=verify-full&sslrootcert=/etc/ca.pem",
    )
    .unwrap();
    assert_eq!(
        u.root_cert.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(u.tls_host().as_deref(), Some("db.example"));
    assert!(matches!(
        PlantUrl::parse("postgresql://u@db/plant?sslmode=sometimes"),
        Err(PlantError::Url { .. })
    ));
    assert!(matches!(
        PlantUrl::parse("mysql://u@db/plant"),
        Err(PlantError::Url { .. })
    ));
}

#[test]
fn a_password_never_shows() {
    assert_eq!(
        redact("postgresql://line3:s3cret@db:5432/plant?sslmode=require"),
        "postgresql://line3:***@db:5432/plant?sslmode=require"
    );
    assert_eq!(
        redact("postgresql:///plant?host=/tmp&password=s3cret"),
        "postgresql:///plant?host=/tmp&password=***"
    );
    let e = PlantUrl::parse("postgresql://line3:s3cret@db/plant?sslmode=bogus").unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn a_tls_config_builds_for_each_mode() {
    for m in ["require", "verify-ca", "verify-full"] {
        let u = PlantUrl::parse(&format!("postgresql://u@db.example/plant?sslmode={m}")).unwrap();
        assert!(super::tls::client_config(&u).is_ok(), "{m}");
    }
}

#[test]
fn the_schema_message_says_what_to_do() {
    let old = PlantError::SchemaVersion {
        found: 0,
        needed: 1,
    }
    .to_string();
    assert!(old.contains("has schema 0, this benchctl needs 1"), "{old}");
    assert!(old.contains("benchctl plant migrate"), "{old}");
    let new = PlantError::SchemaVersion {
        found: 3,
        needed: 1,
    }
    .to_string();
    assert!(new.contains("older than the database"), "{new}");
}
