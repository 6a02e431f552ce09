//! `coffer server`: build storage and core from flags or a config file, bind
//! the listeners, and (in `-dev` mode) initialise and unseal in memory.

use crate::flags;
use anyhow::{Context, Result, bail};
use coffer_config::ServerConfig;
use coffer_core::{Core, CoreConfig};
use coffer_http::{ListenerOptions, RequestLimits, TlsFiles};
use coffer_storage::{FileStorage, InmemStorage, Storage};
use std::sync::Arc;
use tokio::net::TcpListener;

const HELP: &str = "Usage: coffer server [options]

  Start a Coffer server. With -dev: in memory, initialised and unsealed,
  root token printed, kv v2 mounted at secret/. Otherwise -config is required.

Options:
  -config=<path>             Server config file (HCL or JSON). May repeat.
  -dev                       Development mode (never use in production).
  -dev-root-token-id=<id>    Root token id in dev mode (env VAULT_DEV_ROOT_TOKEN_ID).
  -dev-listen-address=<addr> Listen address in dev mode (default 127.0.0.1:8200;
                             env VAULT_DEV_LISTEN_ADDRESS).
  -dev-no-store-token        Do not store the dev root token in ~/.vault-token
                             (by default it is, as Vault's dev server does).
  -log-level=<level>         trace, debug, info, warn, error.

Examples:
  coffer server -dev
  coffer server -config=/etc/coffer/config.hcl
";

fn env2(a: &str, b: &str) -> Option<String> {
    std::env::var(a).ok().or_else(|| std::env::var(b).ok()).filter(|s| !s.is_empty())
}

pub fn run(argv: &[String]) -> Result<i32> {
    if argv.iter().any(|a| a == "-h" || a == "-help" || a == "--help") {
        print!("{HELP}");
        return Ok(0);
    }
    let f = flags::parse(
        argv,
        &["dev", "dev-no-store-token", "dev-tls"],
        &["config", "dev-root-token-id", "dev-listen-address", "log-level", "dev-plugin-dir"],
    )?;
    let log_level = f.get("log-level").map(str::to_string).or_else(|| env2("COFFER_LOG_LEVEL", "VAULT_LOG_LEVEL"));
    let dev = f.bool("dev");
    let configs = f.all("config");
    if !dev && configs.is_empty() {
        eprint!("{HELP}");
        bail!("no configuration files found: use -config or -dev");
    }
    let cfg = match configs.as_slice() {
        [] => None,
        [one] => {
            // Dev mode brings its own storage and listener: the file may leave them out.
            let load = if dev { coffer_config::load_dev } else { coffer_config::load };
            Some(load(std::path::Path::new(one)).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        _ => bail!("more than one -config file is not supported yet"),
    };
    let level = log_level
        .or_else(|| cfg.as_ref().map(|c| c.log_level.as_str().to_string()))
        .unwrap_or_else(|| "info".into());
    let json_logs = cfg.as_ref().is_some_and(|c| c.log_format == coffer_config::LogFormat::Json)
        || matches!(env2("COFFER_LOG_FORMAT", "VAULT_LOG_FORMAT").as_deref(), Some("json"));
    init_logging(&level, json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        if dev { run_dev(&f, cfg).await } else { run_config(cfg.expect("checked above")).await }
    })
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{level},hyper=warn,h2=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// `pid_file`: written at start (so supervisors can signal us), removed at
/// shutdown.
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn create(path: Option<&std::path::Path>) -> Result<PidFile> {
        if let Some(p) = path {
            std::fs::write(p, format!("{}\n", std::process::id()))
                .with_context(|| format!("pid_file {}", p.display()))?;
        }
        Ok(PidFile(path.map(|p| p.to_path_buf())))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn core_config(cfg: Option<&ServerConfig>) -> CoreConfig {
    let mut c = CoreConfig::default();
    if let Some(cfg) = cfg {
        c.default_lease_ttl = cfg.default_lease_ttl;
        c.max_lease_ttl = cfg.max_lease_ttl;
        c.cluster_name = cfg.cluster_name.clone();
        c.api_addr = cfg.api_addr.clone();
    }
    c
}

fn open_storage(cfg: &ServerConfig) -> Result<Arc<dyn Storage>> {
    match cfg.storage.kind.as_str() {
        "inmem" => Ok(Arc::new(InmemStorage::new())),
        "file" => {
            let path = std::path::Path::new(cfg.storage.options.get("path").context("storage \"file\": path is required")?);
            for w in coffer_storage::permission_warnings(path) {
                tracing::warn!("{w}");
                eprintln!("WARNING: {w}");
            }
            Ok(Arc::new(FileStorage::open(path).map_err(|e| anyhow::anyhow!("storage \"file\": {e}"))?))
        }
        other => bail!("storage type {other:?} is not supported yet"),
    }
}

pub(crate) fn new_core(storage: Arc<dyn Storage>, cfg: CoreConfig) -> Arc<Core> {
    let core = Core::new(storage, cfg);
    let kv = coffer_engines::kv_factory();
    for kind in coffer_engines::KV_TYPES {
        core.register_engine(kind, kv.clone());
    }
    core.register_auth("userpass", coffer_auth::userpass_factory());
    core.register_auth("approle", coffer_auth::approle_factory());
    core.register_auth("jwt", coffer_auth::jwt_factory());
    core.register_auth("oidc", coffer_auth::jwt_factory());
    core
}

/// The config file's `alert` blocks, checked as the API checks rules, put
/// in force with the alert hook (docs/alerts.md). Runs on the runtime.
fn enable_alerts(core: &Core, cfg: Option<&ServerConfig>) -> Result<()> {
    use coffer_audit::alert::{Rule, RuleInput};
    let mut rules = Vec::new();
    for a in cfg.map(|c| c.alerts.as_slice()).unwrap_or_default() {
        let input = RuleInput::from(a);
        // The message names the setting, never the URL (it may be secret).
        rules.push(Rule::build(input).map_err(|e| anyhow::anyhow!("config line {}: alert {:?}: {e}", a.line, a.name))?);
    }
    core.enable_alerts(rules).map_err(|e| anyhow::anyhow!("alerts: {e}"))?;
    Ok(())
}

/// The config file's audit devices and API switch, handed to the core
/// before the first unseal (declared devices are enabled then).
fn audit_settings(core: &Core, cfg: Option<&ServerConfig>) {
    let Some(cfg) = cfg else { return };
    let declared = cfg
        .audit
        .iter()
        .map(|d| coffer_core::audit::DeclaredDevice {
            kind: d.kind.clone(),
            path: d.path.clone(),
            description: d.description.clone(),
            options: d.options.clone(),
            local: d.local,
        })
        .collect();
    core.set_audit_settings(coffer_core::audit::AuditSettings { api_allowed: cfg.unsafe_allow_api_audit_creation, declared });
}

/// SIGHUP reopens every audit device (log rotation: rename the file, send
/// SIGHUP, the device writes a new file at its path).
fn spawn_sighup(core: Arc<Core>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: audit devices will not reopen on it");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reopening audit devices");
            core.reopen_audit_devices().await;
        }
    });
    #[cfg(not(unix))]
    let _ = core;
}

