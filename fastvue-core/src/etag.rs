//! Strong validators for answers that clients revalidate (`ETag`): 64-bit FNV-1a, stable
//! across processes and releases, so every replica gives one answer the same tag.

/// An FNV-1a hasher over byte strings, each followed by a separator no text holds, so
/// that `["ab", "c"]` and `["a", "bc"]` differ.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv {
    /// The empty hash.
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    /// Adds one string.
    pub fn feed(&mut self, bytes: &[u8]) {
        for b in bytes.iter().chain(std::iter::once(&0xff)) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }
}
