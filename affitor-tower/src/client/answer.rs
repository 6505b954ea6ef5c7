//! The API's answers: a final answer handed to its endpoint's decoder, the body of an error
//! answer, and the lenient reading of their JSON into wire structs.
//!
//! Each endpoint declares what it reads of its answer as a `#[derive(Deserialize)]` struct
//! (in its own file); the helpers here make those structs as forgiving as the API needs:
//! unknown fields are ignored, and a field of an unexpected type reads as absent instead of
//! failing the whole answer (an id may come as `7` or `"7"`, a flag as anything).

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::endpoint::Endpoint;
use super::error::Error;

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
    /// the API's (a wrong `AFFITOR_API_URL`), and is a [`Decode`](crate::ErrorKind::Decode)
    /// error rather than a success read from the status alone.
    pub(crate) fn read<T: DeserializeOwned>(&self, endpoint: Endpoint) -> Result<T, Error> {
        let is_object = self.body.trim_ascii_start().first() == Some(&b'{');
        match serde_json::from_slice(&self.body) {
            Ok(wire) if is_object => Ok(wire),
            _ => Err(Error::decode(
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

/// The useful parts of an error body, whichever of the API's three shapes it has.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ApiErrorBody {
    pub(crate) message: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) retry_after_seconds: Option<u64>,
}

impl ApiErrorBody {
    /// Reads `{"error":"..."}` (tracking), `{"error":{code,message,retry_after_seconds}}` (agent
    /// endpoints, Strapi) and `{"message":"..."}`, in the order the Affitor CLI does. Anything
    /// else gives an empty result.
    pub(crate) fn parse(body: &[u8]) -> Self {
        let is_object = body.trim_ascii_start().first() == Some(&b'{');
        let Some(answer) = serde_json::from_slice::<ErrorAnswer>(body)
            .ok()
            .filter(|_| is_object)
        else {
            return Self::default();
        };
        let (message, code, retry_after_seconds) = match answer.error {
            Some(ErrorField::Text(message)) => (Some(message), None, None),
            Some(ErrorField::Object(error)) => {
                (error.message, error.code, error.retry_after_seconds)
            }
            Some(ErrorField::Other(_)) | None => (None, None, None),
        };
        Self {
            message: message.or(answer.message),
            code,
            retry_after_seconds: retry_after_seconds.or(answer.retry_after_seconds),
        }
    }
}

/// An error answer, as the API sends it in any of its shapes.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: Option<ErrorField>,
    #[serde(default, deserialize_with = "lenient::text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::id")]
    retry_after_seconds: Option<u64>,
}

/// The `error` field: a message, or an object with a code.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Text(String),
    Object(ErrorObject),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default, deserialize_with = "lenient::text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient::id")]
    retry_after_seconds: Option<u64>,
}

/// Field deserializers that read a value of an unexpected type as absent. Use them with
/// `#[serde(default, deserialize_with = "lenient::...")]` on an `Option` field.
pub(crate) mod lenient {
    use std::fmt;

    use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    /// Any JSON value, kept only as far as the client reads it.
    enum Scalar {
        Bool(bool),
        Unsigned(u64),
        Negative(i64),
        Float(f64),
        Text(String),
        /// `null`, an array or an object.
        Other,
    }

