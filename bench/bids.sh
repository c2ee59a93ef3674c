# bids.sh -- sourced by the benchmark scripts: bench_bids N DATA SHARED
# makes DATA/bids-N.csv and DATA/bids-N.jsonl with SHARED/gen_bids.py,
# once per N and per version of gen_bids.py (a stamp beside them); the
# scripts share the cache. Returns non-zero when gen_bids.py fails.
bench_bids() {
  _stem=bids-$1
  _stamp=$(cksum <"$3/gen_bids.py") || return 1
  if [ -f "$2/$_stem.csv" ] && [ -f "$2/$_stem.jsonl" ] &&
     [ "$(cat "$2/$_stem.stamp" 2>/dev/null)" = "$_stamp" ]; then
    return 0
  fi
  echo "generating $1 bids into $2 ..." >&2
  rm -f "$2/$_stem.stamp"
  python3 "$3/gen_bids.py" --n "$1" --out-dir "$2" --prefix "$_stem.tmp" >&2 &&
    mv "$2/$_stem.tmp.csv" "$2/$_stem.csv" &&
    mv "$2/$_stem.tmp.jsonl" "$2/$_stem.jsonl" &&
    echo "$_stamp" >"$2/$_stem.stamp"
}
