import { StatementTooLargeError } from '../errors.js';
import type { BatchStatement, InsertParts } from '../execute/adapter.js';
import { collectCallAt, collectCalls } from '../lexer/calls.js';
import type { DialectRules } from '../lexer/dialect.js';
import { isIdentChar, isSpace } from '../lexer/scanner.js';
import {
  type LexedInsert,
  type LexedStatement,
  SEQUENCE_CALL,
  scanSimpleRow,
  simpleRow,
  simpleRowsApply,
} from '../lexer/statement.js';
import { conflictKey } from '../merge/conflict-key.js';
import { combineKinds, type ExactNumbers, type RowKinds, rowKinds } from '../merge/value-kinds.js';
import { RowText, type Utf8Buffer } from './row-text.js';
import { utf8Bytes, utf8Length } from './utf8.js';

/** Sizing and merging settings of a {@link BatchBuilder}. */
export interface BuilderConfig {
  /** Hard ceiling per request in UTF-8 bytes (the adapter's `maxQuerySize`). */
  ceiling: number;
  /** Soft target per request in UTF-8 bytes. */
  maxBytes: number;
  /** Several statements may share a request. */
  multiStatement: boolean;
  /** False: one input statement per request, nothing merged. */
  batchMode: boolean;
  mergeInserts: boolean;
  /** Merge across other tables' INSERTs (still flushing at any non-INSERT). */
  mergeScope: 'adjacent' | 'table';
  /** Most VALUES rows per INSERT. */
  maxRowsPerInsert: number;
  /** Statement separator (default `;`); a newline is added after it. */
  delimiter: string;
  /** Column-aware target: `maxBytes × clamp(reference / columns, min, max)`. */
  columnAware: { reference: number; min: number; max: number } | undefined;
  dialect: DialectRules;
  /** Keep each input statement's lexed form with the batch (needed to isolate or report failures). */
  keepUnits: boolean;
  /**
   * Record the names called in each INSERT's rows (`InsertParts.calls`): for an adapter's
   * `canRunConcurrently`, so only when batches may run concurrently.
   */
  recordCalls?: boolean;
  /** Allow {@link BatchBuilder.tryAppendRow} (default true; tests turn it off to compare). */
  fastRows?: boolean;
  /**
   * The engine gives each column of a multi-row VALUES list one common type (see
   * `AdapterCapabilities.valuesCommonType`): rows are merged only when their literal kinds agree (see
   * `value-kinds.ts`). `exactNumbers`: how integers and decimals meet in a column (see `ExactNumbers`).
   */
  valuesCommonType?: { exactNumbers: ExactNumbers };
}

/** An input statement (or the rows `from`…`to` of one) inside a batch. */
export interface Unit {
  readonly index: number;
  readonly lexed: LexedStatement;
  readonly from: number;
  to: number;
}

/** A statement of a batch, with what the executor needs to know about it. */
export interface BuiltStatement extends BatchStatement {
  readonly bytes: number;
  /** A plain `INSERT … VALUES` without a trailing clause: batches of only these commute. */
  readonly plainInsert: boolean;
}

/** A batch ready to be sent. */
export interface BuiltBatch {
  readonly statements: BuiltStatement[];
  /** Input indices in the batch, in order, each once. */
  readonly indices: number[];
  /** The input statements (or row ranges of them); empty unless `keepUnits`. */
  readonly units: Unit[];
  /** UTF-8 bytes of the joined SQL. */
  readonly bytes: number;
  readonly rowCount: number;
}

interface Group {
  ins: LexedInsert;
  ascii: boolean;
  prefixBytes: number;
  tailBytes: number;
  /** The rows so far, joined (as UTF-8 bytes: see {@link RowText}). */
  rows: RowText;
  rowIndices: number[];
  /** Names called in the rows so far (with `recordCalls`). */
  calls: string[] | undefined;
  /** Conflict keys of the rows so far (ON CONFLICT DO UPDATE); null once one is unprovable. */
  keys: Set<string> | null | undefined;
  /**
   * With `valuesCommonType`: the literal kinds of the rows so far; null when no other statement's rows
   * may join (a row that could not be read, or a statement whose own rows differ in kind).
   */
  kinds: RowKinds | null | undefined;
  bytes: number;
}

