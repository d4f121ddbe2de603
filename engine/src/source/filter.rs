//! Exclude patterns: globs matched against a path relative to the profile
//! root (`cache/**`) or, for patterns without a `/`, against the name alone
//! (`*.log`).

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};

/// A compiled set of exclude patterns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    full: GlobSet,
    name: GlobSet,
    patterns: Vec<String>,
}

impl Filter {
    /// Compiles `patterns`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the pattern that does not compile.
    pub fn new(patterns: &[String]) -> Result<Self> {
        let mut full = GlobSetBuilder::new();
        let mut name = GlobSetBuilder::new();
        for p in patterns {
            let trimmed = p.trim_start_matches('/').trim_end_matches('/');
            let g = Glob::new(trimmed).map_err(|e| Error::Invalid {
                what: "exclude pattern",
                value: p.clone(),
                reason: e.kind().to_string(),
            })?;
            if trimmed.contains('/') {
                full.add(g);
            } else {
                name.add(g.clone());
                full.add(g);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| Error::Invalid {
                what: "exclude pattern",
                value: patterns.join(" "),
                reason: e.to_string(),
            })
        };
        Ok(Self {
            full: build(full)?,
            name: build(name)?,
            patterns: patterns.to_vec(),
        })
    }

    /// Whether the entry at `rel` (relative, `/`-separated) is excluded.
    pub fn excludes(&self, rel: &[u8]) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let rel = String::from_utf8_lossy(rel);
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        self.full.is_match(rel.as_ref()) || self.name.is_match(name)
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_path_patterns() {
        let f = Filter::new(&["*.log".into(), "cache/**".into(), "/tmp".into()]).unwrap();
        assert!(f.excludes(b"a/b/x.log"));
        assert!(f.excludes(b"cache/x/y"));
        assert!(f.excludes(b"tmp"));
        assert!(!f.excludes(b"a/cache/x"));
        assert!(!f.excludes(b"settings.json"));
        assert!(Filter::new(&["a[".into()]).is_err());
    }
}
