//! `ringlb::http::body::BodyCursor` on chunked bodies.
//!
//! Input: one byte `n`, then `n % 16` split points (two bytes each, little
//! endian, taken modulo the body's length + 1), then the body and whatever
//! follows it.
//!
//! Properties:
//! - fed in the pieces the split points cut, the cursor ends where it ends
//!   fed the whole input at once: same accept/reject, same end, same payload;
//! - both agree with `reference_chunked`, a plain line-by-line decoder
//!   (strict CRLF, trailer lines `name: value`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::body::{BodyCursor, BodyKind};
use ringlb_fuzz::{ChunkedEnd, known_bug, pieces, reference_chunked};

/// Feeds `parts` in order as the session does: stop at the end of the body
/// (the rest of that piece belongs to the next message) or at an error.
fn feed<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> ChunkedEnd {
    let mut c = BodyCursor::new(BodyKind::Chunked);
    let mut used = 0;
    for part in parts {
        match c.take(part) {
            Err(_) => return ChunkedEnd::Invalid,
            Ok(n) => {
                assert!(n <= part.len(), "took more than it was given");
                used += n;
                if c.done() {
                    return ChunkedEnd::Done {
                        end: used,
                        payload: c.payload(),
                    };
                }
                assert_eq!(n, part.len(), "stopped early without being done");
            }
        }
    }
    ChunkedEnd::NeedMore {
        payload: c.payload(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let nsplits = usize::from(n % 16);
    if rest.len() < nsplits * 2 {
        return;
    }
    let (splits, body) = rest.split_at(nsplits * 2);
    let whole = feed([body]);
    let split = feed(pieces(body, splits));
    // Byte by byte too: the hardest split.
    let bytes = feed(body.chunks(1));
    assert_eq!(whole, split, "fed whole and in pieces");
    assert_eq!(whole, bytes, "fed whole and byte by byte");
    let reference = reference_chunked(body, true);
    if whole != reference {
        if whole == reference_chunked(body, false)
            && known_bug("trailer-field-syntax", &String::from_utf8_lossy(body))
        {
            return;
        }
        panic!("ringlb {whole:?}, reference {reference:?}");
    }
});
