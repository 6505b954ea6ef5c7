//! The load measurement of the signup examples: `POST /api/signup` under `wrk`, with Affitor
//! tracking on (the example app itself) against tracking off (the same app minus Affitor).
//!
//! ```sh
//! cargo run --release -p affitor-scenarios --bin load
//! ```
//!
//! For each framework (axum, actix-web) and each stand-in mode (the local Affitor API stand-in
//! answers at once, or after 200 ms), it runs `wrk` in a process of its own against a fresh
//! server on 127.0.0.1, alternating the variants OFF, ON, ON, OFF (so that a machine getting
//! busier or quieter weighs on both alike), and prints the median requests per second and p99
//! latency of each variant, their ratio, and what became of the leads of the ON runs.
//!
//! - Tracking ON: `axum_signup::app` / `actix_signup::serve`, with a client pointed at the
//!   stand-in: the Affitor layer or middleware finds the click id in the JSON body, and the
//!   handler queues a lead with `send_in_background` after creating the user.
//! - Tracking OFF: the baselines below, the same signup handler minus Affitor: the same
//!   [`Users`] store, the same JSON in and out, the same body limits, no layer or middleware and
//!   no lead.
//!
//! Every run gets a fresh stand-in, server and user store; the stand-in runs in this process on
//! a runtime thread of its own, and serves the OFF runs too (idle), so both variants share the
//! machine with the same threads. `wrk` must be installed (`apt-get install wrk`). Options:
//! `--duration SECS` (default 10), `--warmup SECS` (2), `--connections N` (64), `--threads N`
//! (2), `--pairs N` (2: OFF ON ON OFF), `--framework axum|actix` and `--stand-in prompt|slow`
//! (default: both), `--click-id-in body|cookie` (body).

use std::error::Error;
use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, Either, HttpResponse, HttpServer, web};
use affitor_tower::mock::{Fault, MockServer};
use affitor_tower::{Client, DeliveryStats};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_signup::JsonOrForm;
use example_support::{AppConfig, SignupForm, SignupResponse, Users};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The wrk script: a unique email per request, the click id in the body or a cookie, and one
/// line of figures at the end.
const SCRIPT: &str = include_str!("../../load/signup.lua");

/// How late the slow stand-in answers.
const SLOW_ANSWER: Duration = Duration::from_millis(200);

type BoxError = Box<dyn Error + Send + Sync>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), BoxError> {
    let options = Options::parse(std::env::args().skip(1))?;
    check_wrk()?;
    let script = std::env::temp_dir().join(format!("affitor-load-{}.lua", std::process::id()));
    std::fs::write(&script, SCRIPT).map_err(|error| {
        format!(
            "cannot write the wrk script to {}: {error}",
            script.display()
        )
    })?;
    let bench = Bench::new(options, script.clone())?;
    let result = bench.run_all();
    let _ = std::fs::remove_file(&script);
    let cases = result?;
    println!();
    print_table(&bench.options, &cases);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The variants.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framework {
    Axum,
    Actix,
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Axum => "axum-signup",
            Self::Actix => "actix-signup",
        })
    }
}

/// How the Affitor API stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StandIn {
    /// At once.
    Prompt,
    /// After [`SLOW_ANSWER`].
    Slow,
}

impl fmt::Display for StandIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prompt => f.write_str("at once"),
            Self::Slow => write!(f, "after {} ms", SLOW_ANSWER.as_millis()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tracking {
    Off,
    On,
}

impl fmt::Display for Tracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "OFF",
            Self::On => "ON",
        })
    }
}

/// Where the requests carry the click id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClickIdIn {
    /// The `affitorClickId` field of the JSON body, which the layer reads (the longer path).
    Body,
    /// The `affitor_click_id` cookie too, which the layer finds before the body.
    Cookie,
}

// ---------------------------------------------------------------------------------------------
// The options.

