//! A throwaway PostgreSQL cluster: `initdb` and `pg_ctl` (Debian's `postgresql` package) on a
//! temporary directory and a free loopback port.
//!
//! `initdb` refuses to run as root, so as root the cluster belongs to the package's `postgres`
//! user (`runuser`). A watchdog process stops the cluster (`pg_ctl stop -m immediate`) and
//! removes its directory once the process that started it is gone, however it ended, so a
//! killed test run leaves no server behind.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{TestbedError, free_port, run, scratch_dir};

/// The user that owns the cluster and its superuser role (trust authentication on loopback).
const ROLE: &str = "vidstream";

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    databases: AtomicU32,
}

impl Postgres {
    /// Starts a cluster of its own (initdb + pg_ctl start, about 2 s).
    pub fn start() -> Result<Postgres, TestbedError> {
        let bin = bin_dir()?;
        let dir = scratch_dir("postgres")?;
        let as_postgres = rustix::process::geteuid().is_root();
        if as_postgres {
            run(Command::new("chown").arg("-R").arg("postgres").arg(&dir))?;
        }
        let pg = Postgres {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
            databases: AtomicU32::new(0),
        };
        pg.watchdog()?;
        run(pg.command("initdb").arg("-D").arg(pg.data()).args([
            "-A",
            "trust",
            "-U",
            ROLE,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
        pg.pg_ctl_start()?;
        Ok(pg)
    }

    /// One cluster per process, started by the first caller and stopped by its watchdog when
    /// the process ends. Each user takes a database of its own ([`Postgres::create_database`]).
    pub fn shared() -> Result<&'static Postgres, TestbedError> {
        static SHARED: OnceLock<Result<Postgres, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Postgres::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TestbedError::Failed(e.clone()))
    }

    /// The loopback port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database of its own and returns its URL.
    pub async fn create_database(&self) -> Result<String, TestbedError> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .map_err(|e| TestbedError::Failed(format!("connecting to the test cluster: {e}")))?;
        let conn = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| TestbedError::Failed(format!("creating database {name}: {e}")))?;
        drop(client);
        let _ = conn.await;
        Ok(self.url(&name))
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&self) -> Result<(), TestbedError> {
        run(self.command("pg_ctl").arg("-D").arg(self.data()).args([
            "stop",
            "-m",
            "immediate",
            "-w",
        ]))
    }

    /// Starts the server again after [`Postgres::kill`], on the same port.
    pub fn restart(&self) -> Result<(), TestbedError> {
        self.pg_ctl_start()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl_start(&self) -> Result<(), TestbedError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port,
            self.dir.display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-o")
            .arg(options)
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "start"]))
    }

    /// A command of the cluster's binaries, run as its owner.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// A detached process that waits for this one to end, then stops the cluster and removes
    /// its directory.
    fn watchdog(&self) -> Result<(), TestbedError> {
        let stop = self.command("pg_ctl");
        let mut argv: Vec<String> = std::iter::once(stop.get_program())
            .chain(stop.get_args())
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect();
        argv.extend([
            "-D".to_owned(),
            shell_quote(&self.data().to_string_lossy()),
            "stop -m immediate".to_owned(),
        ]);
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            stop = argv.join(" "),
            dir = shell_quote(&self.dir.to_string_lossy()),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestbedError::Failed(format!("starting the cluster's watchdog: {e}")))?;
        Ok(())
    }
}

/// The directory of `initdb` and `pg_ctl`: `VIDSTREAM_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> Result<PathBuf, TestbedError> {
    if let Some(dir) = std::env::var_os("VIDSTREAM_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            let initdb = bin.join("initdb");
            initdb.try_exists().ok()?.then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        TestbedError::Missing(
            "PostgreSQL (no /usr/lib/postgresql/*/bin/initdb; `scripts/install-deps.sh` installs \
             Debian's postgresql package, or set VIDSTREAM_PG_BIN)"
                .into(),
        )
    })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cluster_starts_takes_databases_and_survives_a_crash() {
        let pg = Postgres::start().unwrap();
        let url = pg.create_database().await.unwrap();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (7)")
            .await
            .unwrap();
        pg.kill().unwrap();
        assert!(client.query_one("SELECT x FROM t", &[]).await.is_err());
        pg.restart().unwrap();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let x: i32 = client
            .query_one("SELECT x FROM t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(x, 7, "a committed row survives an immediate stop");
    }
}
