//! Property tests over everything that parses client input: protocol frames
//! and the validated names and bodies. Whatever arrives, parsing returns a
//! value or an error; it never panics, and what it accepts keeps the limits.
//!
//! CI runs proptest's default number of cases; for a longer hunt:
//! `PROPTEST_CASES=200000 cargo nextest run -E 'test(fuzz)'`.

use proptest::prelude::*;
use serde_json::{Value, json};

use natter::model::{
    ChannelName, ClientId, MAX_BODY_CHARS, MAX_CHANNEL_NAME_CHARS, MAX_USER_NAME_CHARS, MessageBody, UserName,
};
use natter::protocol::{CLIENT_MESSAGE_TYPES, parse_client_message, reference_of};

/// Arbitrary JSON, a few levels deep.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects that look like requests: a real type name and plausible fields
/// with arbitrary values, to get past the first checks.
fn request_like() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("channel"),
        Just("body"),
        Just("client_id"),
        Just("ref"),
        Just("before"),
        Just("limit"),
        Just("name"),
        Just("private"),
        Just("user"),
        Just("seq"),
        Just("resume"),
        Just("query"),
        Just("cursor"),
    ];
    (prop::sample::select(CLIENT_MESSAGE_TYPES), prop::collection::vec((field, json_value()), 0..6)).prop_map(
        |(kind, fields)| {
            let mut object = serde_json::Map::new();
            object.insert("type".into(), Value::from(kind));
            for (name, value) in fields {
                object.insert(name.into(), value);
            }
            Value::Object(object)
        },
    )
}

proptest! {
    #[test]
    fn fuzz_any_text_parses_or_errors(text in ".{0,300}") {
        let _ = parse_client_message(&text);
        let _ = reference_of(&text);
    }

    #[test]
    fn fuzz_any_json_parses_or_errors(value in json_value()) {
        let _ = parse_client_message(&value.to_string());
    }

    #[test]
    fn fuzz_request_shaped_json_parses_or_errors(value in request_like()) {
        let text = value.to_string();
        if let Ok(parsed) = parse_client_message(&text) {
            // What was accepted re-encodes to something that parses the same.
            let again = serde_json::to_string(&parsed).unwrap();
            prop_assert_eq!(parse_client_message(&again).unwrap(), parsed);
        }
    }

    #[test]
    fn fuzz_names_and_bodies_keep_their_limits(raw in ".{0,80}", unit in ".{1,3}", repeat in 1320usize..1340) {
        // Bodies near the 4000-character limit, in characters of every width.
        let long = unit.repeat(repeat);
        if let Ok(name) = UserName::parse(&raw) {
            prop_assert!(name.as_str().chars().count() <= MAX_USER_NAME_CHARS);
            prop_assert!(name.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
        if let Ok(name) = ChannelName::parse(&raw) {
            prop_assert!((1..=MAX_CHANNEL_NAME_CHARS).contains(&name.as_str().chars().count()));
            prop_assert!(!name.as_str().chars().any(char::is_control));
            prop_assert_eq!(name.as_str(), name.as_str().trim());
        }
        if let Ok(body) = MessageBody::parse(long.clone()) {
            prop_assert!(body.into_string().chars().count() <= MAX_BODY_CHARS);
        }
        let _ = ClientId::parse(raw);
    }
}

#[test]
fn deeply_nested_json_is_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse_client_message(&deep).unwrap_err().0, natter::protocol::ErrorCode::BadJson);
    let deep_object = format!("{{\"type\":\"ping\",\"ref\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse_client_message(&deep_object).is_err());
    assert_eq!(reference_of(&deep_object), None);
}
