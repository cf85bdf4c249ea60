//! The plant database's schema, as SQL migrations: versioned in `benchline.migrations`, each
//! applied once, in order, in one transaction with the others (`benchctl plant migrate`, as
//! the database owner; running it again changes nothing).
//!
//! Version 1:
//! - `stations` (one row per station: the plant's head, the station's last heartbeat, a
//!   refusal), `records` (station, seq, hash, prev, body as stored locally; `imei` and
//!   `finished` taken from the body by the trigger), `forks`, `station_roles` (which login
//!   role writes which station).
//! - A BEFORE INSERT trigger on `records`, run as the owner (SECURITY DEFINER; no station role
//!   may execute it or [`benchline.arrive`]): the login may write that station; the hash is
//!   SHA-256(prev ‖ seq as 8 bytes big endian ‖ body) (else SQLSTATE BL001); the body is JSON
//!   (else BL003) and names no other station (else BL005); then, with the station's row locked ([`benchline.arrive`]): a seq already
//!   held with the same hash is skipped (re-push), one past the head + 1 is a gap (BL002), and
//!   one that contradicts the plant (same seq, other hash; a prev that is not the plant's hash
//!   of seq - 1) is a fork: recorded in `forks`, the station refused (naming both heads), the
//!   row skipped, as is every later row of a refused station.
//! - Append-only: no UPDATE/DELETE/TRUNCATE grants, and triggers that raise (BL004) for every
//!   role, the owner included, on `records`, `forks` and `migrations` (the owner can still
//!   disable them, as owners can; the README says to keep that role for migrations).
//! - Group roles `benchline_station` and `benchline_auditor` (NOLOGIN); row-level security on
//!   `records`: a station role inserts and reads only its station's rows, an auditor reads all.
//! - `heartbeat(station, seq, hash)`, `station_state(station)`, `plant_identity()` and the view
//!   `lag(station, backlog, lag_seconds, refused)`.

/// The schema this benchctl needs.
pub const SCHEMA_VERSION: i32 = 1;

/// The migrations: (version, SQL), in order.
pub const MIGRATIONS: &[(i32, &str)] = &[(1, V1)];

/// Makes the schema and the version table (before any migration runs).
pub const BOOTSTRAP: &str = "
CREATE SCHEMA IF NOT EXISTS benchline;
CREATE TABLE IF NOT EXISTS benchline.migrations (
    version int PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
";

const V1: &str = r#"
DO $roles$
BEGIN
    BEGIN
        CREATE ROLE benchline_station NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE benchline_auditor NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$roles$;

REVOKE ALL ON SCHEMA benchline FROM PUBLIC;
GRANT USAGE ON SCHEMA benchline TO benchline_station, benchline_auditor;

CREATE TABLE benchline.stations (
    id text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now(),
    head_seq bigint NOT NULL DEFAULT 0,
    head_hash bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
    pushed_at timestamptz,
    local_head_seq bigint,
    local_head_hash bytea,
    local_seen_at timestamptz,
    refused_at timestamptz,
    refusal text
);

CREATE TABLE benchline.records (
    station text NOT NULL REFERENCES benchline.stations (id),
    seq bigint NOT NULL CHECK (seq >= 1),
    hash bytea NOT NULL CHECK (length(hash) = 32),
    prev bytea NOT NULL CHECK (length(prev) = 32),
    body bytea NOT NULL,
    imei text,
    finished timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, seq)
);
CREATE INDEX records_imei ON benchline.records (imei);
CREATE INDEX records_finished ON benchline.records (finished);

CREATE TABLE benchline.forks (
    station text NOT NULL REFERENCES benchline.stations (id),
    seq bigint NOT NULL,
    plant_hash bytea,
    station_hash bytea NOT NULL,
    station_prev bytea NOT NULL,
    plant_head_seq bigint NOT NULL,
    plant_head_hash bytea NOT NULL,
    found_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE benchline.station_roles (
    role name PRIMARY KEY,
    station text NOT NULL REFERENCES benchline.stations (id)
);

-- May role `r` write records of station `st`? A member of benchline_station only its own
-- station (station_roles); others (the owner) when they hold the INSERT grant (an auditor
-- does not).
CREATE FUNCTION benchline.may_write(r name, st text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM benchline.station_roles m WHERE m.role = r AND m.station = st)
        OR coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = r), false)
        OR (NOT pg_has_role(r, 'benchline_station', 'MEMBER')
            AND has_table_privilege(r, 'benchline.records', 'INSERT'))
$$;

