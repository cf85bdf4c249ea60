//! A real PostgreSQL for the plant tests: Debian's package (`/usr/lib/postgresql/*/bin`), one
//! cluster per test in a temporary directory, listening only on a Unix socket in that
//! directory, trust authentication on the socket (a test has no passwords to keep; the README
//! tells a plant's DBA about scram and TLS). Run as the `postgres` system user when the tests
//! run as root (initdb refuses root). Dropping it stops the server (`pg_ctl stop -m immediate`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{benchctl, finish};

/// The database every test plant uses.
pub const DATABASE: &str = "plant";
/// The cluster's superuser, who owns the plant's schema.
pub const OWNER: &str = "postgres";

/// A PostgreSQL cluster of one test.
pub struct Postgres {
    bin: PathBuf,
    /// Holds `data/` (the cluster), `log` and the socket.
    dir: tempfile::TempDir,
    /// The system user the server runs as, when not ourselves.
    runas: Option<String>,
    running: bool,
    /// The server's port when it is not the default (a cluster that listens on TCP: see
    /// [`Postgres::with_tls`]); the socket's name carries it too.
    port: Option<u16>,
}

impl Postgres {
    /// A new cluster, started, with the empty database [`DATABASE`].
    pub fn new() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("benchline-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let runas = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("running as root, the tests need the `postgres` system user that Debian's postgresql package creates");
            std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap();
            Some("postgres".to_string())
        } else {
            None
        };
        let mut pg = Postgres {
            bin,
            dir,
            runas,
            running: false,
            port: None,
        };
        let data = pg.data();
        pg.server_tool(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                OWNER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let conf = format!(
            "\nlisten_addresses = ''\nunix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\nshared_buffers = 32MB\n",
            pg.socket_dir().display()
        );
        let mut text = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        text.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), text).unwrap();
        // Members of `password_login` (see `password_role`) must give their password; everyone
        // else is trusted on the socket.
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all +password_login scram-sha-256\n{hba}"),
        )
        .unwrap();
        pg.start();
        pg.psql_ok(OWNER, "postgres", &format!("CREATE DATABASE {DATABASE}"));
        pg
    }

    /// A new cluster whose database `benchctl plant migrate` has migrated.
    pub fn migrated() -> Postgres {
        let pg = Postgres::new();
        pg.migrate();
        pg
    }

    /// Starts the server (waits until it accepts connections: `pg_ctl -w`, which has its own
    /// timeout).
    pub fn start(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("log");
        self.server_tool(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = true;
    }

    /// Stops the server (fast shutdown: sessions are ended), waiting until it is down.
    pub fn stop(&mut self) {
        self.stop_with("fast");
    }

    fn stop_with(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let data = self.data();
        let out = self.tool_output(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
        );
        self.running = false;
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of [`DATABASE`] for a login role, over the socket.
    pub fn url(&self, user: &str) -> String {
        let mut url = format!(
            "postgresql:///{DATABASE}?host={}&user={user}",
            self.socket_dir().display()
        );
        if let Some(port) = self.port {
            url.push_str(&format!("&port={port}"));
        }
        url
    }

    /// The URL of the database's owner.
    pub fn owner_url(&self) -> String {
        self.url(OWNER)
    }

    /// The directory of the server's socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `benchctl plant migrate` as the owner; panics unless it succeeds.
    pub fn migrate(&self) {
        let out = finish({
            let mut c = benchctl();
            c.args(["plant", "migrate", "--plant", &self.owner_url()]);
            c
        });
        assert!(
            out.status.success(),
            "benchctl plant migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates login role `name` and lets it write `station` (`benchctl plant add-station`).
    pub fn station_role(&self, name: &str, station: &str) {
        self.psql_ok(OWNER, DATABASE, &format!("CREATE ROLE \"{name}\" LOGIN"));
        let out = finish({
            let mut c = benchctl();
            c.args([
                "plant",
                "add-station",
                station,
                "--role",
                name,
                "--plant",
                &self.owner_url(),
            ]);
            c
        });
        assert!(
            out.status.success(),
            "benchctl plant add-station: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates login role `name`, a member of `benchline_auditor`.
    pub fn auditor_role(&self, name: &str) {
        self.psql_ok(
            OWNER,
            DATABASE,
            &format!("CREATE ROLE \"{name}\" LOGIN IN ROLE benchline_auditor"),
        );
    }

    /// Creates login role `name` that must give `password` (scram-sha-256) to connect.
    pub fn password_role(&self, name: &str, password: &str) {
        self.psql_ok(
            OWNER,
            DATABASE,
            &format!(
                "DO $$ BEGIN CREATE ROLE password_login NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
                 SET password_encryption = 'scram-sha-256'; \
                 CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE password_login"
            ),
        );
    }

    /// Runs SQL through psql as `user` on database `db`; the output, whatever happened.
    pub fn psql(&self, user: &str, db: &str, sql: &str) -> Output {
        let mut c = Command::new(self.bin.join("psql"));
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args(["-U", user, "-d", db, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10");
        if let Some(port) = self.port {
            c.arg("-p").arg(port.to_string());
        }
        finish(c)
    }

    /// Runs SQL through psql; panics unless it succeeds; its standard output.
    pub fn psql_ok(&self, user: &str, db: &str, sql: &str) -> String {
        let out = self.psql(user, db, sql);
        assert!(
            out.status.success(),
            "psql as {user}: {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the server's tools (as the `postgres` user when we are root); panics
    /// unless it succeeds.
    fn server_tool(&self, tool: &str, args: &[&str]) {
        let out = self.tool_output(tool, args);
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn tool_output(&self, tool: &str, args: &[&str]) -> Output {
        let path = self.bin.join(tool);
        let mut c = match &self.runas {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        c.args(args).current_dir(self.dir.path());
        finish(c)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self.tool_output(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or(""),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
            );
            self.running = false;
        }
    }
}

/// The name the TLS cluster's certificate is for (and the only one).
pub const TLS_NAME: &str = "localhost";

/// A cluster that also listens on TCP with TLS (see [`Postgres::with_tls`]).
impl Postgres {
    /// A new cluster as [`Postgres::new`] makes it, that also listens on 127.0.0.1 on a free
    /// port with `ssl = on`: its certificate is for [`TLS_NAME`] only, signed by a CA the test
    /// made ([`Postgres::ca_file`]). On TCP only TLS is let in (`hostssl`: trust, scram for
    /// members of `password_login`); the socket stays as it is.
    pub fn with_tls() -> Postgres {
        let mut pg = Postgres::new();
        pg.stop();
        let data = pg.data();
        let (ca, cert, key) = certificates();
        std::fs::write(pg.ca_file(), ca).unwrap();
        pg.server_file(&data.join("server.crt"), &cert, 0o644);
        pg.server_file(&data.join("server.key"), &key, 0o600);
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str(
            "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nlisten_addresses = '127.0.0.1'\ninclude 'port.conf'\n",
        );
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        // TCP is TLS only: initdb's `host` lines go, `local` ones stay.
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
        let local: Vec<&str> = hba
            .lines()
            .filter(|l| !l.trim_start().starts_with("host"))
            .collect();
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "{}\nhostssl all +password_login 127.0.0.1/32 scram-sha-256\nhostssl all all 127.0.0.1/32 trust\n",
                local.join("\n")
            ),
        )
        .unwrap();
        // The free port is found by binding port 0 and letting it go; another process may
        // take it before the server does, so a start that finds it in use tries another.
        let mut tries = 0;
        loop {
            tries += 1;
            let port = free_port();
            pg.server_file(&data.join("port.conf"), &format!("port = {port}\n"), 0o644);
            pg.port = Some(port);
            match pg.try_start() {
                Ok(()) => return pg,
                Err(log) if tries < 3 && log.contains("already in use") => continue,
                Err(log) => panic!("pg_ctl start with TLS on port {port}: {log}"),
            }
        }
    }

    /// The PEM file of the CA that signed the server's certificate (for `sslrootcert`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The server's TCP port (a cluster made by [`Postgres::with_tls`]).
    pub fn tcp_port(&self) -> u16 {
        self.port
            .expect("only a cluster made by Postgres::with_tls listens on TCP")
    }

    /// The URL of [`DATABASE`] for `user` over TCP to `host` (its port is the server's), with
    /// `params` (`sslmode=...&sslrootcert=...`, or "").
    pub fn tcp_url(&self, host: &str, user: &str, params: &str) -> String {
        let mut url = format!("postgresql://{user}@{host}:{}/{DATABASE}", self.tcp_port());
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// Starts the server; on failure, what pg_ctl and the server's log said.
    fn try_start(&mut self) -> Result<(), String> {
        let data = self.data();
        let log = self.dir.path().join("log");
        let before = std::fs::read_to_string(&log).unwrap_or_default().len();
        let out = self.tool_output(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if out.status.success() {
            self.running = true;
            return Ok(());
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!(
            "{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            text.get(before..).unwrap_or(&text)
        ))
    }

    /// Writes a file the server reads, owned by the server's user, with `mode`.
    fn server_file(&self, path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        if let Some(name) = &self.runas {
            let user = nix::unistd::User::from_name(name).unwrap().unwrap();
            std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap();
        }
    }
}

/// A fresh CA and a server certificate for [`TLS_NAME`] signed by it: (CA certificate,
/// server certificate, server key), PEM.
fn certificates() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "Benchline test plant CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec![TLS_NAME.to_string()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, TLS_NAME);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    (ca_cert.pem(), server_cert.pem(), server_key.serialize_pem())
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Debian's PostgreSQL binaries: the newest `/usr/lib/postgresql/N/bin` with an initdb.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            Path::new(&bin.join("initdb"))
                .exists()
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("the plant tests need Debian's postgresql package (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql (scripts/test-all.sh does)")
}
