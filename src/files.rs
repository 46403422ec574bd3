//! Bounded reads of small local files: configs, `/proc` tables, token files.
//!
//! Every read has a size cap, so a file that is not what it should be (a log where a config
//! should be, a device) costs at most the cap.

use std::io::Read;
use std::path::Path;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("not a regular file (a directory, FIFO or device)")]
    NotAFile,
}

/// Read at most `limit` bytes of `path`; `Ok(None)` when the file does not exist.
pub fn read_capped(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    // A FIFO or device would block `open` or never end: only regular files are read.
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(ReadError::NotAFile),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ReadError::Io(err)),
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ReadError::Io(err)),
    };
    let mut raw = Vec::new();
    file.take(limit + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(Some(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_files_and_refuses_big_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), Some(b"12345".to_vec()));
        assert!(matches!(
            read_capped(&path, 4),
            Err(ReadError::TooLarge { limit: 4 })
        ));
        assert_eq!(read_capped(&dir.path().join("missing"), 5).unwrap(), None);
        assert!(matches!(
            read_capped(dir.path(), 5),
            Err(ReadError::NotAFile)
        ));
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(
            matches!(read_capped(&fifo, 5), Err(ReadError::NotAFile)),
            "a FIFO must not block"
        );
    }
}
