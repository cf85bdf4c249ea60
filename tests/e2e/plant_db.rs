//! The plant database's rules, against a real PostgreSQL ([`crate::postgres`]): chains arrive
//! verified, re-pushes change nothing, bad hashes are rejected, forks refuse the station,
//! station roles write only their own station, auditors only read, nobody updates or deletes,
//! and each failure to connect says what it is.

use benchctl::plant::{Outgoing, Plant, PlantError, Pushed, SCHEMA_VERSION};
use benchctl::store::entry::chain_hash;
use benchctl::store::{Hash, GENESIS};

use crate::postgres::{Postgres, DATABASE, OWNER};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A chain of `n` records as a station's store would hold them; `tag` makes the bodies (and
/// so the hashes) of one history differ from another's.
fn chain(n: u64, tag: &str) -> Vec<Outgoing> {
    let mut prev = GENESIS;
    (1..=n)
        .map(|seq| {
            let body = format!(
                r#"{{"schema":5,"phone":{{"imei":"35{seq:013}","model":"{tag}","serial":"S{seq}"}},"finished":"2026-03-0{}T10:00:{:02}Z","status":"complete"}}"#,
                1 + seq % 9,
                seq % 60
            )
            .into_bytes();
            let hash = chain_hash(&prev, seq, &body);
            let o = Outgoing {
                seq,
                prev,
                hash,
                body,
            };
            prev = hash;
            o
        })
        .collect()
}

fn head_of(records: &[Outgoing]) -> Pushed {
    let last = records.last().unwrap();
    Pushed {
        head_seq: last.seq,
        head_hash: last.hash,
    }
}

fn count(pg: &Postgres, station: &str) -> u64 {
    pg.psql_ok(
        OWNER,
        DATABASE,
        &format!("SELECT count(*) FROM benchline.records WHERE station = '{station}'"),
    )
    .parse()
    .unwrap()
}

#[test]
fn plant_a_pushed_chain_arrives_and_the_heads_match() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    let records = chain(30, "a");
    rt().block_on(async {
        let plant = Plant::connect(&pg.url("line1")).await.unwrap();
        let first = plant.push("line-1", &records[..12]).await.unwrap();
        assert_eq!(first, head_of(&records[..12]));
        let all = plant.push("line-1", &records[12..]).await.unwrap();
        assert_eq!(all, head_of(&records));
        let state = plant.state("line-1").await.unwrap();
        assert!(state.known);
        assert_eq!(state.head, all);
        assert!(state.refusal.is_none());
    });
    assert_eq!(count(&pg, "line-1"), 30);
    // The body is kept byte for byte; imei and finished come from it.
    let row = pg.psql_ok(
        OWNER,
        DATABASE,
        "SELECT imei, finished AT TIME ZONE 'UTC', encode(sha256(prev || int8send(seq) || body), 'hex') = encode(hash, 'hex') FROM benchline.records WHERE station = 'line-1' AND seq = 7",
    );
    assert_eq!(row, "350000000000007|2026-03-08 10:00:07|t");
}

#[test]
fn plant_pushing_the_same_batch_twice_changes_nothing() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    let records = chain(20, "a");
    rt().block_on(async {
        let plant = Plant::connect(&pg.url("line1")).await.unwrap();
        let once = plant.push("line-1", &records[..10]).await.unwrap();
        let twice = plant.push("line-1", &records[..10]).await.unwrap();
        assert_eq!(once, twice);
        // A batch that overlaps what the plant holds adds only what is new.
        let more = plant.push("line-1", &records[5..]).await.unwrap();
        assert_eq!(more, head_of(&records));
        assert_eq!(plant.push("line-1", &records).await.unwrap(), more);
    });
    assert_eq!(count(&pg, "line-1"), 20);
    assert_eq!(
        pg.psql_ok(OWNER, DATABASE, "SELECT count(*) FROM benchline.forks"),
        "0"
    );
}

