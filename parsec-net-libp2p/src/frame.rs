//! Frames: what one libp2p request or response carries, one or more encoded messages
//! (the chunks of a large sync travel with the request or response that ends it, so they
//! arrive first and together). A frame is one flag byte (1 if it ends in a sync request
//! the sender wants answered, else 0), then each message as a 4-byte little-endian
//! length and the bytes `parsec_core::wire` wrote; the frame is the whole stream of a
//! request or response, read up to a limit. An empty stream is an empty frame (the
//! answer to a frame that asks nothing).

use std::fmt;
use std::io;

use libp2p::StreamProtocol;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;

/// The protocol of PARSEC's pairwise sync.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/parsec/sync/1");

/// Bytes a frame spends per message on its length.
pub const LENGTH_BYTES: usize = 4;

/// A frame's messages, still encoded: the receiving side decodes them with its limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Whether the last message is a sync request the sender wants answered (a lying
    /// sender only holds one of its own bounded open requests).
    pub asks: bool,
    /// The messages, in order.
    pub messages: Vec<Vec<u8>>,
}

impl Frame {
    /// The bytes the frame takes on the wire.
    pub fn len(&self) -> usize {
        1 + self
            .messages
            .iter()
            .map(|message| LENGTH_BYTES + message.len())
            .sum::<usize>()
    }

    /// Whether it carries no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// A frame was longer than the limit: the stream is dropped unread past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    /// The limit.
    pub limit: usize,
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a frame longer than {} bytes", self.limit)
    }
}

impl std::error::Error for FrameTooLarge {}

/// A frame's bytes did not split into whole messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMalformed {
    /// Where the bad length starts.
    pub at: usize,
}

impl fmt::Display for FrameMalformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a frame cut inside a message (length at byte {})",
            self.at
        )
    }
}

impl std::error::Error for FrameMalformed {}

/// Splits a frame's bytes into its messages, without copying more than once and without
/// trusting a length beyond the bytes present.
pub fn split(bytes: &[u8]) -> Result<Frame, FrameMalformed> {
    let Some((&flag, _)) = bytes.split_first() else {
        return Ok(Frame::default());
    };
    if flag > 1 {
        return Err(FrameMalformed { at: 0 });
    }
    let mut messages = Vec::new();
    let mut at = 1;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + LENGTH_BYTES)
            .and_then(|b| <[u8; LENGTH_BYTES]>::try_from(b).ok())
            .ok_or(FrameMalformed { at })?;
        let len = u32::from_le_bytes(header) as usize;
        let start = at + LENGTH_BYTES;
        let message = start
            .checked_add(len)
            .and_then(|end| bytes.get(start..end))
            .ok_or(FrameMalformed { at })?;
        messages.push(message.to_vec());
        at = start + len;
    }
    Ok(Frame {
        asks: flag == 1,
        messages,
    })
}

/// The bytes of `frame`. A message longer than `u32::MAX` cannot occur (the wire
/// limits are far below it); it is refused rather than cut.
pub fn join(frame: &Frame) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(frame.len());
    bytes.push(u8::from(frame.asks));
    for message in &frame.messages {
        let len = u32::try_from(message.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 4 GiB"))?;
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(message);
    }
    Ok(bytes)
}

/// Reads a whole stream of at most `limit` bytes.
async fn read_limited<R: AsyncRead + Unpin + Send>(io: &mut R, limit: usize) -> io::Result<Frame> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    io.take(cap).read_to_end(&mut bytes).await?;
    if bytes.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            FrameTooLarge { limit },
        ));
    }
    split(&bytes).map_err(|malformed| io::Error::new(io::ErrorKind::InvalidData, malformed))
}

async fn write_frame<W: AsyncWrite + Unpin + Send>(io: &mut W, frame: Frame) -> io::Result<()> {
    io.write_all(&join(&frame)?).await?;
    io.close().await
}

/// The request-response codec of [`SYNC_PROTOCOL`]: frames both ways, each read up to
/// `limit` bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    /// The longest frame read.
    pub limit: usize,
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Frame;

    async fn read_request<R>(&mut self, _: &StreamProtocol, io: &mut R) -> io::Result<Frame>
    where
        R: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.limit).await
    }

    async fn read_response<R>(&mut self, _: &StreamProtocol, io: &mut R) -> io::Result<Frame>
    where
        R: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.limit).await
    }

    async fn write_request<W>(
        &mut self,
        _: &StreamProtocol,
        io: &mut W,
        frame: Frame,
    ) -> io::Result<()>
    where
        W: AsyncWrite + Unpin + Send,
    {
        write_frame(io, frame).await
    }

    async fn write_response<W>(
        &mut self,
        _: &StreamProtocol,
        io: &mut W,
        frame: Frame,
    ) -> io::Result<()>
    where
        W: AsyncWrite + Unpin + Send,
    {
        write_frame(io, frame).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_cut_lengths() -> Result<(), Box<dyn std::error::Error>> {
        let frame = Frame {
            asks: true,
            messages: vec![b"one".to_vec(), Vec::new(), vec![7; 300]],
        };
        let bytes = join(&frame)?;
        assert_eq!(bytes.len(), frame.len());
        assert_eq!(split(&bytes)?, frame);
        assert_eq!(split(&[])?, Frame::default());
        for cut in 1..bytes.len() {
            if split(&bytes[..cut]).is_ok() {
                // Only cuts at message boundaries are whole frames.
                assert!(cut == 1 || cut == 8 || cut == 12, "cut at {cut} split");
            }
        }
        let lying = [0, 0xff, 0xff, 0xff, 0xff, 1, 2];
        assert_eq!(split(&lying), Err(FrameMalformed { at: 1 }));
        assert_eq!(split(&[2]), Err(FrameMalformed { at: 0 }), "a bad flag");
        Ok(())
    }
}
