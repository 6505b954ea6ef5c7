//! `affitor trigger <provider> <event> --to URL`: a payment provider's sample event
//! ([`SampleEvent`]), signed as the provider signs it, posted to the app's webhook URL.
//!
//! Safe unless told otherwise: without `--live` the event is of the provider's test mode
//! (Stripe's `livemode: false`, Lemon Squeezy's `test_mode: true`), only a URL of this machine
//! is taken (a loopback address, or `localhost` itself, pinned to them: never where DNS or a
//! proxy would send it), and Polar and Paddle, whose events carry no such flag, are not signed
//! with the secret of the environment (a production shell's is the live endpoint's). The secret
//! comes from the provider's variable or `--secret-file` (`-`: standard input); `--secret`
//! works, and warns that the process list and the shell's history hold it.
//!
//! The same command sends the same event: its ids follow from `--customer-key` and
//! `--click-id` (or `--id`), so a second trigger is a redelivery, which the app acknowledges
//! without a second sale, and `refund` or `dispute` return the `sale` of the same flags.
//! `--new-id` sends another payment. Without `--live`, an `--id` must be of the form trigger
//! makes (`pi_affitor_...`): a real payment's id, taken by a test sale, would be answered 409
//! when the real sale comes, as `affitor test sale` refuses it.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::ErrorReport;
use affitor::webhook::{LemonSqueezy, Paddle, Polar, Provider as _, Stripe};
use affitor_mock::{SampleEvent, SampleKind, SignedWebhook, WebhookProvider};
use clap::{Args, ValueEnum};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::env_var;
use crate::output::{Output, Status, redact_url_credentials};
use crate::settings::SecretArg;
use crate::test::real_sale_taken;

/// What the payment ids trigger makes begin with, after the provider's prefix: no provider
/// writes it, so no real sale has such a transaction id.
const KEY_PREFIX: &str = "affitor_";

#[derive(Debug, Args)]
pub(crate) struct TriggerArgs {
    /// The payment provider whose event to send.
    provider: ProviderName,
    /// The event: `dispute` for Stripe and Paddle only.
    event: EventName,
    /// The app's webhook URL, such as http://127.0.0.1:3000/webhooks/stripe: this machine's
    /// (127.0.0.1, ::1, localhost) unless --live.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Sign a live event (Stripe `livemode: true`, Lemon Squeezy `test_mode: false`), and post
    /// it to any URL: an app that verifies its secret records it as a real payment. Without it,
    /// the event is of the provider's test mode, and Polar and Paddle (which have none) are
    /// not signed with the secret of the environment.
    #[arg(long)]
    live: bool,
    /// A file holding the webhook's signing secret (`-`: standard input). Default: the
    /// provider's variable, such as STRIPE_WEBHOOK_SECRET (the first of several).
    #[arg(long, value_name = "PATH", conflicts_with = "secret")]
    secret_file: Option<PathBuf>,
    /// The webhook's signing secret on the command line, where the process list and the
    /// shell's history keep it: prefer the provider's variable or --secret-file.
    #[arg(long, value_name = "SECRET")]
    secret: Option<SecretArg>,
    /// The click id the app's checkout wrote in the payment (`affitor_click_id`).
    #[arg(long, value_name = "ID", value_parser = named)]
    click_id: Option<String>,
    /// The customer key the app's checkout wrote in the payment (`affitor_customer_key`).
    #[arg(long, value_name = "KEY", value_parser = named)]
    customer_key: Option<String>,
    /// The amount of the payment, in cents.
    #[arg(long, default_value_t = 4900)]
    amount_cents: u64,
    /// The payment's id as the provider names it (a Stripe payment intent, or the invoice of a
    /// renewal); default: one that follows from --customer-key and --click-id. Without --live,
    /// one trigger made (`pi_affitor_...`): a real payment's would be taken by a test sale.
    #[arg(long, value_name = "PAYMENT_ID", conflicts_with = "new_id")]
    id: Option<String>,
    /// A payment never sent before, instead of the one the same flags always send.
    #[arg(long)]
    new_id: bool,
}

/// The providers, as the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProviderName {
    Stripe,
    Polar,
    Paddle,
    #[value(alias = "lemonsqueezy")]
    LemonSqueezy,
}

impl ProviderName {
    fn provider(self) -> WebhookProvider {
        match self {
            Self::Stripe => WebhookProvider::Stripe,
            Self::Polar => WebhookProvider::Polar,
            Self::Paddle => WebhookProvider::Paddle,
            Self::LemonSqueezy => WebhookProvider::LemonSqueezy,
        }
    }

