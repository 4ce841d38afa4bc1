//! Serializers and deserializers ("serdes") between typed values and Kafka bytes.
//!
//! A [`Serde<T>`] turns a `T` into bytes and back. Null is part of the type: a plain
//! [`StringSerde`] refuses a null value (the record goes to the deserialization error
//! handler), while `Nullable<StringSerde>` reads it as `None`. Built-in serdes use Kafka's
//! encodings, so records interoperate with Java clients: integers and floats are big-endian
//! (`IntegerSerializer`, `LongSerializer`, ...), strings are UTF-8.
//!
//! ```
//! use streams_core::serde::{I64Serde, Nullable, Serde, StringSerde};
//!
//! let bytes = I64Serde.serialize("t", &42).unwrap().unwrap();
//! assert_eq!(bytes, 42i64.to_be_bytes());
//! assert_eq!(I64Serde.deserialize("t", Some(&bytes)).unwrap(), 42);
//! assert!(StringSerde.deserialize("t", None).is_err());
//! assert_eq!(Nullable(StringSerde).deserialize("t", None).unwrap(), None);
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::SerdeError;

/// Converts values of `T` to and from the bytes stored in Kafka.
///
/// Implementations must not panic on any input: malformed bytes are an `Err` that says what
/// was wrong, and the runtime hands the record to the configured error handler.
pub trait Serde<T>: Send + Sync + 'static {
    /// Appends the encoding of `value` to `buf`. Returns `Ok(false)` when the value encodes as
    /// Kafka's null (nothing appended), `Ok(true)` otherwise.
    fn serialize_into(&self, topic: &str, value: &T, buf: &mut Vec<u8>)
    -> Result<bool, SerdeError>;

    /// Decodes a value; `None` is a null key or value.
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError>;

    /// Decodes a value from bytes the caller owns, so that byte and string serdes can keep the
    /// buffer instead of copying it. On error the bytes are handed back with the error.
    #[allow(clippy::type_complexity)]
    fn deserialize_owned(
        &self,
        topic: &str,
        data: Option<Vec<u8>>,
    ) -> Result<T, (SerdeError, Option<Vec<u8>>)> {
        match self.deserialize(topic, data.as_deref()) {
            Ok(v) => Ok(v),
            Err(e) => Err((e, data)),
        }
    }

    /// Encodes `value` into a new buffer; `None` means null.
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        let mut buf = Vec::new();
        Ok(self.serialize_into(topic, value, &mut buf)?.then_some(buf))
    }

    /// Whether `value` is what this serde reads Kafka's null as (`None` for [`Nullable`]),
    /// without encoding it: the operators Kafka Streams skips null values in ask this.
    fn is_null(&self, _value: &T) -> bool {
        false
    }
}

impl<T, S: Serde<T> + ?Sized> Serde<T> for Arc<S> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        (**self).serialize_into(topic, value, buf)
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        (**self).deserialize(topic, data)
    }
    fn deserialize_owned(
        &self,
        topic: &str,
        data: Option<Vec<u8>>,
    ) -> Result<T, (SerdeError, Option<Vec<u8>>)> {
        (**self).deserialize_owned(topic, data)
    }
    fn is_null(&self, value: &T) -> bool {
        (**self).is_null(value)
    }
}

/// A shared, type-erased serde, as topologies store them.
pub type SharedSerde<T> = Arc<dyn Serde<T>>;

/// The error for a null where `what` was expected.
pub(crate) fn null_error(what: &str) -> SerdeError {
    SerdeError::new(format!(
        "null where {what} was expected; use a Nullable serde (Option<_>) to accept nulls"
    ))
}

fn require<'a>(data: Option<&'a [u8]>, what: &str) -> Result<&'a [u8], SerdeError> {
    data.ok_or_else(|| null_error(what))
}

/// Raw bytes, unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize_into(
        &self,
        _: &str,
        value: &Vec<u8>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        buf.extend_from_slice(value);
        Ok(true)
    }
    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<Vec<u8>, SerdeError> {
        Ok(require(data, "bytes")?.to_vec())
    }
    fn deserialize_owned(
        &self,
        _: &str,
        data: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, (SerdeError, Option<Vec<u8>>)> {
        data.ok_or_else(|| (null_error("bytes"), None))
    }
}

