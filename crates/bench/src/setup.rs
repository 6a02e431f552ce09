//! Setup and teardown against a Vault-compatible server: mounts, seed keys, a policy scoped to
//! the workload's paths, a non-root load token, and tokens for token-lookup to look up.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, Target, vault_errors};
use crate::logins;
use crate::workload::{
    ENTITY_PREFIX, Mix, Targets, USERPASS_MOUNT, USERPASS_PASSWORD, USERPASS_USER, Workload, key_name, kv1_body, kv2_body,
};

pub const POLICY_NAME: &str = "coffer-bench";
pub const DEFAULT_KV2_MOUNT: &str = "bench-kv2";
pub const DEFAULT_KV1_MOUNT: &str = "bench-kv1";
/// Concurrent connections used to seed keys.
const SEED_CONNECTIONS: usize = 8;

#[derive(Clone, Debug)]
pub struct SetupOptions {
    pub mix: Mix,
    pub keys: usize,
    pub value_size: usize,
    /// Existing mount to use instead of auto-creating one (kept at the end).
    pub mount: Option<String>,
    pub root_token_for_load: bool,
    /// Path for trivial-get.
    pub trivial_path: String,
}

/// What setup created, so teardown can remove exactly that.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub revoke_tokens: Vec<String>,
    pub policy: Option<String>,
    pub mounts: Vec<String>,
    /// Auth methods enabled for the run (disabling one revokes its login tokens).
    pub auth_mounts: Vec<String>,
    /// Identity entities the run's logins created, by id...
    pub entities: Vec<String>,
    /// ... and by (auth mount, alias name), looked up at teardown.
    pub entity_aliases: Vec<(String, String)>,
}

pub struct Prepared {
    pub targets: Targets,
    /// Token the load sends; `None` sends no token.
    pub load_token: Option<String>,
    /// How the load token was obtained, for the report.
    pub token_kind: String,
    pub cleanup: Cleanup,
}

/// The ACL policy text granting exactly the mix's paths (`entity_id`: the load token's
/// entity, for the entity workloads).
pub fn policy_hcl(mix: &Mix, kv2_mount: &str, kv1_mount: &str, entity_id: &str) -> String {
    let mut rules: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for w in mix.workloads() {
        let mount = if w.uses_kv1() { kv1_mount } else { kv2_mount };
        if let Some((path, caps)) = w.policy_rule(mount, entity_id) {
            let entry = rules.entry(path).or_default();
            for cap in caps {
                if !entry.contains(cap) {
                    entry.push(cap);
                }
            }
        }
    }
    let mut out = String::new();
    for (path, caps) in rules {
        let caps: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
        out += &format!("path {path:?} {{\n  capabilities = [{}]\n}}\n", caps.join(", "));
    }
    out
}

fn needs_setup(mix: &Mix) -> bool {
    mix.workloads().any(|w| w != Workload::TrivialGet)
}

fn clean_mount(m: &str) -> String {
    m.trim().trim_matches('/').to_string()
}

/// Prepare `target` for the mix. On error, whatever was already created is removed.
pub async fn setup(target: &Target, setup_token: Option<&str>, opts: &SetupOptions) -> anyhow::Result<Prepared> {
    let mut targets = Targets {
        keys: opts.keys,
        value_size: opts.value_size,
        trivial_path: opts.trivial_path.clone(),
        ..Default::default()
    };
    if !needs_setup(&opts.mix) {
        return Ok(Prepared {
            targets,
            load_token: setup_token.map(str::to_string),
            token_kind: if setup_token.is_some() { "as given".into() } else { "none".into() },
            cleanup: Cleanup::default(),
        });
    }
    let token = setup_token.ok_or_else(|| anyhow!("token: setup needs a root or admin token; pass -token or set VAULT_TOKEN"))?;
    let mut api = ApiClient::new(target, Some(token))?;
    let mut cleanup = Cleanup::default();
    match setup_inner(target, token, &mut api, opts, &mut targets, &mut cleanup).await {
        Ok((load_token, token_kind)) => Ok(Prepared { targets, load_token: Some(load_token), token_kind, cleanup }),
        Err(e) => {
            if let Err(te) = teardown(target, token, cleanup).await {
                eprintln!("warning: cleanup after failed setup: {te:#}");
            }
            Err(e)
        }
    }
}