/**
 * Merges adjacent compatible INSERTs and packs statements into batches, byte-exact: a batch is flushed
 * *before* a statement would overflow it, a merged INSERT is split across statements when its rows do
 * not fit, and nothing larger than the ceiling is ever produced (invariant 4).
 */
export class BatchBuilder {
  private cfg: BuilderConfig;
  private readonly delimBytes: number;
  private readonly joiner: string;
  private parts: BuiltStatement[] = [];
  private units: Unit[] = [];
  private indices: number[] = [];
  private lastIndex = -1;
  private groups: Group[] = [];
  /** A closed group's row buffer, for the next group. */
  private spare: Utf8Buffer | undefined;
  /** UTF-8 bytes of the batch if it were closed now. */
  private bytes = 0;
  private rowCount = 0;
  private maxColumns = 0;
  private readonly ready: BuiltBatch[] = [];

  constructor(config: BuilderConfig) {
    this.cfg = config;
    this.joiner = `${config.delimiter}\n`;
    this.delimBytes = utf8Length(this.joiner);
  }

  /** Change the soft target (capped by the ceiling). */
  setMaxBytes(maxBytes: number): void {
    this.cfg = { ...this.cfg, maxBytes };
  }

  get maxBytes(): number {
    return this.cfg.maxBytes;
  }

  /** The settings in force. */
  get config(): BuilderConfig {
    return this.cfg;
  }

  /** True when completed batches wait in {@link takeReady}. */
  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /** True when nothing is buffered. */
  get empty(): boolean {
    return this.parts.length === 0 && this.groups.length === 0;
  }

  /** Input indices buffered but not yet handed out. */
  pendingIndices(): number[] {
    return this.indices.slice();
  }

  private noteIndex(index: number): void {
    if (index !== this.lastIndex) {
      this.indices.push(index);
      this.lastIndex = index;
    }
  }

  /** Batches completed by the statements added so far; the caller sends them in order. */
  takeReady(): BuiltBatch[] {
    return this.ready.splice(0, this.ready.length);
  }

  /** Close and hand out the current batch. */
  flush(): void {
    this.emit();
  }

  /** Add one lexed input statement. Throws {@link StatementTooLargeError} before buffering any of it. */
  add(index: number, lexed: LexedStatement, from = 0, to?: number): void {
    const ins = lexed.insert;
    const cfg = this.cfg;
    if (ins && cfg.batchMode && cfg.mergeInserts && mergeable(ins)) {
      const end = to ?? ins.rows.length;
      // More rows than one merged INSERT may carry: sent as written, as its own statement, whole, so the
      // engine judges it as it would one by one (split, its first part could be committed while the rest
      // fails); one over the ceiling is refused (invariant 4).
      const asWritten = from === 0 && end === ins.rows.length && end > cfg.maxRowsPerInsert;
      if (!asWritten) {
        this.addInsert(index, lexed, ins, from, end);
        return;
      }
    }
    this.addWhole(index, lexed);
  }

