//! The viewer password the edge makes for itself when none is configured, so a camera
//! is never open to the network by accident.
//!
//! On first start it generates 120 random bits, written as 24 characters in 6 groups
//! (`k3md-…`, an alphabet without look-alikes, easy to type on a phone), and keeps them in
//! `<state dir>/viewer-password` (directory 0700, file 0600, written atomically). Every
//! later start reads the same file, so bookmarks and saved passwords keep working.
//! Delete the file for a new password, or write one of your own into it.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// Why the viewer password cannot be kept; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{} must hold one line, the viewer password; delete it to have a new one made", path.display())]
    NotOneLine { path: PathBuf },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

/// The file, inside the state directory.
pub const FILE: &str = "viewer-password";
/// The username that goes with a generated password (and the viewer's default).
pub const USERNAME: &str = "viewer";

/// 32 symbols (5 bits each): lowercase letters and digits, without the look-alikes 0/o
/// and 1/l.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Where the edge keeps state: `--state-dir`, else `$XDG_STATE_HOME/mqcam`, else
/// `~/.local/state/mqcam`.
pub fn default_state_dir() -> Option<PathBuf> {
    let nonempty = |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    nonempty("XDG_STATE_HOME")
        .or_else(|| nonempty("HOME").map(|h| h.join(".local").join("state")))
        .map(|d| d.join("mqcam"))
}

/// The stored password, or a new one made and stored; `true` when it was made now.
pub fn load_or_create(dir: &Path) -> Result<(String, bool), SecretError> {
    let path = dir.join(FILE);
    let fail = |what: &'static str, source| SecretError::Io { what, path: path.clone(), source };
    match load(dir) {
        Ok(password) => Ok((password, false)),
        Err(SecretError::Io { source: e, .. }) if e.kind() == std::io::ErrorKind::NotFound => {
            let password = generate().map_err(|e| fail("cannot make a password for", e))?;
            create_private_dir(dir).map_err(|e| fail("cannot create the state directory for", e))?;
            write_private(&path, &password).map_err(|e| fail("cannot write", e))?;
            Ok((password, true))
        }
        Err(e) => Err(e),
    }
}

/// The stored password; never makes one (`edge login` reads what the running edge made).
pub fn load(dir: &Path) -> Result<String, SecretError> {
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| SecretError::Io {
        what: "cannot read",
        path: path.clone(),
        source,
    })?;
    let password = text.trim();
    if password.is_empty() || password.len() > 256 || password.contains(['\n', '\r', '\0']) {
        return Err(SecretError::NotOneLine { path });
    }
    keep_private(&path);
    Ok(password.to_string())
}

/// A new password: 24 symbols of 5 bits (120 bits), in groups of four.
pub fn generate() -> std::io::Result<String> {
    let mut random = [0u8; 24];
    getrandom::getrandom(&mut random).map_err(std::io::Error::other)?;
    // 256 is a multiple of 32: the low five bits of a random byte are uniform.
    let symbols: Vec<char> = random.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
    Ok(symbols.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-"))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `text` to a temporary file readable only by its owner, then renames it into
/// place: the password is never readable by others, nor ever half-written.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(format!("{text}\n").as_bytes())?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A password file others can read is made private again, with a warning: it may have
/// been seen.
fn keep_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else { return };
        if meta.permissions().mode() & 0o077 != 0 {
            let fixed = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            tracing::warn!(
                file = %path.display(),
                fixed = fixed.is_ok(),
                "the viewer password file was readable by other users; made it private (0600). \
                 Delete it and restart for a new password if others may have read it"
            );
        }
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("edge-secret-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn passwords_are_long_random_and_easy_to_type() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24 + 5, "{a}");
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.len(), 6);
        assert!(groups.iter().all(|g| g.len() == 4 && g.bytes().all(|c| ALPHABET.contains(&c))));
        assert!(!a.contains(['0', 'o', '1', 'l']), "{a}");
    }

    #[test]
    fn the_first_start_makes_a_private_file_and_later_ones_reuse_it() {
        let dir = temp_dir("reuse").join("nested");
        let (first, made) = load_or_create(&dir).unwrap();
        assert!(made);
        let (again, made) = load_or_create(&dir).unwrap();
        assert!(!made);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join(FILE)), 0o600);
            assert_eq!(mode(&dir), 0o700);
            std::fs::set_permissions(dir.join(FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
            load_or_create(&dir).unwrap();
            assert_eq!(mode(&dir.join(FILE)), 0o600, "made private again");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_password_of_ones_own_is_used_and_an_empty_file_is_a_clear_error() {
        let dir = temp_dir("own");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE), "  correct horse battery staple \n").unwrap();
        assert_eq!(load_or_create(&dir).unwrap(), ("correct horse battery staple".into(), false));
        std::fs::write(dir.join(FILE), "\n").unwrap();
        let err = load_or_create(&dir).unwrap_err().to_string();
        assert!(err.contains("viewer-password") && err.contains("delete it"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab") && !same(b"", b"a"));
    }
}
