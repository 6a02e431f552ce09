// device_chain is called by the device table (core-audit), merged separately.
#[allow(dead_code)]
pub(crate) mod chain_store;
