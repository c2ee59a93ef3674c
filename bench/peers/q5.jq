# Q5 (bench/README.md): hot items. Event time ts, lateness 2 s; sliding 60 s windows every 10 s;
# per window the auction with the most bids (the smallest on ties). JSON Lines in, CSV out
# "window_start,auction,count", window_start in epoch ms.  run: jq -rn -f q5.jq FILE.jsonl
# Streaming, as the C baseline: bids counted per 10 s pane and auction; when the watermark
# (max ts - 2000) reaches the end of window [s, s + 60 s), its six panes are added up, the top
# is written and pane s dropped. A null after the last input is the end (every window fires).
# On jq 1.6 every update of a nested object, and every =, |=, += and //, copies the object it
# changes (see ../shared/bench/jq/w3.jq), which made a pane-per-object state quadratic (205 s
# for 1M bids). So the state is one flat object updated in place with setpath: counts under
# "PANE:AUCTION", and the bookkeeping under names without a colon; a firing scans it once.
def PANE: 10000;
def set($k; $v): setpath([$k]; $v);
def fire($wm; $all):
  if .lo == null then .
  else (if .fired == null then set("fired"; .lo - 5) else . end)
  | (if $all then .hi + 1 else ($wm / PANE | floor) - 5 end) as $stop
  | until(.fired >= $stop or .fired > .hi;
      .fired as $w
      # the counts of panes w .. w+5 added up by auction (a flat object again), and the names
      # of pane w's counts, to drop
      | (reduce (to_entries[] | select(.key | contains(":"))) as $e ({};
           ($e.key | split(":")) as $k | ($k[0] | tonumber) as $p
           | if $p < $w or $p >= $w + 6 then .
             else .[$k[1]] as $v | setpath([$k[1]]; if $v == null then $e.value else $v + $e.value end)
             end)) as $tot
      | (if ($tot | length) > 0
         then ($tot | to_entries | min_by([-.value, (.key | tonumber)])) as $best
         | set("out"; .out + ["\($w * PANE),\($best.key),\($best.value)"])
         else . end)
      | "\($w):" as $pre
      | delpaths([keys_unsorted[] | select(startswith($pre)) | [.]])
      | set("fired"; .fired + 1))
  | (if .fired < $stop then set("fired"; $stop) else . end)
  | set("next_end"; (.fired + 6) * PANE)
  end;
"window_start,auction,count",
foreach (inputs, null) as $b (
  {max: null, fired: null, lo: null, hi: null, next_end: infinite, out: []};
  set("out"; [])
  | if $b == null then fire(0; true)
    else
      (if .max == null or $b.ts > .max
       then set("max"; $b.ts) | (if .max - 2000 >= .next_end then fire(.max - 2000; false) else . end)
       else . end)
      | ($b.ts / PANE | floor) as $p
      | if .fired != null and $p < .fired then .
        else (if .lo == null or $p < .lo
              then set("lo"; $p) | (if .fired == null then set("next_end"; ($p + 1) * PANE) else . end)
              else . end)
        | (if .hi == null or $p > .hi then set("hi"; $p) else . end)
        | "\($p):\($b.auction)" as $k
        | .[$k] as $c
        | set($k; if $c == null then 1 else $c + 1 end)
        end
    end;
  .out[])
