//! Command-line plumbing shared by the example applications and the operator tools
//! ([`settings`]: `--config` and `--config-file`), and the tools' logic ([`reset`], behind the
//! `kstreams-reset` binary).

pub mod reset;
pub mod settings;
