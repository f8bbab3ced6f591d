//! The exit codes of every `rollcall` command, in one place, so that a script can rely on
//! them: which failure a code means never depends on the command.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | failed (database unreachable, an internal error, a sync run that failed) |
//! | 2 | usage: an unknown command or option, a missing argument, a configuration error |
//! | 3 | not found: no such agent, role, source, run, token |
//! | 4 | conflict or refused: a name taken, a step the lifecycle rules refuse (approving an agent that is not pending, the four-eyes rule) |
//! | 5 | precondition: the record changed since the version given (`--if-version`) |
//! | 65 | invalid input: a value the rules refuse, an import with refused rows (`EX_DATAERR`) |
//! | 66 | no input: the file given cannot be read (missing, not UTF-8, not a CSV or xlsx file) (`EX_NOINPUT`) |
//! | 75 | busy: another run holds the lock; try again later (`EX_TEMPFAIL`) |

use std::process::ExitCode;

use crate::accounts::AccountError;

/// What went wrong, as a script sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Failure,
    Usage,
    NotFound,
    Conflict,
    Precondition,
    Invalid,
    NoInput,
    Busy,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Conflict => 4,
            Exit::Precondition => 5,
            Exit::Invalid => 65,
            Exit::NoInput => 66,
            Exit::Busy => 75,
        }
    }

    /// The gateway's verdict as an exit code.
    pub fn of_account_error(e: &AccountError) -> Exit {
        match e {
            AccountError::NotFound(_) => Exit::NotFound,
            AccountError::Conflict(_) => Exit::Conflict,
            AccountError::VersionMismatch { .. } => Exit::Precondition,
            AccountError::FourEyes(_) => Exit::Conflict,
            AccountError::Invalid(_) | AccountError::InvalidField { .. } => Exit::Invalid,
            AccountError::Db(_) => Exit::Failure,
        }
    }

    /// The exit code for an error a command returned: a [`Failure`] says it; errors of the
    /// gateway and the sync engine are recognised anywhere in the chain; anything else is
    /// a plain failure.
    pub fn of(e: &anyhow::Error) -> Exit {
        for cause in e.chain() {
            if let Some(Reported(exit)) = cause.downcast_ref::<Reported>() {
                return *exit;
            }
            if let Some(f) = cause.downcast_ref::<Failure>() {
                return f.exit;
            }
            if let Some(a) = cause.downcast_ref::<AccountError>() {
                return Exit::of_account_error(a);
            }
            if let Some(w) = cause.downcast_ref::<crate::webhooks::WebhookError>() {
                use crate::webhooks::WebhookError as W;
                return match w {
                    W::NotFound(_) => Exit::NotFound,
                    W::Conflict(_) => Exit::Conflict,
                    W::Invalid { .. } => Exit::Invalid,
                    W::Db(_) => Exit::Failure,
                };
            }
            if let Some(crate::sync::SyncError::Busy(..)) =
                cause.downcast_ref::<crate::sync::SyncError>()
            {
                return Exit::Busy;
            }
            // `RunError::Sync` is transparent: the engine's error is not a link of its own.
            if let Some(crate::sync::runner::RunError::Sync(crate::sync::SyncError::Busy(..))) =
                cause.downcast_ref::<crate::sync::runner::RunError>()
            {
                return Exit::Busy;
            }
        }
        Exit::Failure
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// An error with the exit code it stands for; its message is printed as it is.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(Exit::NotFound, message)
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Invalid, message)
    }
}

/// A failure the command has already reported on its own output (an import's refused
/// rows): only its exit code is left to give.
#[derive(Debug, thiserror::Error)]
#[error("exit status {}", .0.code())]
pub struct Reported(pub Exit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_stable() {
        let all = [
            Exit::Ok,
            Exit::Failure,
            Exit::Usage,
            Exit::NotFound,
            Exit::Conflict,
            Exit::Precondition,
            Exit::Invalid,
            Exit::NoInput,
            Exit::Busy,
        ];
        let codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 65, 66, 75]);
    }

    #[test]
    fn errors_map_through_the_chain() {
        let e = anyhow::Error::new(AccountError::Conflict("taken".into())).context("creating");
        assert_eq!(Exit::of(&e), Exit::Conflict);
        let e = anyhow::Error::new(AccountError::VersionMismatch { current: 3 });
        assert_eq!(Exit::of(&e), Exit::Precondition);
        let e = anyhow::Error::new(AccountError::Invalid("bad".into()));
        assert_eq!(Exit::of(&e), Exit::Invalid);
        let e = anyhow::Error::new(AccountError::NotFound("agent x".into()));
        assert_eq!(Exit::of(&e), Exit::NotFound);
        let e = anyhow::Error::new(crate::sync::SyncError::Busy("corp".into(), String::new()));
        assert_eq!(Exit::of(&e), Exit::Busy);
        let e = anyhow::Error::new(crate::sync::runner::RunError::Sync(
            crate::sync::SyncError::Busy("corp".into(), String::new()),
        ));
        assert_eq!(Exit::of(&e), Exit::Busy);
        let e = anyhow::Error::new(Failure::usage("no"));
        assert_eq!(Exit::of(&e), Exit::Usage);
        assert_eq!(Exit::of(&anyhow::anyhow!("other")), Exit::Failure);
        let e = anyhow::Error::new(Reported(Exit::NoInput));
        assert_eq!(Exit::of(&e), Exit::NoInput);
    }
}
