#!/usr/bin/env node
// The DuckDB peer of Tessera's offline benchmarks (bench/run.sh, BENCHMARKS.md "Offline engine").
//
//   node offline.mjs training --events transactions.csv --labels labels.csv --out train.csv
//   node offline.mjs backfill --events transactions.csv [--out stats.json]
//
// training: the 10 features of service bench_v1 (bench/offline/definitions.yaml) for every
//   label row, with exactly DESIGN.md's time semantics, written as CSV in the labels' order
//   with the labels' columns first (as `tessera training-set` writes it);
// backfill: the window aggregates of view user_txn as of every event (what `tessera stats
//   user_txn` computes), summarised per feature (count, nulls, mean, min, max).
//
// Everything starts from the CSV files: reading them is part of the measured time. Prints one
// JSON object on stdout: {"duckdb", "threads", "rows", "load_s", "query_s", "total_s", ...}.
//
// The semantics, in SQL (t: a label's time; W: the window; h: the hop, 1h; times in integer
// microseconds since the epoch, as Tessera keeps them):
//   - window aggregate: the rows of the entity with floor(t - W, h) <= ts <= t. By default
//     (--windows tiles) as Tessera computes it: hourly partial aggregates per (key, hour), the
//     complete tiles [floor(t, h) - W, floor(t, h)) merged by a RANGE window over the tiles
//     with labels placed among them, plus the head (the label's own hour, ts <= t) by an
//     equi-join on (key, hour). --windows range puts labels and events in one relation and
//     gives each aggregate a RANGE frame starting t - floor(t - W, h) before the row (a
//     per-row offset) and ending at CURRENT ROW with its peers (equal ts): the same values,
//     about twice as slow at 10M events. Label rows carry no values and are left out of counts.
//   - row-level: the latest row with ts <= t by (ts, created_at nulls first, file order), its
//     value if t - ts <= ttl. ASOF JOIN on the key and on the struct (ts, created, row
//     number) <= (t, +inf, +inf): the struct makes the inequality a total order, so ties on
//     ts are broken as Tessera breaks them (created ts, then the ingestion sequence, which is
//     the row's index in the file).
//   - empty window: count and sum are 0, mean and max null; nulls are skipped.
// DuckDB sums doubles in floating point (order-dependent); Tessera's sums are exactly rounded:
// the checker (check.mjs) compares floats with a relative tolerance of 1e-9.
import { DuckDBInstance, version } from '@duckdb/node-api';
import fs from 'node:fs';

