//! `login -method=oidc`: the browser flow as Vault's CLI runs it. Ask the
//! server for the provider's authorization URL (redirect URI
//! `http://localhost:8250/oidc/callback`, a random client nonce), print it and
//! try `xdg-open`, listen on `localhost:8250` for the one request the
//! provider's redirect makes the browser send, forward its `state` and `code`
//! (GET) — or, for a `form_post`, the posted form (POST, then the GET) — to
//! `auth/<path>/oidc/callback`, and answer the browser with a short page. The
//! listener is bounded: one callback, at most [`MAX_REQUESTS`] requests in
//! all, [`MAX_HEAD`] bytes of request head and [`MAX_BODY`] of body, and
//! [`WAIT`] for the whole login (Vault's 2 minutes).

use crate::client::Client;
use crate::common::{self, usage};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);
const MAX_REQUESTS: usize = 16;
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const ALLOWED: &[&str] = &["role", "mount", "listenaddress", "port", "callbackmethod", "callbackhost", "callbackport", "skip_browser", "callbackmode"];

const SUCCESS_HTML: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Coffer</title></head><body><h2>Signed in via your OIDC provider</h2><p>You can now close this window and return to the command line.</p></body></html>";

/// The login response of the oidc flow (the caller stores and prints it, and
/// completes login MFA when it is asked for).
pub fn login(c: &common::Cmd, client: &Client) -> Result<Value> {
    let mut kv = std::collections::BTreeMap::new();
    for a in c.args() {
        let Some((k, v)) = a.split_once('=') else { return Err(usage(format!("Invalid argument {a:?}: expected K=V"))) };
        if !ALLOWED.contains(&k) {
            return Err(usage(format!("Invalid argument {k:?}: expected one of {}", ALLOWED.join(", "))));
        }
        if kv.insert(k.to_string(), v.to_string()).is_some() {
            return Err(usage(format!("Invalid argument {k:?}: given more than once")));
        }
    }
    let get = |k: &str, d: &str| kv.get(k).cloned().unwrap_or_else(|| d.to_string());
    let mount = common::sanitize(c.f.get("path").map(str::to_string).unwrap_or_else(|| get("mount", "oidc")).as_str());
    if get("callbackmode", "client") != "client" {
        bail!("callbackmode: only \"client\" is supported by this CLI");
    }
    let listen = get("listenaddress", "localhost");
    let port = get("port", "8250");
    let callback_port = get("callbackport", &port);
    let redirect_uri = format!("{}://{}:{}/oidc/callback", get("callbackmethod", "http"), get("callbackhost", "localhost"), callback_port);
    let skip_browser = match get("skip_browser", "false").as_str() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
        "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
        other => bail!("failed to parse value for \"skip_browser\": {other:?}"),
    };
    let role = get("role", "");
    let client_nonce = random_nonce()?;

    let answer = client
        .write(&format!("auth/{mount}/oidc/auth_url"), &json!({ "role": role, "redirect_uri": redirect_uri, "client_nonce": client_nonce }))
        .context("Error authenticating")?;
    let auth_url = answer.as_ref().and_then(|a| a.pointer("/data/auth_url")).and_then(Value::as_str).unwrap_or("").to_string();
    if auth_url.is_empty() {
        bail!("Unable to authorize role {role:?} with redirect_uri {redirect_uri:?}. Check Coffer logs for more information.");
    }
    let listener = TcpListener::bind(format!("{listen}:{port}")).with_context(|| format!("listen tcp {listen}:{port}"))?;
    if skip_browser {
        eprint!("Complete the login via your OIDC provider. Open the following link in your browser:\n\n    {auth_url}\n\n\n");
    } else {
        eprint!("Complete the login via your OIDC provider. Launching browser to:\n\n    {auth_url}\n\n\n");
        if let Err(e) = open_browser(&auth_url) {
            eprint!("Error attempting to automatically open browser: '{e}'.\nPlease visit the authorization URL manually.");
        }
    }
    eprintln!("Waiting for OIDC authentication to complete...");
    serve_callback(&listener, client, &mount, &client_nonce)
}

fn random_nonce() -> Result<String> {
    let mut b = [0u8; 20];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).context("reading /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn open_browser(url: &str) -> std::io::Result<()> {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

/// One HTTP request read from the browser.
struct Incoming {
    method: String,
    path: String,
    params: Vec<(String, String)>,
}

fn serve_callback(listener: &TcpListener, client: &Client, mount: &str, client_nonce: &str) -> Result<Value> {
    let deadline = Instant::now() + WAIT;
    listener.set_nonblocking(true)?;
    let mut seen = 0;
    while Instant::now() < deadline {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e).context("accepting the OIDC callback"),
        };
        seen += 1;
        if seen > MAX_REQUESTS {
            bail!("too many requests on the OIDC callback listener without a callback");
        }
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let req = match read_request(&mut stream) {
            Ok(r) => r,
            Err(_) => {
                respond(&mut stream, 400, "<p>Bad request</p>");
                continue;
            }
        };
        if req.path != "/oidc/callback" {
            respond(&mut stream, 404, "<p>Not found</p>");
            continue;
        }
        let param = |k: &str| req.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let path = format!("auth/{mount}/oidc/callback");
        let mut query = vec![("state".to_string(), param("state")), ("code".to_string(), param("code")), ("client_nonce".to_string(), client_nonce.to_string())];
        if req.method == "POST" {
            // form_post: hand the form to the server first, then complete with the GET.
            let body = json!({ "state": param("state"), "code": param("code"), "id_token": param("id_token"), "client_nonce": client_nonce });
            if let Err(e) = client.raw("POST", &path, &[], Some(&body)) {
                respond(&mut stream, 400, &error_page(&e));
                return Err(e).context("Error authenticating");
            }
        }
        query.retain(|(_, v)| !v.is_empty());
        return match client.read(&path, &query) {
            Ok(Some(secret)) => {
                respond(&mut stream, 200, SUCCESS_HTML);
                Ok(secret)
            }
            Ok(None) => {
                respond(&mut stream, 400, "<p>Login error: empty response from the server</p>");
                bail!("Error authenticating: empty response from the server")
            }
            Err(e) => {
                respond(&mut stream, 400, &error_page(&e));
                Err(e).context("Error authenticating")
            }
        };
    }
    bail!("Timed out waiting for response from provider")
}

fn error_page(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Coffer</title></head><body><h2>Login error</h2><pre>{text}</pre></body></html>")
}

fn respond(stream: &mut TcpStream, status: u16, html: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let _ = write!(stream, "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}", html.len());
    let _ = stream.flush();
}

fn read_request(stream: &mut TcpStream) -> Result<Incoming> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            bail!("request head too large");
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let mut params = parse_form(query);
    if method == "POST" {
        let len: usize = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        if len > MAX_BODY {
            bail!("request body too large");
        }
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
        // Body values win over the query's, as Go's FormValue.
        let mut form = parse_form(&String::from_utf8_lossy(&body));
        form.extend(params);
        params = form;
    }
    Ok(Incoming { method, path: path.to_string(), params })
}

/// `a=b&c=d` with `+` and `%XX` decoded.
fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (unescape(k), unescape(v))
    }).collect()
}

fn unescape(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c))) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        assert_eq!(parse_form("state=a%2Bb&code=x+y&e="), vec![("state".into(), "a+b".into()), ("code".into(), "x y".into()), ("e".into(), "".into())]);
        assert_eq!(unescape("%zz%4"), "%zz%4");
        assert_eq!(unescape("%41"), "A");
    }
}
