#![allow(clippy::unwrap_used)]

use super::*;

/// The JSON of a small record of `schema` (none: schema 1, which has no `schema` field).
fn record(schema: Option<u16>, imei: &str, finished: &str, slot: u8) -> Vec<u8> {
    let schema = schema
        .map(|s| format!(r#""schema":{s},"#))
        .unwrap_or_default();
    format!(
        r#"{{{schema}"phone":{{"imei":"{imei}","model":"PX7","serial":"S1"}},"jig":{{"port":"/dev/ttyACM0","serial":"J1","firmware":"1.0.0"}},"slot":{slot},"operator":"alice","started":"{finished}","finished":"{finished}","status":"complete","plan":{{"id":"standard","version":"1","hash":"00"}},"steps":[],"grade":{{"functional":0,"r2_functional":"F6","disposition":"resale"}}}}"#
    )
    .into_bytes()
}

fn body(imei: &str, finished: &str) -> Pending {
    Pending::new(record(Some(2), imei, finished, 0)).unwrap()
}

#[test]
fn appends_chain_and_index_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), Use::Write).unwrap();
    assert_eq!(s.head(), None);
    let a = s
        .append(vec![
            body("111", "2026-11-23T10:00:00Z"),
            body("222", "2026-11-23T09:00:00Z"),
        ])
        .unwrap();
    let b = s.append(vec![body("111", "2026-11-23T11:00:00Z")]).unwrap();
    assert_eq!(a.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(b[0].seq, 3);
    drop(s);
    let s = Store::open(dir.path(), Use::Read).unwrap();
    assert_eq!(s.head(), Some(b[0]));
    assert_eq!(s.get(3).unwrap().unwrap().prev, a[1].hash);
    assert_eq!(s.get(1).unwrap().unwrap().prev, GENESIS);
    assert_eq!(s.device_seqs("111").unwrap(), [1, 3]);
    assert_eq!(s.device_seqs("11").unwrap(), Vec::<u64>::new());
    let ms = |t| schema::parse_time_ms(t).unwrap();
    let in_order: Vec<u64> = s.time_seqs(0, u64::MAX).collect::<Result<_, _>>().unwrap();
    assert_eq!(in_order, [2, 1, 3]);
    let morning: Vec<u64> = s
        .time_seqs(ms("2026-11-23T09:30:00Z"), ms("2026-11-23T11:00:00Z"))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(morning, [1]);
}

#[test]
fn a_second_process_on_the_same_directory_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path(), Use::Write).unwrap();
    let e = Store::open(dir.path(), Use::Read).unwrap_err();
    assert!(matches!(e, StoreError::Busy { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("in use by another benchctl"), "{text}");
    assert!(text.contains(&std::process::id().to_string()), "{text}");
}

#[test]
fn a_record_without_identity_or_time_is_refused_before_it_reaches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Use::Write).unwrap();
    let e = Pending::new(record(None, "1", "yesterday", 0)).unwrap_err();
    assert!(e.to_string().contains("not RFC 3339"), "{e}");
    assert_eq!(s.head(), None);
    assert!(s.get(1).unwrap().is_none());
}

#[test]
fn a_store_of_a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        s.append(vec![body("1", "2026-11-23T10:00:00Z")]).unwrap();
        s.meta.insert(META_SCHEMA, &9u16.to_be_bytes()[..]).unwrap();
        s.db.flush().unwrap();
    }
    let e = Store::open(dir.path(), Use::Write).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Newer {
                found: 9,
                known: SCHEMA,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("use a newer benchctl"), "{e}");
    // Still schema 9, record intact.
    let db = raw_db(dir.path()).unwrap();
    let meta = db.open_tree("meta").unwrap();
    assert_eq!(
        &meta.get(META_SCHEMA).unwrap().unwrap()[..],
        &9u16.to_be_bytes()
    );
    assert_eq!(db.open_tree("records").unwrap().len(), 1);
}

#[test]
fn a_schema_1_store_gains_its_time_index_and_keeps_its_records_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = [
        record(None, "9", "2026-01-02T03:04:05Z", 0),
        record(None, "8", "2026-01-01T00:00:00Z", 1),
    ];
    let mut hashes = Vec::new();
    {
        // Schema 1: records and device index only, no schema key.
        let db = raw_db(dir.path()).unwrap();
        let (records, by_device) = (
            db.open_tree("records").unwrap(),
            db.open_tree("by_device").unwrap(),
        );
        let mut prev = GENESIS;
        for (i, b) in v1.iter().enumerate() {
            let seq = i as u64 + 1;
            let e = Entry::new(seq, prev, b.clone());
            prev = e.hash;
            hashes.push(e.hash);
            records.insert(seq_key(seq), e.encode().unwrap()).unwrap();
            let imei = if i == 0 { "9" } else { "8" };
            by_device.insert(device_key(imei, seq), &[][..]).unwrap();
        }
        let mut head = seq_key(2).to_vec();
        head.extend_from_slice(&prev);
        db.open_tree("meta")
            .unwrap()
            .insert(META_HEAD, head)
            .unwrap();
        db.flush().unwrap();
    }
    let mut s = Store::open(dir.path(), Use::Write).unwrap();
    let seqs: Vec<u64> = s.time_seqs(0, u64::MAX).collect::<Result<_, _>>().unwrap();
    assert_eq!(seqs, [2, 1]);
    assert_eq!(s.get(1).unwrap().unwrap().body, v1[0]);
    assert_eq!(s.get(2).unwrap().unwrap().hash, hashes[1]);
    let next = s.append(vec![body("9", "2026-11-23T10:00:00Z")]).unwrap();
    assert_eq!(next[0].seq, 3);
    assert_eq!(s.get(3).unwrap().unwrap().prev, hashes[1]);
    assert_eq!(s.device_seqs("9").unwrap(), [1, 3]);
    assert_eq!(
        &s.meta.get(META_SCHEMA).unwrap().unwrap()[..],
        &SCHEMA.to_be_bytes()
    );
}

#[tokio::test]
async fn the_writer_batches_records_that_arrive_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Use::Write).unwrap();
    let (writer, finished) = Writer::start(store).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let w = writer.clone();
            tokio::spawn(async move {
                w.commit(body(&format!("{i}"), "2026-11-23T10:00:00Z"))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=16).collect::<Vec<u64>>());
    let bad = Pending::new(b"not json".to_vec()).unwrap_err();
    assert!(matches!(bad, StoreError::BadRecord(_)), "{bad}");
    drop(writer);
    let stats = finished.wait();
    assert_eq!(stats.records, 16);
    assert!(stats.batches <= 16);
    let s = Store::open(dir.path(), Use::Read).unwrap();
    assert_eq!(s.head().map(|h| h.seq), Some(16));
}

#[test]
fn a_store_whose_last_record_does_not_match_its_head_is_not_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Store::open(dir.path(), Use::Write).unwrap();
        s.append(vec![
            body("1", "2026-11-23T10:00:00Z"),
            body("2", "2026-11-23T10:00:01Z"),
        ])
        .unwrap();
        // Someone removes the last record behind the store's back.
        s.reader.records.remove(seq_key(2)).unwrap();
        s.db.flush().unwrap();
    }
    let e = Store::open(dir.path(), Use::Write).unwrap_err();
    assert!(
        e.to_string()
            .contains("record 2 is missing at the end: the store's head names it"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("keep the directory unchanged as evidence"),
        "{e}"
    );
    // Reading it (to verify and export what is left) still works.
    assert!(Store::open(dir.path(), Use::Read).is_ok());
}
