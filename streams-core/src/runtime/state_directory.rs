//! The application's state directory (Kafka Streams' `StateDirectory`):
//! `<state.dir>/<application.id>/`, this instance's lock on it, the process id kept in it
//! (part of the transactional ids under exactly-once), and its deletion by `clean_up()`.

use std::fs::File;

use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};

/// The name of the file, in `<state.dir>/<application.id>/`, keeping the process id.
const PROCESS_ID_FILE: &str = "kstreams-process-id";

/// Locks `<state.dir>/<application.id>.lock` for this instance, or refuses: another
/// instance (in this process or another) runs the same application on the same directory.
/// The file sits beside the application's directory, as each task's lock sits beside the
/// task's, so the directory holds only task state.
pub(crate) fn lock_state_dir(config: &StreamsConfig) -> Result<File> {
    let dir = config.state_dir().join(config.application_id());
    let path = dir.with_file_name(format!("{}.lock", config.application_id()));
    std::fs::create_dir_all(config.state_dir())
        .map_err(|e| StreamsError::io(format!("creating {}", config.state_dir().display()), e))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StreamsError::io(format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StreamsError::config(
            "state.dir",
            format!(
                "{} is in use by another instance of application `{}` (it holds {}); give \
                 each instance its own state.dir",
                dir.display(),
                config.application_id(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StreamsError::io(format!("locking {}", path.display()), e))
        }
    }
}

/// The process id of this application instance, part of its transactional ids. Kept in the
/// state directory, so that an instance restarted after a crash uses the same transactional
/// ids: initialising them aborts the transactions the crashed instance left open at once,
/// instead of after `transaction.timeout.ms`. The file stays locked while the instance
/// runs; a second instance on the same directory gets a fresh random id (and no lock).
pub(crate) fn process_id(config: &StreamsConfig) -> Result<(String, Option<File>)> {
    let dir = config.state_dir().join(config.application_id());
    std::fs::create_dir_all(&dir)
        .map_err(|e| StreamsError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(PROCESS_ID_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StreamsError::io(format!("opening {}", path.display()), e))?;
    if file.try_lock().is_err() {
        let id = random_id();
        tracing::warn!(path = %path.display(), %id, "the process id file is locked by another instance; using a fresh process id");
        return Ok((id, None));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)
        .map_err(|e| StreamsError::io(format!("reading {}", path.display()), e))?;
    let text = text.trim();
    if text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok((text.to_owned(), Some(file)));
    }
    let id = random_id();
    let io = |e| StreamsError::io(format!("writing {}", path.display()), e);
    file.set_len(0).map_err(io)?;
    std::io::Seek::rewind(&mut file).map_err(io)?;
    std::io::Write::write_all(&mut file, id.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((id, Some(file)))
}

/// 128 random bits as 32 hex digits (from the standard library's randomly keyed hasher).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Deletes the application's local state (every task's stores), keeping the process id.
pub(crate) fn clean_up(config: &StreamsConfig) -> Result<()> {
    let dir = config.state_dir().join(config.application_id());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // The process id that fences this instance's zombies.
        if name == PROCESS_ID_FILE {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| StreamsError::io(format!("deleting {}", path.display()), e))?;
    }
    tracing::info!(dir = %dir.display(), "local state deleted");
    Ok(())
}
