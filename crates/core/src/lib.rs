//! coffer-core: the barrier, seal, router, token store, policies and the
//! request pipeline. See ARCHITECTURE.md at the repository root.

pub mod alerts;
pub mod audit;
pub mod backend;
pub mod barrier;
pub mod cidr;
pub mod core;
pub mod cubbyhole;
pub mod error;
pub mod fields;
pub mod identity;
pub mod identity_oidc;
pub mod json;
pub mod lease;
pub mod mfa;
pub mod logical;
pub mod metrics;
pub mod mounts;
pub mod openapi;
pub mod pipeline;
pub mod policy_store;
pub mod seal;
pub mod sys;
pub mod token;
pub mod util;
pub mod view;
pub mod wrapping;

pub use backend::{Backend, BackendFactory, Canon, EngineFactory, FieldDefault, FieldKind, FieldSpec, MountContext, MountInfo, Path, PathSpec, PathTable, Paths, Route, SpecialPaths, field, path};
pub use core::{Core, CoreConfig, Incoming, InitResult};
pub use error::{Error, Result};
pub use logical::{Auth, Caller, Data, LeaseInfo, Operation, RawResponse, Request, Response, WrapInfo};
pub use view::{StorageView, ViewOp};
