//! Who may watch: the viewer login the embedded broker's gate asks for, from the
//! options or the password kept in the state directory ([`secret`]), and who may read
//! the site's monitoring endpoints.

use std::path::PathBuf;

use crate::{
    config::Config,
    secret::{self, SecretError},
};

/// Why there is no viewer login to use.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("--password needs --username with --broker")]
    PasswordWithoutUsername,
    #[error(
        "no state directory for the viewer password (HOME is not set): give --state-dir, --password or --no-login"
    )]
    NoStateDir,
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Who may watch through the embedded broker.
#[derive(Debug)]
pub enum Access {
    /// Anyone (`--no-login`), or not ours to decide (an external broker).
    Open,
    /// The login given with `--password` (and `--username`, else `viewer`).
    Configured { username: String },
    /// The password made on first start, user [`secret::USERNAME`].
    Generated { password: String, file: PathBuf, made: bool },
}

impl Access {
    /// The viewer login from the options, or the one kept in the state directory (made
    /// there on first start): the camera is never open unless `--no-login` says so.
    pub fn from_config(config: &Config) -> Result<Access, AccessError> {
        if !config.broker.is_empty() {
            if config.password.is_some() && config.username.is_none() {
                return Err(AccessError::PasswordWithoutUsername);
            }
            return Ok(Access::Open);
        }
        if config.no_login {
            return Ok(Access::Open);
        }
        if config.password.is_some() {
            let username = config.username.clone().unwrap_or_else(|| secret::USERNAME.to_string());
            return Ok(Access::Configured { username });
        }
        let dir =
            config.state_dir.clone().or_else(secret::default_state_dir).ok_or(AccessError::NoStateDir)?;
        let (password, made) = secret::load_or_create(&dir)?;
        Ok(Access::Generated { password, file: dir.join(secret::FILE), made })
    }

    /// The viewer login (username, password), if one is needed.
    pub fn viewer_login(&self, config: &Config) -> Option<(String, String)> {
        match self {
            Access::Open => None,
            Access::Configured { username } => {
                Some((username.clone(), config.password.clone().unwrap_or_default()))
            }
            Access::Generated { password, .. } => Some((secret::USERNAME.to_string(), password.clone())),
        }
    }

    /// Who may read the site's monitoring endpoints: whoever may watch (the viewer
    /// login) and the publisher login. None, so open, when anyone may watch
    /// (`--no-login`, or an external broker, whose logins are its own).
    pub fn site_logins(&self, config: &Config) -> Vec<(String, String)> {
        match self.viewer_login(config) {
            None => Vec::new(),
            Some(viewer) => std::iter::once(viewer).chain(config.publisher_login.clone()).collect(),
        }
    }
}