  /**
   * The fast path for the usual stream: a single-row `INSERT` that starts with exactly the text of the
   * prefix of the INSERT being built at the end of the batch, followed by whitespace, one row of plain
   * literals and nothing but whitespace or `;`. Appends its row as {@link add} would and returns true;
   * returns false, changing nothing, whenever anything differs (the caller then lexes the statement
   * and calls {@link add}, which also raises the errors).
   */
  tryAppendRow(index: number, sql: string): boolean {
    const cfg = this.cfg;
    if (cfg.fastRows === false || !simpleRowsApply(cfg.dialect)) return false;
    const g = this.groups[this.groups.length - 1];
    if (g === undefined || g.keys !== undefined) return false;
    const ins = g.ins;
    if (ins.tail !== '' || ins.tailKind !== 'none' || g.rows.count >= cfg.maxRowsPerInsert) return false;
    const prefix = ins.prefix;
    const plen = prefix.length;
    if (sql.length <= plen || sql.slice(0, plen) !== prefix || isIdentChar(sql.charCodeAt(plen)))
      return false;
    let i = plen;
    while (isSpace(sql.charCodeAt(i))) i++;
    if (sql.charCodeAt(i) !== 40) return false;
    const end = scanSimpleRow(sql, i, cfg.dialect);
    if (end < 0 || simpleRow.commas + 1 !== ins.arity) return false;
    for (let k = end; k < sql.length; k++) {
      const c = sql.charCodeAt(k);
      if (c !== 59 && !isSpace(c)) return false;
    }
    const opens = simpleRow.opens;
    const row = sql.slice(i, end);
    // (a row calling a sequence function is never merged on PostgreSQL: see SEQUENCE_CALL)
    if (opens > 0 && cfg.dialect.name === 'postgres' && SEQUENCE_CALL.test(row)) return false;
    const rb = utf8Bytes(row);
    if (g.prefixBytes + 1 + rb + g.tailBytes > cfg.ceiling) return false;
    if (this.bytes + 1 + rb > this.target(ins.arity)) return false;
    let kinds: RowKinds | undefined;
    if (cfg.valuesCommonType) {
      const rk = g.kinds ? rowKinds(row, cfg.dialect, cfg.valuesCommonType.exactNumbers) : undefined;
      kinds = rk && combineKinds(g.kinds as RowKinds, rk);
      if (!kinds) return false;
    }
    if (opens > 0 && g.calls) {
      const at = simpleRow.openAt;
      for (let k = 0; k < opens; k++) collectCallAt(row, (at[k] as number) - i, g.calls);
    }
    g.rows.push(row, rb);
    g.rowIndices.push(index);
    if (kinds) g.kinds = kinds;
    g.bytes += 1 + rb;
    this.bytes += 1 + rb;
    this.rowCount++;
    if (ins.arity > this.maxColumns) this.maxColumns = ins.arity;
    this.noteIndex(index);
    if (cfg.keepUnits) {
      // What the lexer would have made of the statement, for isolating or reporting it later.
      const lexed: LexedStatement = {
        kind: 'insert',
        text: sql.slice(0, end),
        multiple: false,
        ascii: utf8Bytes(sql) === sql.length,
        insert: { ...ins, rows: [row], conflictColumns: undefined },
      };
      this.units.push({ index, lexed, from: 0, to: 1 });
    }
    return true;
  }

  private target(columns: number): number {
    const cfg = this.cfg;
    let t = cfg.maxBytes;
    const ca = cfg.columnAware;
    const cols = Math.max(columns, this.maxColumns);
    if (ca && cols > 0) {
      const f = Math.min(ca.max, Math.max(ca.min, ca.reference / cols));
      t = Math.floor(t * f);
    }
    return Math.min(t, cfg.ceiling);
  }

  private addWhole(index: number, lexed: LexedStatement): void {
    const sql = lexed.text;
    const bytes = lexed.ascii ? sql.length : utf8Length(sql);
    if (bytes > this.cfg.ceiling) throw new StatementTooLargeError(index, sql, bytes, this.cfg.ceiling);
    const cols = lexed.insert && lexed.insert.arity > 0 ? lexed.insert.arity : 0;
    const alone = !this.cfg.multiStatement || !this.cfg.batchMode || lexed.standalone === true;
    this.closeGroups();
    if (!this.empty && (alone || this.bytes + this.delimBytes + bytes > this.target(cols))) this.emit();
    const ins = lexed.insert;
    let calls: string[] | undefined;
    if (ins && this.cfg.recordCalls) {
      calls = [];
      for (const row of ins.rows) if (row.indexOf('(', 1) !== -1) collectCalls(row, this.cfg.dialect, calls);
    }
    this.pushPart({
      sql,
      bytes,
      indices: [index],
      // (a row with a subquery reads tables: not commutable with other INSERTs, never in parallel)
      plainInsert: ins !== undefined && ins.tailKind === 'none' && ins.arity > 0,
      ...(ins
        ? {
            insert: {
              table: ins.table,
              columns: ins.columns,
              rows: ins.rows,
              rowIndices: ins.rows.map(() => index),
              tail: ins.tail,
              ...(calls ? { calls } : {}),
            },
          }
        : {}),
    });
    this.rowCount += ins ? ins.rows.length : 0;
    this.maxColumns = Math.max(this.maxColumns, cols);
    this.noteIndex(index);
    if (this.cfg.keepUnits) this.units.push({ index, lexed, from: 0, to: ins ? ins.rows.length : 0 });
    if (alone) this.emit();
  }

