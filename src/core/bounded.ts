/**
 * Memo tables that cannot grow without bound: `remember` stores a value, first emptying the map if
 * it holds `limit` entries (the caches are rebuilt cheaply, and a run draws from a bounded set).
 */
export function remember<K, V>(map: Map<K, V>, key: K, limit: number, value: V): V {
  if (map.size >= limit) map.clear();
  map.set(key, value);
  return value;
}
