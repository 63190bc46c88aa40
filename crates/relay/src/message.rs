//! NIP-01 / NIP-42 wire messages, sans-IO: relay-to-client parsing and client-to-relay
//! serialization. Nothing here touches a socket or a clock.

use core::fmt;

use nipee_nostr::{Event, EventId, Filter};
use serde_json::Value;

use crate::error::{Error, Result};

/// The machine-readable prefix of an `OK` or `CLOSED` message (NIP-01, NIP-42).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prefix {
    /// No prefix (allowed for an accepting `OK` with an empty message).
    None,
    /// `duplicate:` — the relay already had the event.
    Duplicate,
    /// `pow:` — proof-of-work related.
    Pow,
    /// `blocked:` — the author or client is blocked.
    Blocked,
    /// `rate-limited:` — slow down.
    RateLimited,
    /// `invalid:` — the event or request is invalid (e.g. a bad signature).
    Invalid,
    /// `restricted:` — not allowed (e.g. a failed NIP-42 AUTH).
    Restricted,
    /// `mute:` — an ephemeral event nobody listened to.
    Mute,
    /// `error:` — anything else went wrong on the relay.
    Error,
    /// `auth-required:` — NIP-42: authenticate first.
    AuthRequired,
    /// `unsupported:` — e.g. a filter with unknown elements.
    Unsupported,
    /// Any other well-formed prefix (lowercase letters, digits and `-`).
    Other(String),
}

impl Prefix {
    fn from_word(word: &str) -> Prefix {
        match word {
            "duplicate" => Prefix::Duplicate,
            "pow" => Prefix::Pow,
            "blocked" => Prefix::Blocked,
            "rate-limited" => Prefix::RateLimited,
            "invalid" => Prefix::Invalid,
            "restricted" => Prefix::Restricted,
            "mute" => Prefix::Mute,
            "error" => Prefix::Error,
            "auth-required" => Prefix::AuthRequired,
            "unsupported" => Prefix::Unsupported,
            other => Prefix::Other(other.to_owned()),
        }
    }