  private addInsert(index: number, lexed: LexedStatement, ins: LexedInsert, from: number, to: number): void {
    const cfg = this.cfg;
    const ascii = lexed.ascii;
    const prefixBytes = ascii ? ins.prefix.length : utf8Length(ins.prefix);
    const tailBytes = ins.tail === '' ? 0 : 1 + (ascii ? ins.tail.length : utf8Length(ins.tail));
    const rowBytes: number[] | undefined = to - from > 1 ? new Array(to - from) : undefined;
    let firstRowBytes = 0;
    // Check every row first, so nothing of an oversized statement is buffered.
    for (let k = from; k < to; k++) {
      const row = ins.rows[k] as string;
      const rb = ascii ? row.length : utf8Length(row);
      if (rowBytes) rowBytes[k - from] = rb;
      else firstRowBytes = rb;
      const alone = prefixBytes + 1 + rb + tailBytes;
      if (alone > cfg.ceiling) {
        throw new StatementTooLargeError(
          index,
          `${ins.prefix} ${row}${ins.tail ? ` ${ins.tail}` : ''}`,
          alone,
          cfg.ceiling,
        );
      }
    }
    const cols = ins.arity;
    // With valuesCommonType: the kinds of this statement's rows (null: they differ, or one cannot be
    // read; the statement then shares its INSERT with no other). Its own rows stay together whatever
    // their kinds: the engine judges the statement as written.
    const vct = cfg.valuesCommonType;
    let stmtKinds: RowKinds | null | undefined;
    if (vct) {
      for (let k = from; k < to && stmtKinds !== null; k++) {
        const rk = rowKinds(ins.rows[k] as string, cfg.dialect, vct.exactNumbers);
        if (!rk) stmtKinds = null;
        else stmtKinds = stmtKinds === undefined ? rk : (combineKinds(stmtKinds, rk) ?? null);
      }
    }
    /** The kinds of `g`'s rows with this statement's, or undefined when they may not share an INSERT. */
    const joinKinds = (g: Group): RowKinds | undefined =>
      g.kinds && stmtKinds ? combineKinds(g.kinds, stmtKinds) : undefined;
    // An input statement is atomic on the engine: its rows stay in one request (and one INSERT), so a
    // failure never leaves it half-applied. One that does not fit the ceiling even with its rows joined
    // is refused before any of it is buffered (invariant 4): split over requests, its first part could be
    // committed while the rest fails. (Only the part of a statement that isolation re-adds is a range.)
    const count = to - from;
    let keepWhole = false;
    if (count > 1 && rowBytes) {
      let sum = 0;
      for (const rb of rowBytes) sum += rb;
      const whole = prefixBytes + sum + count + tailBytes; // one space after VALUES, count-1 commas
      if (whole > cfg.ceiling && from === 0 && to === ins.rows.length) {
        throw new StatementTooLargeError(index, lexed.text, whole, cfg.ceiling);
      }
      if (whole <= cfg.ceiling && count <= cfg.maxRowsPerInsert) {
        keepWhole = true;
        let g = this.findGroup(ins);
        if (g && vct && !joinKinds(g)) g = undefined;
        const roomForRows = g !== undefined && g.rows.count + count <= cfg.maxRowsPerInsert;
        // Start a fresh INSERT rather than spill the rows over two.
        if (g && !roomForRows) this.closeGroups();
        const joins = roomForRows && ins.tailKind !== 'do-update';
        if (!this.empty) {
          const extra = joins ? sum + count : this.delimBytes + whole;
          if ((!joins && !cfg.multiStatement) || this.bytes + extra > this.target(cols)) this.emit();
        }
      }
    }
    let unit: Unit | undefined;
    /** The group that took this statement's previous row. */
    let current: Group | undefined;
    // ON CONFLICT … DO UPDATE: the conflict key of each row (undefined when not provably distinct).
    let keys: (string | undefined)[] | undefined;
    if (ins.tailKind === 'do-update') {
      keys = [];
      for (let k = from; k < to; k++) {
        keys.push(conflictKey(ins.rows[k] as string, ins.conflictColumns ?? [], cfg.dialect));
      }
    }
    for (let k = from; k < to; k++) {
      const row = ins.rows[k] as string;
      const rb = rowBytes ? (rowBytes[k - from] as number) : firstRowBytes;
      let g = this.findGroup(ins);
      const key = keys ? keys[k - from] : undefined;
      if (g && keys && g !== current) {
        // Joining other statements' rows: every key of this statement must be provably new to them.
        // Rows of this one statement stay together whatever their keys: the engine judges the statement
        // as written (splitting it would turn its "cannot affect row a second time" error into success).
        const gk = g.keys;
        if (!gk) g = undefined;
        else {
          for (let j = k - from; j < keys.length; j++) {
            const kj = keys[j];
            if (kj === undefined || gk.has(kj)) {
              g = undefined;
              break;
            }
          }
        }
      }
      let joined: RowKinds | undefined;
      if (g && vct && g !== current) {
        joined = joinKinds(g);
        if (!joined) g = undefined;
      }
      if (g && g.rows.count >= cfg.maxRowsPerInsert) g = undefined;
      // (inline, not a closure: this runs once per row)
      if (g && this.bytes + 1 + rb > (keepWhole ? cfg.ceiling : this.target(cols))) {
        // The row does not fit this batch: send the batch, continue the same INSERT in the next one.
        this.emit();
        g = undefined;
      }
      const called = cfg.recordCalls === true && row.indexOf('(', 1) !== -1;
      if (g) {
        if (called && g.calls) collectCalls(row, cfg.dialect, g.calls);
        g.rows.push(row, rb);
        g.rowIndices.push(index);
        if (joined) g.kinds = joined;
        g.bytes += 1 + rb;
        this.bytes += 1 + rb;
        if (keys) {
          if (key === undefined) g.keys = null;
          else g.keys?.add(key);
        }
        current = g;
      } else {
        if (!cfg.multiStatement || cfg.mergeScope === 'adjacent') this.closeGroups();
        const gb = prefixBytes + 1 + rb + tailBytes;
        const sep = this.empty ? 0 : this.delimBytes;
        if (
          !this.empty &&
          (!cfg.multiStatement || this.bytes + sep + gb > (keepWhole ? cfg.ceiling : this.target(cols)))
        ) {
          this.emit();
        }
        const ng: Group = {
          ins,
          ascii,
          prefixBytes,
          tailBytes,
          rows: new RowText(row, rb, this.takeSpare()),
          rowIndices: [index],
          calls: cfg.recordCalls ? [] : undefined,
          keys: keys ? (key === undefined ? null : new Set([key])) : undefined,
          kinds: vct ? stmtKinds : undefined,
          bytes: gb,
        };
        if (called && ng.calls) collectCalls(row, cfg.dialect, ng.calls);
        this.bytes += (this.empty ? 0 : this.delimBytes) + gb;
        this.groups.push(ng);
        current = ng;
      }
      this.rowCount++;
      if (cols > this.maxColumns) this.maxColumns = cols;
      if (this.lastIndex !== index) unit = undefined;
      this.noteIndex(index);
      if (this.cfg.keepUnits) {
        if (unit && this.units[this.units.length - 1] === unit) unit.to = k + 1;
        else {
          unit = { index, lexed, from: k, to: k + 1 };
          this.units.push(unit);
        }
      }
    }
  }