#[test]
fn plant_a_record_whose_hash_does_not_match_its_body_is_rejected() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    let mut records = chain(6, "a");
    // Record 4's body changed after it was hashed.
    records[3].body = records[3].body.replace_range_copy("complete", "incomplete");
    rt().block_on(async {
        let plant = Plant::connect(&pg.url("line1")).await.unwrap();
        match plant.push("line-1", &records).await {
            Err(PlantError::Rejected { seq, why }) => {
                assert_eq!(seq, 4, "{why}");
                assert!(why.contains("hash does not match"), "{why}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        // The batch landed whole or not at all: not at all.
        assert_eq!(plant.state("line-1").await.unwrap().head.head_seq, 0);
        // A gap is rejected too.
        let good = chain(6, "a");
        match plant.push("line-1", &good[2..]).await {
            Err(PlantError::Rejected { seq: 3, why }) => assert!(why.contains("gap"), "{why}"),
            other => panic!("expected Rejected for the gap, got {other:?}"),
        }
        assert_eq!(plant.push("line-1", &good).await.unwrap(), head_of(&good));
    });
    assert_eq!(count(&pg, "line-1"), 6);
}

#[test]
fn plant_a_rewritten_chain_is_refused_as_forked_with_both_heads_named() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    pg.station_role("line2", "line-2");
    let original = chain(8, "a");
    let rewritten = chain(10, "b");
    rt().block_on(async {
        let plant = Plant::connect(&pg.url("line1")).await.unwrap();
        plant.push("line-1", &original[..5]).await.unwrap();
        match plant.push("line-1", &rewritten).await {
            Err(PlantError::Forked {
                station,
                plant_head,
                station_record,
            }) => {
                assert_eq!(station, "line-1");
                assert_eq!(plant_head, (5, original[4].hash));
                assert_eq!(station_record, (1, rewritten[0].hash));
            }
            other => panic!("expected Forked, got {other:?}"),
        }
        // The plant keeps what it had, and refuses every later push, even a sound one.
        match plant.push("line-1", &original[5..]).await {
            Err(PlantError::Refused { station, refusal }) => {
                assert_eq!(station, "line-1");
                assert!(refusal.contains("forked at record 1"), "{refusal}");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
        let state = plant.state("line-1").await.unwrap();
        assert_eq!(state.head, head_of(&original[..5]));
        assert!(state.refusal.is_some());
        assert!(plant
            .lag()
            .await
            .unwrap()
            .iter()
            .any(|l| l.station == "line-1" && l.refused));

        // A station whose next record does not link to the plant's head forks as well.
        let two = Plant::connect(&pg.url("line2")).await.unwrap();
        let a = chain(4, "a");
        two.push("line-2", &a[..2]).await.unwrap();
        let b = chain(4, "b");
        match two.push("line-2", &b[2..]).await {
            Err(PlantError::Forked {
                plant_head,
                station_record,
                ..
            }) => {
                assert_eq!(plant_head, (2, a[1].hash));
                assert_eq!(station_record, (3, b[2].hash));
            }
            other => panic!("expected Forked, got {other:?}"),
        }
    });
    assert_eq!(count(&pg, "line-1"), 5);
    assert_eq!(count(&pg, "line-2"), 2);
    let forks = pg.psql_ok(
        OWNER,
        DATABASE,
        "SELECT station, seq, plant_head_seq FROM benchline.forks ORDER BY station",
    );
    assert_eq!(forks, "line-1|1|5\nline-2|3|2");
}

#[test]
fn plant_a_station_role_writes_and_reads_only_its_own_station() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    pg.station_role("line2", "line-2");
    let records = chain(3, "a");
    rt().block_on(async {
        let two = Plant::connect(&pg.url("line2")).await.unwrap();
        two.push("line-2", &records).await.unwrap();
        let one = Plant::connect(&pg.url("line1")).await.unwrap();
        one.push("line-1", &records).await.unwrap();
        // line1 writing line-2's records (new ones, and ones line-2 already holds).
        let more = chain(5, "a");
        for batch in [&more[3..], &more[..3]] {
            match one.push("line-2", batch).await {
                Err(PlantError::MissingGrant { what }) => {
                    assert!(what.contains("may not write"), "{what}")
                }
                other => panic!("expected MissingGrant, got {other:?}"),
            }
        }
        assert!(matches!(
            one.heartbeat("line-2", Some((99, GENESIS))).await,
            Err(PlantError::MissingGrant { .. })
        ));
        // Nothing of line-2 changed: not its head, nor its refusal.
        let state = one.state("line-2").await.unwrap();
        assert_eq!(state.head, head_of(&records));
        assert!(state.refusal.is_none());
        assert!(state.local_head.is_none());
    });
    assert_eq!(count(&pg, "line-2"), 3);
    // Straight SQL gets no further: line-2's real next record, valid in every other way, is
    // refused to line1 for whose station it is. And a station reads only its own rows.
    let r = &chain(4, "a")[3];
    let insert = format!(
        "INSERT INTO benchline.records (station, seq, prev, hash, body) VALUES ('line-2', 4, '\\x{}', '\\x{}', '\\x{}')",
        hex(&r.prev),
        hex(&r.hash),
        hex_bytes(&r.body)
    );
    let out = pg.psql("line1", DATABASE, &insert);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("row-level security") || said.contains("may not write"),
        "{said}"
    );
    // Nor can a station call the placing of records itself (only the trigger, as the owner,
    // does), from a trigger of its own on a table it may create.
    let out = pg.psql(
        "line1",
        DATABASE,
        "CREATE TEMP TABLE t (x int); \
         CREATE FUNCTION pg_temp.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           PERFORM benchline.arrive('line-1', 4, '\\x00'::bytea, '\\x00'::bytea); RETURN NEW; END $$; \
         CREATE TRIGGER t_f BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION pg_temp.f(); \
         INSERT INTO t VALUES (1);",
    );
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("permission denied"), "{said}");
    rt().block_on(async {
        let one = Plant::connect(&pg.url("line1")).await.unwrap();
        assert_eq!(one.state("line-1").await.unwrap().head, head_of(&records));
    });
    assert_eq!(
        pg.psql_ok(
            "line1",
            DATABASE,
            "SELECT DISTINCT station FROM benchline.records"
        ),
        "line-1"
    );
}