async fn setup_inner(
    target: &Target,
    token: &str,
    api: &mut ApiClient,
    opts: &SetupOptions,
    targets: &mut Targets,
    cleanup: &mut Cleanup,
) -> anyhow::Result<(String, String)> {
    let mix = &opts.mix;
    let wants_kv2 = mix.workloads().any(Workload::uses_kv2);
    let wants_kv1 = mix.workloads().any(Workload::uses_kv1);
    if opts.mount.is_some() && wants_kv1 && wants_kv2 {
        bail!("mount: -mount names one mount, but the workload uses both kv-v1 and kv-v2; leave -mount unset");
    }
    for (wanted, version, default, slot) in [
        (wants_kv2, "2", DEFAULT_KV2_MOUNT, &mut targets.kv2_mount),
        (wants_kv1, "1", DEFAULT_KV1_MOUNT, &mut targets.kv1_mount),
    ] {
        if !wanted {
            continue;
        }
        match &opts.mount {
            Some(m) => *slot = clean_mount(m),
            None => {
                create_mount(api, default, version).await?;
                cleanup.mounts.push(default.to_string());
                *slot = default.to_string();
            }
        }
    }

    // Seed keys (reads need them; the first write also waits out a fresh kv-v2 mount's upgrade).
    if wants_kv2 {
        let seed = if mix.contains(Workload::Kv2Read) { opts.keys } else { 1 };
        let body: Value = serde_json::from_slice(&kv2_body(opts.value_size))?;
        seed_keys(target, token, &format!("{}/data", targets.kv2_mount), seed, &body).await?;
    }
    if wants_kv1 {
        let seed = if mix.contains(Workload::Kv1Read) { opts.keys } else { 1 };
        let body: Value = serde_json::from_slice(&kv1_body(opts.value_size))?;
        seed_keys(target, token, &targets.kv1_mount, seed, &body).await?;
    }

    // The entity workloads load with a userpass login token (it has an entity); its
    // policy is written below, once the entity id is known.
    let wants_entity = mix.workloads().any(Workload::uses_entity_token);
    let entity_token = if wants_entity && !opts.root_token_for_load {
        Some(logins::setup_entity_token(target, api, cleanup, targets, &[POLICY_NAME]).await?)
    } else if wants_entity {
        bail!("root-token-for-load: the entity workloads read with a login token that has an entity; leave -root-token-for-load unset");
    } else {
        None
    };
    if wants_entity {
        let body: Value = serde_json::from_slice(&kv2_body(opts.value_size))?;
        let prefix = format!("{}/data/{ENTITY_PREFIX}/{}", targets.kv2_mount, targets.entity_id);
        seed_keys(target, token, &prefix, opts.keys, &body).await?;
    }
    if mix.contains(Workload::ApproleLogin) {
        logins::setup_approle(api, cleanup, targets).await?;
    }
    if mix.contains(Workload::JwtLogin) {
        logins::setup_jwt(api, cleanup, targets).await?;
    }

    if mix.contains(Workload::TokenLookup) {
        for _ in 0..opts.keys.max(1) {
            let t = create_token(api, &json!({"policies": ["default"], "ttl": "2h", "display_name": "coffer-bench-lookup"}))
                .await
                .context("creating tokens for token-lookup")?;
            cleanup.revoke_tokens.push(t.clone());
            targets.lookup_tokens.push(t);
        }
    }

    if mix.contains(Workload::UserpassLogin) {
        let (status, value) = api
            .call(Method::POST, &format!("sys/auth/{USERPASS_MOUNT}"), Some(&json!({"type": "userpass"})))
            .await?;
        if !(200..300).contains(&status) {
            bail!("enabling auth/{USERPASS_MOUNT}/: HTTP {status}: {}", vault_errors(&value));
        }
        cleanup.auth_mounts.push(USERPASS_MOUNT.to_string());
        cleanup.entity_aliases.push((USERPASS_MOUNT.to_string(), USERPASS_USER.to_string()));
        // Short token TTL: every login mints a token; they all go when the mount is disabled.
        api.ok(
            Method::POST,
            &format!("auth/{USERPASS_MOUNT}/users/{USERPASS_USER}"),
            Some(&json!({"password": USERPASS_PASSWORD, "token_policies": ["default"], "token_ttl": "10m"})),
        )
        .await
        .context("creating the userpass user")?;
    }

    if opts.root_token_for_load {
        return Ok((token.to_string(), "setup token (-root-token-for-load)".to_string()));
    }
    let hcl = policy_hcl(mix, &targets.kv2_mount, &targets.kv1_mount, &targets.entity_id);
    if let Some(load) = entity_token {
        api.ok(Method::PUT, &format!("sys/policies/acl/{POLICY_NAME}"), Some(&json!({ "policy": hcl })))
            .await
            .context("writing the load policy")?;
        cleanup.policy = Some(POLICY_NAME.to_string());
        return Ok((load, format!("non-root, userpass login with entity {}, policies [{POLICY_NAME}, default]", targets.entity_id)));
    }
    // Workloads that need no rule (logins) get a token with only `default`.
    let policies = if hcl.is_empty() {
        json!(["default"])
    } else {
        api.ok(Method::PUT, &format!("sys/policies/acl/{POLICY_NAME}"), Some(&json!({ "policy": hcl })))
            .await
            .context("writing the load policy")?;
        cleanup.policy = Some(POLICY_NAME.to_string());
        json!([POLICY_NAME])
    };
    // The token carries `default` too, as application tokens normally do.
    let load = create_token(api, &json!({"policies": policies, "ttl": "24h", "display_name": "coffer-bench"}))
        .await
        .context("creating the load token")?;
    // Revoked first at teardown: that also revokes every token token-create made with it.
    cleanup.revoke_tokens.insert(0, load.clone());
    let described = if cleanup.policy.is_some() { format!("non-root, policies [{POLICY_NAME}, default]") } else { "non-root, policies [default]".to_string() };
    Ok((load, described))
}

