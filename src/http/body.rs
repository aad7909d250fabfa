//! Message bodies: where one ends, without holding it in memory.
//!
//! A [`BodyCursor`] is fed the bytes that follow a head, buffer by buffer, and
//! says how many of them belong to the body and whether the body is complete.
//! Chunked bodies are passed through unchanged; the cursor only follows the
//! framing so that keep-alive knows where the next message starts.

use super::header::is_tchar;

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes (responses only).
    UntilClose,
}

/// The framing of a chunked body is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked encoding")]
pub struct ChunkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size {
        digits: u8,
    },
    /// Whitespace after the size, before `;` or CR.
    SizeWs,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    /// In a trailer field's name (at least one `tchar` read).
    TrailerName,
    /// After a trailer field's colon.
    TrailerValue,
    TrailerLineLf,
    TrailerEndLf,
    Done,
}

/// Follows a body through the bytes that pass.
#[derive(Debug, Clone)]
pub struct BodyCursor {
    kind: BodyKind,
    remaining: u64,
    chunk: Chunk,
    payload: u64,
}

impl BodyCursor {
    /// A cursor at the start of a body of this kind.
    pub fn new(kind: BodyKind) -> Self {
        let remaining = match kind {
            BodyKind::Length(n) => n,
            _ => 0,
        };
        BodyCursor {
            kind,
            remaining,
            chunk: Chunk::Size { digits: 0 },
            payload: 0,
        }
    }

    /// Bytes still to come of a `Content-Length` body (None for other kinds).
    pub fn length_left(&self) -> Option<u64> {
        matches!(self.kind, BodyKind::Length(_)).then_some(self.remaining)
    }

    /// How this body is delimited.
    pub fn kind(&self) -> BodyKind {
        self.kind
    }

    /// Payload bytes seen so far (chunk framing not counted).
    pub fn payload(&self) -> u64 {
        self.payload
    }

    /// Whether the body has ended.
    pub fn done(&self) -> bool {
        match self.kind {
            BodyKind::None => true,
            BodyKind::Length(_) => self.remaining == 0,
            BodyKind::Chunked => self.chunk == Chunk::Done,
            BodyKind::UntilClose => false,
        }
    }

    /// Consumes the body's share of `data`; returns how many bytes belong to it.
    /// Bytes past the end belong to the next message.
    pub fn take(&mut self, data: &[u8]) -> Result<usize, ChunkError> {
        match self.kind {
            BodyKind::None => Ok(0),
            BodyKind::UntilClose => {
                self.payload += data.len() as u64;
                Ok(data.len())
            }
            BodyKind::Length(_) => {
                let n = (data.len() as u64).min(self.remaining);
                self.remaining -= n;
                self.payload += n;
                Ok(n as usize)
            }
            BodyKind::Chunked => self.take_chunked(data),
        }
    }

