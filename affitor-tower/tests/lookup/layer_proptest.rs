//! Property: whatever the body, its framing and its content type, the handler reads through the
//! layer exactly what it would have read without it.

use crate::support::{BodyError, Scripted, Step, observe};
use affitor_tower::AffitorLayer;
use affitor_tower::adapter;
use affitor_tower::layer::AffitorBody;
use affitor_tower::lookup::ClickIdSearch;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use proptest::prelude::*;
use tower::{ServiceBuilder, ServiceExt};

/// A body: a JSON object holding a click id and some padding, or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        ("[a-zA-Z0-9_-]{1,20}", 0usize..600).prop_map(|(id, pad)| {
            format!(r#"{{"affitorClickId":"{id}","pad":"{}"}}"#, "x".repeat(pad)).into_bytes()
        }),
        ("[a-zA-Z0-9_-]{1,20}", 0usize..600).prop_map(|(id, pad)| {
            format!("pad={}&affitor_click_id={id}", "x".repeat(pad)).into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..1200),
    ]
}

#[derive(Clone, Debug)]
struct Framing {
    sizes: Vec<usize>,
    pending: bool,
    announce_length: bool,
    failure: Option<prop::sample::Index>,
    trailers: bool,
}

fn framing() -> impl Strategy<Value = Framing> {
    (
        prop::collection::vec(1usize..400, 0..8),
        any::<bool>(),
        any::<bool>(),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
        any::<bool>(),
    )
        .prop_map(
            |(sizes, pending, announce_length, failure, trailers)| Framing {
                sizes,
                pending,
                announce_length,
                failure,
                trailers,
            },
        )
}

fn scripted(data: &[u8], framing: &Framing) -> Scripted {
    let cut = framing
        .failure
        .as_ref()
        .map_or(data.len(), |index| index.index(data.len() + 1));
    let mut steps = Vec::new();
    let mut rest = &data[..cut];
    let mut sizes = framing
        .sizes
        .iter()
        .copied()
        .chain(std::iter::repeat(usize::MAX));
    while !rest.is_empty() {
        let (frame, tail) = rest.split_at(sizes.next().unwrap_or(usize::MAX).min(rest.len()));
        if framing.pending {
            steps.push(Step::Pending);
        }
        steps.push(Step::Data(Bytes::copy_from_slice(frame)));
        rest = tail;
    }
    if framing.failure.is_some() {
        steps.push(Step::Error(BodyError("reset")));
        steps.push(Step::Data(Bytes::copy_from_slice(&data[cut..])));
    } else if framing.trailers {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-trailer", HeaderValue::from_static("1"));
        steps.push(Step::Trailers(trailers));
    }
    let body = Scripted::new(steps);
    if framing.announce_length {
        body.with_length(data.len() as u64)
    } else {
        body
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_handler_reads_the_bytes_that_were_sent(
        data in body(),
        framing in framing(),
        content_type in prop::sample::select(vec![
            Some("application/json"),
            Some("application/x-www-form-urlencoded"),
            Some("text/plain"),
            None,
        ]),
        method in prop::sample::select(vec!["POST", "PUT", "GET"]),
        limit in prop::sample::select(vec![0usize, 1, 64, 300, 65_536]),
    ) {
        let make = || {
            let mut request = Request::builder().method(method).uri("/");
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            if framing.announce_length {
                request = request.header("content-length", data.len());
            }
            request.body(scripted(&data, &framing)).unwrap()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (bare, seen) = runtime.block_on(async {
            let bare = observe(make()).await.unwrap();
            let layer = AffitorLayer::new().search(ClickIdSearch::default().body_limit(limit));
            let seen = ServiceBuilder::new()
                .layer(layer)
                .service_fn(observe::<AffitorBody<Scripted>>)
                .oneshot(make())
                .await
                .unwrap();
            (bare, seen)
        });
        prop_assert!(seen.data == bare.data, "{} bytes instead of {}", seen.data.len(), bare.data.len());
        prop_assert_eq!(&seen.trailers, &bare.trailers);
        prop_assert_eq!(&seen.error, &bare.error);
        prop_assert_eq!(seen.size_hint, bare.size_hint);

        // When the layer could read the whole body, it found what the two-step lookup finds
        // over that body (the parsers are tested on their own, in the crate).
        let whole = framing.failure.is_none() && data.len() <= limit && method != "GET";
        let expected = match content_type {
            Some(content_type) if whole => {
                let search = ClickIdSearch::default().body_limit(limit);
                let step = adapter::lookup_headers(&search, method, |header| {
                    (header.name() == "content-type").then_some(content_type.as_bytes())
                });
                match step {
                    adapter::HeaderLookup::ReadBody(read) => read.finish(&data).click_id().cloned(),
                    adapter::HeaderLookup::Done(found) => found.click_id().cloned(),
                }
            }
            _ => None,
        };
        // The lookup is the one extension that carries the click id.
        prop_assert_eq!(seen.click_id_extension.as_ref(), None);
        let lookup = seen.lookup.unwrap();
        prop_assert_eq!(lookup.click_id(), expected.as_ref());
    }
}
