//! The single place where bytes become messages and messages become bytes (spec §4.1).
//!
//! Limits are applied before anything is decoded: the byte length first, then the event
//! count read from the message header, then the full decode, which must consume every byte.

use serde::{Deserialize, Serialize};

use crate::encoding::{self, CodecError, DECODE_CEILING};
use crate::event::PackedEvent;
use crate::observation::Payload;

/// A gossip message. Events are in topological order, parents first.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum WireMessage<T> {
    /// A sync request; the last event is the sender's new `Requesting`.
    Request {
        /// The events the recipient may lack.
        events: Vec<PackedEvent<T>>,
    },
    /// A sync response; the last event is the responder's new `Request` (or none).
    Response {
        /// The events the requester may lack.
        events: Vec<PackedEvent<T>>,
    },
    /// A leading chunk of a large request or response.
    Events {
        /// The chunk.
        events: Vec<PackedEvent<T>>,
    },
}

impl<T> WireMessage<T> {
    /// The events carried.
    pub fn events(&self) -> &[PackedEvent<T>] {
        match self {
            WireMessage::Request { events }
            | WireMessage::Response { events }
            | WireMessage::Events { events } => events,
        }
    }

    /// The events carried, by value.
    pub fn into_events(self) -> Vec<PackedEvent<T>> {
        match self {
            WireMessage::Request { events }
            | WireMessage::Response { events }
            | WireMessage::Events { events } => events,
        }
    }
}

/// Local limits on received messages (spec §14.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WireLimits {
    /// Largest message decoded, in bytes.
    pub max_message_bytes: usize,
    /// Most events in one message.
    pub max_events_per_message: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_message_bytes: 32 << 20,
            max_events_per_message: 4096,
        }
    }
}

impl WireLimits {
    /// Checks that the limits are usable.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.max_message_bytes == 0
            || self.max_message_bytes > DECODE_CEILING
            || self.max_events_per_message == 0
        {
            return Err(WireError::BadLimits);
        }
        Ok(())
    }
}

/// A message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// More bytes than `max_message_bytes`.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More events than `max_events_per_message`.
    #[error("message with {count} events exceeds the limit of {limit}")]
    TooManyEvents {
        /// The claimed count.
        count: u64,
        /// The limit.
        limit: usize,
    },
    /// Not a valid message (bad tag, bad value, truncated, trailing bytes).
    #[error("malformed message: {0}")]
    Malformed(#[from] CodecError),
    /// Shorter than a message header.
    #[error("message of {size} bytes is too short")]
    Truncated {
        /// Its size.
        size: usize,
    },
    /// Unusable limits (zero, or above the decoder's hard ceiling).
    #[error("wire limits are zero or above {DECODE_CEILING} bytes")]
    BadLimits,
}

/// Bytes of `message`, refused if they would break `limits` (the peer would drop them).
pub fn encode<T: Payload>(
    message: &WireMessage<T>,
    limits: &WireLimits,
) -> Result<Vec<u8>, WireError> {
    let count = message.events().len();
    if count > limits.max_events_per_message {
        return Err(WireError::TooManyEvents {
            count: count as u64,
            limit: limits.max_events_per_message,
        });
    }
    let bytes = encoding::encode(message)?;
    if bytes.len() > limits.max_message_bytes {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: limits.max_message_bytes,
        });
    }
    Ok(bytes)
}

/// The encoded size of `value` (an event, an observation) in the project's codec: the
/// bytes it takes in a message.
pub fn encoded_len<V: Serialize + ?Sized>(value: &V) -> Result<usize, CodecError> {
    encoding::encoded_len(value)
}

/// The project's codec for a value that is not a message (a stored record, a digest's
/// input): the same canonical bytes events and messages use.
pub fn encode_value<V: Serialize + ?Sized>(value: &V) -> Result<Vec<u8>, CodecError> {
    encoding::encode(value)
}

/// Decodes exactly one value written by [`encode_value`] (trailing bytes are an error).
/// Never panics, whatever the bytes; the caller bounds their length.
pub fn decode_value<V: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<V, CodecError> {
    encoding::decode(bytes)
}

/// The message in `bytes`, within `limits`. Never panics, whatever the bytes.
pub fn decode<T: Payload>(bytes: &[u8], limits: &WireLimits) -> Result<WireMessage<T>, WireError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: limits.max_message_bytes,
        });
    }
    // Layout: u32 variant tag, then the u64 event count of the one field.
    let header: Option<[u8; 8]> = bytes.get(4..12).and_then(|s| s.try_into().ok());
    let Some(count) = header.map(u64::from_le_bytes) else {
        return Err(WireError::Truncated { size: bytes.len() });
    };
    if count > limits.max_events_per_message as u64 {
        return Err(WireError::TooManyEvents {
            count,
            limit: limits.max_events_per_message,
        });
    }
    Ok(encoding::decode(bytes)?)
}
