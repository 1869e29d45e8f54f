//! Values that must never reach output through `Debug`: passwords and environment maps (a
//! service's `environment` and the process environment hold tokens as often as not). They print
//! as `***` or as their keys only; the value is read with `expose()` / deref where it is used.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::Serialize;

/// A password or token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that hands it to a connection or container.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A map of variables whose `Debug` shows the names, never the values.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SecretMap(BTreeMap<String, String>);

impl fmt::Debug for SecretMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl From<BTreeMap<String, String>> for SecretMap {
    fn from(map: BTreeMap<String, String>) -> Self {
        SecretMap(map)
    }
}

impl IntoIterator for SecretMap {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Deref for SecretMap {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for SecretMap {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        let map = SecretMap::from(BTreeMap::from([(
            "POSTGRES_PASSWORD".to_string(),
            "hunter2".to_string(),
        )]));
        assert_eq!(format!("{map:?}"), "{\"POSTGRES_PASSWORD\"}");
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            "{\"POSTGRES_PASSWORD\":\"hunter2\"}"
        );
    }
}
