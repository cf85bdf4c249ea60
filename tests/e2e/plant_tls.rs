//! TLS to the plant database, against a real PostgreSQL that listens on 127.0.0.1 with a
//! certificate for `localhost` signed by a CA the test made ([`Postgres::with_tls`]): each
//! `sslmode` connects, encrypted, when its checks pass, and is refused, saying what failed and
//! what to check, when they do not.

use std::time::Duration;

use benchctl::plant::{Plant, PlantError};

use crate::harness::{benchctl, finish};
use crate::postgres::{Postgres, DATABASE, OWNER, TLS_NAME};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `sslrootcert=` the CA that signed the server's certificate.
fn with_ca(pg: &Postgres, mode: &str) -> String {
    format!("sslmode={mode}&sslrootcert={}", pg.ca_file().display())
}

/// Whether the server sees this connection's session as encrypted (`pg_stat_ssl`).
async fn encrypted(plant: &Plant) -> bool {
    let row = tokio::time::timeout(
        Duration::from_secs(30),
        plant.client().query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        ),
    )
    .await
    .expect("pg_stat_ssl did not answer within 30 s")
    .unwrap();
    row.get(0)
}

/// `benchctl plant migrate --plant URL`.
fn migrate(url: &str) -> std::process::Output {
    finish({
        let mut c = benchctl();
        c.args(["plant", "migrate", "--plant", url]);
        c
    })
}

#[test]
fn plant_tls_each_sslmode_connects_encrypted_when_its_checks_pass() {
    let pg = Postgres::with_tls();
    // The owner migrates over TLS, the certificate's chain and name checked.
    let full = pg.tcp_url(TLS_NAME, OWNER, &with_ca(&pg, "verify-full"));
    let out = migrate(&full);
    assert!(
        out.status.success(),
        "benchctl plant migrate --plant {full}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let urls = [
        // The chain and the name.
        full.clone(),
        // The chain only: 127.0.0.1 is not the certificate's name, and need not be.
        pg.tcp_url("127.0.0.1", OWNER, &with_ca(&pg, "verify-ca")),
        // Encrypted, the certificate taken as it comes (libpq's `require`): no CA needed.
        pg.tcp_url("127.0.0.1", OWNER, "sslmode=require"),
        pg.tcp_url(TLS_NAME, OWNER, "sslmode=require"),
    ];
    rt().block_on(async {
        for url in &urls {
            match Plant::connect(url).await {
                Ok(plant) => assert!(encrypted(&plant).await, "{url}: not encrypted"),
                Err(e) => panic!("{url}: {e}"),
            }
        }
        // The same server on its socket: no TLS there, and pg_stat_ssl says so.
        let plant = Plant::connect(&pg.owner_url()).await.unwrap();
        assert!(!encrypted(&plant).await);
    });
}

#[test]
fn plant_tls_refuses_another_name_an_unknown_issuer_and_a_connection_without_tls() {
    let pg = Postgres::with_tls();
    // verify-full to an address the certificate does not name: refused by the command, which
    // says why and what to check, and nothing was migrated.
    let by_address = pg.tcp_url("127.0.0.1", OWNER, &with_ca(&pg, "verify-full"));
    let out = migrate(&by_address);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{by_address} was accepted");
    for said in [
        "TLS with the plant database at",
        "not valid for name \"127.0.0.1\"",
        TLS_NAME,
        "its name must match the host for sslmode=verify-full",
    ] {
        assert!(stderr.contains(said), "{said:?} not in: {stderr}");
    }
    assert_eq!(
        pg.psql_ok(
            OWNER,
            DATABASE,
            "SELECT to_regclass('benchline.migrations') IS NULL"
        ),
        "t"
    );
    rt().block_on(async {
        match Plant::connect(&by_address).await {
            Err(e @ PlantError::Tls { .. }) => {
                let text = e.to_string();
                assert!(text.contains("not valid for name"), "{text}");
                assert!(!e.is_transient(), "a wrong name is not retried: {text}");
            }
            other => panic!("{by_address}: expected Tls, got {:?}", other.err()),
        }
        // Without sslrootcert the public web roots are used: the test CA is not one of them.
        for url in [
            pg.tcp_url(TLS_NAME, OWNER, "sslmode=verify-full"),
            pg.tcp_url("127.0.0.1", OWNER, "sslmode=verify-ca"),
        ] {
            match Plant::connect(&url).await {
                Err(e @ PlantError::Tls { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("UnknownIssuer"), "{url}: {text}");
                    assert!(text.contains("sslrootcert=FILE"), "{url}: {text}");
                    assert!(!e.is_transient(), "{url}: {text}");
                }
                other => panic!("{url}: expected Tls, got {:?}", other.err()),
            }
        }
        // The server lets TCP in only with TLS (hostssl): a URL that does not ask for it is
        // refused by the server, which names the missing encryption.
        for url in [
            pg.tcp_url("127.0.0.1", OWNER, ""),
            pg.tcp_url(TLS_NAME, OWNER, "sslmode=disable"),
        ] {
            match Plant::connect(&url).await {
                Err(e @ PlantError::Authentication { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("refused the login"), "{url}: {text}");
                    assert!(text.contains("no pg_hba.conf entry"), "{url}: {text}");
                    assert!(text.contains("no encryption"), "{url}: {text}");
                    assert!(text.contains("accepts only TLS here"), "{url}: {text}");
                }
                other => panic!("{url}: expected Authentication, got {:?}", other.err()),
            }
        }
    });
}