  private takeSpare(): Utf8Buffer | undefined {
    const s = this.spare;
    this.spare = undefined;
    return s;
  }

  private findGroup(ins: LexedInsert): Group | undefined {
    const gs = this.groups;
    if (this.cfg.mergeScope === 'adjacent') {
      const g = gs[gs.length - 1];
      return g && sameTarget(g.ins, ins) ? g : undefined;
    }
    let name: string | undefined;
    for (let i = gs.length - 1; i >= 0; i--) {
      const g = gs[i] as Group;
      if (sameTarget(g.ins, ins)) return g;
      // A later INSERT into the same table (other columns or tail) is a barrier: joining an earlier
      // group would reorder rows within that table. Compared loosely (last name part, any case), since
      // `s.t`, `t` and `"T"` may all be the same table.
      name ??= tableName(ins);
      if (tableName(g.ins) === name) return undefined;
    }
    return undefined;
  }

  private pushPart(part: BuiltStatement): void {
    if (!this.empty) this.bytes += this.delimBytes;
    this.bytes += part.bytes;
    this.parts.push(part);
  }

  /** Turn open INSERT groups into statements (their bytes are already counted). */
  private closeGroups(): void {
    for (const g of this.groups) {
      const ins = g.ins;
      const store = g.rows;
      const { text, bytes, spare } = store.finish();
      const sql = `${ins.prefix} ${text}${ins.tail === '' ? '' : ` ${ins.tail}`}`;
      this.spare = spare ?? this.spare;
      const rowsAt = ins.prefix.length + 1;
      let rows: string[] | undefined;
      const insert: InsertParts = {
        table: ins.table,
        columns: ins.columns,
        // Sliced from the rows' text when first asked for (COPY reads the bytes or the text itself).
        get rows() {
          rows ??= store.rows(text);
          return rows;
        },
        rowIndices: g.rowIndices,
        tail: ins.tail,
        rowsAt,
        ...(bytes ? { rowsUtf8: bytes } : {}),
        ...(g.calls ? { calls: g.calls } : {}),
      };
      this.parts.push({
        sql,
        bytes: g.bytes,
        indices: uniqueSorted(g.rowIndices),
        insert,
        plainInsert: ins.tailKind === 'none',
      });
    }
    this.groups = [];
  }

