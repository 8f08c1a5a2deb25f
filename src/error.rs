//! Library errors. Every variant a user can act on says what to do in its message.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// Operand shapes that do not fit the op (a programming or model-config error).
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },

    /// A file that is missing, unreadable or malformed. `fix` says what to do.
    #[error("{}: {msg}; {fix}", path.display())]
    File {
        path: PathBuf,
        msg: String,
        fix: String,
    },

    /// A config.json / adapter_config.json field that is missing or invalid.
    #[error("{}: field `{field}`: {msg}", path.display())]
    Config {
        path: PathBuf,
        field: String,
        msg: String,
    },

    /// An adapter that does not fit the base model it is attached to.
    #[error("{}: {msg}", path.display())]
    Adapter { path: PathBuf, msg: String },

    /// A request the backend or model cannot serve (with the reason and the way out).
    #[error("{0}")]
    Unsupported(String),

    /// A GPU failure (driver call, missing kernels, out of memory), with what to do.
    #[error("GPU: {0}")]
    Device(String),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            msg: msg.into(),
            fix: fix.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