    /// Its name as its docs write it, such as `Lemon Squeezy`.
    fn title(self) -> &'static str {
        match self {
            Self::Stripe => Stripe::NAME,
            Self::Polar => Polar::NAME,
            Self::Paddle => Paddle::NAME,
            Self::LemonSqueezy => LemonSqueezy::NAME,
        }
    }

    fn secret_variable(self) -> &'static str {
        match self {
            Self::Stripe => Stripe::SECRET_VARIABLE,
            Self::Polar => Polar::SECRET_VARIABLE,
            Self::Paddle => Paddle::SECRET_VARIABLE,
            Self::LemonSqueezy => LemonSqueezy::SECRET_VARIABLE,
        }
    }

    /// The first of the secrets `text` holds, read as the verifier reads its variable: several
    /// only when each has the shape the provider issues (a Lemon Squeezy secret is always one).
    fn first_secret(self, text: &str) -> Option<String> {
        let secrets = match self {
            Self::Stripe => Stripe::split_secrets(text),
            Self::Polar => Polar::split_secrets(text),
            Self::Paddle => Paddle::split_secrets(text),
            Self::LemonSqueezy => LemonSqueezy::split_secrets(text),
        };
        secrets.first().map(|secret| (*secret).to_owned())
    }
}

/// The events, as the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EventName {
    /// A one-off payment.
    Sale,
    /// A subscription's renewal.
    Renewal,
    /// A refund of the sale.
    Refund,
    /// A chargeback of the sale (Stripe, Paddle).
    Dispute,
}

impl EventName {
    fn kind(self) -> SampleKind {
        match self {
            Self::Sale => SampleKind::Sale,
            Self::Renewal => SampleKind::Renewal,
            Self::Refund => SampleKind::Refund,
            Self::Dispute => SampleKind::Dispute,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::Renewal => "renewal",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
        }
    }

    /// Whether it returns a payment: a refund or a dispute.
    fn returns_a_payment(self) -> bool {
        matches!(self, Self::Refund | Self::Dispute)
    }
}

/// Why nothing was sent, and what to do.
#[derive(Debug)]
struct Refusal {
    problem: String,
    fix: String,
}

impl Refusal {
    fn new(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Prints why nothing was sent, with what to do, and exits 1.
fn refused(out: Output, refusal: &Refusal) -> ExitCode {
    out.status(Status::Fail, "trigger", &refusal.problem);
    out.hint(&refusal.fix);
    out.document(&json!({
        "command": "trigger", "ok": false,
        "error": { "message": refusal.problem, "fix": refusal.fix },
    }));
    ExitCode::FAILURE
}

/// Where the signing secret came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SecretFrom {
    /// The provider's variable: in a production shell, the live endpoint's.
    Environment,
    /// `--secret-file`, or `--secret`: chosen for this run.
    Chosen,
}

/// The secret to sign with, and where it came from: `--secret-file`, `--secret` (warned
/// about), or the provider's variable, the first of several.
fn secret(out: Output, args: &TriggerArgs) -> Result<(String, SecretFrom), Refusal> {
    let variable = args.provider.secret_variable();
    if let Some(path) = &args.secret_file {
        let secret = read_secret_file(path, args.provider)?;
        return Ok((secret, SecretFrom::Chosen));
    }
    if let Some(secret) = &args.secret {
        out.warning(&format!(
            "--secret puts the signing secret in the process list and your shell's history: \
             set {variable}, or pass --secret-file (`-` reads standard input)"
        ));
        return Ok((secret.expose().to_owned(), SecretFrom::Chosen));
    }
    let found = env_var(variable).and_then(|value| args.provider.first_secret(&value));
    match found {
        Some(secret) => Ok((secret, SecretFrom::Environment)),
        None => Err(Refusal::new(
            format!("no secret to sign with: {variable} is unset and --secret-file is not given"),
            format!(
                "set {variable} to the webhook's signing secret, or pass --secret-file (`-` reads \
                 standard input)"
            ),
        )),
    }
}

/// The secret the file at `path` holds (`-`: standard input).
fn read_secret_file(path: &Path, provider: ProviderName) -> Result<String, Refusal> {
    let shown = path.display();
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|read| text = read)
    };
    if let Err(error) = read {
        return Err(Refusal::new(
            format!("--secret-file {shown} cannot be read: {error}"),
            "give a file holding the webhook's signing secret, or `-` to read it from standard \
             input",
        ));
    }
    provider.first_secret(&text).ok_or_else(|| {
        Refusal::new(
            format!("--secret-file {shown} holds no secret"),
            "write the webhook's signing secret in it",
        )
    })
}

