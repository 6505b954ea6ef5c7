//! The API's answers: a final answer handed to its endpoint's decoder, and what every endpoint's
//! answer may carry (the test-mode data).
//!
//! Each endpoint declares what it reads of its answer as a `#[derive(Deserialize)]` struct
//! (in its own file); the helpers of `lenient.rs` make those structs as forgiving as the API needs:
//! unknown fields are ignored, and a field of an unexpected type reads as absent instead of
//! failing the whole answer (an id may come as `7` or `"7"`, a flag as anything).

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::endpoint::Endpoint;
use super::error::Error;
use super::lenient;

/// A final answer of the API, handed to the endpoint's decoder.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// Whether an earlier attempt of the same call may have been processed although its answer
    /// was lost (see [`Failure::may_have_been_processed`](super::retry::Failure)).
    pub(crate) after_uncertain_attempt: bool,
}

impl Answer {
    /// The body read into the endpoint's wire struct. Every success of the API carries a JSON
    /// object: anything else (empty, not JSON, an array, an HTML page) means the answer is not
    /// the API's (a wrong `AFFITOR_API_URL`), and is a [`Decode`](crate::client::ErrorKind::Decode)
    /// error rather than a success read from the status alone.
    pub(crate) fn read<T: DeserializeOwned>(&self, endpoint: Endpoint) -> Result<T, Error> {
        self.read_body(&self.body, endpoint)
    }

    /// As [`read`](Self::read), with `key` replaced by `[redacted]` wherever the body holds it
    /// first: for an answer whose texts are kept whole (readiness's), so that one echoing the
    /// API key (a proxy's, say) never carries it into what the caller shows.
    pub(crate) fn read_without<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        key: &str,
    ) -> Result<T, Error> {
        let key = key.as_bytes();
        if key.is_empty() {
            return self.read(endpoint);
        }
        let mut scrubbed = Vec::new();
        let mut rest = &self.body[..];
        while let Some(at) = rest.windows(key.len()).position(|part| part == key) {
            scrubbed.extend_from_slice(&rest[..at]);
            scrubbed.extend_from_slice(b"[redacted]");
            rest = &rest[at + key.len()..];
        }
        if scrubbed.is_empty() {
            return self.read(endpoint);
        }
        scrubbed.extend_from_slice(rest);
        self.read_body(&scrubbed, endpoint)
    }

    fn read_body<T: DeserializeOwned>(&self, body: &[u8], endpoint: Endpoint) -> Result<T, Error> {
        match lenient::object_of(body) {
            Some(wire) => Ok(wire),
            None => Err(Error::decode(
                endpoint,
                format!(
                    "the {} answer is not a JSON object, so it is not the Affitor API's",
                    self.status
                ),
            )),
        }
    }

    /// The error for a 2xx answer that says `success: false`: a refusal.
    pub(crate) fn refusal(&self, endpoint: Endpoint, key: &str) -> Error {
        Error::from_response(endpoint, self.status, None, &self.body, key)
    }
}

/// The `data` of a test-mode answer (`TestModeResponse`): a test event was stored instead of
/// the real one.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TestData {
    #[serde(default, deserialize_with = "lenient::flag")]
    test_mode: Option<bool>,
    #[serde(default, rename = "eventId", deserialize_with = "lenient::present_id")]
    event_id: Option<Option<u64>>,
}

impl TestData {
    /// `Some(event id)` when `data` describes a test event.
    pub(crate) fn event(data: Option<&Self>) -> Option<Option<u64>> {
        let data = data?;
        (data.test_mode == Some(true) || data.event_id.is_some()).then(|| data.event_id.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ErrorKind;
    use crate::client::{click, lead, refund, sale};

    #[derive(Debug, Deserialize)]
    struct Wire {
        #[serde(default, deserialize_with = "lenient::id")]
        id: Option<u64>,
        #[serde(default, deserialize_with = "lenient::flag")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "lenient::text")]
        text: Option<String>,
        #[serde(default, deserialize_with = "lenient::number")]
        number: Option<f64>,
        #[serde(default, deserialize_with = "lenient::object")]
        data: Option<TestData>,
    }

    fn read(body: &str) -> Result<Wire, Error> {
        Answer {
            status: StatusCode::OK,
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        }
        .read(Endpoint::Sale)
    }

    #[test]
    fn fields_of_another_type_read_as_absent() {
        let wire = read(r#"{"id":"12","flag":true,"text":"hi","number":-2,"data":{"eventId":"3"},"new":{"a":[1]}}"#)
            .unwrap();
        assert_eq!(wire.id, Some(12));
        assert_eq!(wire.flag, Some(true));
        assert_eq!(wire.text.as_deref(), Some("hi"));
        assert_eq!(wire.number, Some(-2.0));
        assert_eq!(TestData::event(wire.data.as_ref()), Some(Some(3)));
        let wire = read(r#"{"id":-1,"flag":"true","text":"  ","number":"5","data":[1]}"#).unwrap();
        assert_eq!(
            (wire.id, wire.flag, wire.text, wire.number),
            (None, None, None, None)
        );
        assert!(wire.data.is_none());
        let wire = read(r#"{"id":1.5,"data":{"test_mode":true,"eventId":null}}"#).unwrap();
        assert_eq!(wire.id, None);
        assert_eq!(TestData::event(wire.data.as_ref()), Some(None));
        let wire = read(r#"{"data":{"test_mode":false}}"#).unwrap();
        assert_eq!(TestData::event(wire.data.as_ref()), None);
    }

    #[test]
    fn only_an_object_is_an_answer() {
        for body in ["", "[]", "[1,2]", "null", "\"x\"", "{\"id\":", "{} x"] {
            assert!(read(body).is_err(), "{body}");
        }
        assert!(read(" {}").is_ok());
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let wire = read(r#"{"id": 1, "text": "a", "id": 2}"#).expect("an object");
        assert_eq!(wire.id, Some(2));
        assert_eq!(wire.text.as_deref(), Some("a"));
    }

    fn answer_of(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
            after_uncertain_attempt: false,
        }
    }

    const KEY: &str = "aff_test_key";

    #[test]
    fn a_success_without_a_json_object_is_not_the_apis() {
        let html = "<!doctype html><html><body>Welcome to nginx!</body></html>";
        for body in ["", "OK", html, "[1,2]", "\"recorded\"", "{\"success\":"] {
            let sale = sale::decode(&answer_of(200, body), KEY).unwrap_err();
            let lead = lead::decode(&answer_of(201, body), KEY).unwrap_err();
            let refund = refund::decode(&answer_of(200, body), KEY, false).unwrap_err();
            let click = click::decode(&answer_of(200, body), KEY).unwrap_err();
            for error in [&sale, &lead, &refund, &click] {
                assert_eq!(error.kind(), ErrorKind::Decode, "{body}");
                assert!(!error.is_retryable());
                let text = error.to_string();
                assert!(text.contains("not the Affitor API's"), "{text}");
                assert!(text.contains("AFFITOR_API_URL"), "{text}");
            }
        }
        assert_eq!(
            sale::decode(&answer_of(200, html), KEY)
                .unwrap_err()
                .to_string(),
            "unexpected answer to the sale call: the 200 OK answer is not a JSON object, so it \
             is not the Affitor API's — check that AFFITOR_API_URL points at the Affitor API"
        );
    }
}
