//! A frame as the encoders hand it to the publisher.

/// An encoded frame ready to publish: header + JPEG in one buffer.
pub struct EncodedFrame {
    pub sequence: u64,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for EncodedFrame {
    // The size, not a hundred kilobytes of JPEG.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedFrame {{ sequence: {}, {} bytes }}", self.sequence, self.payload.len())
    }
}
