//! What the `Affitor` middleware adds to a request in an actix-web app, against the same app
//! without it, and, for JSON bodies, what the handler pays anyway to parse the body as
//! `web::Json<serde_json::Value>`.
//!
//! Run: `cargo bench -p affitor-actix --bench middleware`
//!
//! Instructions per request, without the timer's noise: run the built bench binary under
//! `valgrind --tool=callgrind` with `--count CASE SIDE CALLS` (see [`count`]) for both sides and
//! two call counts, as for the Tower layer's bench.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use actix_http::Request;
use actix_web::rt::System;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use affitor_actix::Affitor;
use affitor_actix::affitor_tower::adapter::{self, HeaderLookup};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use futures_util::StreamExt;

/// The handler: reads the whole body, as a real one would, and answers its length.
async fn handler(mut payload: web::Payload) -> HttpResponse {
    let mut len = 0;
    while let Some(chunk) = payload.next().await {
        len += chunk.unwrap().len();
    }
    HttpResponse::Ok().body(len.to_string())
}

/// The handler that parses the body as JSON, as a signup handler would anyway.
async fn json_handler(body: web::Json<serde_json::Value>) -> HttpResponse {
    black_box(body.into_inner());
    HttpResponse::Ok().finish()
}

fn base(method: actix_web::http::Method) -> TestRequest {
    TestRequest::default()
        .method(method)
        .uri("/api/signup")
        .insert_header(("host", "shop.example.com"))
        .insert_header((
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/125.0",
        ))
        .insert_header(("accept", "application/json"))
        .insert_header(("accept-language", "en-US,en;q=0.5"))
}

/// A signup body of about `len` bytes: the form fields, the click id, then an order history
/// of small objects (what makes a DOM parse cost). The same body as the Tower layer's bench.
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
    make: Box<dyn Fn() -> Request>,
}

fn cases() -> Vec<Case> {
    use actix_web::http::Method;
    let json = |body: Bytes| {
        move || {
            base(Method::POST)
                .insert_header(("content-type", "application/json"))
                .set_payload(body.clone())
                .to_request()
        }
    };
    let small = r#"{"email":"jane.doe@example.com"}"#;
    vec![
        Case {
            name: "no_click_id",
            make: Box::new(|| {
                base(Method::GET)
                    .insert_header((
                        "cookie",
                        "_ga=GA1.2.1234567890.1714000000; session=s%3Aabcdef0123456789; theme=dark",
                    ))
                    .to_request()
            }),
        },
        Case {
            name: "header",
            make: Box::new(move || {
                base(Method::POST)
                    .insert_header(("x-affitor-click-id", "aff_1714000000000_x7k2p9"))
                    .insert_header(("content-type", "application/json"))
                    .set_payload(small)
                    .to_request()
            }),
        },
        Case {
            name: "cookie",
            make: Box::new(move || {
                base(Method::POST)
                    .insert_header((
                        "cookie",
                        "_ga=GA1.2.1234567890.1714000000; session=s%3Aabcdef0123456789; \
                         affitor_click_id=aff_1714000000000_x7k2p9; theme=dark",
                    ))
                    .insert_header(("content-type", "application/json"))
                    .set_payload(small)
                    .to_request()
            }),
        },
        Case {
            name: "json_1k",
            make: Box::new(json(json_body(1024))),
        },
        Case {
            name: "json_64k",
            make: Box::new(json(json_body(64 * 1024 - 64))),
        },
    ]
}

