//! Reading files named in a config (the config itself, `${file:}`, `ca_file`): regular files
//! only, each with a size cap.

/// The largest config file read. Configs are a few kilobytes; this stops `-c /dev/zero`.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// The largest `ca_file` read; a system's whole CA bundle is a few hundred kilobytes.
pub const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// Reads a regular file of at most `max_bytes`. Anything else is refused before it is opened:
/// a device such as `/dev/zero` never ends, and opening a FIFO waits for a writer.
pub fn read_file(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", file_kind(kind)),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::new(
            ErrorKind::FileTooLarge,
            format!(
                "it is larger than {} KiB, the most dbalert reads",
                max_bytes / 1024
            ),
        ));
    }
    Ok(bytes)
}

fn file_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}
