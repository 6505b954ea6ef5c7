//! What `AffitorLayer` adds to a request, against the same handler without it, and the body
//! scan against the `Json<serde_json::Value>` parse a handler would do anyway.
//!
//! Run: `cargo bench -p affitor-tower --bench layer --no-default-features --features layer`
//!
//! Instructions per request, without the timer's noise: run the built bench binary under
//! `valgrind --tool=callgrind` with `--count CASE SIDE CALLS` (see [`count`]) for two sides, and
//! divide the difference by `CALLS`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use affitor_tower::adapter;
use affitor_tower::{
    AffitorLayer, ClickId,
    lookup::{ClickIdLookup, ClickIdSource},
};
use axum::extract::FromRequest;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use http::Request;
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};

/// Polls a future that never waits (every body here is in memory) to its end.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// The handler: reads the whole body, as a real one would, and answers its length.
async fn handler<B>(request: Request<B>) -> Result<usize, Infallible>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut body = request.into_body();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            len += data.len();
        }
    }
    Ok(len)
}

fn base(method: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri("/api/signup")
        .header("host", "shop.example.com")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/125.0",
        )
        .header("accept", "application/json")
        .header("accept-language", "en-US,en;q=0.5")
}

/// A signup body of about `len` bytes: the form fields, the click id, then an order history
/// of small objects (what makes a DOM parse cost).
fn json_body(len: usize) -> Bytes {
    let mut body = String::from(
        r#"{"email":"jane.doe@example.com","password":"correct horse battery staple","name":"Jane Doe","affitorClickId":"aff_1714000000000_x7k2p9","marketing":true,"items":["#,
    );
    let mut index = 0;
    while body.len() + 120 < len {
        if index > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"sku":"SKU-{index:05}","qty":{},"price":{}.99,"tags":["a","b"],"gift":false}}"#,
            index % 7 + 1,
            index % 50 + 3
        ));
        index += 1;
    }
    body.push_str(r#"],"locale":"en-US"}"#);
    body.into()
}

struct Case {
    name: &'static str,
    make: Box<dyn Fn() -> Request<Full<Bytes>>>,
}

/// An extension an earlier layer inserted, as axum's router does (`MatchedPath`,
/// `OriginalUri`) before a `Router::layer` middleware runs: the request's extension map exists.
#[derive(Clone)]
struct RouterExtension(#[allow(dead_code)] u64);

/// The header cases again, with one extension already in the request, bare and layered alike.
fn cases_with_extension() -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|case| !case.name.starts_with("json"))
        .map(|case| {
            let make = case.make;
            Case {
                name: match case.name {
                    "no_click_id" => "no_click_id+ext",
                    "header" => "header+ext",
                    _ => "cookie+ext",
                },
                make: Box::new(move || {
                    let mut request = make();
                    request.extensions_mut().insert(RouterExtension(7));
                    request
                }),
            }
        })
        .collect()
}

/// A no-click-id `GET` with the headers a current desktop Chrome sends (17, behind no proxy):
/// what a walk over the header map costs against hashed probes.
fn browser_case() -> Case {
    Case {
        name: "browser",
        make: Box::new(|| {
            let mut builder = base("GET");
            for (name, value) in [
                ("connection", "keep-alive"),
                (
                    "sec-ch-ua",
                    "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"",
                ),
                ("sec-ch-ua-mobile", "?0"),
                ("sec-ch-ua-platform", "\"Linux\""),
                ("upgrade-insecure-requests", "1"),
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-user", "?1"),
                ("sec-fetch-dest", "document"),
                ("referer", "https://shop.example.com/"),
                ("accept-encoding", "gzip, deflate, br, zstd"),
                ("priority", "u=0, i"),
                (
                    "cookie",
                    "_ga=GA1.2.1234567890.1714000000; session=s%3Aabcdef0123456789; theme=dark",
                ),
            ] {
                builder = builder.header(name, value);
            }
            builder.body(Full::default()).unwrap()
        }),
    }
}

/// A form signup `POST` (`application/x-www-form-urlencoded`, percent-encoded fields, the click
/// id last), to weigh the form decoder (`--count` mode only).
fn form_case() -> Case {
    const BODY: &str = "email=jane.doe%40example.com&password=correct+horse+battery+staple\
        &name=Jane%20Doe&marketing=on&affitor_click_id=aff_1714000000000_x7k2p9";
    Case {
        name: "form",
        make: Box::new(|| {
            base("POST")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-length", BODY.len())
                .body(Full::from(BODY))
                .unwrap()
        }),
    }
}

