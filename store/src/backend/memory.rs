//! A repository held in memory, for unit tests of everything above the
//! storage seam. Versions are content hashes, as in a directory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{check_key, content_version, short_object, Backend, ObjectInfo, Precondition, Version};
use crate::error::{Error, Result};

/// Objects in a map, behind one mutex (every operation is atomic).
#[derive(Debug, Default)]
pub struct MemoryBackend {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty repository.
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave a half-written object
        // (every mutation is one map operation), so a poisoned map is usable.
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        check_key("memory", key)?;
        self.objects()
            .get(key)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: "object",
                id: key.to_string(),
            })
    }
}

impl Backend for MemoryBackend {
    fn location(&self) -> &str {
        "memory"
    }

    fn read(&self, key: &str) -> Result<Vec<u8>> {
        self.get(key)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let bytes = self.get(key)?;
        let size = bytes.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(short_object(key, offset, len, size));
        }
        Ok(bytes[offset as usize..(offset + len) as usize].to_vec())
    }

    fn version(&self, key: &str) -> Result<Option<Version>> {
        check_key("memory", key)?;
        Ok(self.objects().get(key).map(|b| content_version(b)))
    }

    fn write(&self, key: &str, bytes: &[u8], when: Precondition) -> Result<Version> {
        check_key("memory", key)?;
        let mut objects = self.objects();
        let current = objects.get(key).map(|b| content_version(b));
        let allowed = match &when {
            Precondition::None => true,
            Precondition::Absent => current.is_none(),
            Precondition::Matches(v) => current.as_ref() == Some(v),
        };
        if !allowed {
            return Err(Error::Conflict {
                location: "memory".into(),
                key: key.to_string(),
            });
        }
        objects.insert(key.to_string(), bytes.to_vec());
        Ok(content_version(bytes))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .objects()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    fn delete(&self, key: &str) -> Result<()> {
        check_key("memory", key)?;
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn meets_the_backend_contract() {
        super::super::contract::run(&super::MemoryBackend::new());
    }
}