async fn create_mount(api: &mut ApiClient, path: &str, version: &str) -> anyhow::Result<()> {
    let body = json!({"type": "kv", "description": "coffer-bench (removed at the end of the run)", "options": {"version": version}});
    let (status, value) = api.call(Method::POST, &format!("sys/mounts/{path}"), Some(&body)).await?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let msg = vault_errors(&value);
    if msg.contains("already in use") {
        bail!(
            "mount {path}/ already exists (left over from an interrupted run?). Remove it with \
             `bao secrets disable {path}` or reuse it with -mount {path}"
        );
    }
    bail!("creating mount {path}/: HTTP {status}: {msg}")
}

async fn create_token(api: &mut ApiClient, body: &Value) -> anyhow::Result<String> {
    let v = api.ok(Method::POST, "auth/token/create", Some(body)).await?;
    v.pointer("/auth/client_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("auth/token/create: response has no auth.client_token"))
}

/// Write `key-0..n` under `prefix` using a few parallel connections. The first write is
/// retried for a while: a fresh kv-v2 mount answers 4xx/5xx until its upgrade finishes.
async fn seed_keys(target: &Target, token: &str, prefix: &str, n: usize, body: &Value) -> anyhow::Result<()> {
    let mut api = ApiClient::new(target, Some(token))?;
    let first = format!("{prefix}/{}", key_name(0));
    let mut last_err = String::new();
    let mut ready = false;
    for _ in 0..100 {
        let (status, value) = api.call(Method::POST, &first, Some(body)).await?;
        if (200..300).contains(&status) {
            ready = true;
            break;
        }
        last_err = format!("HTTP {status}: {}", vault_errors(&value));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        bail!("writing {first}: {last_err}");
    }
    let workers = SEED_CONNECTIONS.min(n.saturating_sub(1)).max(1);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let target = target.clone();
        let token = token.to_string();
        let prefix = prefix.to_string();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut api = ApiClient::new(&target, Some(&token))?;
            let mut i = 1 + w;
            while i < n {
                api.ok(Method::POST, &format!("{prefix}/{}", key_name(i)), Some(&body)).await?;
                i += workers;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await?.context("seeding keys")?;
    }
    Ok(())
}

/// Remove what setup created. Keeps going past failures and reports the first.
pub async fn teardown(target: &Target, setup_token: &str, cleanup: Cleanup) -> anyhow::Result<()> {
    let mut api = ApiClient::new(target, Some(setup_token))?;
    let mut first_err: Option<anyhow::Error> = None;
    let mut note = |r: anyhow::Result<Value>| {
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    };
    for t in &cleanup.revoke_tokens {
        if t == setup_token {
            continue;
        }
        note(api.ok(Method::POST, "auth/token/revoke", Some(&json!({ "token": t }))).await);
    }
    if let Some(p) = &cleanup.policy {
        note(api.ok(Method::DELETE, &format!("sys/policies/acl/{p}"), None).await);
    }
    for m in &cleanup.mounts {
        note(api.ok(Method::DELETE, &format!("sys/mounts/{m}"), None).await);
    }
    // Entities outlive their auth mount: delete them while the mounts (whose accessors
    // name the aliases) still exist.
    note(logins::delete_entities(&mut api, &cleanup).await.map(|_| Value::Null));
    for m in &cleanup.auth_mounts {
        note(api.ok(Method::DELETE, &format!("sys/auth/{m}"), None).await);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::parse_mix;

    #[test]
    fn policy_covers_only_the_mix() {
        let mix = parse_mix("kv2-read=80,kv2-write=20,token-lookup=1").unwrap();
        let hcl = policy_hcl(&mix, "bench-kv2", "bench-kv1", "");
        assert_eq!(
            hcl,
            "path \"auth/token/lookup\" {\n  capabilities = [\"update\"]\n}\n\
             path \"bench-kv2/data/key-*\" {\n  capabilities = [\"read\", \"create\", \"update\"]\n}\n"
        );
        assert!(!hcl.contains("bench-kv1"));
    }
}
