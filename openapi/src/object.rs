//! Nested request objects read only from JSON objects. serde's derived `Deserialize` also reads
//! a struct from a positional array (`"storage": [null, null]`), which no client means; these
//! helpers make such a body a 400 ("expected a JSON object") like any other wrong type.
//!
//! Use with `#[serde(deserialize_with = "object")]`, `optional_object` (with `default`) or
//! `objects` for a list.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A `T` that was a JSON object.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Object::deserialize(d).map(|o| o.0)
}

pub fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<Object<T>>::deserialize(d).map(|o| o.map(|o| o.0))
}

pub fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Object<T>>::deserialize(d).map(|v| v.into_iter().map(|o| o.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: Option<u8>,
        b: Option<u8>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(deserialize_with = "object")]
        one: Inner,
        #[serde(default, deserialize_with = "optional_object")]
        maybe: Option<Inner>,
        #[serde(default, deserialize_with = "objects")]
        many: Vec<Inner>,
    }

    #[test]
    fn only_objects_are_read() {
        let ok: Outer =
            serde_json::from_str(r#"{"one": {"a": 1}, "maybe": null, "many": [{"b": 2}]}"#)
                .unwrap();
        assert_eq!(
            ok.one,
            Inner {
                a: Some(1),
                b: None
            }
        );
        assert_eq!(ok.maybe, None);
        assert_eq!(
            ok.many,
            vec![Inner {
                a: None,
                b: Some(2)
            }]
        );
        for positional in [
            r#"{"one": [1, 2]}"#,
            r#"{"one": {}, "maybe": [null, null]}"#,
            r#"{"one": {}, "many": [[null, null]]}"#,
        ] {
            let e = serde_json::from_str::<Outer>(positional).unwrap_err();
            assert!(e.to_string().contains("expected a JSON object"), "{e}");
        }
    }
}