    /// Chunk framing is checked strictly (RFC 9112 §7.1): lines end in CRLF
    /// only, extensions only after `;`, no control bytes. The body is passed
    /// on unchanged, so any leniency here would let a server that parses more
    /// strictly see a different message boundary (request smuggling).
    fn take_chunked(&mut self, data: &[u8]) -> Result<usize, ChunkError> {
        let ctl = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            self.chunk = match self.chunk {
                Chunk::Done => return Ok(i),
                Chunk::Size { digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        // 15 hex digits keep the size far below u64 overflow.
                        if digits >= 15 {
                            return Err(ChunkError);
                        }
                        let v = u64::from((b as char).to_digit(16).unwrap_or(0));
                        self.remaining = self.remaining * 16 + v;
                        Chunk::Size { digits: digits + 1 }
                    }
                    b';' if digits > 0 => Chunk::Ext,
                    b' ' | b'\t' if digits > 0 => Chunk::SizeWs,
                    b'\r' if digits > 0 => Chunk::SizeLf,
                    _ => return Err(ChunkError),
                },
                Chunk::SizeWs => match b {
                    b' ' | b'\t' => Chunk::SizeWs,
                    b';' => Chunk::Ext,
                    b'\r' => Chunk::SizeLf,
                    _ => return Err(ChunkError),
                },
                Chunk::Ext => match b {
                    b'\r' => Chunk::SizeLf,
                    b if ctl(b) => return Err(ChunkError),
                    _ => Chunk::Ext,
                },
                Chunk::SizeLf if b == b'\n' => self.after_size_line(),
                Chunk::Data => {
                    let n = ((data.len() - i) as u64).min(self.remaining);
                    self.remaining -= n;
                    self.payload += n;
                    i += n as usize;
                    if self.remaining == 0 {
                        self.chunk = Chunk::DataCr;
                    }
                    continue;
                }
                Chunk::DataCr if b == b'\r' => Chunk::DataLf,
                Chunk::DataLf if b == b'\n' => Chunk::Size { digits: 0 },
                // Trailer lines must be fields (`name: value`, RFC 9112 §7.1.2):
                // anything else, a request line above all, is refused rather
                // than passed to a server that might read it as a message.
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::TrailerEndLf,
                    b if is_tchar(b) => Chunk::TrailerName,
                    _ => return Err(ChunkError),
                },
                Chunk::TrailerName => match b {
                    b':' => Chunk::TrailerValue,
                    b if is_tchar(b) => Chunk::TrailerName,
                    _ => return Err(ChunkError),
                },
                Chunk::TrailerValue => match b {
                    b'\r' => Chunk::TrailerLineLf,
                    b if ctl(b) => return Err(ChunkError),
                    _ => Chunk::TrailerValue,
                },
                Chunk::TrailerLineLf if b == b'\n' => Chunk::TrailerStart,
                Chunk::TrailerEndLf if b == b'\n' => Chunk::Done,
                Chunk::SizeLf
                | Chunk::DataCr
                | Chunk::DataLf
                | Chunk::TrailerLineLf
                | Chunk::TrailerEndLf => return Err(ChunkError),
            };
            i += 1;
        }
        Ok(i)
    }

    fn after_size_line(&self) -> Chunk {
        if self.remaining == 0 {
            Chunk::TrailerStart
        } else {
            Chunk::Data
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(c: &mut BodyCursor, data: &[u8], step: usize) -> usize {
        let mut used = 0;
        for piece in data.chunks(step) {
            let n = c.take(piece).unwrap();
            used += n;
            if c.done() {
                break;
            }
            assert_eq!(n, piece.len());
        }
        used
    }

    #[test]
    fn length_stops_at_its_end() {
        let mut c = BodyCursor::new(BodyKind::Length(5));
        assert_eq!(c.take(b"abc").unwrap(), 3);
        assert!(!c.done());
        assert_eq!(c.take(b"defGET").unwrap(), 2);
        assert!(c.done());
    }

    #[test]
    fn length_left_counts_down_for_lengths_only() {
        let mut c = BodyCursor::new(BodyKind::Length(100));
        assert_eq!(c.length_left(), Some(100));
        c.take(&[0; 30]).unwrap();
        assert_eq!(c.length_left(), Some(70));
        assert_eq!(BodyCursor::new(BodyKind::Chunked).length_left(), None);
        assert_eq!(BodyCursor::new(BodyKind::UntilClose).length_left(), None);
    }

    #[test]
    fn chunked_finds_the_end_in_any_split() {
        let body =
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n";
        let mut next = body.to_vec();
        next.extend_from_slice(b"GET / HTTP/1.1\r\n");
        for step in 1..=next.len() {
            let mut c = BodyCursor::new(BodyKind::Chunked);
            assert_eq!(feed_all(&mut c, &next, step), body.len(), "step {step}");
            assert!(c.done());
        }
    }

    #[test]
    fn payload_counts_data_only() {
        let mut c = BodyCursor::new(BodyKind::Chunked);
        c.take(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n").unwrap();
        assert_eq!(c.payload(), 9);
    }

    #[test]
    fn chunked_without_trailers() {
        let mut c = BodyCursor::new(BodyKind::Chunked);
        assert_eq!(c.take(b"0\r\n\r\nrest").unwrap(), 5);
        assert!(c.done());
    }

    #[test]
    fn bad_chunk_sizes_are_rejected() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"4\r\nWikiXX",
            b"ffffffffffffffff1\r\n",
        ] {
            let mut c = BodyCursor::new(BodyKind::Chunked);
            assert!(c.take(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn trailer_lines_must_be_fields() {
        for bad in [
            &b"0\r\nGET /x HTTP/1.1\r\n\r\n"[..],
            b"0\r\n: no-name\r\n\r\n",
            b"0\r\n folded: x\r\n\r\n",
            b"0\r\nX T: 1\r\n\r\n",
            b"0\r\nX-T: 1\r\nnocolon\r\n\r\n",
        ] {
            let mut c = BodyCursor::new(BodyKind::Chunked);
            assert!(c.take(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut c = BodyCursor::new(BodyKind::Chunked);
        assert_eq!(c.take(b"0\r\nX-A: 1\r\nX-B:\r\n\r\n").unwrap(), 19);
        assert!(c.done());
    }

    #[test]
    fn until_close_never_ends() {
        let mut c = BodyCursor::new(BodyKind::UntilClose);
        assert_eq!(c.take(b"abc").unwrap(), 3);
        assert!(!c.done());
    }
}