#[derive(Debug)]
struct Options {
    duration: Duration,
    warmup: Duration,
    connections: u32,
    threads: u32,
    pairs: usize,
    frameworks: Vec<Framework>,
    stand_ins: Vec<StandIn>,
    click_id_in: ClickIdIn,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let mut options = Self {
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            connections: 64,
            threads: 2,
            pairs: 2,
            frameworks: Vec::new(),
            stand_ins: Vec::new(),
            click_id_in: ClickIdIn::Body,
        };
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match flag.as_str() {
                "--duration" => options.duration = Duration::from_secs(number(&flag, value()?)?),
                "--warmup" => options.warmup = Duration::from_secs(number(&flag, value()?)?),
                "--connections" => options.connections = number(&flag, value()?)?,
                "--threads" => options.threads = number(&flag, value()?)?,
                "--pairs" => options.pairs = number(&flag, value()?)?,
                "--framework" => options.frameworks.push(match value()?.as_str() {
                    "axum" => Framework::Axum,
                    "actix" => Framework::Actix,
                    other => return Err(format!("unknown framework `{other}`\n{USAGE}").into()),
                }),
                "--stand-in" => options.stand_ins.push(match value()?.as_str() {
                    "prompt" => StandIn::Prompt,
                    "slow" => StandIn::Slow,
                    other => return Err(format!("unknown stand-in `{other}`\n{USAGE}").into()),
                }),
                "--click-id-in" => {
                    options.click_id_in = match value()?.as_str() {
                        "body" => ClickIdIn::Body,
                        "cookie" => ClickIdIn::Cookie,
                        other => {
                            return Err(format!("unknown click id place `{other}`\n{USAGE}").into());
                        }
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option `{other}`\n{USAGE}").into()),
            }
        }
        if options.frameworks.is_empty() {
            options.frameworks = vec![Framework::Axum, Framework::Actix];
        }
        if options.stand_ins.is_empty() {
            options.stand_ins = vec![StandIn::Prompt, StandIn::Slow];
        }
        if options.pairs == 0 || options.connections == 0 || options.threads == 0 {
            return Err(format!(
                "--pairs, --connections and --threads must be at least 1\n{USAGE}"
            )
            .into());
        }
        if options.duration.is_zero() {
            return Err(format!("--duration must be at least 1 second\n{USAGE}").into());
        }
        Ok(options)
    }
}

const USAGE: &str = "usage: load [--duration SECS] [--warmup SECS] [--connections N] [--threads N] \
     [--pairs N] [--framework axum|actix]... [--stand-in prompt|slow]... [--click-id-in body|cookie]";

fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, BoxError> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a whole number, not `{value}`\n{USAGE}").into())
}

// ---------------------------------------------------------------------------------------------
// wrk.

fn check_wrk() -> Result<(), BoxError> {
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
struct Measured {
    requests: u64,
    duration: Duration,
    non_2xx: u64,
    socket_errors: u64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.duration.as_secs_f64()
    }

    fn signups(&self) -> u64 {
        self.requests.saturating_sub(self.non_2xx)
    }

    /// Reads the `AFFITOR_LOAD` line that the script's `done` prints.
    fn parse(output: &str) -> Option<Self> {
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

struct Wrk<'a> {
    options: &'a Options,
    script: &'a PathBuf,
}

impl Wrk<'_> {
    /// Runs wrk against `url` for `duration`, with the emails of this run tagged `tag`.
    fn run(
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

// ---------------------------------------------------------------------------------------------
// The servers under test.

/// A server under test, running on the app runtime (and, for actix-web, its worker threads).
enum Server {
    Axum(JoinHandle<io::Result<()>>),
    Actix(ServerHandle, JoinHandle<io::Result<()>>),
}

impl Server {
    /// Starts `framework`'s signup app on `listener`. Call it inside the app runtime: the
    /// servers, and the Affitor client's delivery worker, run there.
    fn start(
        framework: Framework,
        tracking: Tracking,
        listener: TcpListener,
        config: AppConfig,
    ) -> io::Result<Self> {
        match framework {
            Framework::Axum => {
                let router = match tracking {
                    Tracking::On => axum_signup::app(config),
                    Tracking::Off => axum_baseline(),
                };
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Ok(Self::Axum(tokio::spawn(
                    axum::serve(listener, router).into_future(),
                )))
            }
            Framework::Actix => {
                let server = match tracking {
                    Tracking::On => actix_signup::serve(listener, config)?,
                    Tracking::Off => actix_baseline(listener)?,
                };
                let handle = server.handle();
                Ok(Self::Actix(handle, tokio::spawn(server)))
            }
        }
    }

    async fn stop(self) {
        match self {
            Self::Axum(task) => {
                task.abort();
                let _ = task.await;
            }
            Self::Actix(handle, task) => {
                handle.stop(false).await;
                let _ = task.await;
            }
        }
    }
}

/// The axum baseline: `axum_signup::app` minus Affitor (no layer, no lead).
fn axum_baseline() -> axum::Router {
    axum::Router::new()
        .route("/api/signup", post(axum_signup_without_affitor))
        .with_state(Users::default())
}

async fn axum_signup_without_affitor(
    State(users): State<Users>,
    JsonOrForm(form): JsonOrForm<SignupForm>,
) -> Response {
    match users.create(&form, None) {
        Ok(user) => Json(SignupResponse { user_id: user.id }).into_response(),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(error.body())).into_response()
        }
    }
}

