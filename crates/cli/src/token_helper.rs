//! The Vault CLI's built-in token helper: the token lives in `~/.vault-token`
//! (mode 0600), so `vault login` and `coffer login` share one stored token.

use anyhow::{Context, Result};
use std::path::PathBuf;

fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".vault-token"))
}

/// The stored token, if any (surrounding whitespace removed).
pub fn get() -> Result<Option<String>> {
    let Some(p) = path() else { return Ok(None) };
    match std::fs::read_to_string(&p) {
        Ok(s) => {
            let t = s.trim().to_string();
            Ok(if t.is_empty() { None } else { Some(t) })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("error reading token helper file {}", p.display())),
    }
}

/// Store `token`, readable by the owner only.
pub fn store(token: &str) -> Result<()> {
    let p = path().context("no home directory (HOME) to store the token in")?;
    let tmp = p.with_extension("tmp");
    {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp).with_context(|| format!("error writing {}", tmp.display()))?;
        f.write_all(token.trim().as_bytes())?;
    }
    std::fs::rename(&tmp, &p).with_context(|| format!("error writing {}", p.display()))?;
    Ok(())
}

#[allow(dead_code)] // used by `token revoke -self` style flows later
pub fn erase() -> Result<()> {
    if let Some(p) = path() {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("error removing {}", p.display())),
        }
    }
    Ok(())
}
