//! Secrets at rest: AES-256-GCM under a master key that never enters the database.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext+tag`, stored with the id of the key that
//! sealed it. The associated data is the value's row identity (`scope/name`), so a sealed value
//! copied onto another row does not open.
//!
//! Keys come from `JITGATE_MASTER_KEY` (base64; several comma-separated, newest first) or from
//! the key file (one `jgk1:<id>:<base64>` line per key, newest first). `jitgate key rotate`
//! adds a key to the file and re-seals every value; readers that meet an unknown key id reload
//! the file once, so a running server keeps reading during a rotation. Before sealing, a
//! keyring whose keys came from the file checks whether the file changed (one `stat`) and
//! re-reads it if so: a running server then never seals with a key that a rotation in another
//! process has retired (that value could no longer be opened once the key left the file).

use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

const NONCE_LEN: usize = 12;
const LINE_PREFIX: &str = "jgk1";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key: {0}")]
    Key(String),
    #[error("cannot {action} key file {path}: {source}")]
    KeyFile {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no master key with id {0} is configured; was the key file replaced?")]
    UnknownKey(String),
    #[error("a sealed value does not open: it was altered, or moved to another row")]
    Tampered,
}

/// A 256-bit master key. Its id is derived from the key so two hosts agree on it.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: Key<Aes256Gcm>,
}

impl MasterKey {
    pub fn generate() -> Self {
        Self::from_bytes(&Key::<Aes256Gcm>::generate())
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let key = Key::<Aes256Gcm>::try_from(bytes).expect("caller checked the length");
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey { id, key }
    }

    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| CryptoError::Key("a master key must be base64 of 32 bytes".into()))?;
        if bytes.len() != 32 {
            return Err(CryptoError::Key(format!(
                "a master key must be 32 bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self::from_bytes(&bytes))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64, for printing once to an operator who keeps keys in the environment.
    pub fn to_base64(&self) -> String {
        B64.encode(self.key.as_slice())
    }

    fn file_line(&self) -> String {
        format!("{LINE_PREFIX}:{}:{}", self.id, self.to_base64())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, [redacted])", self.id)
    }
}

/// Where the keys come from, so a rotation knows what it can rewrite.
#[derive(Debug, Clone)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

/// A value sealed under one master key.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key {}, {} bytes)", self.key_id, self.bytes.len())
    }
}

/// The configured master keys, newest (active) first.
#[derive(Debug)]
pub struct Keyring {
    keys: RwLock<Vec<MasterKey>>,
    source: KeySource,
    /// The key file as it was when `keys` were read from it (file source only).
    loaded_from: Mutex<Option<FileStamp>>,
}

/// What tells a changed key file from the one the keys were read from. The file is always
/// replaced by a rename, so its inode changes with every rewrite even when the size and the
/// modification time (coarse on some file systems) do not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Result<FileStamp, CryptoError> {
        let meta = std::fs::metadata(path).map_err(|source| CryptoError::KeyFile {
            action: "read",
            path: path.into(),
            source,
        })?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// What happened when the keyring was loaded, for one log line at startup.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyringOrigin {
    Environment,
    ExistingFile,
    GeneratedFile,
}

impl Keyring {
    /// Keys from `env_keys` if set, else from `file`, generating it (mode 0600) if missing.
    pub fn load(
        env_keys: Option<&str>,
        file: &Path,
    ) -> Result<(Keyring, KeyringOrigin), CryptoError> {
        if let Some(text) = env_keys.filter(|t| !t.trim().is_empty()) {
            let keys = text
                .split(',')
                .map(MasterKey::from_base64)
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((
                Keyring::new(keys, KeySource::Environment),
                KeyringOrigin::Environment,
            ));
        }
        if file.exists() {
            let (keys, stamp) = read_key_file_stamped(file)?;
            let keyring = Keyring::new(keys, KeySource::File(file.into()));
            *keyring.loaded_from.lock().expect("keyring lock") = Some(stamp);
            return Ok((keyring, KeyringOrigin::ExistingFile));
        }
        let key = MasterKey::generate();
        write_key_file(file, std::slice::from_ref(&key))?;
        let keyring = Keyring::new(vec![key], KeySource::File(file.into()));
        *keyring.loaded_from.lock().expect("keyring lock") = FileStamp::of(file).ok();
        Ok((keyring, KeyringOrigin::GeneratedFile))
    }

    pub fn new(keys: Vec<MasterKey>, source: KeySource) -> Keyring {
        assert!(!keys.is_empty(), "a keyring needs at least one key");
        Keyring {
            keys: RwLock::new(keys),
            source,
            loaded_from: Mutex::new(None),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub fn active_key_id(&self) -> String {
        self.keys.read().expect("keyring lock")[0].id.clone()
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.keys
            .read()
            .expect("keyring lock")
            .iter()
            .map(|k| k.id.clone())
            .collect()
    }

    /// Seal `plaintext` under the active key, bound to `aad` (the row identity). With a key
    /// file, the active key is the file's first key at this moment, not at startup.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Sealed {
        self.follow_key_file();
        let keys = self.keys.read().expect("keyring lock");
        let key = &keys[0];
        let nonce = Nonce::generate();
        let ciphertext = Aes256Gcm::new(&key.key)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a bounded buffer cannot fail");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: key.id.clone(),
            bytes,
        }
    }

