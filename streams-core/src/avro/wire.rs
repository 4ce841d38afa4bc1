//! The Schema Registry wire format: the framing around an Avro body. A record is the magic
//! byte 0x00, the writer's schema id (4 bytes, big-endian), then the Avro binary body.

use crate::error::SerdeError;

/// The first byte of every record in the Schema Registry wire format.
pub const MAGIC_BYTE: u8 = 0;

/// The magic byte and the schema id before the body.
const HEADER_LEN: usize = 5;

/// Appends the framed record: the header for schema `id`, then `body`.
pub(super) fn write_frame(id: u32, body: &[u8], buf: &mut Vec<u8>) {
    buf.reserve(HEADER_LEN + body.len());
    buf.push(MAGIC_BYTE);
    buf.extend_from_slice(&id.to_be_bytes());
    buf.extend_from_slice(body);
}

/// Splits a framed record into its schema id and Avro body; a record too short for the
/// header or with another magic byte is an error that says which.
pub(super) fn read_frame(data: &[u8]) -> Result<(u32, &[u8]), SerdeError> {
    let Some((header, body)) = data.split_first_chunk::<HEADER_LEN>() else {
        return Err(SerdeError::new(format!(
            "{} bytes is too short for the Schema Registry wire format: it needs a magic \
             byte 0x00 and a 4-byte schema id before the Avro body",
            data.len()
        )));
    };
    let [magic, id @ ..] = *header;
    if magic != MAGIC_BYTE {
        return Err(SerdeError::new(format!(
            "unknown magic byte 0x{magic:02x}: the Schema Registry wire format starts with 0x00"
        )));
    }
    Ok((u32::from_be_bytes(id), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written() {
        let mut buf = Vec::new();
        write_frame(0x0102_0304, b"body", &mut buf);
        assert_eq!(buf, [0, 1, 2, 3, 4, b'b', b'o', b'd', b'y']);
        assert_eq!(
            read_frame(&buf).expect("framed"),
            (0x0102_0304, &b"body"[..])
        );
        assert!(read_frame(&buf[..4]).is_err());
        assert!(read_frame(&[1, 0, 0, 0, 1]).is_err());
    }
}
