//! Writing numpy `.npy` files (format version 1.0, little-endian f32, C order).

use std::io::Write;
use std::path::Path;

/// Encode `data` with `shape` as the bytes of a `.npy` file.
///
/// Returns an error message when the shape does not match the data length.
pub fn encode_f32(data: &[f32], shape: &[usize]) -> Result<Vec<u8>, String> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(format!(
            "shape {shape:?} holds {expected} values but {} were given",
            data.len()
        ));
    }
    let dims = match shape {
        [] => String::new(),
        [one] => format!("{one},"),
        many => many
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Write a `.npy` file.
pub fn write_f32(path: &Path, data: &[f32], shape: &[usize]) -> std::io::Result<()> {
    let bytes = encode_f32(data, shape)
        .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    let mut f = std::fs::File::create(path)?;
    f.write_all(&bytes)?;
    f.sync_all()
}

/// Parse a `.npy` file written by [`encode_f32`] (or numpy, for `<f4` C-order arrays).
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|e| e.to_string())?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(format!("unsupported array: {header}"));
    }
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape in header")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let body = &bytes[start + header_len..];
    let n: usize = shape.iter().product();
    if body.len() != n * 4 {
        return Err(format!(
            "expected {} data bytes, found {}",
            n * 4,
            body.len()
        ));
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((data, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_round_trips() {
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let bytes = encode_f32(&data, &[2, 3, 4]).expect("encode");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("utf8");
        assert!(
            header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }")
        );
        assert!(header.ends_with('\n'));
        let (back, shape) = decode_f32(&bytes).expect("decode");
        assert_eq!(shape, vec![2, 3, 4]);
        assert_eq!(back, data);
        // One-dimensional shapes need the trailing comma of a Python tuple.
        let one = encode_f32(&[1.0, 2.0], &[2]).expect("encode");
        let len = u16::from_le_bytes([one[8], one[9]]) as usize;
        let header = std::str::from_utf8(&one[10..10 + len]).expect("utf8");
        assert!(header.contains("'shape': (2,)"), "{header}");
        assert!(encode_f32(&[1.0], &[2]).is_err());
    }
}