fn middleware(c: &mut Criterion) {
    let system = System::new();
    let bare = system.block_on(test::init_service(
        App::new().route("/api/signup", web::to(handler)),
    ));
    let wrapped = system.block_on(test::init_service(
        App::new()
            .wrap(Affitor::new())
            .route("/api/signup", web::to(handler)),
    ));
    let json = system.block_on(test::init_service(
        App::new().route("/api/signup", web::to(json_handler)),
    ));

    for case in cases() {
        let mut group = c.benchmark_group(format!("actix/{}", case.name));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let expected = system.block_on(test::call_and_read_body(&bare, (case.make)()));

        group.bench_function("bare", |b| {
            b.iter_batched(
                &case.make,
                |request| system.block_on(test::call_and_read_body(&bare, request)),
                BatchSize::SmallInput,
            );
        });
        group.bench_function("middleware", |b| {
            b.iter_batched(
                &case.make,
                |request| {
                    let seen = system.block_on(test::call_and_read_body(&wrapped, request));
                    assert_eq!(seen, expected);
                    seen
                },
                BatchSize::SmallInput,
            );
        });
        if case.name.starts_with("json") {
            // The shared lookup alone over the same body: what the middleware cannot avoid.
            let body = json_body(if case.name == "json_1k" {
                1024
            } else {
                64 * 1024 - 64
            });
            group.bench_function("lookup_only", |b| {
                let search = affitor_actix::ClickIdSearch::default();
                b.iter(|| {
                    let step = adapter::lookup_headers(&search, "POST", |header| {
                        (header.name() == "content-type").then_some(&b"application/json"[..])
                    });
                    let HeaderLookup::ReadBody(lookup) = step else {
                        unreachable!("a JSON POST")
                    };
                    black_box(lookup.finish(black_box(&body)))
                });
            });
            group.bench_function("bare_json_value", |b| {
                b.iter_batched(
                    &case.make,
                    |request| {
                        let response = system.block_on(test::call_service(&json, request));
                        assert!(response.status().is_success());
                        response
                    },
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

/// Each case again, bare and through the middleware in alternating rounds (the order flips
/// every round), with the median time per request of each side and the medians of the
/// per-round differences and ratios: a busy machine slows both sides of a round alike.
fn paired(_: &mut Criterion) {
    const ROUNDS: usize = 31;
    const CALLS: usize = 500;
    let system = System::new();
    let bare = system.block_on(test::init_service(
        App::new().route("/api/signup", web::to(handler)),
    ));
    let wrapped = system.block_on(test::init_service(
        App::new()
            .wrap(Affitor::new())
            .route("/api/signup", web::to(handler)),
    ));
    for case in cases() {
        let block = |wrap: bool| {
            let requests: Vec<Request> = (0..CALLS).map(|_| (case.make)()).collect();
            let started = Instant::now();
            system.block_on(async {
                for request in requests {
                    let body = if wrap {
                        test::call_and_read_body(&wrapped, request).await
                    } else {
                        test::call_and_read_body(&bare, request).await
                    };
                    black_box(body);
                }
            });
            started.elapsed() / CALLS as u32
        };
        // Warm both paths.
        block(false);
        block(true);
        let (mut bare_times, mut wrapped_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut added_ns = Vec::new();
        for round in 0..ROUNDS {
            let (bare_time, wrapped_time) = if round % 2 == 0 {
                let bare_time = block(false);
                (bare_time, block(true))
            } else {
                let wrapped_time = block(true);
                (block(false), wrapped_time)
            };
            ratios.push(wrapped_time.as_secs_f64() / bare_time.as_secs_f64());
            added_ns.push(wrapped_time.as_nanos() as f64 - bare_time.as_nanos() as f64);
            bare_times.push(bare_time);
            wrapped_times.push(wrapped_time);
        }
        bare_times.sort();
        wrapped_times.sort();
        ratios.sort_by(f64::total_cmp);
        added_ns.sort_by(f64::total_cmp);
        println!(
            "actix/{}/paired: bare median {:?}, middleware median {:?}, median added {:.0} ns, \
             median ratio middleware/bare {:.2} ({ROUNDS} alternating rounds of {CALLS} requests)",
            case.name,
            bare_times[ROUNDS / 2],
            wrapped_times[ROUNDS / 2],
            added_ns[ROUNDS / 2],
            ratios[ROUNDS / 2],
        );
    }
}

/// Runs `calls` requests of one case through one side (`bare` or `middleware`), each built in
/// the loop, for an instruction counter such as `valgrind --tool=callgrind`: the difference
/// between the two sides' counts, divided by `calls`, is what the middleware adds per request.
fn count(case_name: &str, side: &str, calls: usize) {
    let case = cases()
        .into_iter()
        .find(|case| case.name == case_name)
        .unwrap_or_else(|| panic!("no case named {case_name}"));
    let system = System::new();
    let app = App::new().route("/api/signup", web::to(handler));
    system.block_on(async {
        match side {
            "bare" => {
                let app = test::init_service(app).await;
                for _ in 0..calls {
                    black_box(test::call_and_read_body(&app, (case.make)()).await);
                }
            }
            "middleware" => {
                let app = test::init_service(app.wrap(Affitor::new())).await;
                for _ in 0..calls {
                    black_box(test::call_and_read_body(&app, (case.make)()).await);
                }
            }
            _ => panic!("no side named {side}: bare or middleware"),
        }
    });
}

criterion_group!(benches, middleware, paired);

fn main() {
    // `-- --count CASE SIDE CALLS`: a fixed amount of work, for an instruction counter.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    if let [flag, case, side, calls] = &args[..] {
        if flag == "--count" {
            count(case, side, calls.parse().unwrap());
            return;
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
