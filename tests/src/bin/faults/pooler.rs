//! A PgBouncer of this tool's own in front of Postgres, configured as `.ci/pgbouncer` configures
//! the CI's, on a port of its own (so that restarting it cuts no one else's connections).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::fault::run_command;
use crate::options::PoolMode;

/// The PgBouncer running.
#[derive(Debug)]
pub(crate) struct PgBouncer {
    dir: PathBuf,
    addr: SocketAddr,
}

impl PgBouncer {
    /// Writes its configuration in a directory of its own and starts it, in front of `server`.
    pub(crate) fn start(server: SocketAddr, mode: PoolMode) -> Result<Self, BoxError> {
        let dir =
            std::env::temp_dir().join(format!("affitor-faults-pgbouncer-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        std::fs::write(dir.join("userlist.txt"), "\"affitor\" \"affitor\"\n")?;
        let dir_name = dir.display();
        let config = format!(
            "[databases]\n* = host={} port={}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
             listen_port = {}\nunix_socket_dir =\npool_mode = {}\nauth_type = scram-sha-256\n\
             auth_file = {dir_name}/userlist.txt\nauth_user = affitor\n\
             auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename = $1\n\
             max_client_conn = 500\ndefault_pool_size = 20\npidfile = {dir_name}/pgbouncer.pid\n\
             logfile = {dir_name}/pgbouncer.log\n",
            server.ip(),
            server.port(),
            addr.port(),
            mode.name(),
        );
        std::fs::write(dir.join("pgbouncer.ini"), config)?;
        let bouncer = Self { dir, addr };
        bouncer.launch()?;
        Ok(bouncer)
    }

    /// Where to connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it (SIGTERM: every client connection closed at once) and starts it again; returns
    /// when it answers.
    pub(crate) fn restart(&mut self) -> Result<Instant, BoxError> {
        self.terminate()?;
        self.launch()?;
        Ok(Instant::now())
    }

    /// Stops it for good, and removes its directory.
    pub(crate) fn stop(self) {
        if let Err(error) = self.terminate() {
            eprintln!(
                "faults: cannot stop PgBouncer: {error} (its files: {})",
                self.dir.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn launch(&self) -> Result<(), BoxError> {
        let pgbouncer = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .ok_or("pgbouncer is not installed (apt-get install pgbouncer)")?;
        let ini = self.dir.join("pgbouncer.ini");
        // PgBouncer refuses to run as root: as root, it runs as postgres, which owns its files.
        let is_root = Command::new("id")
            .arg("-u")
            .output()?
            .stdout
            .starts_with(b"0\n");
        if is_root {
            run_command(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&self.dir),
            )?;
            run_command(
                Command::new("runuser")
                    .args(["-u", "postgres", "--", pgbouncer, "-d"])
                    .arg(&ini),
            )?;
        } else {
            run_command(Command::new(pgbouncer).arg("-d").arg(&ini))?;
        }
        self.wait_until(true).map_err(|_| {
            format!(
                "PgBouncer did not start: see {}/pgbouncer.log",
                self.dir.display()
            )
            .into()
        })
    }

    fn terminate(&self) -> Result<(), BoxError> {
        let pid = std::fs::read_to_string(self.dir.join("pgbouncer.pid"))?;
        run_command(Command::new("kill").args(["-TERM", pid.trim()]))?;
        self.wait_until(false)
            .map_err(|_| "PgBouncer did not stop within 5 s")?;
        // It removes its pidfile last; a PgBouncer started before then refuses to run.
        let pidfile = self.dir.join("pgbouncer.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pidfile.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Waits up to 5 s until it answers (`up`) or not.
    fn wait_until(&self, up: bool) -> Result<(), ()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let answers =
                TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok();
            if answers == up {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(())
    }
}
