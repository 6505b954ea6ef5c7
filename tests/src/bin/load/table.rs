//! What a run and the whole measurement print.

use super::*;

pub(crate) fn report_run(framework: Framework, stand_in: StandIn, run: &Run) {
    let measured = &run.measured;
    let mut line = format!(
        "{framework:<12} stand-in {stand_in:<12} {:<6}: {:>8.0} req/s, p50 {:>9}, p99 {:>9}, max {:>9}, non-2xx {}, socket errors {}, signups {}, leads received {}, load {}",
        run.variant.to_string(),
        measured.per_second(),
        millis(measured.p50),
        millis(measured.p99),
        millis(measured.max),
        measured.non_2xx,
        measured.socket_errors,
        run.signups,
        run.leads_received,
        load_average(),
    );
    if let Some(cpu) = &run.cpu {
        line.push_str(&format!(
            "\n    CPU of the machine: app {:.0}%, stand-in {:.0}%, wrk {:.0}%, other processes {:.0}%, idle {:.0}%; per request: app {:.0} µs, other processes (Postgres among them) {:.0} µs",
            cpu.share(cpu.app),
            cpu.share(cpu.stand_in),
            cpu.share(cpu.wrk),
            cpu.share(cpu.others),
            cpu.share(idle(cpu)),
            1e6 * cpu.app / measured.requests.max(1) as f64,
            1e6 * cpu.others / measured.requests.max(1) as f64,
        ));
    }
    if let Some(rss) = run.rss_growth_kib {
        line.push_str(&format!(
            "\n    resident memory grew by {} MiB during the run",
            rss / 1024
        ));
    }
    if let Some((attack, clicks)) = &run.attack {
        line.push_str(&format!(
            "\n    the attack: big-cookie requests answered {}, 64 KiB 1-byte-chunk bodies sent {}, unread bodies sent {} (answered {}), ?aff= flood requests answered {}; click calls at the stand-in {clicks}",
            attack.big_cookies.load(Ordering::Relaxed),
            attack.chunked.load(Ordering::Relaxed),
            attack.unread_sent.load(Ordering::Relaxed),
            attack.unread_answered.load(Ordering::Relaxed),
            attack.flood.load(Ordering::Relaxed),
        ));
        let visitors = attack.visitors.load(Ordering::Relaxed);
        if visitors > 0 {
            let cookied = attack.visitors_cookied.load(Ordering::Relaxed);
            line.push_str(&format!(
                "\n    the many-address flood: requests answered {}; ordinary visitors {visitors}, \
                 of whom got an affitor_click_id cookie {cookied} ({:.1}%)",
                attack.many_addresses.load(Ordering::Relaxed),
                100.0 * cookied as f64 / visitors as f64,
            ));
        }
    }
    if let Some(stats) = &run.stats {
        line.push_str(&format!(
            "\n    the client's queue when wrk stopped: queued {}, delivered {}, dropped {} (queue full {}), failed {}, pending {} (in flight {}), waited for a send slot {}; lines logged at warn and above {}",
            stats.queued,
            stats.delivered,
            stats.dropped,
            stats.queue_full,
            stats.failed,
            stats.pending,
            stats.in_flight,
            stats.in_flight_limited,
            run.warn_lines,
        ));
    }
    if let Some(stats) = &run.outbox_stats {
        line.push_str(&format!(
            "\n    the outbox when wrk stopped: enqueued {} in {} transactions, fell back to memory {}, delivered {}, in flight {}",
            stats.enqueued, stats.batches, stats.fell_back, stats.delivered, stats.in_flight,
        ));
    }
    eprintln!("{line}");
}

// ---------------------------------------------------------------------------------------------
// The tables.

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 0 => (values[middle - 1] + values[middle]) / 2.0,
        _ => values[middle],
    }
}

pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn idle(cpu: &CpuUse) -> f64 {
    (cpu.capacity - cpu.app - cpu.stand_in - cpu.wrk - cpu.others).max(0.0)
}

/// The medians of one variant's runs in one case.
struct Medians {
    per_second: f64,
    p99_ms: f64,
    rss_growth_mib: f64,
    signups: f64,
    leads: f64,
    app_cpu_per_request_us: f64,
    others_cpu_per_request_us: f64,
}