/// UTF-8 strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize_into(
        &self,
        _: &str,
        value: &String,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        buf.extend_from_slice(value.as_bytes());
        Ok(true)
    }
    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<String, SerdeError> {
        let bytes = require(data, "a UTF-8 string")?;
        String::from_utf8(bytes.to_vec()).map_err(|e| utf8_error(&e))
    }
    fn deserialize_owned(
        &self,
        _: &str,
        data: Option<Vec<u8>>,
    ) -> Result<String, (SerdeError, Option<Vec<u8>>)> {
        let bytes = data.ok_or_else(|| (null_error("a UTF-8 string"), None))?;
        String::from_utf8(bytes).map_err(|e| (utf8_error(&e), Some(e.into_bytes())))
    }
}

fn utf8_error(e: &std::string::FromUtf8Error) -> SerdeError {
    SerdeError::new(format!(
        "not valid UTF-8 (at byte {}): {e}",
        e.utf8_error().valid_up_to()
    ))
}

macro_rules! fixed_width_serde {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $width:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serde<$ty> for $name {
            fn serialize_into(&self, _: &str, value: &$ty, buf: &mut Vec<u8>) -> Result<bool, SerdeError> {
                buf.extend_from_slice(&value.to_be_bytes());
                Ok(true)
            }
            fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<$ty, SerdeError> {
                let bytes = require(data, $what)?;
                let arr: [u8; $width] = bytes.try_into().map_err(|_| {
                    SerdeError::new(format!(
                        "{} takes exactly {} bytes (big-endian), got {}",
                        $what,
                        $width,
                        bytes.len()
                    ))
                })?;
                Ok(<$ty>::from_be_bytes(arr))
            }
        }
    };
}

fixed_width_serde!(
    /// 16-bit integers, big-endian (Kafka's `ShortSerializer`).
    I16Serde, i16, 2, "a 16-bit integer"
);
fixed_width_serde!(
    /// 32-bit integers, big-endian (Kafka's `IntegerSerializer`).
    I32Serde, i32, 4, "a 32-bit integer"
);
fixed_width_serde!(
    /// 64-bit integers, big-endian (Kafka's `LongSerializer`).
    I64Serde, i64, 8, "a 64-bit integer"
);
fixed_width_serde!(
    /// 32-bit IEEE floats, big-endian (Kafka's `FloatSerializer`).
    F32Serde, f32, 4, "a 32-bit float"
);
fixed_width_serde!(
    /// 64-bit IEEE floats, big-endian (Kafka's `DoubleSerializer`).
    F64Serde, f64, 8, "a 64-bit float"
);

/// The unit type as Kafka's null (Kafka's `VoidSerde`): for keys or values that carry nothing.
/// Deserializing non-null bytes is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize_into(&self, _: &str, _: &(), _: &mut Vec<u8>) -> Result<bool, SerdeError> {
        Ok(false)
    }
    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        match data {
            None => Ok(()),
            Some(b) => Err(SerdeError::new(format!(
                "expected null for a unit value, got {} bytes",
                b.len()
            ))),
        }
    }
}

/// Wraps a serde so that null reads as `None` and `None` writes as null.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nullable<S>(pub S);

impl<T: 'static, S: Serde<T>> Serde<Option<T>> for Nullable<S> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Option<T>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        match value {
            Some(v) => self.0.serialize_into(topic, v, buf),
            None => Ok(false),
        }
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        match data {
            None => Ok(None),
            Some(_) => self.0.deserialize(topic, data).map(Some),
        }
    }
    fn deserialize_owned(
        &self,
        topic: &str,
        data: Option<Vec<u8>>,
    ) -> Result<Option<T>, (SerdeError, Option<Vec<u8>>)> {
        match data {
            None => Ok(None),
            Some(_) => self.0.deserialize_owned(topic, data).map(Some),
        }
    }
    fn is_null(&self, value: &Option<T>) -> bool {
        value.is_none()
    }
}

