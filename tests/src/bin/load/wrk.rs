//! Running `wrk` and reading its figures.

use super::*;

pub(crate) fn check_wrk() -> Result<(), BoxError> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(
            "`wrk` is not installed or not on PATH: this measurement drives the servers with wrk \
             from a process of its own. Install it (`apt-get install wrk`, `brew install wrk`) \
             and run again."
                .into(),
        ),
        Err(error) => Err(format!("cannot run `wrk --version`: {error}").into()),
    }
}

/// What one wrk run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measured {
    pub(crate) requests: u64,
    pub(crate) duration: Duration,
    pub(crate) non_2xx: u64,
    pub(crate) socket_errors: u64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
}

impl Measured {
    pub(crate) fn per_second(&self) -> f64 {
        self.requests as f64 / self.duration.as_secs_f64()
    }

    pub(crate) fn signups(&self) -> u64 {
        self.requests.saturating_sub(self.non_2xx)
    }

    /// Reads the `AFFITOR_LOAD` line that the script's `done` prints.
    pub(crate) fn parse(output: &str) -> Option<Self> {
        let line = output
            .lines()
            .find_map(|line| line.strip_prefix("AFFITOR_LOAD "))?;
        let field = |name: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        let micros = |name: &str| field(name).map(Duration::from_micros);
        Some(Self {
            requests: field("requests")?,
            duration: micros("duration_us")?,
            non_2xx: field("non_2xx")?,
            socket_errors: field("connect")? + field("read")? + field("write")? + field("timeout")?,
            p50: micros("p50_us")?,
            p99: micros("p99_us")?,
            max: micros("max_us")?,
        })
    }
}

pub(crate) struct Wrk<'a> {
    pub(crate) options: &'a Options,
    pub(crate) script: &'a PathBuf,
}

impl Wrk<'_> {
    /// Runs wrk against `url` for `duration`, with the emails of this run tagged `tag`.
    pub(crate) fn run(
        &self,
        url: &str,
        click_id: &str,
        tag: &str,
        duration: Duration,
    ) -> Result<Measured, BoxError> {
        let mut command = Command::new("wrk");
        command
            .arg("--threads")
            .arg(self.options.threads.to_string())
            .arg("--connections")
            .arg(self.options.connections.to_string())
            .arg("--duration")
            .arg(format!("{}s", duration.as_secs().max(1)))
            .arg("--latency")
            .arg("--script")
            .arg(self.script);
        if self.options.click_id_in == ClickIdIn::Cookie {
            command
                .arg("--header")
                .arg(format!("Cookie: affitor_click_id={click_id}"));
        }
        let output = command
            .arg(format!("{url}/api/signup"))
            .arg("--")
            .arg(click_id)
            .arg(tag)
            .output()
            .map_err(|error| format!("cannot run wrk: {error}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("wrk failed ({}): {stdout}{stderr}", output.status).into());
        }
        Measured::parse(&stdout)
            .ok_or_else(|| format!("cannot read wrk's figures in its output:\n{stdout}").into())
    }
}
