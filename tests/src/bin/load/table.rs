//! What a run and the whole measurement print.

use super::*;

pub(crate) fn report_run(framework: Framework, stand_in: StandIn, run: &Run) {
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

pub(crate) fn print_table(options: &Options, cases: &[Case]) {
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
pub(crate) fn print_cpu_table(cases: &[Case]) {
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