/// The webhook URL: http or https, and this machine's unless `--live`.
fn target(args: &TriggerArgs) -> Result<Url, Refusal> {
    let url = match Url::parse(args.to.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => {
            // Not a URL, so no URL's password can be found in it to hide: with an `@`, which
            // may follow one (`hook:S3CRET@host`), it is not shown at all.
            let shown = if args.to.contains('@') {
                "(not shown: it holds an `@`, maybe after a password)".into()
            } else {
                redact_url_credentials(&args.to)
            };
            return Err(Refusal::new(
                format!("--to `{shown}` is not an http:// or https:// URL"),
                "give the app's webhook URL, such as http://127.0.0.1:3000/webhooks/stripe",
            ));
        }
    };
    if !args.live && !is_loopback(&url) {
        let under_localhost = url.host_str().is_some_and(|host| {
            host.trim_end_matches('.')
                .to_ascii_lowercase()
                .ends_with(".localhost")
        });
        let fix = if under_localhost {
            "a name under localhost is looked up in DNS, which may name another machine: post to \
             localhost or 127.0.0.1 with the app's port, or pass --live to send a live event there"
        } else {
            "post to an app on this machine, or pass --live to send a live event there (an app \
             that verifies its secret records it as a real payment)"
        };
        return Err(Refusal::new(
            format!(
                "--to {} is not this machine: without --live, trigger posts only to a loopback \
                 address (127.0.0.1, ::1) or localhost",
                shown(&url)
            ),
            fix,
        ));
    }
    Ok(url)
}

/// `url` as trigger prints it: its password, if any, as `***` (the request still sends it).
fn shown(url: &Url) -> String {
    redact_url_credentials(url.as_str()).into_owned()
}

/// Whether `url` names this machine: a loopback address, or `localhost` itself (any case, with
/// or without its trailing dot), which [`post`] pins to the loopback addresses. A name under it
/// (`shop.localhost`) is not: the system's resolver may ask the network's DNS, which answers
/// what it likes.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if is_localhost(host) {
        return true;
    }
    match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Whether `name` is `localhost` itself, in any case, with or without its trailing dot.
fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
}

/// Polar and Paddle events carry no test-mode flag: signed with the secret of the environment
/// (a production shell's is the live endpoint's), one is a live payment to any app that
/// verifies it, so that needs `--live`.
/// An id given on the command line, refused when empty: a shell variable left unset
/// (`--customer-key "$USER_ID"`) would send a payment of no one.
fn named(id: &str) -> Result<String, String> {
    if id.trim().is_empty() {
        Err(
            "it is empty (an unset shell variable?): give the id itself, such as the userId \
             the app's signup answered"
                .to_owned(),
        )
    } else {
        Ok(id.to_owned())
    }
}

fn check_unflagged(args: &TriggerArgs, from: SecretFrom) -> Result<(), Refusal> {
    if args.live || from == SecretFrom::Chosen || args.provider.provider().has_test_mode() {
        return Ok(());
    }
    let (provider, variable) = (args.provider.title(), args.provider.secret_variable());
    Err(Refusal::new(
        format!(
            "{provider} events carry no test-mode flag, and {variable} may be your live \
             endpoint's secret: an app that verifies it would record this event as a real payment"
        ),
        format!(
            "pass the sandbox endpoint's secret with --secret-file (`-` reads standard input), or \
             --live to sign with {variable}"
        ),
    ))
}

/// Without `--live`, `--id` must be one trigger makes, `affitor_...` after the provider's
/// prefix: the app sends a test-mode sale as a test sale, which takes its transaction id for
/// good (Affitor keeps each once, test sales included), so a real payment's id would leave the
/// real sale answered 409, with no commission. As `affitor test sale` refuses it.
fn check_payment_id(args: &TriggerArgs, event: &SampleEvent) -> Result<(), Refusal> {
    let Some(id) = args.id.as_deref().map(str::trim) else {
        return Ok(());
    };
    if args.live || is_test_payment(args.provider.provider(), id) {
        return Ok(());
    }
    let example = payment_id(args.provider.provider(), args.event.kind(), KEY_PREFIX);
    let problem = if args.event.returns_a_payment() {
        format!(
            "`{id}` is not a payment trigger made: without --live, a {} returns only a test \
             payment, as `affitor test refund` refunds only a test sale",
            args.event.name()
        )
    } else {
        real_sale_taken(
            &event.transaction_id(),
            "the test sale the app sends of this event",
        )
    };
    Err(Refusal::new(
        problem,
        format!(
            "leave --id out for the payment these flags always send (--new-id for another), give \
             one trigger printed (`{example}...`), or pass --live to send this payment's event \
             for real"
        ),
    ))
}