    /// The prefix word without the colon (`""` for [`Prefix::None`]).
    pub fn as_str(&self) -> &str {
        match self {
            Prefix::None => "",
            Prefix::Duplicate => "duplicate",
            Prefix::Pow => "pow",
            Prefix::Blocked => "blocked",
            Prefix::RateLimited => "rate-limited",
            Prefix::Invalid => "invalid",
            Prefix::Restricted => "restricted",
            Prefix::Mute => "mute",
            Prefix::Error => "error",
            Prefix::AuthRequired => "auth-required",
            Prefix::Unsupported => "unsupported",
            Prefix::Other(s) => s,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message of an `OK` or `CLOSED`: a machine-readable prefix plus the full text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason {
    prefix: Prefix,
    message: String,
}

impl Reason {
    /// Splits `message` into its prefix (the text before the first `:` when that text is a
    /// single word of lowercase ASCII letters, digits and `-`) and keeps the full text.
    pub fn parse(message: impl Into<String>) -> Reason {
        let message = message.into();
        let prefix = match message.split_once(':') {
            Some((word, _))
                if !word.is_empty()
                    && word.len() <= 32
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                Prefix::from_word(word)
            }
            _ => Prefix::None,
        };
        Reason { prefix, message }
    }

    /// The machine-readable prefix.
    pub fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    /// The full message as the relay sent it (prefix included).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The human-readable part after `prefix:` (trimmed), or the whole message when there
    /// is no prefix.
    pub fn detail(&self) -> &str {
        match self.prefix {
            Prefix::None => self.message.trim(),
            _ => self
                .message
                .split_once(':')
                .map_or(self.message.as_str(), |(_, rest)| rest)
                .trim(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A relay-to-client message (NIP-01, NIP-42). Events are kept as JSON values here: the
/// pool checks its duplicate set by the claimed id before paying for signature
/// verification.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RelayMessage {
    /// `["EVENT", <subscription id>, <event>]` (unverified).
    Event {
        /// The subscription the relay says this event belongs to.
        subscription_id: String,
        /// The event object, not yet verified.
        event: Value,
    },
    /// `["OK", <event id>, <accepted>, <message>]`.
    Ok {
        /// The event the answer is about.
        event_id: EventId,
        /// Whether the relay accepted (stored or already had) the event.
        accepted: bool,
        /// The message with its machine-readable prefix.
        reason: Reason,
    },
    /// `["EOSE", <subscription id>]`: stored events end here, live ones follow.
    Eose {
        /// The subscription.
        subscription_id: String,
    },
    /// `["CLOSED", <subscription id>, <message>]`: the relay ended the subscription.
    Closed {
        /// The subscription.
        subscription_id: String,
        /// Why, with its machine-readable prefix.
        reason: Reason,
    },
    /// `["NOTICE", <message>]`: human-readable information from the relay.
    Notice {
        /// The text.
        message: String,
    },
    /// `["AUTH", <challenge>]`: NIP-42 challenge.
    Auth {
        /// The challenge string to sign.
        challenge: String,
    },
    /// A well-formed message of a type this client does not use (e.g. `COUNT`).
    Other {
        /// Its first element.
        label: String,
    },
}

fn malformed(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Message {
        what,
        reason: reason.into(),
    }
}

fn string_at<'a>(arr: &'a [Value], i: usize, what: &'static str) -> Result<&'a str> {
    arr.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, format!("element {i} must be a string")))
}

fn exact_len(arr: &[Value], n: usize, what: &'static str) -> Result<()> {
    if arr.len() != n {
        return Err(malformed(
            what,
            format!("expected {n} elements, found {}", arr.len()),
        ));
    }
    Ok(())
}

impl RelayMessage {
    /// Parses one text frame from a relay.
    ///
    /// # Errors
    /// [`Error::Message`] if it is not a JSON array whose first element is a string, or if
    /// a known message type has the wrong shape; [`Error::Nostr`] for a malformed event id
    /// in `OK`.
    pub fn from_json(text: &str) -> Result<RelayMessage> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| malformed("JSON array", e.to_string()))?;
        let Value::Array(mut arr) = value else {
            return Err(malformed("JSON array", "not an array"));
        };
        let label = string_at(&arr, 0, "message type")?.to_owned();
        match label.as_str() {
            "EVENT" => {
                exact_len(&arr, 3, "EVENT")?;
                let subscription_id = string_at(&arr, 1, "EVENT")?.to_owned();
                let event = arr.pop().unwrap_or(Value::Null);
                if !event.is_object() {
                    return Err(malformed("EVENT", "element 2 must be an object"));
                }
                Ok(RelayMessage::Event {
                    subscription_id,
                    event,
                })
            }
            "OK" => {
                // NIP-01 requires four elements; a missing message is tolerated as "".
                if arr.len() != 3 && arr.len() != 4 {
                    return Err(malformed(
                        "OK",
                        format!("expected 4 elements, found {}", arr.len()),
                    ));
                }
                let event_id = EventId::from_hex(string_at(&arr, 1, "OK")?)?;
                let accepted = arr
                    .get(2)
                    .and_then(Value::as_bool)
                    .ok_or_else(|| malformed("OK", "element 2 must be a boolean"))?;
                let message = if arr.len() == 4 {
                    string_at(&arr, 3, "OK")?
                } else {
                    ""
                };
                Ok(RelayMessage::Ok {
                    event_id,
                    accepted,
                    reason: Reason::parse(message),
                })
            }
            "EOSE" => {
                exact_len(&arr, 2, "EOSE")?;
                Ok(RelayMessage::Eose {
                    subscription_id: string_at(&arr, 1, "EOSE")?.to_owned(),
                })
            }
            "CLOSED" => {
                if arr.len() != 2 && arr.len() != 3 {
                    return Err(malformed(
                        "CLOSED",
                        format!("expected 3 elements, found {}", arr.len()),
                    ));
                }
                let subscription_id = string_at(&arr, 1, "CLOSED")?.to_owned();
                let message = if arr.len() == 3 {
                    string_at(&arr, 2, "CLOSED")?
                } else {
                    ""
                };
                Ok(RelayMessage::Closed {
                    subscription_id,
                    reason: Reason::parse(message),
                })
            }
            "NOTICE" => {
                exact_len(&arr, 2, "NOTICE")?;
                Ok(RelayMessage::Notice {
                    message: string_at(&arr, 1, "NOTICE")?.to_owned(),
                })
            }
            "AUTH" => {
                exact_len(&arr, 2, "AUTH")?;
                Ok(RelayMessage::Auth {
                    challenge: string_at(&arr, 1, "AUTH")?.to_owned(),
                })
            }
            _ => Ok(RelayMessage::Other { label }),
        }
    }
}

fn json_str(s: &str) -> String {
    // Serializing a &str to JSON cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// `["EVENT", <event>]`.
pub fn event_message(event: &Event) -> String {
    format!("[\"EVENT\",{}]", event.to_json())
}

/// `["REQ", <subscription id>, <filter>...]`.
pub fn req_message(subscription_id: &str, filters: &[Filter]) -> String {
    let mut out = format!("[\"REQ\",{}", json_str(subscription_id));
    for f in filters {
        out.push(',');
        out.push_str(&f.to_json());
    }
    out.push(']');
    out
}

/// `["CLOSE", <subscription id>]`.
pub fn close_message(subscription_id: &str) -> String {
    format!("[\"CLOSE\",{}]", json_str(subscription_id))
}

/// `["AUTH", <signed kind-22242 event>]` (NIP-42).
pub fn auth_message(event: &Event) -> String {
    format!("[\"AUTH\",{}]", event.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b1a649ebe8b435ec71d3784793f3bbf4b93e64e17568a741aecd4c7ddeafce30";

    #[test]
    fn ok_with_invalid_prefix_parses() {
        let m =
            RelayMessage::from_json(&format!(r#"["OK","{ID}",false,"invalid: bad signature"]"#))
                .unwrap();
        let RelayMessage::Ok {
            event_id,
            accepted,
            reason,
        } = m
        else {
            panic!("not OK: {m:?}")
        };
        assert_eq!(event_id.to_hex(), ID);
        assert!(!accepted);
        assert_eq!(reason.prefix(), &Prefix::Invalid);
        assert_eq!(reason.detail(), "bad signature");
        assert_eq!(reason.message(), "invalid: bad signature");
    }

    #[test]
    fn prefixes_are_recognised() {
        for (msg, p) in [
            ("duplicate: have it", Prefix::Duplicate),
            ("rate-limited: slow down", Prefix::RateLimited),
            ("auth-required: who are you", Prefix::AuthRequired),
            ("restricted: no", Prefix::Restricted),
            ("blocked: banned", Prefix::Blocked),
            ("pow: 26 < 30", Prefix::Pow),
            ("mute: nobody", Prefix::Mute),
            ("error: db", Prefix::Error),
            ("unsupported: filter", Prefix::Unsupported),
            ("x-custom: hi", Prefix::Other("x-custom".into())),
            ("", Prefix::None),
            ("no prefix here", Prefix::None),
            ("Two Words: here", Prefix::None),
            (": empty", Prefix::None),
            ("see https://x.example: not a prefix", Prefix::None),
        ] {
            assert_eq!(Reason::parse(msg).prefix(), &p, "{msg:?}");
        }
    }

    #[test]
    fn ok_without_message_is_tolerated_but_bad_shapes_are_not() {
        let m = RelayMessage::from_json(&format!(r#"["OK","{ID}",true]"#)).unwrap();
        assert!(matches!(m, RelayMessage::Ok { accepted: true, .. }));
        for bad in [
            format!(r#"["OK","{ID}","true",""]"#),
            r#"["OK","abc",true,""]"#.to_owned(),
            format!(r#"["OK","{ID}"]"#),
            format!(r#"["OK","{ID}",true,"",1]"#),
            format!(r#"["OK","{}",true,""]"#, ID.to_uppercase()),
        ] {
            assert!(RelayMessage::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_message_types_parse() {
        assert_eq!(
            RelayMessage::from_json(r#"["EOSE","s1"]"#).unwrap(),
            RelayMessage::Eose {
                subscription_id: "s1".into()
            }
        );
        let m = RelayMessage::from_json(r#"["CLOSED","s1","error: shutting down"]"#).unwrap();
        let RelayMessage::Closed { reason, .. } = m else {
            panic!()
        };
        assert_eq!(reason.prefix(), &Prefix::Error);
        assert_eq!(
            RelayMessage::from_json(r#"["NOTICE","hi"]"#).unwrap(),
            RelayMessage::Notice {
                message: "hi".into()
            }
        );
        assert_eq!(
            RelayMessage::from_json(r#"["AUTH","chal"]"#).unwrap(),
            RelayMessage::Auth {
                challenge: "chal".into()
            }
        );
        assert_eq!(
            RelayMessage::from_json(r#"["COUNT","s",{"count":1}]"#).unwrap(),
            RelayMessage::Other {
                label: "COUNT".into()
            }
        );
        let m = RelayMessage::from_json(r#"["EVENT","s",{"id":"x"}]"#).unwrap();
        assert!(matches!(m, RelayMessage::Event { .. }));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "not json",
            "{}",
            "[]",
            "[1]",
            r#"["EVENT","s"]"#,
            r#"["EVENT","s","notanobject"]"#,
            r#"["EVENT",1,{}]"#,
            r#"["EOSE"]"#,
            r#"["NOTICE"]"#,
            r#"["AUTH",5]"#,
            r#"["CLOSED"]"#,
        ] {
            let e = RelayMessage::from_json(bad).unwrap_err();
            assert_eq!(e.kind().as_str(), "malformed", "{bad}");
        }
    }

    #[test]
    fn client_messages_are_json_arrays() {
        let f = Filter::new().kind(nipee_nostr::Kind::TEXT_NOTE).limit(5);
        let req = req_message("a\"b", &[f.clone(), Filter::new()]);
        let v: Value = serde_json::from_str(&req).unwrap();
        assert_eq!(v[0], "REQ");
        assert_eq!(v[1], "a\"b");
        assert_eq!(v[2]["kinds"][0], 1);
        assert_eq!(v[2]["limit"], 5);
        assert!(v[3].as_object().unwrap().is_empty());
        let close: Value = serde_json::from_str(&close_message("s")).unwrap();
        assert_eq!(close, serde_json::json!(["CLOSE", "s"]));
    }
}