async fn bind(addr: &str, opts: ListenerOptions, core: Arc<Core>, limits: RequestLimits) -> Result<tokio::task::JoinHandle<()>> {
    coffer_http::listener_validate(&opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let l = TcpListener::bind(addr).await.with_context(|| format!("error initializing listener at {addr}"))?;
    Ok(serve(l, opts, core, limits))
}

/// Serve the core on a bound socket until the task is aborted.
fn serve(l: TcpListener, opts: ListenerOptions, core: Arc<Core>, limits: RequestLimits) -> tokio::task::JoinHandle<()> {
    let app = coffer_http::app(core, limits);
    tokio::spawn(async move {
        if let Err(e) = coffer_http::serve(l, opts, app).await {
            tracing::error!(error = %e, "listener stopped");
        }
    })
}

async fn run_dev(f: &flags::Flags, cfg: Option<ServerConfig>) -> Result<i32> {
    let root_id = f
        .get("dev-root-token-id")
        .map(str::to_string)
        .or_else(|| env2("COFFER_DEV_ROOT_TOKEN_ID", "VAULT_DEV_ROOT_TOKEN_ID"));
    let addr = f
        .get("dev-listen-address")
        .map(str::to_string)
        .or_else(|| env2("COFFER_DEV_LISTEN_ADDRESS", "VAULT_DEV_LISTEN_ADDRESS"))
        .unwrap_or_else(|| "127.0.0.1:8200".into());
    let mut core_cfg = core_config(cfg.as_ref());
    // Vault's dev server: api_addr defaults to the dev listener (the OIDC issuer, identity/oidc).
    core_cfg.api_addr.get_or_insert_with(|| format!("http://{addr}"));
    coffer_core::metrics::install(coffer_core::metrics::Settings::dev_with(cfg.as_ref().and_then(|c| c.telemetry.as_ref())));
    let core = new_core(Arc::new(InmemStorage::new()), core_cfg);
    enable_alerts(&core, cfg.as_ref())?;
    audit_settings(&core, cfg.as_ref());
    spawn_sighup(core.clone());
    let init = core.initialize(1, 1, root_id.as_deref(), true).await.map_err(|e| anyhow::anyhow!("dev init: {e}"))?;
    let mut kv = coffer_core::mounts::MountEntry::new("secret/", "kv", "key/value secret storage", false);
    kv.options = Some([("version".to_string(), "2".to_string())].into_iter().collect());
    core.mount(kv, false).await.map_err(|e| anyhow::anyhow!("dev mount secret/: {e}"))?;
    // Vault's dev listener serves sys/metrics without a token.
    let limits = RequestLimits { unauthenticated_metrics_access: true, ..RequestLimits::default() };
    let task = bind(&addr, ListenerOptions::default(), core.clone(), limits).await?;
    // Like Vault's dev server: the root token goes to the CLI's token helper
    // (~/.vault-token) once the listener is up, unless -dev-no-store-token; a token
    // that cannot be stored stops the server ("Error initializing Dev mode: ...").
    let store_token = !f.bool("dev-no-store-token");
    if store_token {
        crate::token_helper::store(&init.root_token).map_err(|e| anyhow::anyhow!("Error initializing Dev mode: {e:#}"))?;
    }
    let cli_auth = if store_token {
        "The root token is already\nauthenticated to the CLI (stored in ~/.vault-token), so you can immediately\nbegin using Coffer."
    } else {
        "The root token is NOT\nstored for the CLI (-dev-no-store-token): export VAULT_TOKEN=<Root Token below>."
    };
    use base64::Engine;
    let unseal = base64::engine::general_purpose::STANDARD.encode(&init.keys[0][..]);
    println!(
        "==> Coffer server configuration:\n\n             Api Address: http://{addr}\n                 Storage: inmem\n                 Version: Coffer v{}\n\n==> Coffer server started! Log data will stream in below:\n",
        coffer_core::core::VERSION
    );
    println!(
        "WARNING! dev mode is enabled! In this mode, Coffer runs entirely in-memory\nand starts unsealed with a single unseal key. {cli_auth}\n\nYou may need to set the following environment variables:\n\n    $ export VAULT_ADDR='http://{addr}'\n\nThe unseal key and root token are displayed below in case you want to\nseal/unseal Coffer or re-authenticate.\n\nUnseal Key: {unseal}\nRoot Token: {}\n\nDevelopment mode should NOT be used in production installations!\n",
        init.root_token
    );
    wait_for_shutdown(vec![task]).await;
    Ok(0)
}

/// Lock all current and future memory so key material and decrypted secrets
/// never reach swap (Vault's behaviour unless `disable_mlock = true`).
#[cfg(target_os = "linux")]
fn lock_memory() -> Result<()> {
    // SAFETY: mlockall takes two flags and touches no Rust-managed memory.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!(
            "Failed to lock memory: {err}\n\nThis usually means that the mlock syscall is not available.\n\
             Coffer uses mlock to prevent memory from being swapped to disk. This requires\n\
             root privileges (or CAP_IPC_LOCK) as well as a machine that supports mlock.\n\
             Please enable mlock on your system or set `disable_mlock = true` in the\n\
             configuration file."
        );
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn lock_memory() -> Result<()> {
    bail!("mlock is only supported on Linux here: set `disable_mlock = true` in the configuration file")
}

/// The options of one configured listener, with every file it names checked.
fn listener_options(l: &coffer_config::ListenerConfig) -> Result<ListenerOptions> {
    let tls = if l.tls_disable {
        None
    } else {
        match (&l.tls_cert_file, &l.tls_key_file) {
            (Some(c), Some(k)) => Some(TlsFiles {
                cert_file: c.clone(),
                key_file: k.clone(),
                tls13_only: l.tls_min_version == coffer_config::TlsVersion::Tls13,
            }),
            _ => bail!("listener at {}: TLS is enabled but tls_cert_file/tls_key_file are not set (set tls_disable = true for plain HTTP)", l.address),
        }
    };
    let opts = ListenerOptions {
        tls,
        header_read_timeout: l.http_read_header_timeout,
        idle_timeout: l.http_idle_timeout,
        max_connections: usize::try_from(l.max_connections).unwrap_or(usize::MAX),
    };
    coffer_http::listener_validate(&opts).map_err(|e| anyhow::anyhow!("listener at {}: {e}", l.address))?;
    Ok(opts)
}

async fn run_config(cfg: ServerConfig) -> Result<i32> {
    // Everything the config names is checked, and every listener bound,
    // before storage is opened: a config that cannot start must leave no
    // database (or data directory) behind.
    let mut listeners = Vec::new();
    for l in &cfg.listeners {
        let opts = listener_options(l)?;
        let sock = TcpListener::bind(&l.address).await.with_context(|| format!("error initializing listener at {}", l.address))?;
        listeners.push((sock, opts, l));
    }
    if !cfg.disable_mlock {
        lock_memory()?;
    }
    if cfg.ui {
        tracing::warn!("ui = true: Coffer has no web UI yet; the setting has no effect");
    }
    let _pid = PidFile::create(cfg.pid_file.as_deref())?;
    let storage = open_storage(&cfg)?;
    coffer_core::metrics::install(coffer_core::metrics::Settings::from_config(cfg.telemetry.as_ref()));
    let core = new_core(storage, core_config(Some(&cfg)));
    enable_alerts(&core, Some(&cfg))?;
    audit_settings(&core, Some(&cfg));
    spawn_sighup(core.clone());
    let mut tasks = Vec::new();
    for (sock, opts, l) in listeners {
        tasks.push(serve(sock, opts, core.clone(), RequestLimits::from_config(l)));
        eprintln!("==> Coffer listening on {} ({})", l.address, if l.tls_disable { "tls disabled" } else { "tls" });
    }
    eprintln!(
        "==> Coffer server started (storage: {}, mlock: {}). Initialise with `operator init` or unseal.",
        cfg.storage.kind,
        if cfg.disable_mlock { "disabled" } else { "enabled" }
    );
    wait_for_shutdown(tasks).await;
    let _ = core.seal().await;
    Ok(0)
}

async fn wait_for_shutdown(tasks: Vec<tokio::task::JoinHandle<()>>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    eprintln!("==> Coffer shutdown triggered");
    for t in tasks {
        t.abort();
    }
}
