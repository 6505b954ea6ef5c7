//! The command line: which fault, on which framework's signup app.

use affitor_scenarios::signup::Framework;

use super::BoxError;

pub(crate) const USAGE: &str = "usage: faults --fault full-disk|silent-postgres|pooler \
     --framework axum|actix [--pool-mode transaction|session] [--clients N]";

/// The fault injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// The SQLite outbox's disk fills for 8 s.
    FullDisk,
    /// Postgres goes silent for 15 s, then its connections are reset.
    SilentPostgres,
    /// The outbox goes through PgBouncer, restarted mid-load.
    Pooler,
}

/// PgBouncer's `pool_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolMode {
    Transaction,
    Session,
}

impl PoolMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::Session => "session",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    pub(crate) fault: FaultKind,
    pub(crate) framework: Framework,
    pub(crate) pool_mode: PoolMode,
    pub(crate) clients: usize,
}

impl Options {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let (mut fault, mut framework) = (None, None);
        let mut pool_mode = PoolMode::Transaction;
        let mut clients = 8;
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
            match flag.as_str() {
                "--fault" => {
                    fault = Some(match value?.as_str() {
                        "full-disk" => FaultKind::FullDisk,
                        "silent-postgres" => FaultKind::SilentPostgres,
                        "pooler" => FaultKind::Pooler,
                        other => return Err(unknown("fault", other)),
                    })
                }
                "--framework" => {
                    let value = value?;
                    framework =
                        Some(Framework::parse(&value).ok_or_else(|| unknown("framework", &value))?);
                }
                "--pool-mode" => {
                    pool_mode = match value?.as_str() {
                        "transaction" => PoolMode::Transaction,
                        "session" => PoolMode::Session,
                        other => return Err(unknown("pool mode", other)),
                    }
                }
                "--clients" => {
                    let value = value?;
                    clients = value
                        .parse()
                        .ok()
                        .filter(|&clients| clients > 0)
                        .ok_or_else(|| {
                            format!("--clients takes a count of 1 or more, not `{value}`\n{USAGE}")
                        })?;
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(unknown("option", other)),
            }
        }
        let (Some(fault), Some(framework)) = (fault, framework) else {
            return Err(format!("--fault and --framework are both needed\n{USAGE}").into());
        };
        Ok(Self {
            fault,
            framework,
            pool_mode,
            clients,
        })
    }
}

fn unknown(what: &str, name: &str) -> BoxError {
    format!("unknown {what} `{name}`\n{USAGE}").into()
}
