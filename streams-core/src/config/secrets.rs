//! Secret settings: the one list of the settings whose values are secrets, and the redaction
//! that keeps those values out of `Debug` output, error messages and logs.
//!
//! A setting is secret when its name is one of [`SECRET_SETTINGS`] or ends with one after a
//! `.` (so `producer.sasl.password` and `schema.registry.basic.auth.user.info` are secret
//! too), when its last name part mentions a password, a secret, a passphrase, a token or a
//! credential, or when it is one or two typing mistakes away from a listed name
//! (`sasl.pasword`): a mistyped secret is still a secret.

use std::fmt;

/// The settings whose values are secrets (librdkafka's names as in its `CONFIGURATION.md`,
/// plus the Java clients' and the schema registry clients' names users bring along). A setting
/// named like one of these, or ending with `.` and one of these, is never shown.
pub const SECRET_SETTINGS: &[&str] = &[
    // librdkafka
    "sasl.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.keystore.password",
    // Java clients (librdkafka does not know them, but users copy them over)
    "sasl.jaas.config",
    "ssl.truststore.password",
    "ssl.keystore.key",
    // schema registry clients
    "basic.auth.user.info",
    "bearer.auth.token",
    "bearer.auth.client.secret",
];

/// How many typing mistakes away from a listed secret setting a key still counts as secret.
const MISTAKES: usize = 2;

/// Words that make any setting secret when its last name part contains them
/// (`sasl.oauthbearer.token`, `my.api.secret`, ...).
const SECRET_WORDS: &[&str] = &["password", "secret", "passphrase", "token", "credential"];

/// Whether the value of the setting `key` is a secret, to be shown as `[redacted]`. Matches
/// [`SECRET_SETTINGS`] by suffix, so client prefixes (`consumer.`, `producer.`, `admin.`)
/// and other prefixes count; any key whose last part mentions a password, secret,
/// passphrase, token or credential; and any key one or two typing mistakes away from a
/// listed name (`sasl.pasword`). Case is ignored.
///
/// ```
/// use streams_core::config::is_secret_setting;
///
/// assert!(is_secret_setting("sasl.password"));
/// assert!(is_secret_setting("producer.ssl.key.password"));
/// assert!(is_secret_setting("schema.registry.basic.auth.user.info"));
/// assert!(!is_secret_setting("sasl.username"));
/// assert!(!is_secret_setting("ssl.certificate.pem"));
/// ```
pub fn is_secret_setting(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    // `sasl.oauthbearer.token.endpoint.url` is a URL, not a token: only the last part counts.
    let last = key.rsplit(['.', '_']).next().unwrap_or_default();
    SECRET_WORDS.iter().any(|word| last.contains(word)) || near_secret(&key, MISTAKES).is_some()
}

/// The listed secret setting that `key` (lowercase) names, by suffix after a `.`, with at
/// most `mistakes` typing mistakes (insertions, deletions, substitutions; at most one in
/// names shorter than 8 characters, so that `ssl_ca` is not taken for `ssl_key`).
pub(crate) fn near_secret(key: &str, mistakes: usize) -> Option<&'static str> {
    let suffixes = std::iter::once(key).chain(key.match_indices('.').map(|(i, _)| &key[i + 1..]));
    suffixes.into_iter().find_map(|suffix| {
        SECRET_SETTINGS.iter().copied().find(|secret| {
            let mistakes = if secret.len() >= 8 {
                mistakes
            } else {
                mistakes.min(1)
            };
            suffix.len().abs_diff(secret.len()) <= mistakes
                && edit_distance(suffix, secret) <= mistakes
        })
    })
}

/// The Levenshtein distance between `a` and `b` (bytes).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The value of the setting `key` for display: `[redacted]` when the setting is secret, else
/// the value quoted (`Debug`) or as is (`Display`).
pub(crate) struct Redacted<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

impl Redacted<'_> {
    fn secret(&self) -> bool {
        is_secret_setting(self.key)
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret() {
            f.write_str(REDACTED)
        } else {
            fmt::Debug::fmt(self.value, f)
        }
    }
}

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret() {
            f.write_str(REDACTED)
        } else {
            f.write_str(self.value)
        }
    }
}

/// What a secret value is shown as.
pub(crate) const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of each of `values` replaced by `[redacted]`. Values shorter
/// than 4 characters are left alone: replacing them would garble the text, and they hide
/// nothing worth hiding.
pub(crate) fn scrub<'a>(text: &str, values: impl IntoIterator<Item = &'a str>) -> String {
    let mut values: Vec<&str> = values.into_iter().filter(|v| v.len() >= 4).collect();
    // Longest first, so a value that contains another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut text = text.to_owned();
    for value in values {
        if text.contains(value) {
            text = text.replace(value, REDACTED);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_settings_match_by_suffix_and_by_word() {
        for key in SECRET_SETTINGS {
            assert!(is_secret_setting(key), "{key}");
            for prefix in ["consumer.", "producer.", "admin.", "schema.registry."] {
                assert!(
                    is_secret_setting(&format!("{prefix}{key}")),
                    "{prefix}{key}"
                );
            }
        }
        for key in [
            "SASL.PASSWORD",
            "sasl.pasword",
            "consumer.ssl.key.pasword",
            "sasl.oauthbearer.confgi",
            "ssl_ky",
            "my.api.secret",
            "sasl.oauthbearer.token",
        ] {
            assert!(is_secret_setting(key), "{key}");
        }
        for key in [
            "sasl.username",
            "sasl.mechanism",
            "security.protocol",
            "ssl.ca.location",
            "ssl.certificate.pem",
            "sasl.oauthbearer.token.endpoint.url",
            "notssl_key",
            "ssl_ca",
            "fetch.wait.max.ms",
        ] {
            assert!(!is_secret_setting(key), "{key}");
        }
    }

    #[test]
    fn scrub_replaces_values_longest_first_and_leaves_short_ones() {
        assert_eq!(
            scrub(
                "a topsecret and topsecret2 at b",
                ["topsecret", "topsecret2", "b"]
            ),
            "a [redacted] and [redacted] at b"
        );
    }
}