    /// Open a sealed value. An unknown key id makes the keyring re-read its key file once, so a
    /// value re-sealed by `jitgate key rotate` in another process still opens.
    pub fn open(&self, aad: &str, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        if let Some(result) = self.try_open(aad, sealed) {
            return result;
        }
        self.reload()?;
        self.try_open(aad, sealed)
            .unwrap_or_else(|| Err(CryptoError::UnknownKey(sealed.key_id.clone())))
    }

    fn try_open(&self, aad: &str, sealed: &Sealed) -> Option<Result<Vec<u8>, CryptoError>> {
        let keys = self.keys.read().expect("keyring lock");
        let key = keys.iter().find(|k| k.id == sealed.key_id)?;
        if sealed.bytes.len() < NONCE_LEN {
            return Some(Err(CryptoError::Tampered));
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).expect("split at nonce length");
        Some(
            Aes256Gcm::new(&key.key)
                .decrypt(
                    &nonce,
                    Payload {
                        msg: ciphertext,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| CryptoError::Tampered),
        )
    }

    fn reload(&self) -> Result<(), CryptoError> {
        if let KeySource::File(path) = &self.source {
            let (keys, stamp) = read_key_file_stamped(path)?;
            *self.keys.write().expect("keyring lock") = keys;
            *self.loaded_from.lock().expect("keyring lock") = Some(stamp);
        }
        Ok(())
    }

    /// Re-read the key file if it changed since the keys were read from it, so that
    /// `jitgate key rotate` in another process is followed before anything is sealed. If the
    /// file cannot be read the keys in memory stay (a rotation always leaves a readable file;
    /// anything else is an operator error, logged, and sealing under the last known key is the
    /// best that can be done without failing the caller's write).
    fn follow_key_file(&self) {
        let KeySource::File(path) = &self.source else {
            return;
        };
        let changed = match FileStamp::of(path) {
            Ok(now) => self.loaded_from.lock().expect("keyring lock").as_ref() != Some(&now),
            Err(e) => {
                tracing::error!(error = %e, "cannot check the master key file; sealing with the key loaded before");
                return;
            }
        };
        if changed && let Err(e) = self.reload() {
            tracing::error!(error = %e, "the master key file changed but cannot be read; sealing with the key loaded before");
        }
    }

    /// Remember the key file just written by this keyring as the one its keys come from.
    fn note_written(&self, path: &Path) {
        *self.loaded_from.lock().expect("keyring lock") = FileStamp::of(path).ok();
    }

    /// Make `key` the active key, keeping the old ones for reading. For a file source the file
    /// is rewritten atomically first, so other processes pick the key up on their next miss.
    pub fn add_active_key(&self, key: MasterKey) -> Result<(), CryptoError> {
        let mut keys = self.keys.read().expect("keyring lock").clone();
        keys.retain(|k| k.id != key.id);
        keys.insert(0, key);
        if let KeySource::File(path) = &self.source {
            write_key_file(path, &keys)?;
            self.note_written(path);
        }
        *self.keys.write().expect("keyring lock") = keys;
        Ok(())
    }

    /// Drop every key except the active one (after a rotation re-sealed everything).
    pub fn retire_old_keys(&self) -> Result<Vec<String>, CryptoError> {
        let mut keys = self.keys.read().expect("keyring lock").clone();
        let retired = keys.drain(1..).map(|k| k.id).collect();
        if let KeySource::File(path) = &self.source {
            write_key_file(path, &keys)?;
            self.note_written(path);
        }
        *self.keys.write().expect("keyring lock") = keys;
        Ok(retired)
    }

    /// The active key, for printing when keys live in the environment.
    pub fn active_key(&self) -> MasterKey {
        self.keys.read().expect("keyring lock")[0].clone()
    }
}

/// The keys in the file and the stamp of the file they were read from. The stamp is taken
/// first: if the file is replaced in between, the next check sees a change and reads again.
fn read_key_file_stamped(path: &Path) -> Result<(Vec<MasterKey>, FileStamp), CryptoError> {
    let stamp = FileStamp::of(path)?;
    Ok((read_key_file(path)?, stamp))
}

fn read_key_file(path: &Path) -> Result<Vec<MasterKey>, CryptoError> {
    let text = std::fs::read_to_string(path).map_err(|source| CryptoError::KeyFile {
        action: "read",
        path: path.into(),
        source,
    })?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, ':').collect();
        let [LINE_PREFIX, id, b64] = parts[..] else {
            return Err(CryptoError::Key(format!(
                "{}: line {} is not a jitgate key",
                path.display(),
                n + 1
            )));
        };
        let key = MasterKey::from_base64(b64)?;
        if key.id != id {
            return Err(CryptoError::Key(format!(
                "{}: line {} has a wrong key id",
                path.display(),
                n + 1
            )));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(CryptoError::Key(format!("{} holds no key", path.display())));
    }
    Ok(keys)
}

