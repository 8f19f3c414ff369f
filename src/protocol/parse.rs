//! Reading a client's frame: JSON, a known `type`, a `ref` small enough
//! to echo, then the fields; each failure with the code clients see.

use super::{CLIENT_MESSAGE_TYPES, ClientMessage, ErrorCode, Ref};

/// Parses one text frame. The error says which stable code applies.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, (ErrorCode, String)> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (ErrorCode::BadJson, format!("not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err((ErrorCode::BadJson, "expected a JSON object".into()));
    };
    match object.get("type").and_then(|t| t.as_str()) {
        Some(kind) if CLIENT_MESSAGE_TYPES.contains(&kind) => {}
        Some(kind) => {
            let kind: String = kind.chars().take(40).collect();
            return Err((ErrorCode::UnknownType, format!("unknown type {kind:?}")));
        }
        None => return Err((ErrorCode::UnknownType, "missing string field \"type\"".into())),
    }
    if object.get("ref").is_some_and(|reference| !is_small_reference(reference)) {
        return Err((ErrorCode::BadRequest, format!("ref must be at most {MAX_REF_BYTES} bytes of JSON")));
    }
    serde_json::from_value(value).map_err(|e| (ErrorCode::BadRequest, e.to_string()))
}

/// Largest `ref` echoed, as JSON. Replies echo it, and a reply must stay
/// within its byte budget whatever the client chose.
pub const MAX_REF_BYTES: usize = 256;

fn is_small_reference(reference: &Ref) -> bool {
    serde_json::to_vec(reference).is_ok_and(|bytes| bytes.len() <= MAX_REF_BYTES)
}

/// The `ref` of a frame that failed to parse, if it had one (and it is not
/// too big to echo), so the error can still be matched to its request.
pub fn reference_of(text: &str) -> Option<Ref> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("ref").filter(|reference| is_small_reference(reference)).cloned()
}
