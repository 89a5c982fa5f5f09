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

/// Most messages in one frame: a sync's chunks and the message that ends it. A sender
/// starts a new frame past it; a receiver refuses a frame with more, so that a frame of
/// empty messages cannot cost millions of deliveries.
pub const MAX_FRAME_MESSAGES: usize = 64;

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

/// Reads a frame from a stream: its flag, then each message's length, checked against
/// what is left of `limit` before anything is allocated, then exactly that many bytes.
/// Memory held is the frame's messages alone (never a second copy, never more than the
/// bytes that arrived plus one message's declared length within the limit).
async fn read_limited<R: AsyncRead + Unpin + Send>(io: &mut R, limit: usize) -> io::Result<Frame> {
    let invalid = |error: Box<dyn std::error::Error + Send + Sync>| {
        io::Error::new(io::ErrorKind::InvalidData, error)
    };
    let mut flag = [0u8; 1];
    if read_or_end(io, &mut flag).await? == 0 {
        return Ok(Frame::default());
    }
    if flag[0] > 1 {
        return Err(invalid(Box::new(FrameMalformed { at: 0 })));
    }
    let mut frame = Frame {
        asks: flag[0] == 1,
        messages: Vec::new(),
    };
    let mut used = 1usize;
    loop {
        let mut header = [0u8; LENGTH_BYTES];
        let got = read_or_end(io, &mut header).await?;
        if got == 0 {
            return Ok(frame);
        }
        if got < LENGTH_BYTES {
            return Err(invalid(Box::new(FrameMalformed { at: used })));
        }
        let len = u32::from_le_bytes(header) as usize;
        used = used.saturating_add(LENGTH_BYTES).saturating_add(len);
        if used > limit {
            return Err(invalid(Box::new(FrameTooLarge { limit })));
        }
        if frame.messages.len() == MAX_FRAME_MESSAGES {
            return Err(invalid(Box::new(FrameMalformed { at: used })));
        }
        let mut message = vec![0u8; len];
        io.read_exact(&mut message).await?;
        frame.messages.push(message);
    }
}

/// Fills `buf` from `io`, or stops at the end of the stream; returns the bytes read.
async fn read_or_end<R: AsyncRead + Unpin + Send>(io: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
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
    use libp2p::futures::executor::block_on;
    use libp2p::futures::io::Cursor;

    #[test]
    fn streams_read_as_frames_within_the_limit() -> Result<(), Box<dyn std::error::Error>> {
        let frame = Frame {
            asks: false,
            messages: vec![vec![1; 100], vec![2; 10]],
        };
        let bytes = join(&frame)?;
        assert_eq!(
            block_on(read_limited(&mut Cursor::new(bytes.clone()), 1000))?,
            frame
        );
        assert_eq!(
            block_on(read_limited(&mut Cursor::new(Vec::new()), 10))?,
            Frame::default()
        );
        let too_large = block_on(read_limited(&mut Cursor::new(bytes.clone()), 100));
        let error = too_large.err().ok_or("a frame over the limit was read")?;
        assert!(error.get_ref().is_some_and(|e| e.is::<FrameTooLarge>()));
        // A length claiming far more than the stream holds allocates nothing past the limit.
        let lying = [0u8, 0xff, 0xff, 0xff, 0x7f];
        assert!(block_on(read_limited(&mut Cursor::new(lying.to_vec()), 1 << 20)).is_err());
        let cut = &bytes[..bytes.len() - 3];
        assert!(block_on(read_limited(&mut Cursor::new(cut.to_vec()), 1000)).is_err());
        Ok(())
    }

    fn read(bytes: &[u8], limit: usize) -> io::Result<Frame> {
        block_on(read_limited(&mut Cursor::new(bytes.to_vec()), limit))
    }

    #[test]
    fn frames_round_trip_and_refuse_cut_lengths() -> Result<(), Box<dyn std::error::Error>> {
        let frame = Frame {
            asks: true,
            messages: vec![b"one".to_vec(), Vec::new(), vec![7; 300]],
        };
        let bytes = join(&frame)?;
        assert_eq!(bytes.len(), frame.len());
        assert_eq!(read(&bytes, 1 << 20)?, frame);
        for cut in 1..bytes.len() {
            if read(&bytes[..cut], 1 << 20).is_ok() {
                // Only cuts at message boundaries are whole frames.
                assert!(cut == 1 || cut == 8 || cut == 12, "cut at {cut} read");
            }
        }
        assert!(read(&[2], 10).is_err(), "a bad flag");
        let many = Frame {
            asks: false,
            messages: vec![Vec::new(); MAX_FRAME_MESSAGES + 1],
        };
        assert!(read(&join(&many)?, 1 << 20).is_err(), "too many messages");
        Ok(())
    }
}