#[test]
fn plant_an_auditor_reads_everything_and_inserts_nothing() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    pg.auditor_role("audit");
    let records = chain(4, "a");
    rt().block_on(async {
        Plant::connect(&pg.url("line1"))
            .await
            .unwrap()
            .push("line-1", &records)
            .await
            .unwrap();
        let auditor = Plant::connect(&pg.url("audit")).await.unwrap();
        match auditor.push("line-1", &chain(6, "a")[4..]).await {
            Err(PlantError::MissingGrant { what }) => {
                assert!(what.contains("permission denied"), "{what}")
            }
            other => panic!("expected MissingGrant, got {other:?}"),
        }
        assert!(matches!(
            auditor.heartbeat("line-1", None).await,
            Err(PlantError::MissingGrant { .. })
        ));
        assert_eq!(auditor.lag().await.unwrap().len(), 1);
    });
    assert_eq!(
        pg.psql_ok("audit", DATABASE, "SELECT count(*) FROM benchline.records"),
        "4"
    );
}

#[test]
fn plant_nobody_may_update_delete_or_truncate_records_not_even_the_owner() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    let records = chain(3, "a");
    rt().block_on(async {
        Plant::connect(&pg.url("line1"))
            .await
            .unwrap()
            .push("line-1", &records)
            .await
            .unwrap();
    });
    for user in [OWNER, "line1"] {
        for sql in [
            "UPDATE benchline.records SET imei = 'x' WHERE seq = 1",
            "DELETE FROM benchline.records WHERE seq = 3",
            "TRUNCATE benchline.records CASCADE",
            "DELETE FROM benchline.forks",
            "UPDATE benchline.migrations SET version = 99",
        ] {
            let out = pg.psql(user, DATABASE, sql);
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(!out.status.success(), "{user}: {sql} succeeded");
            if user == OWNER {
                assert!(err.contains("append-only"), "{user}: {sql}: {err}");
            }
        }
    }
    assert_eq!(count(&pg, "line-1"), 3);
    assert_eq!(
        pg.psql_ok(
            OWNER,
            DATABASE,
            "SELECT imei FROM benchline.records WHERE seq = 1"
        ),
        "350000000000001"
    );
}