fn cases() -> Vec<Case> {
    let json_1k = json_body(1024);
    let json_64k = json_body(64 * 1024 - 64);
    let json = |body: Bytes| {
        move || {
            base("POST")
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(Full::new(body.clone()))
                .unwrap()
        }
    };
    vec![
        Case {
            name: "no_click_id",
            make: Box::new(|| {
                base("GET")
                    .header(
                        "cookie",
                        "_ga=GA1.2.1234567890.1714000000; session=s%3Aabcdef0123456789; theme=dark",
                    )
                    .body(Full::default())
                    .unwrap()
            }),
        },
        Case {
            name: "header",
            make: Box::new(|| {
                base("POST")
                    .header("x-affitor-click-id", "aff_1714000000000_x7k2p9")
                    .header("content-type", "application/json")
                    .body(Full::from(r#"{"email":"jane.doe@example.com"}"#))
                    .unwrap()
            }),
        },
        Case {
            name: "cookie",
            make: Box::new(|| {
                base("POST")
                    .header(
                        "cookie",
                        "_ga=GA1.2.1234567890.1714000000; session=s%3Aabcdef0123456789; affitor_click_id=aff_1714000000000_x7k2p9; theme=dark",
                    )
                    .header("content-type", "application/json")
                    .body(Full::from(r#"{"email":"jane.doe@example.com"}"#))
                    .unwrap()
            }),
        },
        Case {
            name: "json_1k",
            make: Box::new(json(json_1k)),
        },
        Case {
            name: "json_64k",
            make: Box::new(json(json_64k)),
        },
    ]
}

fn layer(c: &mut Criterion) {
    let bare = tower::service_fn(handler::<Full<Bytes>>);
    let layered = AffitorLayer::new().layer(tower::service_fn(handler));

    for case in cases() {
        let mut group = c.benchmark_group(case.name);
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let len = run(handler((case.make)())).unwrap();

        group.bench_function("bare", |b| {
            b.iter_batched(
                &case.make,
                |request| {
                    let mut service = bare;
                    let seen = run(async { service.ready().await?.call(request).await });
                    assert_eq!(seen, Ok(len));
                    seen
                },
                BatchSize::SmallInput,
            );
        });
        group.bench_function("layer", |b| {
            b.iter_batched(
                &case.make,
                |request| {
                    let mut service = layered.clone();
                    let seen = run(async { service.ready().await?.call(request).await });
                    assert_eq!(seen, Ok(len));
                    seen
                },
                BatchSize::SmallInput,
            );
        });
        if case.name.starts_with("json") {
            // What the handler pays anyway to read the same body as `Json<Value>`.
            group.bench_function("axum_json_value", |b| {
                b.iter_batched(
                    || (case.make)().map(axum::body::Body::new),
                    |request| {
                        let axum::Json(value) =
                            run(axum::Json::<serde_json::Value>::from_request(request, &()))
                                .unwrap();
                        black_box(value)
                    },
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

/// Where the time of the no-click-id case goes.
fn breakdown(c: &mut Criterion) {
    let search = affitor_tower::lookup::ClickIdSearch::default();
    let request = (cases().remove(0).make)();
    let mut group = c.benchmark_group("breakdown");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("lookup_headers", |b| {
        b.iter(|| {
            let headers = request.headers();
            let method = request.method().as_str();
            black_box(adapter::lookup_headers(&search, method, |header| {
                headers
                    .get_all(header.name())
                    .into_iter()
                    .map(http::HeaderValue::as_bytes)
            }))
        })
    });
    group.bench_function("insert_lookup", |b| {
        b.iter(|| {
            let mut extensions = http::Extensions::new();
            extensions.insert(affitor_tower::lookup::ClickIdLookup::not_found(Vec::new()));
            black_box(extensions)
        })
    });
    group.finish();
}

/// The lookup the layer inserts, built without looking: the least any layer that hands the
/// click id to the handler must do.
fn floor_lookup(found: bool) -> ClickIdLookup {
    if found {
        let click_id = ClickId::from_bytes(b"aff_1714000000000_x7k2p9").unwrap();
        ClickIdLookup::found(click_id, ClickIdSource::Extension, Vec::new())
    } else {
        ClickIdLookup::not_found(Vec::new())
    }
}

/// Runs `calls` requests of one case through one side, for an instruction counter such as
/// `valgrind --tool=callgrind`: the difference between two sides' counts, divided by `calls`,
/// is what one adds per request, free of the timer's noise. Sides: `bare`, `layer`, `floor`.
fn count(case_name: &str, side: &str, calls: usize) {
    let case = cases()
        .into_iter()
        .chain(cases_with_extension())
        .chain([browser_case(), form_case()])
        .find(|case| case.name == case_name)
        .unwrap_or_else(|| panic!("no case named {case_name}"));
    let bare = tower::service_fn(handler::<Full<Bytes>>);
    let layered = AffitorLayer::new().layer(tower::service_fn(handler));
    let found = !case_name.starts_with("no_click_id");
    // Each request is built in the loop, not ahead: the allocator then sees the same steady
    // pattern on every side, and its bookkeeping cancels out of the difference.
    for _ in 0..calls {
        let mut request = (case.make)();
        let seen = match side {
            "bare" => {
                let mut service = bare;
                run(async { service.ready().await?.call(request).await })
            }
            "layer" => {
                let mut service = layered.clone();
                run(async { service.ready().await?.call(request).await })
            }
            "floor" => {
                request.extensions_mut().insert(floor_lookup(found));
                let mut service = bare;
                run(async { service.ready().await?.call(request).await })
            }
            _ => panic!("no side named {side}: bare, layer or floor"),
        };
        black_box(seen.unwrap());
    }
}

/// Times `calls` requests of `case` through `call`, built `batch` at a time just before they are
/// called (building is not timed): the time per call, in ns.
fn time_calls(
    case: &Case,
    calls: usize,
    batch: usize,
    mut call: impl FnMut(Request<Full<Bytes>>),
) -> f64 {
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < calls {
        let requests: Vec<_> = (0..batch.min(calls - done))
            .map(|_| (case.make)())
            .collect();
        done += requests.len();
        let start = Instant::now();
        for request in requests {
            call(request);
        }
        elapsed += start.elapsed();
    }
    elapsed.as_nanos() as f64 / calls as f64
}

/// Bare and layered calls in alternating rounds, so that a busy machine slows both sides of a
/// round alike: the median of the per-round differences is the cost the layer adds.
///
/// Twice: with each round's requests built ahead (`cold`: thousands of requests, most of them
/// out of the CPU caches when called) and built 32 at a time just before their calls (`hot`: as
/// in a server, where the service is called right after the request head was parsed).
fn paired() {
    const ROUNDS: usize = 41;
    let calls_per_round = |name: &str| match name {
        "json_64k" => 100,
        "json_1k" => 1000,
        _ => 5000,
    };
    let bare = tower::service_fn(handler::<Full<Bytes>>);
    let layered = AffitorLayer::new().layer(tower::service_fn(handler));
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };

    for (requests, batch) in [("cold", usize::MAX), ("hot", 32)] {
        println!(
            "paired, {requests} requests: {ROUNDS} alternating rounds; medians of the per-call time in ns"
        );
        println!(
            "{:<16} {:>10} {:>10} {:>10} {:>14} {:>14} {:>12}",
            "case", "bare", "layer", "added", "floor added", "axum Json", "added/Json"
        );
        for case in cases().into_iter().chain(cases_with_extension()) {
            let calls = calls_per_round(case.name);
            let (mut bare_ns, mut layer_ns, mut added_ns, mut json_ns, mut ratio) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut floor_ns = Vec::new();
            // The floor: only the extension the layer must insert, with no lookup.
            let found = !case.name.starts_with("no_click_id");
            for round in 0..ROUNDS {
                let time_bare = || {
                    time_calls(&case, calls, batch, |request| {
                        let mut service = bare;
                        let seen = run(async { service.ready().await?.call(request).await });
                        black_box(seen.unwrap());
                    })
                };
                let time_layer = || {
                    time_calls(&case, calls, batch, |request| {
                        let mut service = layered.clone();
                        let seen = run(async { service.ready().await?.call(request).await });
                        black_box(seen.unwrap());
                    })
                };
                let time_floor = || {
                    time_calls(&case, calls, batch, |mut request| {
                        request.extensions_mut().insert(floor_lookup(found));
                        let mut service = bare;
                        let seen = run(async { service.ready().await?.call(request).await });
                        black_box(seen.unwrap());
                    })
                };
                let (b, l, f) = if round % 2 == 0 {
                    let b = time_bare();
                    let l = time_layer();
                    (b, l, time_floor())
                } else {
                    let f = time_floor();
                    let l = time_layer();
                    (time_bare(), l, f)
                };
                bare_ns.push(b);
                layer_ns.push(l);
                added_ns.push(l - b);
                floor_ns.push(f - b);
                if case.name.starts_with("json") {
                    let requests: Vec<_> = (0..calls)
                        .map(|_| (case.make)().map(axum::body::Body::new))
                        .collect();
                    let start = Instant::now();
                    for request in requests {
                        let parsed =
                            run(axum::Json::<serde_json::Value>::from_request(request, &()));
                        let _ = black_box(parsed.unwrap());
                    }
                    let json = start.elapsed().as_nanos() as f64 / calls as f64;
                    json_ns.push(json);
                    ratio.push((l - b) / json);
                }
            }
            let (json, ratio) = if json_ns.is_empty() {
                (String::from("-"), String::from("-"))
            } else {
                (
                    format!("{:.0}", median(&mut json_ns)),
                    format!("{:.3}", median(&mut ratio)),
                )
            };
            println!(
                "{:<16} {:>10.0} {:>10.0} {:>10.0} {:>14.0} {:>14} {:>12}",
                case.name,
                median(&mut bare_ns),
                median(&mut layer_ns),
                median(&mut added_ns),
                median(&mut floor_ns),
                json,
                ratio
            );
        }
    }
}

criterion_group!(benches, layer, breakdown);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and only checks that
    // the criterion benchmarks run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `-- --count CASE SIDE CALLS`: a fixed amount of work, for an instruction counter.
    let counted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|&arg| arg != "--bench")
        .collect();
    if let ["--count", case, side, calls] = counted[..] {
        count(case, side, calls.parse().unwrap());
        return;
    }
    let filter = args.iter().find(|arg| !arg.starts_with('-'));
    if args.iter().any(|arg| arg == "--bench")
        && filter.is_none_or(|filter| "paired".contains(filter.as_str()))
    {
        paired();
    }
    if filter.is_none_or(|filter| filter != "paired") {
        benches();
    }
    Criterion::default().configure_from_args().final_summary();
}
