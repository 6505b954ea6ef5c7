//! The load measurement of the signup examples: `POST /api/signup` under `wrk`, this library
//! against what a user would write instead, delivering the same leads.
//!
//! ```sh
//! cargo run --release -p affitor-scenarios --bin load
//! ```
//!
//! For each framework (axum, actix-web) and each stand-in mode (the local Affitor API stand-in
//! answers at once, or after 200 ms), it runs `wrk` in a process of its own against a fresh
//! server on 127.0.0.1, once per variant in order, then in reverse (HAND ON ON HAND: a machine
//! getting busier or quieter weighs on each alike), waits the same short drain after each run,
//! and prints the median signups per second, p99 and leads the stand-in received of each
//! variant, and their ratios.
//!
//! - ON: `axum_signup::app` / `actix_signup::serve`, with a client pointed at the stand-in: the
//!   Affitor layer or middleware finds the click id in the JSON body, and the handler queues a
//!   lead with `enqueue().await` after creating the user (at once, in the memory queue).
//! - OUTBOX: the same app with a durable outbox, a SQLite file in the temp dir (or the Postgres
//!   database `AFFITOR_LOAD_OUTBOX=postgres://…` names; its outbox tables are dropped
//!   before each run): the handler's `enqueue().await` writes the lead to it before answering
//!   (waiting, when the store is behind, up to its enqueue timeout), and its relay
//!   delivers it. Each run also prints the outbox's counters (rows written, transactions,
//!   events fallen back to memory).
//! - STORE (`outbox-store`): OUTBOX with the relay off: each lead written and kept, none
//!   delivered. What the store alone takes; OUTBOX against it is the relay's share.
//! - HAND: what a user would write instead (`servers.rs`), in axum whatever the framework: the
//!   same user store, the click id read from the JSON body, and one spawned task per lead posting
//!   it with reqwest, unbounded, no retry.
//! - OFF: the example minus Affitor: the same [`Users`] store, the same JSON in and out, the same
//!   body limits, no layer or middleware and no lead.
//!
//! Every run gets a fresh stand-in, server and user store; the stand-in runs in this process on
//! a runtime thread of its own, so every variant shares the machine with the same threads.
//! `wrk` must be installed (`apt-get install wrk`). Options: `--duration SECS` (default 10),
//! `--warmup SECS` (2), `--drain SECS` (2), `--connections N` (64), `--threads N` (2),
//! `--pairs N` (2), `--variants hand,on,outbox,outbox-store,off,attacked,off-attacked` (default `hand,on`),
//! `--framework axum|actix` and `--stand-in prompt|slow` (default: both), `--click-id-in
//! body|cookie` (body), `--relay-in-flight N` (the OUTBOX relay's `max_in_flight`; the
//! outbox's default, 2,048).
//!
//! `--hostile` measures ON against ATTACKED: the same app with an attack running beside its
//! signups for the whole measured run (`hostile.rs`: big `affitor_click_ids` cookies, 1-byte
//! chunks, request bodies that never come, an `?aff=` flood), and OFF against OFF+ATTACK, what
//! the same attack costs the framework without this library. It prints the signups' p99 of
//! each, their ratios, the process's peak resident memory during each, and what the attack got.
//! `--attack cookies,chunks,unread,flood` sends only those kinds, to see what each costs.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use actix_web::{App, Either, HttpResponse, HttpServer, web};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use affitor::{Client, client::DeliveryStats};
use affitor_mock::{Fault, MockServer};
use affitor_outbox::Outbox;
use affitor_scenarios::signup::{Framework, Server};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_signup::JsonOrForm;
use example_support::{AppConfig, SignupForm, SignupResponse, Users};
use tokio::runtime::Runtime;

mod bench;
mod cpu;
mod hostile;
mod logs;
mod options;
mod servers;
mod table;
mod wrk;

use bench::*;
use cpu::*;
use hostile::*;
use logs::*;
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
    count_warn_lines();
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