/// Whether `id` is of the form trigger makes: `affitor_...` after the prefix `provider` gives
/// its payments' ids (`pi_` or `in_`, `order_`, `txn_`; none for Lemon Squeezy).
fn is_test_payment(provider: WebhookProvider, id: &str) -> bool {
    let prefixes: &[&str] = match provider {
        WebhookProvider::Stripe => &["pi_", "in_"],
        WebhookProvider::Polar => &["order_"],
        WebhookProvider::Paddle => &["txn_"],
        _ => &[],
    };
    let key = prefixes
        .iter()
        .find_map(|prefix| id.strip_prefix(prefix))
        .unwrap_or(id);
    key.starts_with(KEY_PREFIX)
}

/// The sample event the arguments describe; `None` when the provider sends no such event.
fn sample(args: &TriggerArgs) -> Option<SampleEvent> {
    let provider = args.provider.provider();
    let payment_id = args
        .id
        .clone()
        .unwrap_or_else(|| payment_id(provider, args.event.kind(), &payment_key(args)));
    let mut event = SampleEvent::new(provider, args.event.kind(), &payment_id)?
        .amount_cents(args.amount_cents)
        .test_mode(!args.live);
    if let Some(key) = &args.customer_key {
        event = event.customer_key(key);
    }
    if let Some(click_id) = &args.click_id {
        event = event.click_id(click_id);
    }
    Some(event)
}

pub(crate) async fn run(out: Output, args: TriggerArgs) -> ExitCode {
    let checked = secret(out, &args).and_then(|(secret, from)| {
        check_unflagged(&args, from)?;
        Ok((secret, target(&args)?))
    });
    let (secret, url) = match checked {
        Ok(checked) => checked,
        Err(refusal) => return refused(out, &refusal),
    };
    let provider = args.provider.provider();
    let Some(event) = sample(&args) else {
        let problem = format!("{provider} sends no {} event", args.event.name());
        let fix = "dispute is for stripe and paddle; reverse a chargeback's commission in the \
                   dashboard";
        return refused(out, &Refusal::new(problem, fix));
    };
    if let Err(refusal) = check_payment_id(&args, &event) {
        return refused(out, &refusal);
    }
    let test_mode = !args.live && provider.has_test_mode();
    let signed = event.sign(&secret);
    let event_id = event.event_id();
    let described = format!(
        "{provider} {} {}→ transaction {}{}",
        event.event_type(),
        event_id
            .as_deref()
            .map(|id| format!("{id} "))
            .unwrap_or_default(),
        event.transaction_id(),
        if test_mode { ", test mode" } else { "" },
    );
    out.status(Status::Pass, "signed", &described);
    out.hint(&mode_note(&args, test_mode));
    let spinner = out.spinner(format!("POST {}", shown(&url)));
    let answer = post(&url, &signed).await;
    drop(spinner);
    let document = json!({
        "command": "trigger",
        "provider": provider.name(),
        "event": args.event.name(),
        "event_type": event.event_type(),
        "event_id": event_id,
        "transaction_id": event.transaction_id(),
        "url": shown(&url),
        "live": args.live,
        "test_mode": test_mode,
    });
    report(out, &args, &url, document, answer)
}

/// What the event is to the app: a test event, which moves no money, or a live one.
fn mode_note(args: &TriggerArgs, test_mode: bool) -> String {
    let flagged = args.provider.provider().has_test_mode();
    match (test_mode, args.event.returns_a_payment()) {
        (true, false) => {
            "test mode: the app sends its sale to Affitor as a test event, which pays \
                          no partner; --live signs a live one"
                .to_owned()
        }
        (true, true) => "test mode: a refund of test mode reverses nothing (its sale paid no \
                         commission), so the app acknowledges it and sends nothing to Affitor; \
                         --live signs a live one"
            .to_owned(),
        (false, _) if !flagged && !args.live => format!(
            "{} events carry no test-mode flag: an app that verifies this secret takes it as a \
             live payment (use your sandbox endpoint's secret)",
            args.provider.title()
        ),
        (false, _) => {
            "live: an app that verifies its secret records it as a real payment".to_owned()
        }
    }
}

