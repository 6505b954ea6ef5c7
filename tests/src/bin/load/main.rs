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

mod bench;
mod cpu;
mod options;
mod servers;
mod table;
mod wrk;

use bench::*;
use cpu::*;
use options::*;
use servers::*;
use table::*;
use wrk::*;

/// The wrk script: a unique email per request, the click id in the body or a cookie, and one
/// line of figures at the end.
const SCRIPT: &str = include_str!("../../../load/signup.lua");

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
