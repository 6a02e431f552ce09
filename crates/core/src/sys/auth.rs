//! `sys/auth*`: auth methods (enable, read, disable, tune, list). The
//! handlers are the mount handlers of `mounts.rs`, on the auth table.

use super::H as Sys;
use super::mounts::{H, MOUNT_FIELDS, TUNE_FIELDS, Table::Auth};
use crate::backend::{Path, path};
use crate::logical::Operation::{Delete, Read, Update};

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path("auths", "auth/?", &[(Read, Sys::Mounts(H::List(Auth)))], &[], "List the currently enabled auth methods."),
        path(
            "auth-tune",
            "auth/(?P<path>.+?)/tune/?",
            &[(Read, Sys::Mounts(H::TuneRead(Auth))), (Update, Sys::Mounts(H::Tune(Auth)))],
            TUNE_FIELDS,
            "Tune the configuration of an auth method.",
        ),
        path(
            "auth",
            "auth/(?P<path>.+?)/?",
            &[(Read, Sys::Mounts(H::Read(Auth))), (Update, Sys::Mounts(H::Enable(Auth))), (Delete, Sys::Mounts(H::Disable(Auth)))],
            MOUNT_FIELDS,
            "Enable, read or disable an auth method.",
        ),
    ]
}