/// Posts the signed event to `url`: the status and body of the answer. An event for this
/// machine goes to it straight, through no proxy (`HTTP_PROXY` and the like), and `localhost` to
/// the loopback addresses whatever the resolver says.
async fn post(url: &Url, signed: &SignedWebhook) -> Result<(StatusCode, String), reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("affitor-cli/", env!("CARGO_PKG_VERSION")));
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    if let Some(name) = url.host_str()
        && is_localhost(name)
    {
        // Port 0: the URL's own.
        let loopback = [
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
        ];
        builder = builder.resolve_to_addrs(name, &loopback);
    }
    let http = builder.build()?;
    let mut request = http.post(url.clone());
    for (name, value) in signed.headers() {
        request = request.header(name, value);
    }
    let response = request.body(signed.body().to_owned()).send().await?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Ok((status, body))
}

/// Prints what the app answered, and exits 0 for a 2xx.
fn report(
    out: Output,
    args: &TriggerArgs,
    url: &Url,
    mut document: Value,
    answer: Result<(StatusCode, String), reqwest::Error>,
) -> ExitCode {
    match answer {
        Ok((status, body)) => {
            let ok = status.is_success();
            out.status(
                if ok { Status::Pass } else { Status::Fail },
                &format!("POST answered {}", status.as_u16()),
                &shown_body(&body),
            );
            if !ok {
                out.hint(&answer_fix(
                    status.as_u16(),
                    args.provider.secret_variable(),
                ));
            }
            document["ok"] = json!(ok);
            document["status"] = json!(status.as_u16());
            document["answer"] = serde_json::from_str::<Value>(&body).unwrap_or(json!(body));
            out.document(&document);
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            // With its causes (a refused connection, a name not found), and no password: the
            // URL is shown redacted, and reqwest's own text leaves it out.
            let error = error.without_url();
            let problem = redact_url_credentials(&format!(
                "could not POST to {}: {}",
                shown(url),
                ErrorReport::new(&error)
            ))
            .into_owned();
            out.status(Status::Fail, "POST", &problem);
            out.hint("is the app running, and listening at that address?");
            document["ok"] = json!(false);
            document["error"] = json!({ "message": problem });
            out.document(&document);
            ExitCode::FAILURE
        }
    }
}

/// What to do about a webhook that did not answer 2xx.
fn answer_fix(status: u16, variable: &str) -> String {
    match status {
        400 => format!(
            "the app refused the signature: sign with the secret it verifies with ({variable} in \
             the app's environment)"
        ),
        404 | 405 => "no webhook at that URL: check its path (such as /webhooks/stripe)".to_owned(),
        503 => "the app could not reach Affitor and asks for a redelivery: trigger again later"
            .to_owned(),
        _ => "see the app's log for why".to_owned(),
    }
}

/// The answer's body on one line, at most 400 characters.
fn shown_body(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(400) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(no body)".to_owned(),
        None => line,
    }
}

/// The key a payment's ids follow from: the same for the same --customer-key, --click-id and
/// --live, a new one with --new-id.
fn payment_key(args: &TriggerArgs) -> String {
    let seed = if args.new_id {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!("{}:{}", now.as_nanos(), std::process::id())
    } else {
        // A test payment and a live one of the same flags are two payments: Affitor keeps a
        // transaction id once, test events included.
        format!(
            "{}\u{0}{}{}",
            args.customer_key.as_deref().unwrap_or_default(),
            args.click_id.as_deref().unwrap_or_default(),
            if args.live { "" } else { "\u{0}test" }
        )
    };
    format!("{KEY_PREFIX}{:012x}", fnv1a(&seed) & 0xffff_ffff_ffff)
}

/// The payment's id as `provider` names it, for the event `kind` about the payment `key`: a
/// renewal is a payment of its own; a refund and a dispute name the sale.
fn payment_id(provider: WebhookProvider, kind: SampleKind, key: &str) -> String {
    let renewal = kind == SampleKind::Renewal;
    match provider {
        WebhookProvider::Stripe if renewal => format!("in_{key}"),
        WebhookProvider::Stripe => format!("pi_{key}"),
        WebhookProvider::Polar if renewal => format!("order_{key}_renewal"),
        WebhookProvider::Polar => format!("order_{key}"),
        WebhookProvider::Paddle if renewal => format!("txn_{key}_renewal"),
        WebhookProvider::Paddle => format!("txn_{key}"),
        // `orders/<key>` and `subscription-invoices/<key>` already differ.
        _ => key.to_owned(),
    }
}

/// FNV-1a, 64 bits: stable across runs and platforms.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
