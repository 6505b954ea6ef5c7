//! The measurement: the runs of each case, alternated.

use super::*;

/// One measured run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) variant: Variant,
    pub(crate) measured: Measured,
    /// Successful signups of the warm-up and the measured run.
    pub(crate) signups: u64,
    /// The Affitor client's counters the moment wrk finished (ON and OUTBOX runs).
    pub(crate) stats: Option<DeliveryStats>,
    /// The outbox's counters the moment wrk finished (OUTBOX runs): what was written, in how
    /// many transactions, and what fell back to the memory queue.
    pub(crate) outbox_stats: Option<affitor_outbox::OutboxStats>,
    /// Lines the Affitor crates logged at `warn` and above, from the start of the run to its
    /// client's shutdown.
    pub(crate) warn_lines: u64,
    /// Leads the stand-in recorded by the end of the drain that follows wrk: what each variant
    /// delivered of its signups, counted the same way for all.
    pub(crate) leads_received: usize,
    /// Where the CPU time of the measured run went, when `/proc` tells.
    pub(crate) cpu: Option<CpuUse>,
    /// How far the resident memory of this process (app, stand-in, attack) grew during the
    /// measured run, in KiB, when `/proc` tells.
    pub(crate) rss_growth_kib: Option<u64>,
    /// What the attack of an ATTACKED run sent and got, and the click calls the stand-in
    /// received during the run.
    pub(crate) attack: Option<(Arc<AttackCounts>, usize)>,
}

/// The runs of one framework and stand-in mode.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) framework: Framework,
    pub(crate) stand_in: StandIn,
    pub(crate) runs: Vec<Run>,
}

pub(crate) struct Bench {
    pub(crate) options: Options,
    pub(crate) script: PathBuf,
    /// Runs the servers under test (axum's tasks; actix-web's server future, on top of its own
    /// worker threads) and the Affitor client's delivery worker.
    pub(crate) app: Runtime,
    /// Runs the stand-in API, on one thread of its own.
    pub(crate) stand_in: Runtime,
    /// The unit of the CPU times in `/proc`.
    pub(crate) clock_ticks_per_second: f64,
}

