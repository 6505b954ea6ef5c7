//! Field deserializers that read a value of an unexpected type as absent. Use them with
//! `#[serde(default, deserialize_with = "lenient::...")]` on an `Option` field.

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
pub(crate) fn present_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
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

/// A JSON object read into `T`, or `None` when the body is not one. A key repeated in the object
/// keeps its last value, as `JSON.parse` and `serde_json::Value` do (a derived struct alone
/// refuses the document): the first, allocation-free read covers every answer the API sends, and
/// only a body it refuses is read again through a `Value`.
pub(crate) fn object_of<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(body).ok().or_else(|| {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        T::deserialize(value).ok()
    })
}