  private emit(): void {
    this.closeGroups();
    if (this.parts.length === 0) return;
    // (a batch of one statement: its index list is the batch's, shared rather than kept twice)
    const only = this.parts.length === 1 ? (this.parts[0] as BuiltStatement).indices : undefined;
    this.ready.push({
      statements: this.parts,
      indices: only && sameList(only, this.indices) ? (only as number[]) : this.indices,
      units: this.units,
      bytes: this.bytes,
      rowCount: this.rowCount,
    });
    this.parts = [];
    this.units = [];
    this.indices = [];
    this.lastIndex = -1;
    this.bytes = 0;
    this.rowCount = 0;
    this.maxColumns = 0;
  }

  /** Join a batch's statements into the request text. */
  join(batch: BuiltBatch): string {
    const st = batch.statements;
    if (st.length === 1) return (st[0] as BuiltStatement).sql;
    return st.map((s) => s.sql).join(this.joiner);
  }
}

const tableNames = new WeakMap<LexedInsert, string>();

/** Last part of the normalised table name, lower-cased: equal for anything that may be the same table. */
function tableName(ins: LexedInsert): string {
  let n = tableNames.get(ins);
  if (n === undefined) {
    const t = ins.targetKey.slice(0, ins.targetKey.indexOf('\u0003'));
    // (without the mark of a quoted name whose folding the dialect leaves unknown: `"t"` may be `t`)
    n = t
      .slice(t.lastIndexOf('\u0002') + 1)
      .replace(/^\u0001/, '')
      .toLowerCase();
    tableNames.set(ins, n);
  }
  return n;
}

function mergeable(ins: LexedInsert): boolean {
  return ins.arity > 0 && ins.tailKind !== 'unknown';
}

function sameTarget(a: LexedInsert, b: LexedInsert): boolean {
  return (
    (a.prefix === b.prefix || a.targetKey === b.targetKey) &&
    a.arity === b.arity &&
    a.tail === b.tail &&
    a.tailKind === b.tailKind
  );
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

function uniqueSorted(indices: number[]): number[] {
  // Usually one row per input statement: the list is already its own unique form, and is shared rather
  // than copied (a batch's index lists outlive a few young-generation collections, each of which copies
  // them).
  let k = 1;
  while (k < indices.length && indices[k] !== indices[k - 1]) k++;
  if (k >= indices.length) return indices;
  const out: number[] = [];
  let prev = -1;
  for (const i of indices) {
    if (i !== prev) out.push(i);
    prev = i;
  }
  return out;
}
