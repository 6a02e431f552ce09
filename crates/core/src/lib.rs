//! coffer-core: the barrier, seal, router, token store, policies and the
//! request pipeline. See ARCHITECTURE.md at the repository root.

pub mod backend;
pub mod barrier;
pub mod error;
pub mod fields;
pub mod logical;
pub mod view;

pub use backend::{Backend, EngineFactory, FieldKind, FieldSpec, MountContext, MountInfo, PathSpec, PathTable, Route, SpecialPaths, field};
pub use error::{Error, Result};
pub use logical::{Auth, Caller, Data, LeaseInfo, Operation, RawResponse, Request, Response, WrapInfo};
pub use view::{StorageView, ViewOp};