#[test]
fn plant_the_lag_is_what_the_station_holds_that_the_plant_does_not() {
    let pg = Postgres::migrated();
    pg.station_role("line1", "line-1");
    let records = chain(10, "a");
    rt().block_on(async {
        let plant = Plant::connect(&pg.url("line1")).await.unwrap();
        plant.push("line-1", &records[..4]).await.unwrap();
        plant
            .heartbeat("line-1", Some((10, records[9].hash)))
            .await
            .unwrap();
        let lag = plant.lag().await.unwrap();
        assert_eq!(lag.len(), 1);
        assert_eq!(lag[0].backlog, 6);
        assert!(lag[0].lag_seconds >= 0.0);
        assert!(!lag[0].refused);
        assert_eq!(
            plant.state("line-1").await.unwrap().local_head,
            Some((10, records[9].hash))
        );
        plant.push("line-1", &records[4..]).await.unwrap();
        let lag = plant.lag().await.unwrap();
        assert_eq!((lag[0].backlog, lag[0].lag_seconds), (0, 0.0));
    });
}

#[test]
fn plant_connection_failures_say_what_they_are() {
    let mut pg = Postgres::new();
    pg.password_role("secret", "right-one");
    rt().block_on(async {
        // Never migrated.
        match Plant::connect(&pg.owner_url()).await {
            Err(e @ PlantError::SchemaVersion { found: 0, .. }) => {
                assert!(e.to_string().contains("benchctl plant migrate"), "{e}")
            }
            other => panic!("expected SchemaVersion, got {:?}", other.err()),
        }
    });
    pg.migrate();
    // Migrating again changes nothing.
    pg.migrate();
    pg.psql_ok(
        OWNER,
        DATABASE,
        &format!(
            "INSERT INTO benchline.migrations (version) VALUES ({})",
            SCHEMA_VERSION + 1
        ),
    );
    let with_password = |p: &str| format!("{}&password={p}", pg.url("secret"));
    rt().block_on(async {
        match Plant::connect(&pg.owner_url()).await {
            Err(e @ PlantError::SchemaVersion { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&format!(
                        "has schema {}, this benchctl needs {SCHEMA_VERSION}",
                        SCHEMA_VERSION + 1
                    )),
                    "{text}"
                );
            }
            other => panic!("expected SchemaVersion, got {:?}", other.err()),
        }
        for url in [
            with_password("wrong"),
            pg.url("secret"),
            pg.url("nobody_here"),
        ] {
            match Plant::open(&url).await {
                Err(e @ PlantError::Authentication { .. }) => {
                    assert!(!e.to_string().contains("wrong"), "password shown: {e}");
                    assert!(e.to_string().contains("login role"), "{e}");
                }
                other => panic!("{url}: expected Authentication, got {:?}", other.err()),
            }
        }
        assert!(Plant::open(&with_password("right-one")).await.is_ok());
        let no_db = pg.owner_url().replace("/plant?", "/nowhere?");
        assert!(matches!(
            Plant::open(&no_db).await,
            Err(PlantError::NoDatabase { .. })
        ));
    });
    pg.stop();
    rt().block_on(async {
        match Plant::connect(&pg.owner_url()).await {
            Err(e @ PlantError::Unreachable { .. }) => {
                assert!(e.to_string().contains("cannot reach"), "{e}")
            }
            other => panic!("expected Unreachable, got {:?}", other.err()),
        }
    });
}

fn hex(h: &Hash) -> String {
    hex_bytes(h)
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

trait ReplaceCopy {
    fn replace_range_copy(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceCopy for Vec<u8> {
    fn replace_range_copy(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self.clone())
            .unwrap()
            .replacen(from, to, 1)
            .into_bytes()
    }
}
