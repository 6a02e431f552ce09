//! `login`: authenticate with the token, userpass, approle or jwt method,
//! complete login MFA (login_mfa.rs), store the token with the token helper
//! (~/.vault-token) and print the auth table, as Vault's CLI does. The
//! `oidc` browser flow has its own file (login_oidc.rs) and one dispatch arm.

use crate::client::Client;
use crate::common::{self, usage};
use crate::format::{self, Format};
use crate::{login_mfa, token_helper};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

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

  Log in with an AppRole (secret_id may be left out for a role that does not
  bind one; K=- reads a value from stdin, K=@file from a file):

      $ coffer login -method=approle role_id=59d6d1ca-... secret_id=@secret-id.txt

  Log in with a JWT (role may be left out when the mount has a default_role):

      $ coffer login -method=jwt -path=github role=deploy jwt=@$ACTIONS_ID_TOKEN_FILE

  If the login is subject to login MFA and exactly one TOTP method is
  required, the passcode is prompted for (when stdin is a terminal and
  -non-interactive is not set) and the login is completed through
  sys/mfa/validate. Otherwise the MFA requirement is printed, to be completed
  with \"coffer write sys/mfa/validate\", or pass -mfa=<method id>:<passcode>
  to log in in one step.

Command Options:

  -method=<string>  Auth method type: token (default), userpass, approle or jwt.
  -path=<string>    Mount path of the auth method (default: the method type).
  -no-print         Do not display the token; it is still stored.
  -no-store         Do not store the token in the token helper.
  -token-only       Print only the token (implies -no-store).
  -non-interactive  Never prompt (for a password, a token or an MFA passcode).

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
    let method = common::sanitize(c.f.get("method").unwrap_or("token"));
    let method = if method.is_empty() { "token".to_string() } else { method };
    let token_only = c.f.bool("token-only");
    let no_store = c.f.bool("no-store") || token_only;
    if no_store && c.f.bool("no-print") {
        return Err(usage("-no-store and -no-print cannot be used together"));
    }
    let interactive = !c.f.bool("non-interactive");
    let mut client = c.client()?;
    if method != "token" {
        // As Vault's CLI: only the token method sends a token (a stale one from
        // the token helper must not ride along on a login).
        client.set_token(None);
    }
    let secret = match method.as_str() {
        "token" => token_login(&c, &mut client, token_only, interactive)?,
        "userpass" => userpass_login(&c, &client, interactive)?,
        "approle" => approle_login(&c, &client)?,
        "jwt" => jwt_login(&c, &client)?,
        // OIDC DISPATCH POINT: the browser flow (crates/cli/src/login_oidc.rs).
        "oidc" => crate::login_oidc::login(&c, &client)?,
        other => {
            return Err(usage(format!(
                "Unknown auth method: {other}. Use \"coffer auth list\" to see the complete list of auth methods. Additionally, some auth methods are only available via the HTTP API."
            )));
        }
    };
    // Login MFA (two-phase): one TOTP method on a terminal → prompt and
    // validate; otherwise print the requirement and stop, as Vault's CLI does.
    let secret = match login_mfa::requirement(&secret) {
        None => secret,
        Some(req) => match login_mfa::interactive_method(req, interactive) {
            Some(m) => {
                eprintln!("Initiating Interactive MFA Validation...");
                login_mfa::validate(&client, req, &m)?
            }
            None => {
                if crate::client::env("TOKEN").is_some() {
                    eprintln!("{VAULT_TOKEN_WARNING}");
                }
                eprintln!(
                    "A login request was issued that is subject to MFA validation. Please make sure\nto validate the login by sending another request to sys/mfa/validate endpoint.\n"
                );
                login_mfa::print_pending(c.format, &secret)?;
                return Ok(0);
            }
        },
    };
    // A response-wrapped login (-wrap-ttl): unwrap it unless the caller only
    // wants the wrapping token (-token-only) or its details (-no-store).
    let secret = if secret.get("auth").is_some_and(Value::is_object) {
        secret
    } else if let Some(wrap) = secret.get("wrap_info").filter(|w| w.is_object()) {
        if wrap.get("wrapped_accessor").and_then(Value::as_str).unwrap_or("").is_empty() {
            bail!("Error extracting token: wrapped response does not contain a token");
        }
        if token_only {
            return format::print_field(Format::Table, "wrapping_token", wrap.get("token").cloned());
        }
        if no_store {
            format::print_secret(c.format, &secret)?;
            return Ok(0);
        }
        let wrapping_token = wrap.get("token").and_then(Value::as_str).unwrap_or("").to_string();
        let mut unwrapper = c.client()?;
        unwrapper.set_token(Some(wrapping_token));
        unwrapper.set_wrap_ttl(None);
        unwrapper
            .write("sys/wrapping/unwrap", &json!({}))
            .context("Error extracting token")?
            .context("Error extracting token: empty response from sys/wrapping/unwrap")?
    } else {
        bail!("Error extracting token: no auth or wrapping info in response");
    };
    let token = secret
        .get("auth")
        .and_then(|a| a.get("client_token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .context("Error authenticating: the response has no token")?;
    if !no_store {
        token_helper::store(&token).context("Error storing token")?;
        if crate::client::env("TOKEN").is_some() && method != "token" {
            eprintln!("{VAULT_TOKEN_WARNING}");
        }
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

const VAULT_TOKEN_WARNING: &str = "WARNING! The VAULT_TOKEN environment variable is set! The value of this variable\nwill take precedence; if this is unwanted please unset VAULT_TOKEN or update its\nvalue accordingly.\n";

/// The mount a login posts to: `-path`, else the `mount=` argument, else the
/// method type.
fn mount_of(c: &common::Cmd, kv: &mut Map<String, Value>, method: &str) -> String {
    let from_arg = kv.remove("mount").and_then(|v| v.as_str().map(str::to_string));
    common::sanitize(c.f.get("path").map(str::to_string).or(from_arg).as_deref().unwrap_or(method))
}

/// The K=V arguments of a login method, with only `allowed` keys (plus
/// `mount`); a repeated key or a list value is refused. Values read with
/// `K=-` or `K=@file` lose their trailing line ending.
fn login_args(c: &common::Cmd, allowed: &[&str]) -> Result<Map<String, Value>> {
    let mut stdin = common::Stdin::new();
    let kv = common::parse_kv(c.args(), &mut stdin).map_err(|e| usage(format!("Error parsing configuration: {e}")))?;
    let mut out = Map::new();
    for (k, v) in kv {
        if k != "mount" && !allowed.contains(&k.as_str()) {
            let want: Vec<String> = allowed.iter().map(|a| format!("{a}=...")).collect();
            return Err(usage(format!("Invalid argument {k:?}: expected {}", want.join(" or "))));
        }
        let Value::String(s) = v else {
            return Err(usage(format!("Invalid argument {k:?}: given more than once")));
        };
        out.insert(k, Value::String(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(out)
}

fn take_str(kv: &mut Map<String, Value>, k: &str) -> Option<String> {
    kv.remove(k).and_then(|v| v.as_str().map(str::to_string)).filter(|s| !s.is_empty())
}

/// POST a login and return the response (an error when the server answers
/// nothing at all).
fn post_login(client: &Client, path: &str, body: &Value) -> Result<Value> {
    client
        .write(path, body)
        .context("Error authenticating")?
        .context("Error authenticating: empty response from the server")
}

/// `-method=approle role_id=... [secret_id=...]`: POST `auth/<path>/login`.
fn approle_login(c: &common::Cmd, client: &Client) -> Result<Value> {
    let mut kv = login_args(c, &["role_id", "secret_id"])?;
    let mount = mount_of(c, &mut kv, "approle");
    let role_id = take_str(&mut kv, "role_id").ok_or_else(|| usage("'role_id' must be specified"))?;
    let mut body = json!({ "role_id": role_id });
    if let Some(secret_id) = take_str(&mut kv, "secret_id") {
        body["secret_id"] = json!(secret_id);
    }
    post_login(client, &format!("auth/{mount}/login"), &body)
}

/// `-method=jwt [role=...] jwt=...`: POST `auth/<path>/login` (a jwt/oidc
/// mount's non-interactive login; the mount's default_role applies when no
/// role is given).
fn jwt_login(c: &common::Cmd, client: &Client) -> Result<Value> {
    let mut kv = login_args(c, &["role", "jwt"])?;
    let mount = mount_of(c, &mut kv, "jwt");
    // A compact JWS never contains whitespace: trim what a file or pipe added.
    let jwt = take_str(&mut kv, "jwt").map(|j| j.trim().to_string()).filter(|j| !j.is_empty()).ok_or_else(|| usage("'jwt' must be specified"))?;
    let mut body = json!({ "jwt": jwt });
    if let Some(role) = take_str(&mut kv, "role") {
        body["role"] = json!(role);
    }
    post_login(client, &format!("auth/{mount}/login"), &body)
}

/// `-method=token`: verify the token with lookup-self and shape the answer
/// like a login response.
fn token_login(c: &common::Cmd, client: &mut Client, token_only: bool, interactive: bool) -> Result<Value> {
    let token = match c.args() {
        [] if interactive => prompt_hidden("Token (will be hidden): ")?,
        [] => String::new(),
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
        eprintln!("{VAULT_TOKEN_WARNING}");
    }
    client.set_token(Some(token.clone()));
    client.set_wrap_ttl(None);
    let look = client
        .read("auth/token/lookup-self", &[])
        .context("Error authenticating: error looking up token")?
        .context("Error authenticating: empty response from lookup-self")?;
    let d = look.get("data").cloned().unwrap_or(Value::Null);
    let policies = d.get("policies").cloned().unwrap_or(Value::Null);
    Ok(json!({
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
    }))
}

/// `-method=userpass username=... [password=...]`: POST
/// `auth/<path>/login/<username>`; the password is prompted for without echo
/// when absent, and `password=-` reads all of stdin verbatim (as Vault does).
fn userpass_login(c: &common::Cmd, client: &Client, interactive: bool) -> Result<Value> {
    let mut username = None;
    let mut password = None;
    let mut mount_arg = None;
    for arg in c.args() {
        match arg.split_once('=') {
            Some(("username", v)) => username = Some(v.to_string()),
            // Verbatim, as Vault's CLI reads `key=-` (use printf, not echo).
            Some(("password", "-")) => password = Some(common::Stdin::new().read()?),
            Some(("password", v)) => password = Some(v.to_string()),
            Some(("mount", v)) => mount_arg = Some(v.to_string()),
            _ => return Err(usage(format!("Invalid argument {:?}: expected username=... or password=...", arg.split('=').next().unwrap_or("")))),
        }
    }
    let username = username.filter(|u| !u.is_empty()).ok_or_else(|| usage("'username' must be specified"))?;
    let password = match password {
        Some(p) => p,
        None if interactive => prompt_hidden("Password (will be hidden): ")?,
        None => return Err(usage("'password' must be specified (-non-interactive does not prompt for it)")),
    };
    let mount = common::sanitize(c.f.get("path").map(str::to_string).or(mount_arg).as_deref().unwrap_or("userpass"));
    post_login(client, &format!("auth/{mount}/login/{username}"), &json!({ "password": password }))
}