/// Write the key file through a temporary file and a rename, with mode 0600 from the start.
fn write_key_file(path: &Path, keys: &[MasterKey]) -> Result<(), CryptoError> {
    use std::io::Write;
    let err = |action, source| CryptoError::KeyFile {
        action,
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Owner only, like the key: on a first run this is the data folder the database joins.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| err("create the folder of", e))?;
    }
    let tmp = path.with_extension("key.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| err("create", e))?;
    let mut text =
        String::from("# jitgate master keys, newest first. Keep this file secret and backed up.\n");
    for key in keys {
        text.push_str(&key.file_line());
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .map_err(|e| err("write", e))?;
    file.sync_all().map_err(|e| err("sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| err("replace", e))?;
    Ok(())
}

/// SHA-256 as lowercase hex: how link tokens and admin tokens are stored.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random token: 32 bytes from the OS CSPRNG, URL-safe base64 without padding.
pub fn random_token() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(vec![MasterKey::generate()], KeySource::Environment)
    }

    #[test]
    fn round_trip_and_row_binding() {
        let ring = ring();
        let sealed = ring.seal("customer:c1/entra_client_secret", b"s3cret");
        assert_eq!(
            ring.open("customer:c1/entra_client_secret", &sealed)
                .unwrap(),
            b"s3cret"
        );
        assert!(matches!(
            ring.open("customer:c2/entra_client_secret", &sealed),
            Err(CryptoError::Tampered)
        ));
        let mut altered = sealed.clone();
        *altered.bytes.last_mut().unwrap() ^= 1;
        assert!(matches!(
            ring.open("customer:c1/entra_client_secret", &altered),
            Err(CryptoError::Tampered)
        ));
    }

    #[test]
    fn nonces_differ() {
        let ring = ring();
        assert_ne!(ring.seal("a", b"x").bytes, ring.seal("a", b"x").bytes);
    }

    #[test]
    fn key_file_is_generated_private_and_reloaded_on_unknown_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let (reader, origin) = Keyring::load(None, &path).unwrap();
        assert_eq!(origin, KeyringOrigin::GeneratedFile);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Another process rotates the key and re-seals.
        let (rotator, origin) = Keyring::load(None, &path).unwrap();
        assert_eq!(origin, KeyringOrigin::ExistingFile);
        rotator.add_active_key(MasterKey::generate()).unwrap();
        let sealed = rotator.seal("x", b"after rotation");
        assert_eq!(reader.open("x", &sealed).unwrap(), b"after rotation");
    }

    #[test]
    fn sealing_follows_a_rotation_made_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (server, _) = Keyring::load(None, &path).unwrap();
        let first = server.active_key_id();
        assert_eq!(server.seal("x", b"v").key_id, first);

        // `jitgate key rotate` in another process: a new key first, then the old one retired.
        let (rotator, _) = Keyring::load(None, &path).unwrap();
        let second = MasterKey::generate();
        rotator.add_active_key(second.clone()).unwrap();
        let sealed = server.seal("x", b"during the rotation");
        assert_eq!(
            sealed.key_id,
            second.id(),
            "sealed with the key the file names first"
        );
        assert_eq!(rotator.retire_old_keys().unwrap(), vec![first]);

        let sealed = server.seal("x", b"after the rotation");
        assert_eq!(sealed.key_id, second.id());
        let (fresh, _) = Keyring::load(None, &path).unwrap();
        assert_eq!(fresh.open("x", &sealed).unwrap(), b"after the rotation");
        assert_eq!(server.key_ids(), vec![second.id().to_string()]);
    }

    #[test]
    fn a_missing_key_file_leaves_sealing_with_the_loaded_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (ring, _) = Keyring::load(None, &path).unwrap();
        let id = ring.active_key_id();
        std::fs::remove_file(&path).unwrap();
        let sealed = ring.seal("x", b"v");
        assert_eq!(sealed.key_id, id);
        assert_eq!(ring.open("x", &sealed).unwrap(), b"v");
    }

    #[test]
    fn a_value_that_does_not_open_is_a_distinct_error() {
        let ring = ring();
        let other = Keyring::new(vec![MasterKey::generate()], KeySource::Environment);
        let sealed = other.seal("x", b"v");
        assert!(matches!(
            ring.open("x", &sealed),
            Err(CryptoError::UnknownKey(id)) if id == other.active_key_id()
        ));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = MasterKey::generate();
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }
}