/// JSON through `serde_json`, for any type that derives `serde::Serialize` and
/// `serde::Deserialize`.
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        JsonSerde(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T> Serde<T> for JsonSerde<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serialize_into(&self, _: &str, value: &T, buf: &mut Vec<u8>) -> Result<bool, SerdeError> {
        serde_json::to_writer(&mut *buf, value)
            .map_err(|e| SerdeError::new(format!("JSON encoding failed: {e}")))?;
        Ok(true)
    }
    fn deserialize(&self, _: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let bytes = require(data, "a JSON document")?;
        serde_json::from_slice(bytes).map_err(|e| {
            SerdeError::new(format!(
                "invalid JSON for {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A type's own serde, used wherever the DSL is given none (Kafka Streams' default serdes,
/// chosen by the type instead of by configuration): `builder.stream::<String, i64>(..)`,
/// `to("topic")`, `count()`.
///
/// Built in: `String` ([`StringSerde`]), `Vec<u8>` ([`BytesSerde`]), `()` ([`UnitSerde`]),
/// `i16`, `i32`, `i64`, `f32`, `f64` (big-endian, as Kafka's serializers), and `Option<T>` of
/// any of them ([`Nullable`]: a null key or value reads as `None`, so `Option<String>` is the
/// key type of a topic whose keys may be null). A serde type opts in to JSON through
/// [`JsonValue`]; any other type implements this trait itself.
///
/// ```
/// use std::sync::Arc;
/// use streams_core::serde::{JsonValue, NaturalSerde, Serde, SharedSerde};
///
/// #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
/// struct Order { id: u32 }
/// impl JsonValue for Order {}
///
/// let bytes = Option::<String>::natural_serde().serialize("t", &None).unwrap();
/// assert_eq!(bytes, None);
/// let order = Order::natural_serde().serialize("t", &Order { id: 7 }).unwrap().unwrap();
/// assert_eq!(order, br#"{"id":7}"#);
/// # let _: SharedSerde<i64> = i64::natural_serde();
/// ```
pub trait NaturalSerde: Sized + 'static {
    /// The serde for `Self`.
    fn natural_serde() -> SharedSerde<Self>;
}

/// Marks a `serde` type whose natural serde is JSON ([`JsonSerde`]): `impl JsonValue for
/// Order {}` and `Order` needs no serde spelled out.
pub trait JsonValue:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
}

impl<T: JsonValue> NaturalSerde for T {
    fn natural_serde() -> SharedSerde<T> {
        Arc::new(JsonSerde::<T>::new())
    }
}

impl<T: NaturalSerde> NaturalSerde for Option<T> {
    fn natural_serde() -> SharedSerde<Option<T>> {
        Arc::new(Nullable(T::natural_serde()))
    }
}

macro_rules! natural_serde {
    ($($ty:ty => $serde:expr),* $(,)?) => {
        $(impl NaturalSerde for $ty {
            fn natural_serde() -> SharedSerde<$ty> {
                Arc::new($serde)
            }
        })*

        /// The natural serde of `T` when `T` is one of the built-in types of [`NaturalSerde`]
        /// or an `Option` of one; the DSL gives it to a stream whose operation produced a new
        /// type, where no trait bound can ask for it.
        pub fn builtin_serde<T: 'static>() -> Option<SharedSerde<T>> {
            $(
                if let Some(s) = serde_if_same::<$ty, T>(<$ty>::natural_serde) {
                    return Some(s);
                }
                if let Some(s) = serde_if_same::<Option<$ty>, T>(<Option<$ty>>::natural_serde) {
                    return Some(s);
                }
            )*
            None
        }
    };
}

natural_serde! {
    String => StringSerde,
    Vec<u8> => BytesSerde,
    () => UnitSerde,
    i16 => I16Serde,
    i32 => I32Serde,
    i64 => I64Serde,
    f32 => F32Serde,
    f64 => F64Serde,
}

/// `serde` as a serde of `B` when `A` and `B` are the same type, else `None`.
fn serde_if_same<A: 'static, B: 'static>(
    serde: impl FnOnce() -> SharedSerde<A>,
) -> Option<SharedSerde<B>> {
    if std::any::TypeId::of::<A>() != std::any::TypeId::of::<B>() {
        return None;
    }
    let any: Box<dyn std::any::Any> = Box::new(serde());
    any.downcast::<SharedSerde<B>>().ok().map(|s| *s)
}

/// The serde a stream knows for `A`, reused for `B` when they are the same type; otherwise
/// `B`'s built-in natural serde ([`builtin_serde`]), if it has one. The DSL calls it where an
/// operation's output type may differ from its input's.
pub fn follow_serde<A: 'static, B: 'static>(
    known: &Option<SharedSerde<A>>,
) -> Option<SharedSerde<B>> {
    known
        .as_ref()
        .and_then(|s| serde_if_same::<A, B>(|| s.clone()))
        .or_else(builtin_serde::<B>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_natural_serdes_are_found_by_type() {
        let n = builtin_serde::<Option<i64>>().expect("Option<i64> is built in");
        assert_eq!(n.serialize("t", &None).unwrap(), None);
        assert_eq!(
            n.serialize("t", &Some(1)).unwrap(),
            Some(1i64.to_be_bytes().to_vec())
        );
        let s = builtin_serde::<String>().expect("String is built in");
        assert_eq!(s.serialize("t", &"é".to_owned()).unwrap(), Some("é".into()));
        assert!(builtin_serde::<u64>().is_none());
        assert!(builtin_serde::<Option<u64>>().is_none());
    }

    #[test]
    fn a_known_serde_follows_its_own_type_only() {
        // A JSON serde for strings stays with strings...
        let known: Option<SharedSerde<String>> = Some(Arc::new(JsonSerde::<String>::new()));
        let same = follow_serde::<String, String>(&known).expect("same type");
        assert_eq!(
            same.serialize("t", &"a".to_owned()).unwrap(),
            Some(b"\"a\"".to_vec())
        );
        // ...another type gets its built-in serde, or none.
        let other = follow_serde::<String, f64>(&known).expect("f64 is built in");
        assert_eq!(
            other.serialize("t", &1.5).unwrap(),
            Some(1.5f64.to_be_bytes().to_vec())
        );
        assert!(follow_serde::<String, u64>(&known).is_none());
    }

    #[test]
    fn integers_are_big_endian_like_kafka() {
        assert_eq!(
            I32Serde.serialize("t", &1).unwrap().unwrap(),
            vec![0, 0, 0, 1]
        );
        assert_eq!(
            I16Serde.serialize("t", &-2).unwrap().unwrap(),
            vec![0xff, 0xfe]
        );
        assert_eq!(
            F64Serde
                .deserialize("t", Some(&1.5f64.to_be_bytes()))
                .unwrap(),
            1.5
        );
    }

    #[test]
    fn wrong_width_is_an_error_not_a_panic() {
        let err = I64Serde
            .deserialize("t", Some(&[1, 2, 3]))
            .expect_err("must fail");
        assert_eq!(
            err.message(),
            "a 64-bit integer takes exactly 8 bytes (big-endian), got 3"
        );
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let err = StringSerde
            .deserialize("t", Some(&[b'a', 0xff]))
            .expect_err("must fail");
        assert!(
            err.message().starts_with("not valid UTF-8 (at byte 1)"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn nulls_only_through_nullable() {
        assert!(I32Serde.deserialize("t", None).is_err());
        assert_eq!(Nullable(I32Serde).deserialize("t", None).unwrap(), None);
        assert_eq!(Nullable(I32Serde).serialize("t", &None).unwrap(), None);
        assert!(Nullable(I32Serde).is_null(&None));
        assert!(!Nullable(I32Serde).is_null(&Some(0)));
        assert!(!I32Serde.is_null(&0));
        assert_eq!(
            Nullable(I32Serde).serialize("t", &Some(7)).unwrap(),
            Some(vec![0, 0, 0, 7])
        );
        assert_eq!(UnitSerde.serialize("t", &()).unwrap(), None);
    }

    #[test]
    fn json_round_trip_and_error() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Order {
            id: u32,
            amount: f64,
        }
        let serde = JsonSerde::<Order>::new();
        let bytes = serde
            .serialize("t", &Order { id: 1, amount: 2.5 })
            .unwrap()
            .unwrap();
        assert_eq!(bytes, br#"{"id":1,"amount":2.5}"#);
        assert_eq!(
            serde.deserialize("t", Some(&bytes)).unwrap(),
            Order { id: 1, amount: 2.5 }
        );
        assert!(
            serde
                .deserialize("t", Some(b"{"))
                .expect_err("must fail")
                .message()
                .starts_with("invalid JSON")
        );
    }
}