function usage(msg) {
  if (msg) process.stderr.write(`offline.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node offline.mjs training --events F --labels F --out F [--threads N] [--windows tiles|range] [--rowlevel asof|window]\n' +
      '       node offline.mjs backfill --events F [--out F] [--threads N]\n',
  );
  process.exit(2);
}

const argv = process.argv.slice(2);
const mode = argv.shift();
if (mode !== 'training' && mode !== 'backfill') usage(mode ? `unknown mode "${mode}"` : 'missing mode');
const opt = { threads: '2', rowlevel: 'asof', windows: 'tiles' };
while (argv.length) {
  const a = argv.shift();
  const m = /^--(events|labels|out|threads|rowlevel|windows|memory)$/.exec(a);
  if (!m || !argv.length) usage(`bad argument "${a}"`);
  opt[m[1]] = argv.shift();
}
if (!opt.events) usage('--events is required');
if (mode === 'training' && (!opt.labels || !opt.out)) usage('training needs --labels and --out');

const H = 3600n * 1000000n; // the hop: 1h in microseconds
const D = 24n * H;
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

// RANGE frame offset of a window W at row time `ts`: ts - floor(ts - W, h) = W + mod(ts - W, h)
const off = (w) => `(${w} + (((ts - ${w}) % ${H}) + ${H}) % ${H})`;

const EVENTS_COLUMNS = `{'txn_id': 'BIGINT', 'user_id': 'BIGINT', 'merchant_id': 'BIGINT',
  'amount': 'DOUBLE', 'currency': 'VARCHAR', 'channel': 'VARCHAR', 'is_international': 'BOOLEAN',
  'ts': 'TIMESTAMP', 'created_at': 'TIMESTAMP'}`;
const MIN_I64 = '(-9223372036854775807 - 1)';
const MAX_I64 = '9223372036854775807';

// The events, typed by the source's schema; rn = the row's index in the file (insertion order
// is preserved), cr = created ts with null as the least value (nulls first).
const loadEvents = (cols) => `CREATE TABLE ev AS
  SELECT ${cols}, epoch_us(ts) AS ts, coalesce(epoch_us(created_at), ${MIN_I64}) AS cr,
         row_number() OVER () - 1 AS rn
  FROM read_csv(${q(opt.events)}, header = true, delim = ',', quote = '', escape = '',
                columns = ${EVENTS_COLUMNS})`;

// Labels: every column as text so that it is written back unchanged; lid = input order.
const loadLabels = () => `CREATE TABLE lb AS
  SELECT row_number() OVER () - 1 AS lid, *,
         epoch_us(CAST(event_timestamp AS TIMESTAMP)) AS t,
         CAST(user_id AS BIGINT) AS uk, CAST(merchant_id AS BIGINT) AS mk
  FROM read_csv(${q(opt.labels)}, header = true, delim = ',', all_varchar = true)`;

// The window aggregates of the service, by view: [name, agg, where, W]. agg: count (rows),
// sum, max or mean of `amount`; where: a filter or null.
const VIEWS = [
  {
    table: 'w_user', title: 'user_txn', keys: ['user_id'], lkeys: ['uk'],
    aggs: [
      ['txn_count_1h', 'count', null, H],
      ['amount_sum_1d', 'sum', null, D],
      ['amount_max_7d', 'max', null, 7n * D],
      ['big_txn_count_7d', 'count', 'amount > 1000', 7n * D],
    ],
  },
  {
    table: 'w_merchant', title: 'merchant_txn', keys: ['merchant_id'], lkeys: ['mk'],
    aggs: [
      ['merchant_txn_count_1d', 'count', null, D],
      ['merchant_amount_mean_7d', 'mean', null, 7n * D],
    ],
  },
  {
    table: 'w_pair', title: 'user_merchant', keys: ['user_id', 'merchant_id'], lkeys: ['uk', 'mk'],
    aggs: [['pair_amount_sum_7d', 'sum', null, 7n * D]],
  },
];
const filt = (where, extra) => {
  const c = [where, extra].filter(Boolean);
  return c.length ? ` FILTER (WHERE ${c.join(' AND ')})` : '';
};
const keyCols = (keys) => keys.map((k, i) => `${k} AS k${i}`).join(', ');
const keyList = (keys) => keys.map((_, i) => `k${i}`).join(', ');

// --windows range: every event and every label in one relation, partitioned by the key and
// ordered by ts; each aggregate is a RANGE window whose frame starts t - floor(t - W, h) before
// the row (a per-row offset) and ends at CURRENT ROW with its peers (equal ts).
function windowsRange(v) {
  const notnull = v.keys.map((k) => `${k} IS NOT NULL`).join(' AND ');
  const agg = ([n, a, where, w]) => {
    const W = `OVER w${w}`;
    if (a === 'count') return `count(*)${filt(where, 'lid IS NULL')} ${W} AS ${n}`;
    if (a === 'sum') return `coalesce(sum(amount)${filt(where)} ${W}, 0) AS ${n}`;
    if (a === 'max') return `max(amount)${filt(where)} ${W} AS ${n}`;
    if (a === 'mean') return `avg(amount)${filt(where)} ${W} AS ${n}`;
    throw new Error(a);
  };
  const wins = [...new Set(v.aggs.map((a) => a[3]))]
    .map((w) => `w${w} AS (PARTITION BY ${keyList(v.keys)} ORDER BY ts RANGE BETWEEN ${off(w)} PRECEDING AND CURRENT ROW)`)
    .join(',\n    ');
  return [[`${v.title} windows (RANGE over events)`, `CREATE TABLE ${v.table} AS
  SELECT lid, ${v.aggs.map((a) => a[0]).join(', ')} FROM (
    SELECT lid, ${v.aggs.map(agg).join(',\n      ')}
    FROM (SELECT ${keyCols(v.keys)}, ts, amount, NULL::BIGINT AS lid FROM ev WHERE ${notnull}
          UNION ALL
          SELECT ${keyCols(v.lkeys)}, t AS ts, NULL::DOUBLE AS amount, lid FROM lb)
    WINDOW ${wins})
  WHERE lid IS NOT NULL`]];
}

// --windows tiles (the default, about 3x faster in DuckDB): the same value, computed the way
// Tessera computes it. As W is a multiple of h, floor(t - W, h) = floor(t, h) - W, so the rows
// of a window are (1) the complete hourly tiles b in [floor(t, h) - W, floor(t, h)) and (2) the
// head, the rows with floor(ts, h) = floor(t, h) and ts <= t. (1): partial aggregates per
// (key, hour), and labels put among them at b = floor(t, h): a RANGE window with the constant
// frame [b - W, b - 1] over b; (2): an equi-join of labels and events on (key, hour), ts <= t.
const bucket = (x) => `(${x} - ((${x} % ${H}) + ${H}) % ${H})`;
function windowsTiles(v) {
  for (const a of v.aggs) if (a[3] % H !== 0n) throw new Error(`window of ${a[0]} is not a multiple of the hop`);
  const parts = []; // partial states per tile and per head: [column, tile/head expression, merge]
  v.aggs.forEach(([n, a, where], i) => {
    if (a === 'count') parts.push([`p${i}`, `count(*)${filt(where)}`, 'sum']);
    if (a === 'sum') parts.push([`p${i}`, `sum(amount)${filt(where)}`, 'sum']);
    if (a === 'max') parts.push([`p${i}`, `max(amount)${filt(where)}`, 'max']);
    if (a === 'mean') parts.push([`p${i}`, `sum(amount)${filt(where)}`, 'sum'], [`q${i}`, `count(amount)${filt(where)}`, 'sum']);
  });
  const win = (i) => v.aggs[i][3];
  const idx = (c) => Number(c.slice(1));
  const final = ([n, a], i) => {
    const t = `t.p${i}`, h = `h.p${i}`;
    if (a === 'count' || a === 'sum') return `coalesce(${t}, 0) + coalesce(${h}, 0) AS ${n}`;
    if (a === 'max') return `CASE WHEN ${t} IS NULL THEN ${h} WHEN ${h} IS NULL THEN ${t} ELSE greatest(${t}, ${h}) END AS ${n}`;
    return `CASE WHEN coalesce(t.q${i}, 0) + coalesce(h.q${i}, 0) > 0 THEN (coalesce(${t}, 0) + coalesce(${h}, 0)) / (coalesce(t.q${i}, 0) + coalesce(h.q${i}, 0)) END AS ${n}`;
  };
  const notnull = v.keys.map((k) => `${k} IS NOT NULL`).join(' AND ');
  const on = v.keys.map((k, i) => `e.${k} = lb.${v.lkeys[i]}`).join(' AND ');
  return [
    [`${v.title} tiles`, `CREATE TABLE ${v.table}_tiles AS
  SELECT ${keyCols(v.keys)}, ${bucket('ts')} AS b, ${parts.map(([c, e]) => `${e} AS ${c}`).join(', ')}
  FROM ev WHERE ${notnull} GROUP BY ALL`],
    [`${v.title} windows over tiles`, `CREATE TABLE ${v.table}_win AS
  SELECT lid, ${parts.map(([c, , m]) => `${m}(${c}) OVER (PARTITION BY ${keyList(v.keys)} ORDER BY b RANGE BETWEEN ${win(idx(c))} PRECEDING AND 1 PRECEDING) AS ${c}`).join(',\n    ')}
  FROM (SELECT ${keyList(v.keys)}, b, ${parts.map((p) => p[0]).join(', ')}, NULL::BIGINT AS lid FROM ${v.table}_tiles
        UNION ALL
        SELECT ${keyCols(v.lkeys)}, ${bucket('t')}, ${parts.map(() => 'NULL').join(', ')}, lid FROM lb)
  QUALIFY lid IS NOT NULL`],
    [`${v.title} heads`, `CREATE TABLE ${v.table}_head AS
  SELECT lb.lid, ${parts.map(([c, e]) => `${e} AS ${c}`).join(', ')}
  FROM (SELECT lid, uk, mk, t FROM lb) lb JOIN (SELECT ${v.keys.join(', ')}, ts, amount FROM ev) e ON ${on} AND ${bucket('e.ts')} = ${bucket('lb.t')} AND e.ts <= lb.t
  GROUP BY lb.lid`],
    [`${v.title} combine`, `CREATE TABLE ${v.table} AS
  SELECT t.lid, ${v.aggs.map(final).join(',\n    ')}
  FROM ${v.table}_win t LEFT JOIN ${v.table}_head h USING (lid)`],
  ];
}

const trainingSteps = () => [
  ['load events', loadEvents('user_id, merchant_id, amount, currency, channel')],
  ['load labels', loadLabels()],
  ...VIEWS.flatMap(opt.windows === 'range' ? windowsRange : windowsTiles),
  ...(opt.rowlevel === 'asof'
    ? [
        [
          'user_txn row-level (ASOF)',
          `CREATE TABLE r_user AS
  SELECT lb.lid, CASE WHEN lb.t - e.ts <= ${D} THEN e.amount END AS last_amount,
         CASE WHEN lb.t - e.ts <= ${D} THEN e.channel END AS last_channel
  FROM lb ASOF LEFT JOIN (SELECT user_id, ts, cr, rn, amount, channel FROM ev) e
    ON lb.uk = e.user_id
   AND struct_pack(a := lb.t, b := ${MAX_I64}, c := ${MAX_I64}) >= struct_pack(a := e.ts, b := e.cr, c := e.rn)`,
        ],
        [
          'merchant_txn row-level (ASOF)',
          `CREATE TABLE r_merchant AS
  SELECT lb.lid, CASE WHEN lb.t - e.ts <= ${7n * D} THEN e.currency END AS merchant_last_currency
  FROM lb ASOF LEFT JOIN (SELECT merchant_id, ts, cr, rn, currency FROM ev WHERE merchant_id IS NOT NULL) e
    ON lb.mk = e.merchant_id
   AND struct_pack(a := lb.t, b := ${MAX_I64}, c := ${MAX_I64}) >= struct_pack(a := e.ts, b := e.cr, c := e.rn)`,
        ],
      ]
    : rowLevelByWindow()),
  [
    'join and write CSV',
    `COPY (
  SELECT lb.* EXCLUDE (lid, t, uk, mk),
         ru.last_amount, ru.last_channel, wu.txn_count_1h, wu.amount_sum_1d, wu.amount_max_7d,
         wu.big_txn_count_7d, rm.merchant_last_currency, wm.merchant_txn_count_1d,
         wm.merchant_amount_mean_7d, wp.pair_amount_sum_7d
  FROM lb
  JOIN r_user ru USING (lid) JOIN r_merchant rm USING (lid)
  JOIN w_user wu USING (lid) JOIN w_merchant wm USING (lid) JOIN w_pair wp USING (lid)
  ORDER BY lid
) TO ${q(opt.out)} (FORMAT csv, HEADER true)`,
  ],
];

// Alternative for row-level features (--rowlevel window): the greatest (ts, created, rn) among
// the events at or before each label, as a running max over the same union, then a join by rn.
function rowLevelByWindow() {
  const one = (name, key, lkey, ttl, cols, where) => [
    `${name} row-level (window)`,
    `CREATE TABLE ${name === 'user_txn' ? 'r_user' : 'r_merchant'} AS
  WITH u AS (
    SELECT ${key} AS k, ts, struct_pack(a := ts, b := cr, c := rn) AS o, NULL::BIGINT AS lid FROM ev ${where}
    UNION ALL
    SELECT ${lkey}, t, NULL, lid FROM lb),
  m AS (
    SELECT lid, ts AS t, max(o) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS o
    FROM u QUALIFY lid IS NOT NULL)
  SELECT m.lid, ${cols.map(([n, c]) => `CASE WHEN m.t - e.ts <= ${ttl} THEN e.${c} END AS ${n}`).join(', ')}
  FROM m LEFT JOIN ev e ON e.rn = m.o.c`,
  ];
  return [
    one('user_txn', 'user_id', 'uk', D, [['last_amount', 'amount'], ['last_channel', 'channel']], ''),
    one('merchant_txn', 'merchant_id', 'mk', 7n * D, [['merchant_last_currency', 'currency']], 'WHERE merchant_id IS NOT NULL'),
  ];
}

// Backfill: every feature of view user_txn as of every event (what `tessera stats user_txn`
// computes): an aggregate over the RANGE frame above (the event is included with its peers,
// the events of equal ts), a row-level feature on the event's own row; then summarised per
// feature as `tessera stats` does (count, nulls, mean, min, max; Tessera also computes
// standard deviations, approximate percentiles and distinct counts, DuckDB does not here).
const backfillSteps = () => {
  const v = VIEWS[0];
  const agg = ([n, a, where, w]) => {
    const W = `OVER w${w}`;
    if (a === 'count') return `count(*)${filt(where)} ${W} AS ${n}`;
    if (a === 'sum') return `coalesce(sum(amount)${filt(where)} ${W}, 0) AS ${n}`;
    if (a === 'max') return `max(amount)${filt(where)} ${W} AS ${n}`;
    return `avg(amount)${filt(where)} ${W} AS ${n}`;
  };
  const wins = [...new Set(v.aggs.map((a) => a[3]))]
    .map((w) => `w${w} AS (PARTITION BY user_id ORDER BY ts RANGE BETWEEN ${off(w)} PRECEDING AND CURRENT ROW)`)
    .join(',\n    ');
  const feats = [['last_amount'], ['last_channel'], ...v.aggs];
  const summary = feats
    .map(([n], i) => {
      const num = n !== 'last_channel';
      return `SELECT ${i} AS i, '${n}' AS name, count(${n}) AS count, count(*) - count(${n}) AS nulls,
       ${num ? `avg(${n})` : 'NULL'} AS mean, min(${n})::VARCHAR AS min, max(${n})::VARCHAR AS max FROM bf`;
    })
    .join('\nUNION ALL ');
  return [
    [
      'load events',
      `CREATE TABLE ev AS SELECT user_id, amount, channel, epoch_us(ts) AS ts
  FROM read_csv(${q(opt.events)}, header = true, delim = ',', quote = '', escape = '', columns = ${EVENTS_COLUMNS})`,
    ],
    [
      'window aggregates per event',
      `CREATE TABLE bf AS SELECT amount AS last_amount, channel AS last_channel,
    ${v.aggs.map(agg).join(',\n    ')}
  FROM ev WINDOW ${wins}`,
    ],
    ['summary', `SELECT * EXCLUDE (i) FROM (${summary}) ORDER BY i`],
  ];
};

const instance = await DuckDBInstance.create(':memory:', {
  threads: opt.threads,
  ...(opt.memory ? { memory_limit: opt.memory } : {}),
});
const con = await instance.connect();
await con.run(`SET threads = ${Number(opt.threads)}`);
await con.run('SET preserve_insertion_order = true');
const steps = mode === 'training' ? trainingSteps() : backfillSteps();
const report = { duckdb: version(), threads: Number(opt.threads), mode, steps: {} };
if (mode === 'training') Object.assign(report, { windows: opt.windows, rowlevel: opt.rowlevel });
const t0 = performance.now();
let last;
for (const [name, sql] of steps) {
  const s = performance.now();
  if (process.env.BENCH_DUCKDB_EXPLAIN) process.stderr.write(`-- ${name}\n${sql};\n`);
  last = await con.runAndReadAll(sql);
  report.steps[name] = +((performance.now() - s) / 1000).toFixed(3);
}
const total = (performance.now() - t0) / 1000;
const loadS = Object.entries(report.steps)
  .filter(([n]) => n.startsWith('load'))
  .reduce((a, [, v]) => a + v, 0);
report.load_s = +loadS.toFixed(3);
report.query_s = +(total - loadS).toFixed(3);
report.total_s = +total.toFixed(3);
const count = async (sql) => Number((await con.runAndReadAll(sql)).getRows()[0][0]);
report.events = await count('SELECT count(*) FROM ev');
if (mode === 'training') {
  report.rows = await count('SELECT count(*) FROM lb');
  report.output = opt.out;
} else {
  report.features = last.getRowObjects().map((o) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
  );
  if (opt.out) fs.writeFileSync(opt.out, JSON.stringify(report, null, 2) + '\n');
}
process.stdout.write(JSON.stringify(report) + '\n');
