//! The variants measured, and the command-line options.

use super::*;

/// How the Affitor API stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StandIn {
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

/// The app under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    /// The example app minus Affitor: no layer, no lead.
    Off,
    /// The example app: the Affitor layer, and the lead queued with `send_in_background`.
    On,
    /// The example app with a durable outbox (a SQLite file): the lead written before the
    /// answer, delivered by the outbox's relay.
    Outbox,
    /// [`Outbox`](Self::Outbox) with the relay off: the lead written before the answer and
    /// kept, never delivered; what the store alone takes.
    OutboxStore,
    /// [`Outbox`](Self::Outbox) with the attribution journal on
    /// (`OutboxBuilder::journal`): what the journal costs a signup.
    OutboxJournal,
    /// What a user would write instead of this library, in axum whatever the framework: the
    /// click id read from the JSON body, and one spawned task per lead posting it with reqwest.
    Hand,
    /// ON with an attack beside its signups (`hostile.rs`): big cookies, 1-byte chunks, bodies
    /// that never come, and an `?aff=` flood.
    Attacked,
    /// OFF beside the same attack: what the attack costs the framework alone.
    OffAttacked,
}

impl Variant {
    fn parse(name: &str) -> Result<Self, BoxError> {
        Ok(match name {
            "off" => Self::Off,
            "on" => Self::On,
            "outbox" => Self::Outbox,
            "outbox-store" => Self::OutboxStore,
            "outbox-journal" => Self::OutboxJournal,
            "hand" => Self::Hand,
            "attacked" => Self::Attacked,
            "off-attacked" => Self::OffAttacked,
            other => return Err(format!("unknown variant `{other}`\n{USAGE}").into()),
        })
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "OFF",
            Self::On => "ON",
            Self::Outbox => "OUTBOX",
            Self::OutboxStore => "STORE",
            Self::OutboxJournal => "JOURNAL",
            Self::Hand => "HAND",
            Self::Attacked => "ATTACKED",
            Self::OffAttacked => "OFF+ATTACK",
        })
    }
}

/// The kinds of traffic an attack sends (`hostile.rs`); `--attack` picks some, to see what
/// each costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AttackKinds {
    pub(crate) big_cookies: bool,
    pub(crate) chunks: bool,
    pub(crate) unread: bool,
    pub(crate) flood: bool,
}

impl AttackKinds {
    const ALL: Self = Self {
        big_cookies: true,
        chunks: true,
        unread: true,
        flood: true,
    };

    fn parse(names: &str) -> Result<Self, BoxError> {
        let mut kinds = Self {
            big_cookies: false,
            chunks: false,
            unread: false,
            flood: false,
        };
        for name in names.split(',') {
            match name.trim() {
                "cookies" => kinds.big_cookies = true,
                "chunks" => kinds.chunks = true,
                "unread" => kinds.unread = true,
                "flood" => kinds.flood = true,
                other => return Err(format!("unknown attack `{other}`\n{USAGE}").into()),
            }
        }
        Ok(kinds)
    }
}

/// Where the requests carry the click id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClickIdIn {
    /// The `affitorClickId` field of the JSON body, which the layer reads (the longer path).
    Body,
    /// The `affitor_click_id` cookie too, which the layer finds before the body.
    Cookie,
}

// ---------------------------------------------------------------------------------------------
// The options.

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) connections: u32,
    pub(crate) threads: u32,
    pub(crate) pairs: usize,
    pub(crate) frameworks: Vec<Framework>,
    pub(crate) stand_ins: Vec<StandIn>,
    pub(crate) variants: Vec<Variant>,
    pub(crate) click_id_in: ClickIdIn,
    pub(crate) drain: Duration,
    pub(crate) attack: AttackKinds,
    /// The OUTBOX relay's `max_in_flight`, when not the outbox's default.
    pub(crate) relay_in_flight: Option<usize>,
}

impl Options {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let mut options = Self {
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            connections: 64,
            threads: 2,
            pairs: 2,
            frameworks: Vec::new(),
            stand_ins: Vec::new(),
            variants: Vec::new(),
            click_id_in: ClickIdIn::Body,
            drain: Duration::from_secs(2),
            attack: AttackKinds::ALL,
            relay_in_flight: None,
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
                "--drain" => options.drain = Duration::from_secs(number(&flag, value()?)?),
                // The hostile measurement: ON beside an attack, against ON alone; and the same
                // for OFF, what the attack costs the framework without this library.
                "--hostile" => {
                    options.variants = vec![
                        Variant::On,
                        Variant::Attacked,
                        Variant::Off,
                        Variant::OffAttacked,
                    ]
                }
                "--attack" => options.attack = AttackKinds::parse(&value()?)?,
                "--relay-in-flight" => options.relay_in_flight = Some(number(&flag, value()?)?),
                "--variants" => {
                    for name in value()?.split(',') {
                        options.variants.push(Variant::parse(name.trim())?);
                    }
                }
                "--framework" => {
                    let name = value()?;
                    options.frameworks.push(
                        Framework::parse(&name)
                            .ok_or_else(|| format!("unknown framework `{name}`\n{USAGE}"))?,
                    );
                }
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
        if options.variants.is_empty() {
            options.variants = vec![Variant::Hand, Variant::On];
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

pub(crate) const USAGE: &str = "usage: load [--duration SECS] [--warmup SECS] [--drain SECS] [--connections N] \
     [--threads N] [--pairs N] [--framework axum|actix]... [--stand-in prompt|slow]... \
     [--variants hand,on,outbox,outbox-store,outbox-journal,off,attacked,off-attacked] [--hostile] [--attack cookies,chunks,unread,flood] \
     [--click-id-in body|cookie] [--relay-in-flight N]";

pub(crate) fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, BoxError> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a whole number, not `{value}`\n{USAGE}").into())
}
