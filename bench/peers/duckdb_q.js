// DuckDB (npm @duckdb/node-api) running Q5 and Q7 of bench/README.md as SQL over the whole
// file (a batch GROUP BY: the data's disorder is under the 2 s lateness, so nothing is late and
// the batch answer is the streaming one).
//   node duckdb_q.js Q5|Q7 csv|jsonl INPUT OUTPUT [THREADS]
// NODE_PATH must point at the node_modules that holds @duckdb/node-api. The result is COPYed
// to OUTPUT as CSV with a header; window_start in epoch ms.
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const [q, fmt, input, output, threads] = process.argv.slice(2);
  const cfg = {};
  if (threads) cfg.threads = String(threads);
  const inst = await DuckDBInstance.create(':memory:', cfg);
  const con = await inst.connect();
  const cols = "{'auction':'BIGINT','bidder':'BIGINT','price':'BIGINT','channel':'VARCHAR','url':'VARCHAR','ts':'BIGINT'}";
  const esc = (s) => s.replace(/'/g, "''");
  const src = fmt === 'csv'
    ? `read_csv('${esc(input)}', header=true, delim=',', quote='"', columns=${cols})`
    : `read_json('${esc(input)}', format='newline_delimited', columns=${cols})`;
  let sql;
  if (q === 'Q5') {
    // bids counted per 10 s pane and auction, then each pane's counts added into the six
    // 60 s windows that contain it; per window the top auction, the smallest on ties
    sql = `WITH panes AS (SELECT floor(ts / 10000)::BIGINT AS pane, auction, count(*) AS c
                          FROM ${src} GROUP BY ALL),
                wins AS (SELECT pane - k AS w, auction, sum(c)::BIGINT AS n
                         FROM panes CROSS JOIN range(6) AS r(k) GROUP BY ALL)
           SELECT w * 10000 AS window_start, arg_max(auction, (n, -auction)) AS auction, max(n) AS count
           FROM wins GROUP BY w ORDER BY w`;
  } else if (q === 'Q7') {
    // per 10 s window the highest price, then the smallest auction, then the smallest bidder
    sql = `SELECT w * 10000 AS window_start, b.auction AS auction, b.bidder AS bidder, b.price AS price
           FROM (SELECT floor(ts / 10000)::BIGINT AS w,
                        arg_max({'auction': auction, 'bidder': bidder, 'price': price},
                                (price, -auction, -bidder)) AS b
                 FROM ${src} GROUP BY w)
           ORDER BY w`;
  } else throw new Error('unknown query ' + q);
  await con.run(`COPY (${sql}) TO '${esc(output)}' (FORMAT csv, HEADER true)`);
  con.closeSync?.();
}
main().catch((e) => { console.error(e); process.exit(2); });
