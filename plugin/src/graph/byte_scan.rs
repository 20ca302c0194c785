//! Checks of URLs and header values, eight bytes at a time: a bearer token or a long URL is
//! checked on every request, inside the sandbox. Searches for one byte (or two) use `memchr`.

/// Every byte's low seven bits set.
const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
/// Every byte's high bit set.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// `byte` in every byte of a word.
const fn splat(byte: u8) -> u64 {
    (byte as u64) * 0x0101_0101_0101_0101
}

/// The high bit of each byte of `word` that is zero, and no other bit. Exact: adding 0x7f to
/// a byte's low seven bits never carries into the next byte.
fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW_SEVEN) + LOW_SEVEN) | word) & HIGH_BITS
}

/// The eight bytes of `chunk` as a word, the first in its lowest byte. An array, never a
/// slice copied into one: in the component at opt-level `s`, copying a slice of eight bytes
/// was a call to `copy_from_slice` and a `memory.copy` (a call out of the sandbox) per word.
fn word(chunk: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*chunk)
}

/// The high bit of each byte of `word` below `limit` (at most 0x80), and maybe of bytes after
/// the first such one: exact as to whether there is one, which is all its callers ask.
fn bytes_below(word: u64, limit: u8) -> u64 {
    word.wrapping_sub(splat(limit)) & !word & HIGH_BITS
}

/// True when every byte is visible ASCII (`!` to `~`): what a URL may hold unencoded.
pub fn all_visible_ascii(bytes: &[u8]) -> bool {
    let delete = splat(0x7f);
    let (chunks, rest) = bytes.as_chunks::<8>();
    for chunk in chunks {
        let word = word(chunk);
        if bytes_below(word, 0x21) | (word & HIGH_BITS) | zero_bytes(word ^ delete) != 0 {
            return false;
        }
    }
    rest.iter().all(u8::is_ascii_graphic)
}

/// True when `bytes` holds a control character other than tab (below 0x20, or 0x7f): what an
/// HTTP header value may not hold. A bearer token is a few KiB: it is checked a word at a time.
pub fn has_control_character(bytes: &[u8]) -> bool {
    let is_control = |byte: &u8| (*byte < 0x20 && *byte != b'\t') || *byte == 0x7f;
    let delete = splat(0x7f);
    let (chunks, rest) = bytes.as_chunks::<8>();
    for chunk in chunks {
        let word = word(chunk);
        // A word with a byte below 0x20 may hold only tabs: its bytes decide.
        if (bytes_below(word, 0x20) | zero_bytes(word ^ delete)) != 0 && chunk.iter().any(is_control) {
            return true;
        }
    }
    rest.iter().any(is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_byte_value_is_classed_as_the_byte_rules_say_in_every_position() {
        for byte in 0..=255u8 {
            for length in 1..20 {
                for at in 0..length {
                    let mut bytes = vec![b'a'; length];
                    bytes[at] = byte;
                    assert_eq!(all_visible_ascii(&bytes), byte.is_ascii_graphic(), "{byte:#x} at {at} of {length}");
                    let control = (byte < 0x20 && byte != b'\t') || byte == 0x7f;
                    assert_eq!(has_control_character(&bytes), control, "{byte:#x} at {at} of {length}");
                }
            }
        }
        assert!(all_visible_ascii(b""));
        assert!(!has_control_character(b"\t\t\t\t\t\t\t\t\t"));
    }

    #[test]
    fn only_zero_bytes_are_marked() {
        assert_eq!(zero_bytes(0), HIGH_BITS);
        assert_eq!(zero_bytes(u64::MAX), 0);
        assert_eq!(zero_bytes(0x0100_8000_0001_ff00), 0x0080_0080_8000_0080);
    }

    proptest! {
        #[test]
        fn the_word_checks_agree_with_plain_loops(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\\'), Just(b'['), Just(b'{'), Just(b'{' | 0x80), Just(b';'), any::<u8>()], 0..100),
            skip in 0usize..8,
        ) {
            let bytes = &bytes[skip.min(bytes.len())..];
            prop_assert_eq!(all_visible_ascii(bytes), bytes.iter().all(u8::is_ascii_graphic));
            let control = bytes.iter().any(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7f);
            prop_assert_eq!(has_control_character(bytes), control);
        }
    }
}
