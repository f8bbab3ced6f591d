//! Hash maps and sets for the sync engine's hot paths: keyed by DNs, source keys and user
//! names read from a directory, they are built and probed hundreds of thousands of times per
//! run. foldhash's fast hasher is randomly seeded per map like the standard one, and costs a
//! fraction of SipHash on short string keys.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// An empty map with room for `n` entries.
pub fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, Default::default())
}
