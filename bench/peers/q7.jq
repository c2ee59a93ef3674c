# Q7 (bench/README.md): highest bid. Per tumbling 10 s window on ts the bid with the highest
# price, ties broken by the smallest auction, then the smallest bidder. JSON Lines in, CSV out
# "window_start,auction,bidder,price".  run: jq -rn -f q7.jq FILE.jsonl
# A whole-file group by window: the data's disorder is under the 2 s lateness, so nothing is
# late and this is the streaming answer. (setpath, not |=, which copies on jq 1.6.)
"window_start,auction,bidder,price",
(reduce inputs as $b ({};
    (($b.ts / 10000 | floor) | tostring) as $w
    | .[$w] as $v
    | if $v == null or $b.price > $v[2]
         or ($b.price == $v[2] and ($b.auction < $v[0] or ($b.auction == $v[0] and $b.bidder < $v[1])))
      then setpath([$w]; [$b.auction, $b.bidder, $b.price])
      else . end)
 | to_entries[] | "\((.key | tonumber) * 10000),\(.value[0]),\(.value[1]),\(.value[2])")
