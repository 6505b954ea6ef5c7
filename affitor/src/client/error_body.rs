//! The body of an error answer, in any of the API's three shapes.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::lenient;

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
        let Some(answer) = lenient::object_of::<ErrorAnswer>(body) else {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_repeated_error_keeps_its_last_value() {
        let parsed = ApiErrorBody::parse(br#"{"error":"first","error":"Sale not found"}"#);
        assert_eq!(parsed.message.as_deref(), Some("Sale not found"));
    }

    #[test]
    fn error_string_wins_over_message() {
        let parsed = ApiErrorBody::parse(br#"{"error":"Conflict","message":"Duplicate"}"#);
        assert_eq!(parsed.message.as_deref(), Some("Conflict"));
    }
}
