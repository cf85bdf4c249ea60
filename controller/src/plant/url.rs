//! The plant's URL: a `postgresql://` URL as libpq reads it, with the TLS it asks for.
//!
//! `sslmode=require` encrypts without checking the server's certificate (as libpq does),
//! `verify-ca` checks the certificate's chain, `verify-full` also its host name; the CA is
//! `sslrootcert=FILE` (PEM) when given, else the public web roots. Any other mode (`disable`,
//! `allow`, `prefer`, or none) connects without TLS, and a Unix socket never uses TLS.

use std::path::PathBuf;
use std::str::FromStr;

use super::PlantError;

/// What the URL asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS.
    Off,
    /// TLS; the certificate is not checked.
    Require,
    /// TLS; the certificate's chain is checked, not its name.
    VerifyCa,
    /// TLS; the certificate's chain and its name are checked.
    VerifyFull,
}

/// A parsed plant URL.
#[derive(Debug, Clone)]
pub struct PlantUrl {
    /// What tokio-postgres connects with.
    pub config: tokio_postgres::Config,
    /// The TLS the URL asks for.
    pub tls: TlsMode,
    /// The CA file (`sslrootcert`), if any.
    pub root_cert: Option<PathBuf>,
    /// The URL with its password hidden, for messages.
    pub shown: String,
}

impl PlantUrl {
    /// Parses a `postgresql://` (or `postgres://`) URL.
    pub fn parse(url: &str) -> Result<PlantUrl, PlantError> {
        let shown = redact(url);
        let bad = |why: String| PlantError::Url {
            url: shown.clone(),
            why,
        };
        let url = url.trim();
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(bad("it does not start with postgresql://".to_string()));
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut kept = Vec::new();
        let mut mode = None;
        let mut root_cert = None;
        let mut is_socket = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded =
                percent_decode(value).ok_or_else(|| bad(format!("{key}: bad %-escape")))?;
            match key {
                "sslmode" => mode = Some(decoded),
                "sslrootcert" => root_cert = Some(PathBuf::from(decoded)),
                _ => {
                    if key == "host" && decoded.starts_with('/') {
                        is_socket = true;
                    }
                    kept.push(pair)
                }
            }
        }
        let host_part = base.split_once("://").map_or("", |(_, rest)| rest);
        let authority = host_part.split('/').next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() || host.starts_with("%2F") || host.starts_with("%2f") {
            // No host: libpq's default is the local socket.
            is_socket = is_socket || !kept.iter().any(|p| p.starts_with("host="));
        }
        let tls = match mode.as_deref() {
            None | Some("disable" | "allow" | "prefer") => TlsMode::Off,
            Some("require") => TlsMode::Require,
            Some("verify-ca") => TlsMode::VerifyCa,
            Some("verify-full") => TlsMode::VerifyFull,
            Some(other) => {
                return Err(bad(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )))
            }
        };
        let tls = if is_socket { TlsMode::Off } else { tls };
        let mut rebuilt = base.to_string();
        if !kept.is_empty() {
            rebuilt.push('?');
            rebuilt.push_str(&kept.join("&"));
        }
        let mut config = tokio_postgres::Config::from_str(&rebuilt)
            .map_err(|e| bad(super::error::error_chain(&e)))?;
        config.ssl_mode(if tls == TlsMode::Off {
            tokio_postgres::config::SslMode::Disable
        } else {
            tokio_postgres::config::SslMode::Require
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(super::CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("benchctl");
        }
        config.keepalives(true);
        Ok(PlantUrl {
            config,
            tls,
            root_cert,
            shown,
        })
    }

    /// The host name TLS checks the certificate against: the first TCP host.
    pub fn tls_host(&self) -> Option<String> {
        self.config.get_hosts().iter().find_map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    }
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let shown = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = tail
        .split('&')
        .map(|p| {
            let (head, value) = p.split_once("password=").unwrap_or((p, ""));
            if value.is_empty() && !p.contains("password=") {
                p.to_string()
            } else {
                format!("{head}password=***")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{scheme}://{shown}{tail}")
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
