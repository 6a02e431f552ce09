//! `coffer audit verify`: a placeholder in this branch (another part of the
//! Audit issue builds it and replaces this file).

pub fn run(_argv: &[String]) -> anyhow::Result<i32> {
    eprintln!("coffer audit verify: not built in this branch");
    Ok(2)
}