-- Flags a fork: the station is refused, naming the plant's head and the station's record.
CREATE FUNCTION benchline.flag_fork(st benchline.stations, n bigint, held bytea, sent bytea, sent_prev bytea)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO benchline.forks (station, seq, plant_hash, station_hash, station_prev, plant_head_seq, plant_head_hash)
    VALUES (st.id, n, held, sent, sent_prev, st.head_seq, st.head_hash);
    UPDATE benchline.stations SET refused_at = now(),
        refusal = format('forked at record %s: the plant holds head %s %s, the station sent record %s %s (prev %s), a different history',
            n, st.head_seq, encode(st.head_hash, 'hex'), n, encode(sent, 'hex'), encode(sent_prev, 'hex'))
    WHERE id = st.id;
END
$$;

-- Places a record (already checked against its body) in its station's chain, with the
-- station's row locked: 'append' (the next record: the head moves), 'held' (already there,
-- same hash), 'fork' (contradicts the plant: flagged), 'refused' (the station is refused).
CREATE FUNCTION benchline.arrive(st_id text, n bigint, sent_prev bytea, sent bytea)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st benchline.stations;
    held bytea;
BEGIN
    IF pg_trigger_depth() < 1 THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'benchline.arrive is called only by the records trigger';
    END IF;
    IF NOT benchline.may_write(session_user, st_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('login role %s may not write records of station %s', session_user, st_id),
            HINT = 'a station role writes only its own station (benchline.station_roles)';
    END IF;
    INSERT INTO benchline.stations (id) VALUES (st_id) ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM benchline.stations WHERE id = st_id FOR UPDATE;
    IF st.refused_at IS NOT NULL THEN
        RETURN 'refused';
    END IF;
    IF n <= st.head_seq THEN
        SELECT r.hash INTO held FROM benchline.records r WHERE r.station = st_id AND r.seq = n;
        IF held = sent THEN
            RETURN 'held';
        END IF;
        PERFORM benchline.flag_fork(st, n, held, sent, sent_prev);
        RETURN 'fork';
    END IF;
    IF n > st.head_seq + 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'BL002', DETAIL = n::text,
            MESSAGE = format('record %s of station %s comes after a gap: the plant holds records up to %s', n, st_id, st.head_seq),
            HINT = 'push the records in order from the plant''s head + 1';
    END IF;
    IF sent_prev <> st.head_hash THEN
        PERFORM benchline.flag_fork(st, n, NULL, sent, sent_prev);
        RETURN 'fork';
    END IF;
    UPDATE benchline.stations SET head_seq = n, head_hash = sent, pushed_at = now() WHERE id = st_id;
    RETURN 'append';
END
$$;

-- Runs as the owner (SECURITY DEFINER), so that only it calls benchline.arrive: no station
-- role may execute either function, and the writer is judged by its login (session_user).
CREATE FUNCTION benchline.record_arrives() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc jsonb;
    verdict text;
BEGIN
    IF NOT benchline.may_write(session_user, NEW.station) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('role %s may not write records of station %s', session_user, NEW.station),
            HINT = 'a station role writes only its own station (benchline.station_roles)';
    END IF;
    IF NEW.hash IS DISTINCT FROM sha256(NEW.prev || int8send(NEW.seq) || NEW.body) THEN
        RAISE EXCEPTION USING ERRCODE = 'BL001', DETAIL = NEW.seq::text,
            MESSAGE = format('record %s of station %s: its hash does not match its body', NEW.seq, NEW.station),
            HINT = 'the hash is SHA-256 of prev, seq (8 bytes big endian) and the body';
    END IF;
    BEGIN
        doc := convert_from(NEW.body, 'UTF8')::jsonb;
        NEW.imei := doc #>> '{phone,imei}';
        NEW.finished := nullif(doc ->> 'finished', '')::timestamptz;
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = 'BL003', DETAIL = NEW.seq::text,
            MESSAGE = format('record %s of station %s: its body is not a record''s JSON (%s)', NEW.seq, NEW.station, SQLERRM);
    END;
    -- A record names its station (records of schema 1 do not): it must be the row's.
    IF doc ? 'station' AND doc ->> 'station' IS DISTINCT FROM NEW.station THEN
        RAISE EXCEPTION USING ERRCODE = 'BL005', DETAIL = NEW.seq::text,
            MESSAGE = format('record %s of station %s names station %s', NEW.seq, NEW.station, doc ->> 'station'),
            HINT = 'a station pushes only the records of its own data directory, under the id they carry';
    END IF;
    verdict := benchline.arrive(NEW.station, NEW.seq, NEW.prev, NEW.hash);
    IF verdict <> 'append' THEN
        RETURN NULL;
    END IF;
    NEW.received_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER records_arrive BEFORE INSERT ON benchline.records
    FOR EACH ROW EXECUTE FUNCTION benchline.record_arrives();

CREATE FUNCTION benchline.append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'BL004',
        MESSAGE = format('%s on %s.%s refused: the plant''s records are append-only, for everyone', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME),
        HINT = 'a wrong record is answered by a new record, never by changing an old one';
END
$$;

-- Statement triggers: they fire even when no row matches, so an attempt always fails.
CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON benchline.records
    FOR EACH STATEMENT EXECUTE FUNCTION benchline.append_only();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON benchline.records
    FOR EACH STATEMENT EXECUTE FUNCTION benchline.append_only();
CREATE TRIGGER forks_append_only BEFORE UPDATE OR DELETE ON benchline.forks
    FOR EACH STATEMENT EXECUTE FUNCTION benchline.append_only();
CREATE TRIGGER forks_no_truncate BEFORE TRUNCATE ON benchline.forks
    FOR EACH STATEMENT EXECUTE FUNCTION benchline.append_only();
CREATE TRIGGER migrations_append_only BEFORE UPDATE OR DELETE ON benchline.migrations
    FOR EACH STATEMENT EXECUTE FUNCTION benchline.append_only();
CREATE TRIGGER migrations_no_truncate BEFORE TRUNCATE ON benchline.migrations
    FOR EACH STATEMENT EXECUTE FUNCTION benchline.append_only();

-- What a station holds, as it says (its login role may only beat for its own station).
CREATE FUNCTION benchline.heartbeat(st_id text, local_seq bigint, local_hash bytea)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT benchline.may_write(session_user, st_id) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('login role %s may not beat for station %s', session_user, st_id),
            HINT = 'a station role beats only for its own station (benchline.station_roles)';
    END IF;
    INSERT INTO benchline.stations (id) VALUES (st_id) ON CONFLICT DO NOTHING;
    UPDATE benchline.stations SET local_head_seq = local_seq, local_head_hash = local_hash,
        local_seen_at = now() WHERE id = st_id;
END
$$;

-- The plant's view of one station (no row: never heard of), with its latest fork.
CREATE FUNCTION benchline.station_state(st_id text)
RETURNS TABLE (head_seq bigint, head_hash bytea, pushed_at timestamptz, local_head_seq bigint,
    local_head_hash bytea, local_seen_at timestamptz, refused_at timestamptz, refusal text,
    fork_seq bigint, fork_station_hash bytea, fork_plant_head_seq bigint, fork_plant_head_hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.head_seq, s.head_hash, s.pushed_at, s.local_head_seq, s.local_head_hash,
        s.local_seen_at, s.refused_at, s.refusal, f.seq, f.station_hash, f.plant_head_seq,
        f.plant_head_hash
    FROM benchline.stations s
    LEFT JOIN LATERAL (SELECT * FROM benchline.forks k WHERE k.station = s.id
        ORDER BY k.found_at DESC, k.seq DESC LIMIT 1) f ON true
    WHERE s.id = st_id
$$;

CREATE FUNCTION benchline.plant_identity() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT system_identifier::text || '/' || current_database() FROM pg_control_system()
$$;

-- The number to alert on: records a station holds that the plant does not, and for how long
-- the plant has not heard from a station that has some.
CREATE VIEW benchline.lag AS
    SELECT s.id AS station,
        coalesce(s.local_head_seq, s.head_seq) - s.head_seq AS backlog,
        CASE WHEN coalesce(s.local_head_seq, 0) > s.head_seq
            THEN extract(epoch FROM now() - coalesce(s.pushed_at, s.first_seen))::double precision
            ELSE 0::double precision END AS lag_seconds,
        s.refused_at IS NOT NULL AS refused
    FROM benchline.stations s;

ALTER TABLE benchline.records ENABLE ROW LEVEL SECURITY;
CREATE POLICY station_inserts_own ON benchline.records FOR INSERT TO benchline_station
    WITH CHECK (station = (SELECT m.station FROM benchline.station_roles m WHERE m.role = current_user));
CREATE POLICY station_reads_own ON benchline.records FOR SELECT TO benchline_station
    USING (station = (SELECT m.station FROM benchline.station_roles m WHERE m.role = current_user));
CREATE POLICY auditor_reads_all ON benchline.records FOR SELECT TO benchline_auditor
    USING (true);

REVOKE ALL ON ALL TABLES IN SCHEMA benchline FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA benchline FROM PUBLIC;
GRANT SELECT ON benchline.migrations, benchline.stations, benchline.lag
    TO benchline_station, benchline_auditor;
GRANT SELECT, INSERT ON benchline.records TO benchline_station;
GRANT SELECT ON benchline.station_roles TO benchline_station, benchline_auditor;
GRANT SELECT ON benchline.records, benchline.forks TO benchline_auditor;
GRANT EXECUTE ON FUNCTION benchline.may_write(name, text), benchline.station_state(text),
    benchline.plant_identity()
    TO benchline_station, benchline_auditor;
GRANT EXECUTE ON FUNCTION benchline.heartbeat(text, bigint, bytea) TO benchline_station;
"#;
