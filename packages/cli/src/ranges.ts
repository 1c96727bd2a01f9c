/**
 * Add index `i` to `ranges`: sorted, disjoint `[first, last]` ranges of which no two touch. Cheapest at
 * the end (indices come mostly in order); anywhere else it searches from the start.
 */
export function addIndex(ranges: [number, number][], i: number): void {
  const r = ranges;
  const last = r[r.length - 1];
  if (last === undefined || i > last[1] + 1) {
    r.push([i, i]);
    return;
  }
  if (i === last[1] + 1) {
    last[1] = i;
    return;
  }
  let k = 0;
  while ((r[k] as [number, number])[1] + 1 < i) k++;
  const at = r[k] as [number, number];
  if (i < at[0] - 1) r.splice(k, 0, [i, i]);
  else if (i === at[0] - 1) {
    at[0] = i;
    const prev = r[k - 1];
    if (prev && prev[1] + 1 === i) {
      prev[1] = at[1];
      r.splice(k, 1);
    }
  } else if (i === at[1] + 1) {
    at[1] = i;
    const next = r[k + 1];
    if (next && next[0] === i + 1) {
      at[1] = next[1];
      r.splice(k + 1, 1);
    }
  }
}