    impl<'de> Deserialize<'de> for Scalar {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(ScalarVisitor)
        }
    }

    struct ScalarVisitor;

    impl<'de> Visitor<'de> for ScalarVisitor {
        type Value = Scalar;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, value: bool) -> Result<Scalar, E> {
            Ok(Scalar::Bool(value))
        }

        fn visit_u64<E>(self, value: u64) -> Result<Scalar, E> {
            Ok(Scalar::Unsigned(value))
        }

        fn visit_i64<E>(self, value: i64) -> Result<Scalar, E> {
            Ok(u64::try_from(value).map_or(Scalar::Negative(value), Scalar::Unsigned))
        }

        fn visit_f64<E>(self, value: f64) -> Result<Scalar, E> {
            Ok(Scalar::Float(value))
        }

        fn visit_str<E>(self, value: &str) -> Result<Scalar, E> {
            Ok(Scalar::Text(value.to_owned()))
        }

        fn visit_string<E>(self, value: String) -> Result<Scalar, E> {
            Ok(Scalar::Text(value))
        }

        fn visit_unit<E>(self) -> Result<Scalar, E> {
            Ok(Scalar::Other)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }
    }

    impl Scalar {
        fn id(self) -> Option<u64> {
            match self {
                Self::Unsigned(value) => Some(value),
                Self::Text(text) => text.trim().parse().ok(),
                _ => None,
            }
        }
    }

    /// An id: a non-negative integer, or a string of digits.
    pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Scalar::deserialize(d).map(Scalar::id)
    }

    /// Whether the field is there at all (`Some`), and its id if it reads as one.
    pub(crate) fn present_id<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<u64>>, D::Error> {
        Scalar::deserialize(d).map(|scalar| Some(scalar.id()))
    }

    /// Whether the field is there at all (`Some`), and its text if it is a string.
    pub(crate) fn present_text<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        any_text(d).map(Some)
    }

    /// A small count, such as a number of days.
    pub(crate) fn small<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        id(d).map(|value| value.and_then(|value| u32::try_from(value).ok()))
    }

    /// A number of any form, as `f64`.
    pub(crate) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Scalar::deserialize(d).map(|scalar| match scalar {
            Scalar::Unsigned(value) => Some(value as f64),
            Scalar::Negative(value) => Some(value as f64),
            Scalar::Float(value) => Some(value),
            _ => None,
        })
    }

    /// A JSON boolean; anything else (`"true"`, `1`) is not one.
    pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Scalar::deserialize(d).map(|scalar| match scalar {
            Scalar::Bool(value) => Some(value),
            _ => None,
        })
    }

    /// A string that is not blank.
    pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Scalar::deserialize(d).map(|scalar| match scalar {
            Scalar::Text(text) if !text.trim().is_empty() => Some(text),
            _ => None,
        })
    }

    /// A string, blank or not.
    pub(crate) fn any_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Scalar::deserialize(d).map(|scalar| match scalar {
            Scalar::Text(text) => Some(text),
            _ => None,
        })
    }

    /// A JSON object read into `T`; any other value is absent.
    pub(crate) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        d.deserialize_any(ObjectVisitor(std::marker::PhantomData))
    }

    struct ObjectVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_str<E>(self, _: &str) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
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

    #[test]
    fn parses_the_three_error_shapes() {
        assert_eq!(
            ApiErrorBody::parse(br#"{"error":"Invalid API token"}"#),
            ApiErrorBody {
                message: Some("Invalid API token".into()),
                ..Default::default()
            }
        );
        assert_eq!(
            ApiErrorBody::parse(
                br#"{"error":{"status":429,"code":"rate_limited","message":"Too many synthetic chains (max 10/program/hour).","retry_after_seconds":1800}}"#
            ),
            ApiErrorBody {
                message: Some("Too many synthetic chains (max 10/program/hour).".into()),
                code: Some("rate_limited".into()),
                retry_after_seconds: Some(1800),
            }
        );
        assert_eq!(
            ApiErrorBody::parse(br#"{"error":{"message":"Forbidden","status":403}}"#).message,
            Some("Forbidden".into())
        );
        assert_eq!(
            ApiErrorBody::parse(br#"{"message":"Conflict happened","statusCode":409}"#).message,
            Some("Conflict happened".into())
        );
        assert_eq!(
            ApiErrorBody::parse(b"<html>oops</html>"),
            ApiErrorBody::default()
        );
        assert_eq!(ApiErrorBody::parse(b""), ApiErrorBody::default());
        assert_eq!(ApiErrorBody::parse(b"[1,2]"), ApiErrorBody::default());
    }

    #[test]
    fn error_string_wins_over_message() {
        let parsed = ApiErrorBody::parse(br#"{"error":"Conflict","message":"Duplicate"}"#);
        assert_eq!(parsed.message.as_deref(), Some("Conflict"));
    }
}
