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
//   - window aggregate: the rows of the entity with floor(t - W, h) <= ts <= t. Labels and
//     events are put in one relation, partitioned by the entity key and ordered by ts; each
//     aggregate is a RANGE window whose frame starts (t - floor(t - W, h)) before the row
//     (a per-row frame offset: DuckDB allows expressions there) and ends at CURRENT ROW, whose
//     peers (equal ts) are included: the head is exact, the tail snapped down to the hop.
//     Label rows carry no values and are FILTERed out of counts.
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
    'usage: node offline.mjs training --events F --labels F --out F [--threads N] [--rowlevel asof|window]\n' +
      '       node offline.mjs backfill --events F [--out F] [--threads N]\n',
  );
  process.exit(2);
}

const argv = process.argv.slice(2);
const mode = argv.shift();
if (mode !== 'training' && mode !== 'backfill') usage(mode ? `unknown mode "${mode}"` : 'missing mode');
const opt = { threads: '2', rowlevel: 'asof' };
while (argv.length) {
  const a = argv.shift();
  const m = /^--(events|labels|out|threads|rowlevel|memory)$/.exec(a);
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

// An aggregate written with `OVER W` (the placeholder of its window) over window w.
const overW = (expr, w) => expr.replace(/OVER W\b/g, `OVER w${w}`);

// Window aggregates of one view for every label: labels and events in one relation.
function windowsSql(name, keys, lkeys, aggs) {
  const ek = keys.map((k, i) => `${k} AS k${i}`).join(', ');
  const lk = lkeys.map((k, i) => `${k} AS k${i}`).join(', ');
  const part = keys.map((_, i) => `k${i}`).join(', ');
  const notnull = keys.map((k) => `${k} IS NOT NULL`).join(' AND ');
  const sel = aggs.map(([n, expr, w]) => `${overW(expr, w)} AS ${n}`).join(',\n    ');
  const wins = [...new Set(aggs.map((a) => a[2]))]
    .map((w) => `w${w} AS (PARTITION BY ${part} ORDER BY ts RANGE BETWEEN ${off(w)} PRECEDING AND CURRENT ROW)`)
    .join(',\n    ');
  return `CREATE TABLE ${name} AS
  SELECT lid, ${aggs.map((a) => a[0]).join(', ')} FROM (
    SELECT lid, ${sel}
    FROM (SELECT ${ek}, ts, amount, NULL::BIGINT AS lid FROM ev WHERE ${notnull}
          UNION ALL
          SELECT ${lk}, t AS ts, NULL::DOUBLE AS amount, lid FROM lb)
    WINDOW ${wins})
  WHERE lid IS NOT NULL`;
}

const ev = 'lid IS NULL'; // an event row (labels carry their lid)
const trainingSteps = () => [
  ['load events', loadEvents('user_id, merchant_id, amount, currency, channel')],
  ['load labels', loadLabels()],
  [
    'user_txn windows',
    windowsSql('w_user', ['user_id'], ['uk'], [
      ['txn_count_1h', `count(*) FILTER (WHERE ${ev}) OVER W`, H],
      ['amount_sum_1d', `coalesce(sum(amount) OVER W, 0)`, D],
      ['amount_max_7d', `max(amount) OVER W`, 7n * D],
      ['big_txn_count_7d', `count(*) FILTER (WHERE amount > 1000) OVER W`, 7n * D],
    ]),
  ],
  [
    'merchant_txn windows',
    windowsSql('w_merchant', ['merchant_id'], ['mk'], [
      ['merchant_txn_count_1d', `count(*) FILTER (WHERE ${ev}) OVER W`, D],
      ['merchant_amount_mean_7d', `avg(amount) OVER W`, 7n * D],
    ]),
  ],
  [
    'user_merchant windows',
    windowsSql('w_pair', ['user_id', 'merchant_id'], ['uk', 'mk'], [
      ['pair_amount_sum_7d', `coalesce(sum(amount) OVER W, 0)`, 7n * D],
    ]),
  ],
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

// Backfill: view user_txn's aggregates as of every event's time (frames as above, each event
// included with its peers), summarised as `tessera stats` does (count, nulls, mean, min, max).
const BACKFILL = [
  ['txn_count_1h', `count(*) OVER W`, H],
  ['amount_sum_1d', `coalesce(sum(amount) OVER W, 0)`, D],
  ['amount_max_7d', `max(amount) OVER W`, 7n * D],
  ['big_txn_count_7d', `count(*) FILTER (WHERE amount > 1000) OVER W`, 7n * D],
];
const backfillSteps = () => {
  const wins = [...new Set(BACKFILL.map((a) => a[2]))]
    .map((w) => `w${w} AS (PARTITION BY user_id ORDER BY ts RANGE BETWEEN ${off(w)} PRECEDING AND CURRENT ROW)`)
    .join(', ');
  const summary = BACKFILL.map(
    ([n]) => `SELECT '${n}' AS name, count(${n}) AS count, count(*) - count(${n}) AS nulls,
       avg(${n}) AS mean, min(${n}) AS min, max(${n}) AS max FROM bf`,
  ).join(' UNION ALL ');
  return [
    [
      'load events',
      `CREATE TABLE ev AS SELECT user_id, amount, epoch_us(ts) AS ts
  FROM read_csv(${q(opt.events)}, header = true, delim = ',', quote = '', escape = '', columns = ${EVENTS_COLUMNS})`,
    ],
    [
      'window aggregates per event',
      `CREATE TABLE bf AS SELECT ${BACKFILL.map(([n, e, w]) => `${e} OVER (w${w}) AS ${n}`).join(', ')}
  FROM ev WINDOW ${wins}`,
    ],
    ['summary', summary],
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
if (mode === 'training') report.rowlevel = opt.rowlevel;
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
