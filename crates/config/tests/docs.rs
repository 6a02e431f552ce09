//! Every HCL and JSON example in docs/configuration.md parses, and every
//! error example prints exactly the message the doc shows after it.
//!
//! Fences: ```hcl and ```json must parse; ```hcl error must fail, and the
//! ```text fence right after it holds the expected message.

use coffer_config::parse_str;

struct Fence {
    info: String,
    body: String,
    line: usize,
}

fn fences(doc: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    for (i, line) in doc.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Fence {
                    info: info.trim().to_string(),
                    body: String::new(),
                    line: i + 1,
                })
            }
            (Some(f), Some(_)) => out.push(f),
            (Some(mut f), None) => {
                f.body.push_str(line);
                f.body.push('\n');
                open = Some(f);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "unclosed fence");
    out
}

#[test]
fn configuration_md_examples() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).expect("read docs/configuration.md");
    let fences = fences(&doc);
    let (mut ok, mut errors) = (0, 0);
    let mut i = 0;
    while i < fences.len() {
        let f = &fences[i];
        match f.info.as_str() {
            "hcl" => {
                if let Err(e) = parse_str(&f.body, "config.hcl", false) {
                    panic!("docs line {}: example does not parse: {e}", f.line);
                }
                ok += 1;
            }
            "json" => {
                if let Err(e) = parse_str(&f.body, "config.json", true) {
                    panic!("docs line {}: example does not parse: {e}", f.line);
                }
                ok += 1;
            }
            "hcl error" => {
                let err = match parse_str(&f.body, "config.hcl", false) {
                    Ok(_) => panic!("docs line {}: error example parses", f.line),
                    Err(e) => e.to_string(),
                };
                let expected = fences
                    .get(i + 1)
                    .filter(|n| n.info == "text")
                    .unwrap_or_else(|| {
                        panic!(
                            "docs line {}: error example needs a ```text fence after it",
                            f.line
                        )
                    });
                assert_eq!(err, expected.body.trim(), "docs line {}", f.line);
                errors += 1;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    assert!(
        ok >= 3 && errors >= 4,
        "found {ok} examples and {errors} error examples"
    );
}
