//! A throwaway PostgreSQL for benchmarks, started as the e2e tests' harness starts one: Debian's
//! server binaries (`/usr/lib/postgresql/*/bin`), a cluster in a temporary directory listening
//! only on a Unix socket there (`listen_addresses=''`), run as the `postgres` system user when
//! this runs as root (initdb refuses root), stopped at once when dropped. Holds a database
//! `plant`, migrated, with login roles for stations.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// A running cluster.
pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The user the server runs as, when this process is root.
    user: Option<nix::unistd::User>,
}

impl Pg {
    /// Creates and starts a cluster (durable: `fsync` on).
    pub fn start() -> anyhow::Result<Pg> {
        Pg::start_with("fsync = on\n")
    }

    /// Creates and starts a cluster with `settings` (postgresql.conf lines) added.
    pub fn start_with(settings: &str) -> anyhow::Result<Pg> {
        let bin = server_bin().context(
            "PostgreSQL's server is not installed: `apt-get install postgresql` (Debian's package)",
        )?;
        let dir = tempfile::Builder::new().prefix("plant-pg").tempdir()?;
        let user = if nix::unistd::geteuid().is_root() {
            let u = nix::unistd::User::from_name("postgres")?
                .context("no `postgres` user: install Debian's postgresql package")?;
            nix::unistd::chown(dir.path(), Some(u.uid), Some(u.gid))?;
            Some(u)
        } else {
            None
        };
        let pg = Pg { dir, bin, user };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        std::fs::write(
            pg.data().join("postgresql.auto.conf"),
            format!(
                "listen_addresses = ''\nunix_socket_directories = '{}'\nmax_connections = 200\n{settings}",
                pg.socket().display()
            ),
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The socket directory.
    pub fn socket(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `db` as `user` (trust authentication on the socket).
    pub fn url(&self, db: &str, user: &str) -> String {
        format!(
            "postgresql:///{db}?host={}&user={user}",
            self.socket().display()
        )
    }

    /// Stops the server at once (as a crash would).
    pub fn stop(&self) -> anyhow::Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Runs SQL as the superuser in database `db`.
    pub async fn sql(&self, db: &str, sql: &str) -> anyhow::Result<()> {
        let (client, conn) =
            tokio_postgres::connect(&self.url(db, "postgres"), tokio_postgres::NoTls)
                .await
                .context("connecting as the superuser")?;
        let driver = tokio::spawn(conn);
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("running {sql}"))?;
        drop(client);
        let _ = driver.await;
        Ok(())
    }

    /// Creates and migrates database `plant` and a login role for each station, mapped to it;
    /// returns the URL each station uses.
    pub async fn plant(&self, stations: &[&str]) -> anyhow::Result<Vec<String>> {
        self.sql("postgres", "CREATE DATABASE plant").await?;
        let owner = self.url("plant", "postgres");
        benchctl::plant::admin::migrate(&owner).await?;
        let mut urls = Vec::new();
        for s in stations {
            let role = s.replace('-', "_");
            self.sql("plant", &format!("CREATE ROLE \"{role}\" LOGIN"))
                .await?;
            benchctl::plant::admin::add_station(&owner, s, &role).await?;
            urls.push(self.url("plant", &role));
        }
        Ok(urls)
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", &u.name, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The newest installed server's `bin` directory.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}