impl Bench {
    pub(crate) fn new(options: Options, script: PathBuf) -> Result<Self, BoxError> {
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

    pub(crate) fn run_all(&self) -> Result<Vec<Case>, BoxError> {
        let mut cases = Vec::new();
        for &framework in &self.options.frameworks {
            for &stand_in in &self.options.stand_ins {
                let mut runs = Vec::new();
                // The variants in order, then in reverse (HAND ON ON HAND ...), so that a
                // machine getting busier or quieter weighs on each alike.
                for pair in 0..self.options.pairs {
                    let mut order = self.options.variants.clone();
                    if pair % 2 == 1 {
                        order.reverse();
                    }
                    for variant in order {
                        let run = self.run_once(framework, stand_in, variant)?;
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

    pub(crate) fn run_once(
        &self,
        framework: Framework,
        stand_in: StandIn,
        variant: Variant,
    ) -> Result<Run, BoxError> {
        // The stand-in keeps its rows (the leads counted below) but not a copy of every request:
        // a recording stand-in grows by a copy of each of the hundreds of thousands of
        // requests of a run, which is not what is measured here.
        let lines_before = warn_lines();
        let mock = self
            .stand_in
            .block_on(MockServer::builder().record_requests(false).start())?;
        if stand_in == StandIn::Slow {
            mock.inject(Fault::delay(SLOW_ANSWER).always());
        }
        let click_id = mock.click("partner").to_string();
        let outbox_path = std::env::temp_dir().join(format!(
            "affitor-load-{}-{}.db",
            std::process::id(),
            mock.addr().port()
        ));
        let (affitor, outbox) = self.app.block_on(async {
            // The delivery worker and the relay run on the runtime the client is built on.
            let affitor = Client::builder()
                .base_url(mock.url())
                .api_key(mock.api_key())
                .build()?;
            let outbox = match variant {
                Variant::Outbox | Variant::OutboxStore | Variant::OutboxJournal => {
                    let relay = variant != Variant::OutboxStore;
                    Some(
                        open_outbox(
                            &outbox_path,
                            affitor.clone(),
                            relay,
                            variant == Variant::OutboxJournal,
                            self.options.relay_in_flight,
                        )
                        .await?,
                    )
                }
                _ => None,
            };
            Ok::<_, BoxError>((affitor, outbox))
        })?;
        // With an outbox, the app's client hands its events to it (its backend); `affitor`
        // stays the client the relay sends through, whose stats are read below.
        let config = AppConfig::new(
            affitor.clone(),
            mock.program_id().to_string(),
            outbox.clone(),
        );
        let hand = HandApi::new(&mock)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let listener_addr = listener.local_addr()?;
        let url = format!("http://{listener_addr}");
        let server = {
            let _app = self.app.enter();
            start_server(framework, variant, listener, config, hand)?
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
            let clicks_before = mock.clicks().len();
            let attack = match variant {
                Variant::Attacked | Variant::OffAttacked => {
                    Some(Attack::start(listener_addr, self.options.attack)?)
                }
                _ => None,
            };
            let rss = RssSampler::start();
            let before = CpuSample::now();
            let measured = wrk.run(&url, &click_id, "measured", self.options.duration)?;
            let cpu = before.zip(CpuSample::now()).map(|(before, after)| {
                CpuUse::between(&before, &after, self.clock_ticks_per_second)
            });
            let rss_growth_kib = rss.stop();
            let attack = attack.map(|attack| {
                let counts = attack.stop();
                (counts, mock.clicks().len() - clicks_before)
            });
            Ok::<_, BoxError>((warmup, measured, cpu, rss_growth_kib, attack))
        })();
        let stats = matches!(
            variant,
            Variant::On
                | Variant::Attacked
                | Variant::Outbox
                | Variant::OutboxStore
                | Variant::OutboxJournal
        )
        .then(|| affitor.delivery_stats());
        let outbox_stats = outbox.as_ref().map(Outbox::stats);
        // The same short drain for every variant: leads still on their way when wrk stops
        // count if they arrive within it.
        std::thread::sleep(self.options.drain);
        let leads_received = mock.leads().len();

        self.app.block_on(async {
            server.stop().await;
            // Stops delivery: what is still held is abandoned, not sent later.
            if let Some(outbox) = &outbox {
                outbox.shutdown(Duration::ZERO).await;
            }
            affitor.shutdown(Duration::ZERO).await;
        });
        self.stand_in.block_on(mock.shutdown());
        for suffix in ["", "-wal", "-shm"] {
            let mut path = outbox_path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }

        let (warmup, measured, cpu, rss_growth_kib, attack) = measured?;
        Ok(Run {
            variant,
            measured,
            cpu,
            rss_growth_kib,
            attack,
            signups: warmup.map_or(0, |warmup| warmup.signups()) + measured.signups(),
            stats,
            outbox_stats,
            leads_received,
            warn_lines: warn_lines() - lines_before,
        })
    }
}

/// The outbox of an OUTBOX (or STORE: `relay` off) run: a SQLite file at `path`, or the
/// Postgres database `AFFITOR_LOAD_OUTBOX` names (a `postgres://` URL), its outbox
/// tables dropped first so that every run starts empty. `in_flight`: the relay's
/// `max_in_flight`, when not the default.
async fn open_outbox(
    path: &std::path::Path,
    affitor: Client,
    relay: bool,
    journal: bool,
    in_flight: Option<usize>,
) -> Result<Outbox, BoxError> {
    let mut outbox = Outbox::builder(affitor).relay(relay);
    if journal {
        outbox = outbox.journal(affitor_outbox::journal::DEFAULT_RETENTION);
    }
    if let Some(in_flight) = in_flight {
        outbox = outbox.max_in_flight(in_flight);
    }
    let Some(url) = std::env::var("AFFITOR_LOAD_OUTBOX")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    else {
        return Ok(outbox.open(&path.to_string_lossy()).await?);
    };
    let pool = affitor_outbox::sqlx::PgPool::connect(&url).await?;
    // Each run starts from no tables, the schema's version with them.
    affitor_outbox::sqlx::query(
        "DROP TABLE IF EXISTS affitor_outbox, affitor_outbox_facts, affitor_outbox_journal, \
         affitor_outbox_schema",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(outbox.open(&url).await?)
}
