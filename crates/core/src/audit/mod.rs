pub(crate) mod chain_store;
