//! File-name parsing for the labelled layouts.
//!
//! Parsers work on the file name as text (lossily converted when it is not UTF-8, which simply makes
//! it not match any pattern).

/// Identity and camera of a Market-style name: `^(-?\d+)_c(\d+)` (`0002_c1s1_000451_03.jpg`,
/// `-1_c3s2_001234_00.jpg`, DukeMTMC's `0005_c2_f0046985.jpg`).
pub fn parse_market(name: &str) -> Option<(i64, u32)> {
    let (identity, rest) = leading_int(name)?;
    let rest = rest
        .strip_prefix("_c")
        .or_else(|| rest.strip_prefix("_C"))?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let camera = rest[..digits].parse().ok()?;
    Some((identity, camera))
}

/// A signed integer at the very start of `s`, and the rest of `s`.
fn leading_int(s: &str) -> Option<(i64, &str)> {
    let sign = usize::from(s.starts_with('-'));
    let digits = s[sign..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let end = sign + digits;
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// The first run of decimal digits in `s` as a number (`000_45.bmp` → 0, `person_0001.png` → 1).
pub fn first_number(s: &str) -> Option<i64> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let digits = s[start..].bytes().take_while(u8::is_ascii_digit).count();
    s[start..start + digits].parse().ok()
}

/// A camera token in a file name: `c` or `C` followed by digits, at the start of the name or after
/// a non-letter (`img_c2_01.jpg`, `c3-0001.png`, `0001c1.jpg`; not `pic1.jpg`).
pub fn camera_token(name: &str) -> Option<u32> {
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'c' && b != b'C' {
            continue;
        }
        if i > 0 && bytes[i - 1].is_ascii_alphabetic() {
            continue;
        }
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0
            && let Ok(camera) = name[i + 1..i + 1 + digits].parse()
        {
            return Some(camera);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn market_names() {
        assert_eq!(parse_market("0002_c1s1_000451_03.jpg"), Some((2, 1)));
        assert_eq!(parse_market("-1_c3s2_001234_00.jpg"), Some((-1, 3)));
        assert_eq!(parse_market("0000_c6s1_000001_00.jpg"), Some((0, 6)));
        assert_eq!(parse_market("0005_c2_f0046985.jpg"), Some((5, 2)));
        assert_eq!(parse_market("0011_c10s1_000003_00.jpg"), Some((11, 10)));
        assert_eq!(parse_market("Thumbs.db"), None);
        assert_eq!(parse_market("0002_s1.jpg"), None);
        assert_eq!(parse_market("0002_c.jpg"), None);
        assert_eq!(parse_market("-_c1.jpg"), None);
    }

    #[test]
    fn numbers_and_camera_tokens() {
        assert_eq!(first_number("000_45.bmp"), Some(0));
        assert_eq!(first_number("person_0001.png"), Some(1));
        assert_eq!(first_number("abc.png"), None);
        assert_eq!(camera_token("img_c2_01.jpg"), Some(2));
        assert_eq!(camera_token("c3-0001.png"), Some(3));
        assert_eq!(camera_token("0001c12.jpg"), Some(12));
        assert_eq!(camera_token("pic1.jpg"), None);
        assert_eq!(camera_token("front.jpg"), None);
    }
}
