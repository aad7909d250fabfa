//! CRC32c (Castagnoli), the checksum a PROXY protocol v2 header carries in
//! its PP2_TYPE_CRC32C TLV: written by the sending side
//! (`proxy-v2-options crc32c`) and checked by the receiving one.

/// The CRC32c of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    finish(update(START, data))
}

/// The running state before any byte.
pub const START: u32 = !0;

/// The running state after `data` (feed pieces in order, then [`finish`]).
pub fn update(mut crc: u32, data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc_table();
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The checksum from a running state.
pub fn finish(crc: u32) -> u32 {
    !crc
}

/// The byte table of the reflected Castagnoli polynomial.
const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_and_pieces() {
        // RFC 3720 B.4 check values.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        let pieces = finish(update(update(START, b"1234"), b"56789"));
        assert_eq!(pieces, 0xE306_9283);
    }
}