impl Medians {
    fn of(case: &Case, variant: Variant) -> Option<Self> {
        let runs: Vec<&Run> = case
            .runs
            .iter()
            .filter(|run| run.variant == variant)
            .collect();
        if runs.is_empty() {
            return None;
        }
        let over =
            |value: &dyn Fn(&Run) -> f64| median(runs.iter().map(|run| value(run)).collect());
        Some(Self {
            per_second: over(&|run| run.measured.per_second()),
            p99_ms: over(&|run| run.measured.p99.as_secs_f64() * 1000.0),
            rss_growth_mib: over(&|run| {
                run.rss_growth_kib
                    .map_or(f64::NAN, |kib| kib as f64 / 1024.0)
            }),
            signups: over(&|run| run.signups as f64),
            leads: over(&|run| run.leads_received as f64),
            app_cpu_per_request_us: over(&|run| {
                run.cpu.map_or(f64::NAN, |cpu| {
                    1e6 * cpu.app / run.measured.requests.max(1) as f64
                })
            }),
            others_cpu_per_request_us: over(&|run| {
                run.cpu.map_or(f64::NAN, |cpu| {
                    1e6 * cpu.others / run.measured.requests.max(1) as f64
                })
            }),
        })
    }
}

pub(crate) fn print_table(options: &Options, cases: &[Case]) {
    println!(
        "wrk: {} threads, {} connections, {} s per run after a {} s warm-up, then a {} s drain; \
         {} runs per variant (in order, then reversed), medians; click id in the {}",
        options.threads,
        options.connections,
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.drain.as_secs(),
        options.pairs,
        match options.click_id_in {
            ClickIdIn::Body => "JSON body",
            ClickIdIn::Cookie => "cookie",
        },
    );
    if let Some(in_flight) = options.relay_in_flight {
        println!("the OUTBOX relay sends at most {in_flight} rows at once (max_in_flight)");
    }
    println!();
    println!(
        "| framework | stand-in answers | variant | signups/s | p99 | signups (warm-up + run) | leads the stand-in received (by the end of the drain) | app CPU per request | other processes' CPU per request | RSS growth |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for case in cases {
        for &variant in &options.variants {
            let Some(m) = Medians::of(case, variant) else {
                continue;
            };
            let variant_name = match (variant, case.framework) {
                (Variant::Hand, Framework::Actix) => "HAND (axum)".to_owned(),
                _ => variant.to_string(),
            };
            println!(
                "| {} | {} | {variant_name} | {:.0} | {:.2} ms | {:.0} | {:.0} | {:.0} µs | {:.0} µs | {:.0} MiB |",
                case.framework,
                case.stand_in,
                m.per_second,
                m.p99_ms,
                m.signups,
                m.leads,
                m.app_cpu_per_request_us,
                m.others_cpu_per_request_us,
                m.rss_growth_mib,
            );
        }
    }
    print_ratios(cases);
    print_hostile(cases);
}

/// The hostile measurement: the ordinary signups' p99 beside an attack, against without one;
/// for the app with Affitor (ON) and without it (OFF), which is what the framework alone pays.
fn print_hostile(cases: &[Case]) {
    let mut header_printed = false;
    for case in cases {
        for (calm, attacked) in [
            (Variant::On, Variant::Attacked),
            (Variant::Off, Variant::OffAttacked),
        ] {
            let (Some(alone), Some(beside)) =
                (Medians::of(case, calm), Medians::of(case, attacked))
            else {
                continue;
            };
            if !header_printed {
                println!();
                println!(
                    "| framework | stand-in answers | app | signups p99 alone | beside the attack | ratio | signups/s ratio | RSS growth alone | beside the attack |"
                );
                println!("|---|---|---|---|---|---|---|---|---|");
                header_printed = true;
            }
            println!(
                "| {} | {} | {calm} | {:.2} ms | {:.2} ms | **{:.2}** | {:.2} | {:.0} MiB | {:.0} MiB |",
                case.framework,
                case.stand_in,
                alone.p99_ms,
                beside.p99_ms,
                beside.p99_ms / alone.p99_ms,
                beside.per_second / alone.per_second,
                alone.rss_growth_mib,
                beside.rss_growth_mib,
            );
        }
    }
}

/// The comparisons the goals are set in: against the hand-rolled integration, and the outbox
/// against in-memory delivery.
fn print_ratios(cases: &[Case]) {
    let pairs = [
        (Variant::On, Variant::Hand),
        (Variant::Outbox, Variant::Hand),
        (Variant::Outbox, Variant::On),
        (Variant::OutboxStore, Variant::On),
        (Variant::OutboxJournal, Variant::Outbox),
        (Variant::On, Variant::Off),
    ];
    let mut header_printed = false;
    for case in cases {
        for (a, b) in pairs {
            let (Some(ma), Some(mb)) = (Medians::of(case, a), Medians::of(case, b)) else {
                continue;
            };
            if !header_printed {
                println!();
                println!(
                    "| framework | stand-in answers | ratio | signups/s | leads received | leads per signup |"
                );
                println!("|---|---|---|---|---|---|");
                header_printed = true;
            }
            println!(
                "| {} | {} | {a}/{b} | **{:.3}** | **{:.3}** | {:.3} / {:.3} |",
                case.framework,
                case.stand_in,
                ma.per_second / mb.per_second,
                ma.leads / mb.leads,
                ma.leads / ma.signups,
                mb.leads / mb.signups,
            );
        }
    }
}
