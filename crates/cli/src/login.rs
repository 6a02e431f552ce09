//! `login` (token method): verify the token with `auth/token/lookup-self`,
//! store it with the token helper (~/.vault-token), print the auth table.

use crate::common::{self, usage};
use crate::format::{self, Format};
use crate::token_helper;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const HELP: &str = "Usage: coffer login [options] [AUTH K=V...]

  Authenticates users or machines to Coffer using the provided arguments. A
  successful authentication results in a Coffer token stored in the token
  helper (~/.vault-token, shared with the Vault CLI).

  Authenticate with a token (the token method is the default):

      $ coffer login 10023ee3-7c3c-4d3a-a1a6-c1fdf4b6a9d0

  Read the token from stdin instead of the command line:

      $ coffer login - < token.txt

  With no token, prompt for it without echo:

      $ coffer login
      Token (will be hidden):

  Log in with username and password (the password is prompted for without
  echo when not given; password=- reads it from stdin):

      $ coffer login -method=userpass username=alice
      Password (will be hidden):

Command Options:

  -method=<string>  Auth method: token (default) or userpass.
  -path=<string>    Mount path of the auth method (default: the method name).
  -no-print         Do not display the token; it is still stored.
  -no-store         Do not store the token in the token helper.
  -token-only       Print only the token (implies -no-store).

Output Options:

  -field=<string>   Print only the field with the given name.
  -format=<string>  table, json or yaml.

";

/// Read a secret from the terminal without echo (or a line from stdin when
/// stdin is not a terminal).
pub fn prompt_hidden(prompt: &str) -> Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let s = rpassword::prompt_password(prompt).context("error reading from terminal")?;
        Ok(s.trim().to_string())
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("error reading stdin")?;
        Ok(line.trim().to_string())
    }
}

pub fn run(argv: &[String]) -> Result<i32> {
    let help = format!("{HELP}{}", crate::client::HTTP_HELP);
    let Some(c) = common::parse(argv, &help, &["no-print", "no-store", "token-only"], &["method", "path", "field"])? else {
        return Ok(0);
    };
    let method = c.f.get("method").unwrap_or("token");
    let token_only = c.f.bool("token-only");
    let no_store = c.f.bool("no-store") || token_only;
    let (token, secret) = match method {
        "token" => token_login(&c, token_only)?,
        "userpass" => userpass_login(&c)?,
        other => {
            return Err(usage(format!(
                "Unknown auth method: {other}. Use \"coffer auth list\" to see the enabled methods; this CLI supports -method=token and -method=userpass."
            )));
        }
    };
    if !no_store {
        token_helper::store(&token).context("Error storing token")?;
    }
    if token_only {
        return format::print_field(Format::Table, "token", Some(json!(token)));
    }
    if c.f.bool("no-print") {
        return Ok(0);
    }
    if let Some(field) = c.f.get("field") {
        return format::print_field(c.format, field, format::secret_field(&secret, field));
    }
    if c.format == Format::Table {
        if no_store {
            println!("Success! You are now authenticated. The token information below is displayed\nand has not been stored by the token helper.\n");
        } else {
            println!(
                "Success! You are now authenticated. The token information displayed below is\nalready stored in the token helper. You do NOT need to run \"coffer login\" again.\nFuture Coffer requests will automatically use this token.\n"
            );
        }
    }
    format::print_secret(c.format, &secret)?;
    Ok(0)
}

/// `-method=token`: verify the token with lookup-self and shape the answer
/// like a login response.
fn token_login(c: &common::Cmd, token_only: bool) -> Result<(String, Value)> {
    let token = match c.args() {
        [] => prompt_hidden("Token (will be hidden): ")?,
        [one] if one == "-" => {
            let mut stdin = common::Stdin::new();
            stdin.read()?.trim().to_string()
        }
        [one] => match one.strip_prefix("token=") {
            Some("-") => common::Stdin::new().read()?.trim().to_string(),
            Some(t) => t.to_string(),
            None => one.to_string(),
        },
        _ => return Err(usage(format!("Too many arguments (expected 1, got {})", c.args().len()))),
    };
    if token.is_empty() {
        bail!("Error authenticating: a token must be passed to auth, please view the help for more information");
    }
    if crate::client::env("TOKEN").is_some() && !token_only {
        eprintln!(
            "WARNING! The VAULT_TOKEN environment variable is set! The value of this variable\nwill take precedence; if this is unwanted please unset VAULT_TOKEN or update its\nvalue accordingly.\n"
        );
    }
    let mut client = c.client()?;
    client.set_token(Some(token.clone()));
    client.set_wrap_ttl(None);
    let look = client
        .read("auth/token/lookup-self", &[])
        .context("Error authenticating: error looking up token")?
        .context("Error authenticating: empty response from lookup-self")?;
    let d = look.get("data").cloned().unwrap_or(Value::Null);
    let policies = d.get("policies").cloned().unwrap_or(Value::Null);
    let secret = json!({
        "request_id": "", "lease_id": "", "lease_duration": 0, "renewable": false,
        "data": null, "warnings": null,
        "auth": {
            "client_token": token,
            "accessor": d.get("accessor").cloned().unwrap_or(json!("")),
            "policies": policies,
            "token_policies": policies,
            "identity_policies": d.get("identity_policies").cloned().unwrap_or(Value::Null),
            "metadata": d.get("meta").cloned().unwrap_or(Value::Null),
            "lease_duration": d.get("ttl").cloned().unwrap_or(json!(0)),
            "renewable": d.get("renewable").cloned().unwrap_or(json!(false)),
        }
    });
    Ok((token, secret))
}

/// `-method=userpass username=... [password=...]`: POST
/// `auth/<path>/login/<username>`; the password is prompted for without echo
/// when absent, and `password=-` reads all of stdin verbatim (as Vault does).
fn userpass_login(c: &common::Cmd) -> Result<(String, Value)> {
    let mut username = None;
    let mut password = None;
    for arg in c.args() {
        match arg.split_once('=') {
            Some(("username", v)) => username = Some(v.to_string()),
            // Verbatim, as Vault's CLI reads `key=-` (use printf, not echo).
            Some(("password", "-")) => password = Some(common::Stdin::new().read()?),
            Some(("password", v)) => password = Some(v.to_string()),
            _ => return Err(usage(format!("Invalid argument {:?}: expected username=... or password=...", arg.split('=').next().unwrap_or("")))),
        }
    }
    let username = username.filter(|u| !u.is_empty()).ok_or_else(|| usage("'username' must be specified"))?;
    let password = match password {
        Some(p) => p,
        None => prompt_hidden("Password (will be hidden): ")?,
    };
    let mount = c.f.get("path").unwrap_or("userpass").trim_matches('/').to_string();
    let mut client = c.client()?;
    client.set_token(None);
    let resp = client
        .write(&format!("auth/{mount}/login/{username}"), &json!({ "password": password }))
        .context("Error authenticating")?
        .context("Error authenticating: empty response from the server")?;
    let token = resp
        .get("auth")
        .and_then(|a| a.get("client_token"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .context("Error authenticating: the response has no token")?;
    Ok((token, resp))
}