/// The actix-web baseline: `actix_signup::serve` minus Affitor (no middleware, no lead), with
/// the same body limits, worker count and shutdown timeout.
fn actix_baseline(listener: TcpListener) -> io::Result<actix_web::dev::Server> {
    let users = Users::default();
    let server = HttpServer::new(move || {
        App::new()
            .configure(actix_signup::body_limits)
            .app_data(web::Data::new(users.clone()))
            .route("/api/signup", web::post().to(actix_signup_without_affitor))
    })
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn actix_signup_without_affitor(
    users: web::Data<Users>,
    form: Either<web::Json<SignupForm>, web::Form<SignupForm>>,
) -> HttpResponse {
    let form = match form {
        Either::Left(web::Json(form)) | Either::Right(web::Form(form)) => form,
    };
    match users.create(&form, None) {
        Ok(user) => HttpResponse::Ok().json(SignupResponse { user_id: user.id }),
        Err(error) => {
            let status = actix_web::http::StatusCode::from_u16(error.status())
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
            HttpResponse::build(status).json(error.body())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The measurement.

/// One measured run.
#[derive(Debug)]
struct Run {
    tracking: Tracking,
    measured: Measured,
    /// Successful signups of the warm-up and the measured run.
    signups: u64,
    /// The Affitor client's counters the moment wrk finished (ON runs only).
    stats: Option<DeliveryStats>,
    /// Leads the stand-in recorded by then.
    leads_received: usize,
    /// Leads delivered during the measured run (ON runs only): the divisor of the CPU per
    /// delivered lead.
    delivered_measured: Option<u64>,
    /// Where the CPU time of the measured run went, when `/proc` tells.
    cpu: Option<CpuUse>,
}

/// The runs of one framework and stand-in mode.
#[derive(Debug)]
struct Case {
    framework: Framework,
    stand_in: StandIn,
    runs: Vec<Run>,
}

struct Bench {
    options: Options,
    script: PathBuf,
    /// Runs the servers under test (axum's tasks; actix-web's server future, on top of its own
    /// worker threads) and the Affitor client's delivery worker.
    app: Runtime,
    /// Runs the stand-in API, on one thread of its own.
    stand_in: Runtime,
    /// The unit of the CPU times in `/proc`.
    clock_ticks_per_second: f64,
}

impl Bench {
    fn new(options: Options, script: PathBuf) -> Result<Self, BoxError> {
        let app = tokio::runtime::Builder::new_multi_thread()
            .thread_name("app")
            .enable_all()
            .build()?;
        let stand_in = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stand-in")
            .enable_all()
            .build()?;
        Ok(Self {
            options,
            script,
            app,
            stand_in,
            clock_ticks_per_second: clock_ticks_per_second(),
        })
    }

    fn run_all(&self) -> Result<Vec<Case>, BoxError> {
        let mut cases = Vec::new();
        for &framework in &self.options.frameworks {
            for &stand_in in &self.options.stand_ins {
                let mut runs = Vec::new();
                for pair in 0..self.options.pairs {
                    let order = if pair % 2 == 0 {
                        [Tracking::Off, Tracking::On]
                    } else {
                        [Tracking::On, Tracking::Off]
                    };
                    for tracking in order {
                        let run = self.run_once(framework, stand_in, tracking)?;
                        report_run(framework, stand_in, &run);
                        runs.push(run);
                    }
                }
                cases.push(Case {
                    framework,
                    stand_in,
                    runs,
                });
            }
        }
        Ok(cases)
    }

    fn run_once(
        &self,
        framework: Framework,
        stand_in: StandIn,
        tracking: Tracking,
    ) -> Result<Run, BoxError> {
        // The stand-in keeps its rows (the leads counted below) but not a copy of every request:
        // a recording stand-in grows by a copy of each of the hundreds of thousands of
        // requests of a run, which is not what is measured here.
        let mock = self
            .stand_in
            .block_on(MockServer::builder().record_requests(false).start())?;
        if stand_in == StandIn::Slow {
            mock.inject(Fault::delay(SLOW_ANSWER).always());
        }
        let click_id = mock.click("partner").to_string();
        let affitor = {
            // The delivery worker runs on the runtime the client is built on.
            let _app = self.app.enter();
            Client::builder()
                .base_url(mock.url())
                .api_key(mock.api_key())
                .build()?
        };
        let config = AppConfig {
            affitor: affitor.clone(),
            program_id: mock.program_id().to_string(),
        };
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = {
            let _app = self.app.enter();
            Server::start(framework, tracking, listener, config)?
        };

        let wrk = Wrk {
            options: &self.options,
            script: &self.script,
        };
        let measured = (|| {
            let warmup = if self.options.warmup.is_zero() {
                None
            } else {
                Some(wrk.run(&url, &click_id, "warmup", self.options.warmup)?)
            };
            let delivered_before = affitor.delivery_stats().delivered;
            let before = CpuSample::now();
            let measured = wrk.run(&url, &click_id, "measured", self.options.duration)?;
            let cpu = before.zip(CpuSample::now()).map(|(before, after)| {
                CpuUse::between(&before, &after, self.clock_ticks_per_second)
            });
            Ok::<_, BoxError>((warmup, measured, cpu, delivered_before))
        })();
        let stats = (tracking == Tracking::On).then(|| affitor.delivery_stats());
        let leads_received = mock.leads().len();

        self.app.block_on(async {
            server.stop().await;
            // Stops the delivery worker: what it still holds is abandoned, not sent later.
            affitor.shutdown(Duration::ZERO).await;
        });
        self.stand_in.block_on(mock.shutdown());

        let (warmup, measured, cpu, delivered_before) = measured?;
        Ok(Run {
            tracking,
            measured,
            cpu,
            signups: warmup.map_or(0, |warmup| warmup.signups()) + measured.signups(),
            delivered_measured: stats.map(|stats| stats.delivered.saturating_sub(delivered_before)),
            stats,
            leads_received,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Where the CPU time goes: the load generator, the app under test and the stand-in share the
// machine, so this tells how much of it each had (Linux `/proc`; elsewhere, nothing).

/// Cumulative CPU times, in clock ticks.
#[derive(Clone, Copy, Debug)]
struct CpuSample {
    /// This process: the servers under test, the delivery worker and the stand-in.
    process: u64,
    /// The stand-in's runtime threads.
    stand_in: u64,
    /// This process's waited-for children: the wrk runs.
    children: u64,
    /// Every CPU of the machine, busy.
    machine_busy: u64,
    /// Every CPU of the machine, busy or idle.
    machine_total: u64,
}

impl CpuSample {
    fn now() -> Option<Self> {
        let own = stat_fields(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let mut stand_in = 0;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let path = task.path();
            let is_stand_in = std::fs::read_to_string(path.join("comm"))
                .is_ok_and(|comm| comm.trim_end() == "stand-in");
            if is_stand_in
                && let Some(fields) = std::fs::read_to_string(path.join("stat"))
                    .ok()
                    .and_then(|stat| stat_fields(&stat))
            {
                stand_in += fields.utime + fields.stime;
            }
        }
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = machine
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal (guest time is within user).
        let tick = |index: usize| ticks.get(index).copied().unwrap_or(0);
        let idle = tick(3) + tick(4);
        let busy = tick(0) + tick(1) + tick(2) + tick(5) + tick(6) + tick(7);
        Some(Self {
            process: own.utime + own.stime,
            stand_in,
            children: own.cutime + own.cstime,
            machine_busy: busy,
            machine_total: busy + idle,
        })
    }
}

/// The CPU time fields of a `/proc/.../stat` line.
struct StatFields {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn stat_fields(stat: &str) -> Option<StatFields> {
    // The command name, in parentheses, may hold spaces: count the fields after it, from the
    // state (field 3).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse().ok();
    Some(StatFields {
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds used during a measured run.
#[derive(Clone, Copy, Debug)]
struct CpuUse {
    /// The server under test and the Affitor client's delivery worker (this process minus the
    /// stand-in).
    app: f64,
    /// The stand-in API.
    stand_in: f64,
    /// wrk.
    wrk: f64,
    /// Everything else on the machine (other people's builds, the kernel's own threads).
    others: f64,
    /// What the machine had: CPUs times the wall time.
    capacity: f64,
}

impl CpuUse {
    fn between(before: &CpuSample, after: &CpuSample, ticks_per_second: f64) -> Self {
        let seconds = |ticks: u64| ticks as f64 / ticks_per_second;
        let process = after.process.saturating_sub(before.process);
        let stand_in = after.stand_in.saturating_sub(before.stand_in);
        let wrk = after.children.saturating_sub(before.children);
        let busy = after.machine_busy.saturating_sub(before.machine_busy);
        Self {
            app: seconds(process.saturating_sub(stand_in)),
            stand_in: seconds(stand_in),
            wrk: seconds(wrk),
            others: seconds(busy.saturating_sub(process + wrk)),
            capacity: seconds(after.machine_total.saturating_sub(before.machine_total)),
        }
    }

    fn share(&self, seconds: f64) -> f64 {
        100.0 * seconds / self.capacity
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn report_run(framework: Framework, stand_in: StandIn, run: &Run) {
    let measured = &run.measured;
    let mut line = format!(
        "{framework:<12} stand-in {stand_in:<12} tracking {:<3}: {:>8.0} req/s, p50 {:>9}, p99 {:>9}, max {:>9}, non-2xx {}, socket errors {}, users {}, load {}",
        run.tracking.to_string(),
        measured.per_second(),
        millis(measured.p50),
        millis(measured.p99),
        millis(measured.max),
        measured.non_2xx,
        measured.socket_errors,
        run.signups,
        load_average(),
    );
    if let Some(cpu) = &run.cpu {
        line.push_str(&format!(
            "\n    CPU of the machine: app {:.0}%, stand-in {:.0}%, wrk {:.0}%, other processes {:.0}%, idle {:.0}%; app CPU per request {:.0} µs",
            cpu.share(cpu.app),
            cpu.share(cpu.stand_in),
            cpu.share(cpu.wrk),
            cpu.share(cpu.others),
            (100.0 - cpu.share(cpu.app + cpu.stand_in + cpu.wrk + cpu.others)).max(0.0),
            1e6 * cpu.app / measured.requests.max(1) as f64,
        ));
    }
    if let (Some(cpu), Some(delivered)) = (&run.cpu, run.delivered_measured) {
        line.push_str(&format!(
            "\n    {delivered} leads delivered during the measured run; stand-in CPU per delivered lead {:.1} µs",
            1e6 * cpu.stand_in / delivered.max(1) as f64,
        ));
    }
    if let Some(stats) = &run.stats {
        line.push_str(&format!(
            "\n    leads of the {} signups (warm-up included): queued {}, delivered {}, dropped {}, failed {}, pending {}, received by the stand-in {}",
            run.signups,
            stats.queued,
            stats.delivered,
            stats.dropped,
            stats.failed,
            stats.pending,
            run.leads_received,
        ));
    }
    eprintln!("{line}");
}

// ---------------------------------------------------------------------------------------------
// The table.

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 0 => (values[middle - 1] + values[middle]) / 2.0,
        _ => values[middle],
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn print_table(options: &Options, cases: &[Case]) {
    println!(
        "wrk: {} threads, {} connections, {} s per run after a {} s warm-up; {} runs per variant \
         (OFF ON ON OFF ...), medians; click id in the {}",
        options.threads,
        options.connections,
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.pairs,
        match options.click_id_in {
            ClickIdIn::Body => "JSON body",
            ClickIdIn::Cookie => "cookie",
        },
    );
    println!();
    println!(
        "| framework | stand-in answers | req/s OFF | req/s ON | ratio ON/OFF | p99 OFF | p99 ON | non-2xx | leads of the ON runs: signups / queued / delivered / dropped / failed / pending |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for case in cases {
        let of = |tracking: Tracking| case.runs.iter().filter(move |run| run.tracking == tracking);
        let rate = |tracking| median(of(tracking).map(|run| run.measured.per_second()).collect());
        let p99 = |tracking| {
            median(
                of(tracking)
                    .map(|run| run.measured.p99.as_secs_f64() * 1000.0)
                    .collect(),
            )
        };
        let (off, on) = (rate(Tracking::Off), rate(Tracking::On));
        let non_2xx: u64 = case.runs.iter().map(|run| run.measured.non_2xx).sum();
        let mut leads = [0_u64; 6];
        for run in of(Tracking::On) {
            if let Some(stats) = &run.stats {
                let counts = [
                    run.signups,
                    stats.queued,
                    stats.delivered,
                    stats.dropped,
                    stats.failed,
                    stats.pending,
                ];
                for (sum, count) in leads.iter_mut().zip(counts) {
                    *sum += count;
                }
            }
        }
        let [signups, queued, delivered, dropped, failed, pending] = leads;
        println!(
            "| {} | {} | {off:.0} | {on:.0} | **{:.3}** | {:.2} ms | {:.2} ms | {non_2xx} | {signups} / {queued} / {delivered} / {dropped} / {failed} / {pending} |",
            case.framework,
            case.stand_in,
            on / off,
            p99(Tracking::Off),
            p99(Tracking::On),
        );
    }
    print_cpu_table(cases);
}

/// Where the machine's CPU time went during the measured runs (medians), when `/proc` tells.
fn print_cpu_table(cases: &[Case]) {
    if cases
        .iter()
        .flat_map(|case| &case.runs)
        .any(|run| run.cpu.is_none())
    {
        return;
    }
    println!();
    println!(
        "| framework | stand-in answers | app CPU per request OFF | ON | per delivered lead: app (ON - OFF) / stand-in | share of the 2 CPUs OFF: app / wrk / others / idle | ON: app / stand-in / wrk / others / idle |"
    );
    println!("|---|---|---|---|---|---|---|");
    for case in cases {
        let of = |tracking: Tracking| {
            case.runs
                .iter()
                .filter(move |run| run.tracking == tracking)
                .filter_map(|run| Some((run.cpu?, run.measured.requests)))
        };
        let per_request = |tracking| {
            median(
                of(tracking)
                    .map(|(cpu, requests)| 1e6 * cpu.app / requests.max(1) as f64)
                    .collect(),
            )
        };
        let share = |tracking, part: fn(&CpuUse) -> f64| {
            median(of(tracking).map(|(cpu, _)| cpu.share(part(&cpu))).collect())
        };
        let idle =
            |cpu: &CpuUse| (cpu.capacity - cpu.app - cpu.stand_in - cpu.wrk - cpu.others).max(0.0);
        // What the ON runs spent beyond the OFF runs' app CPU per request, per lead delivered
        // during the measured run: sending the lead, plus the layer's work on every request.
        let off_per_request = per_request(Tracking::Off) / 1e6;
        let per_lead = |part: &dyn Fn(&CpuUse, u64) -> f64| {
            median(
                case.runs
                    .iter()
                    .filter_map(|run| {
                        Some((run.cpu?, run.measured.requests, run.delivered_measured?))
                    })
                    .map(|(cpu, requests, delivered)| {
                        1e6 * part(&cpu, requests) / delivered.max(1) as f64
                    })
                    .collect(),
            )
        };
        let app_per_lead = per_lead(&|cpu, requests| cpu.app - off_per_request * requests as f64);
        let stand_in_per_lead = per_lead(&|cpu, _| cpu.stand_in);
        println!(
            "| {} | {} | {:.0} µs | {:.0} µs | {app_per_lead:.1} µs / {stand_in_per_lead:.1} µs | {:.0}% / {:.0}% / {:.0}% / {:.0}% | {:.0}% / {:.0}% / {:.0}% / {:.0}% / {:.0}% |",
            case.framework,
            case.stand_in,
            per_request(Tracking::Off),
            per_request(Tracking::On),
            share(Tracking::Off, |cpu| cpu.app),
            share(Tracking::Off, |cpu| cpu.wrk),
            share(Tracking::Off, |cpu| cpu.others),
            share(Tracking::Off, idle),
            share(Tracking::On, |cpu| cpu.app),
            share(Tracking::On, |cpu| cpu.stand_in),
            share(Tracking::On, |cpu| cpu.wrk),
            share(Tracking::On, |cpu| cpu.others),
            share(Tracking::On, idle),
        );
    }
}
